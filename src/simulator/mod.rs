//! A local Qualys: QPS 3.0, gateway and CloudView v1 on one listener, with
//! Qualys' documented quirks, rate limits and injectable faults.

/// Arguments of `qualys-operator simulator`.
#[derive(Debug, clap::Args)]
pub struct SimulatorArgs {}

/// Serve the simulator until interrupted.
pub fn serve_cli(_args: SimulatorArgs) -> std::process::ExitCode {
    eprintln!("error: the simulator is not built yet");
    std::process::ExitCode::FAILURE
}
