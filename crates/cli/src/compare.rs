//! `edgelab compare` (being built).

use std::process::ExitCode;

/// Arguments of `edgelab compare`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `edgelab compare`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`edgelab compare` is not built yet")
}
