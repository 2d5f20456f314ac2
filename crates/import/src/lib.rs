//! Bring your own CDN: import a CloudFront distribution as an edgelab topology.
//!
//! `edgelab import cloudfront DIST.json` reads what `aws cloudfront get-distribution-config`
//! (or `get-distribution`) prints and writes a topology file (`docs/config.md`) that
//! `edgelab up` runs: the origin and its origin group, the cache behaviours in order with
//! their cache and origin request policies, Origin Shield, the price class's edge locations
//! and the default root object. What edgelab cannot emulate is listed in a comment at the top
//! of the file (and returned, for standard error), never dropped silently. See
//! `docs/import.md`.
//!
//! # Layout
//! - [`api`]: typed serde structs of the CloudFront API shapes.
//! - [`policy`]: managed cache policies by id, custom and legacy cache policies, the ids of
//!   the managed origin request policies.
//! - [`origin_request`]: managed and custom origin request policies as a behaviour's
//!   `origin_request`.
//! - [`price_class`]: price classes → edge locations.
//! - [`cloudfront`]: the mapping; [`render`]: the TOML it writes.

pub mod api;
pub mod cloudfront;
pub mod origin_request;
pub mod policy;
pub mod price_class;
pub mod render;

pub use cloudfront::{Import, Options, import};

/// One problem, at a JSON path (`$.DistributionConfig.Origins.Items[0].DomainName`) or an
/// option (`--origin-region`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Why an import failed (every variant is bad input: the CLI exits 64).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not JSON.
    #[error("{file}: not JSON: {message}")]
    NotJson {
        /// File name.
        file: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// JSON of the wrong shape.
    #[error("{file}: {path}: {message}")]
    Shape {
        /// File name.
        file: String,
        /// JSON path of the offending value.
        path: String,
        /// What was expected.
        message: String,
    },
    /// The distribution parses but cannot be mapped (unknown policy id, bad reference).
    #[error("{file}: {} problem(s):{}", problems.len(), problems.iter().map(|p| format!("\n  - {}: {}", p.path, p.message)).collect::<String>())]
    Invalid {
        /// File name.
        file: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

impl ImportError {
    /// A short label for the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            ImportError::NotJson { .. } => "not_json",
            ImportError::Shape { .. } => "shape",
            ImportError::Invalid { .. } => "invalid",
        }
    }
}
