//! `edgelab edge` (being built).

use std::process::ExitCode;

/// Arguments of `edgelab edge`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `edgelab edge`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`edgelab edge` is not built yet")
}
