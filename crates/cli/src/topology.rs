//! `edgelab topology` (being built).

use std::process::ExitCode;

/// Subcommands of `edgelab topology`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List places.
    List,
}

/// Runs `edgelab topology`.
pub fn run(_command: Command) -> ExitCode {
    crate::output::error("`edgelab topology` is not built yet");
    ExitCode::FAILURE
}
