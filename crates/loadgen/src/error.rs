//! The load generator's errors: one enum for a run that could not start or finish, and the
//! bounded set of per-request failure kinds that are counted (never raised) during a run.

use edgelab_common::config::ConfigErrors;

/// Why a run (or its preparation) failed as a whole. Per-request failures are not errors of
/// the run: they are counted in the report by [`RequestErrorKind`].
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The plan, scenario or targets are invalid; every problem is listed.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The catalog could not be fetched or parsed.
    #[error("catalog from {source_name}: {message}")]
    Catalog {
        /// Where the catalog came from (URL or file).
        source_name: String,
        /// What went wrong.
        message: String,
    },
    /// An origin `/metrics` endpoint could not be scraped.
    #[error("origin metrics from {url}: {message}")]
    OriginMetrics {
        /// The admin URL that was scraped.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Writing an output file (HdrHistogram log, JSON, HTML) failed.
    #[error("writing {path}: {message}")]
    Output {
        /// The file being written.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl LoadgenError {
    /// A short, stable name for this error (for logs and exit paths).
    pub fn kind(&self) -> &'static str {
        match self {
            LoadgenError::Config(_) => "config",
            LoadgenError::Catalog { .. } => "catalog",
            LoadgenError::OriginMetrics { .. } => "origin_metrics",
            LoadgenError::Output { .. } => "output",
        }
    }
}

/// What went wrong with one request. The set is closed, so error counts stay bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestErrorKind {
    /// The TCP connection (or the emulated link's handshake) could not be opened.
    Connect,
    /// The HTTP exchange failed before a response head arrived (reset, protocol error).
    Request,
    /// No complete response within the request timeout.
    Timeout,
    /// The response body failed while being read (reset mid-body, truncated chunk).
    Body,
    /// A 200 body's length differs from `Content-Length` or the catalog size.
    ShortBody,
    /// A 200 body's XXH3-64 differs from the digest the origin announced.
    Digest,
    /// The response status was 4xx.
    Status4xx,
    /// The response status was 5xx.
    Status5xx,
}

impl RequestErrorKind {
    /// Every kind, in report order.
    pub const ALL: [RequestErrorKind; 8] = [
        RequestErrorKind::Connect,
        RequestErrorKind::Request,
        RequestErrorKind::Timeout,
        RequestErrorKind::Body,
        RequestErrorKind::ShortBody,
        RequestErrorKind::Digest,
        RequestErrorKind::Status4xx,
        RequestErrorKind::Status5xx,
    ];

    /// The label used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestErrorKind::Connect => "connect",
            RequestErrorKind::Request => "request",
            RequestErrorKind::Timeout => "timeout",
            RequestErrorKind::Body => "body",
            RequestErrorKind::ShortBody => "short_body",
            RequestErrorKind::Digest => "digest",
            RequestErrorKind::Status4xx => "status_4xx",
            RequestErrorKind::Status5xx => "status_5xx",
        }
    }

    /// Position in [`RequestErrorKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}
