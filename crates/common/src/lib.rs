//! Plumbing shared by every edgelab server, written once.
//!
//! # Layout
//! - [`names`]: the one catalogue of header names, metric names, env variables and
//!   well-known paths. Nothing else in the workspace spells these as literals.
//! - [`config`]: collecting *all* configuration errors with their field paths, and the
//!   exit code (64) a binary uses for them.
//! - [`telemetry`]: tracing initialisation from `EDGELAB_LOG` (quiet by default).
//! - [`shutdown`]: one shutdown story: a cancellation token, a task tracker, signals.
//! - [`serve`]: the HTTP/1.1 + h2c accept loop with header limits and graceful drain, and
//!   its lane for the HTTP/1.1 answers a handler gives at once (`serve::lane`).
//! - [`interim`]: 1xx interim responses relayed to HTTP/1.1 clients by the accept loop.
//! - [`admin`]: the admin listener (`/metrics`, `/healthz`, `/readyz`) with room for a
//!   server's own routes, and the admin-token check.
//! - [`body`]: the response body type and small constructors for it.
//! - [`arena`]: stored bodies in one anonymous memory file, sent with `sendfile`.
//! - [`text`]: aligned plain-text tables for what the command line prints.

pub mod admin;
pub mod arena;
pub mod body;
pub mod config;
pub mod interim;
pub mod names;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
#[cfg(test)]
mod test_io;
pub mod text;
