//! Command-line front ends. `main.rs` only parses and calls [`run`].

mod demo;
pub mod endpoints;
mod export;
mod manifests;
mod progress;
pub mod state;
pub mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use demo::{EXAMPLES, example_workspace};
pub use export::ExportArgs;
pub use manifests::{ConnectionArgs, ManifestArgs, Output};

/// Qualys cloud connectors as Kubernetes objects.
#[derive(Debug, Parser)]
#[command(name = "qualys-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every CustomResourceDefinition as YAML (or write one file per kind).
    Crds {
        /// Write `<plural>.yaml` files into this directory instead of printing.
        #[arg(long, conflicts_with = "reference")]
        out_dir: Option<std::path::PathBuf>,
        /// Print the Markdown field reference generated from the schemas instead.
        #[arg(long)]
        reference: bool,
    },
    /// Serve the Qualys simulator (QPS, gateway and CloudView on one listener).
    Simulator(crate::simulator::SimulatorArgs),
    /// Show what applying the manifests would change in Qualys (exit 0: nothing, 2: changes, 1: error).
    #[command(after_help = manifests::ENDPOINT_RULE)]
    Plan(ManifestArgs),
    /// Make Qualys match the manifests, then show the resulting states.
    #[command(after_help = manifests::ENDPOINT_RULE)]
    Apply(ManifestArgs),
    /// Write manifests describing what a Qualys subscription holds (adopted by id on the first apply).
    #[command(after_help = manifests::ENDPOINT_RULE)]
    Export(export::ExportArgs),
    /// Run the examples against an embedded Qualys simulator (every API family on its URL).
    Demo,
    /// Run the operator (in a cluster or against a kubeconfig).
    Run(crate::controller::RunArgs),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Crds { out_dir, reference } => crds(out_dir.as_deref(), reference),
        Command::Simulator(args) => return crate::simulator::serve_cli(args),
        Command::Plan(args) => block_on(manifests::plan(args)),
        Command::Apply(args) => block_on(manifests::apply(args)),
        Command::Export(args) => block_on(export::run(args)),
        Command::Demo => block_on(demo::run()),
        Command::Run(args) => return crate::controller::run(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn crds(out_dir: Option<&std::path::Path>, reference: bool) -> Result<ExitCode, String> {
    use crate::crd::definitions;
    if reference {
        return write_stdout(&crate::crd::reference::markdown());
    }
    match out_dir {
        None => return write_stdout(&definitions::all_yaml().map_err(|e| e.to_string())?),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for crd in definitions::all() {
                let path = dir.join(definitions::file_name(&crd));
                let yaml = definitions::to_yaml(&crd).map_err(|e| e.to_string())?;
                std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Print without panicking when the reader goes away (`... | head`).
fn write_stdout(text: &str) -> Result<ExitCode, String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(format!("writing to stdout: {e}")),
    }
}

fn block_on<F>(future: F) -> Result<ExitCode, String>
where
    F: std::future::Future<Output = Result<ExitCode, workspace::CliError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(future).map_err(|e| e.to_string())
}
