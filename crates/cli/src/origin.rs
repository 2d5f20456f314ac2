//! `edgelab origin` (being built).

use std::process::ExitCode;

/// Arguments of `edgelab origin`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `edgelab origin`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`edgelab origin` is not built yet")
}
