//! `edgelab up` and `edgelab demo` (being built).

use std::process::ExitCode;

/// Arguments of `edgelab up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {}

/// Arguments of `edgelab demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs `edgelab up`.
pub async fn run_up(_args: UpArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`edgelab up` is not built yet")
}

/// Runs `edgelab demo`.
pub async fn run_demo(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`edgelab demo` is not built yet")
}
