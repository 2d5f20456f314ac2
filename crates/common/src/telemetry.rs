//! Tracing initialisation: structured logs on standard error, filtered by `EDGELAB_LOG`
//! (`tracing_subscriber::EnvFilter` syntax), quiet (`warn`) by default.

use tracing_subscriber::EnvFilter;

use crate::names::env;

/// Installs the global tracing subscriber once; later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_env(env::LOG).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
