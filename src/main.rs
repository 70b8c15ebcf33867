use clap::Parser;

fn main() -> std::process::ExitCode {
    qualys_operator::cli::run(qualys_operator::cli::Cli::parse())
}
