//! `edgelab loadgen` (being built).

use std::process::ExitCode;

/// Arguments of `edgelab loadgen`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `edgelab loadgen`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`edgelab loadgen` is not built yet")
}
