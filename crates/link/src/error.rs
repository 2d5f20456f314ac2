//! Errors of link emulation.

use std::io;

/// Why a link connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The URI has no host, or an unsupported form.
    #[error("cannot connect to `{uri}`: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is missing.
        reason: &'static str,
    },
    /// The TCP connection failed.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// `host:port`.
        target: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
}

impl LinkError {
    /// A short, stable label for this kind of error (for metrics and logs).
    pub fn kind(&self) -> &'static str {
        match self {
            LinkError::InvalidUri { .. } => "invalid_uri",
            LinkError::Connect { .. } => "connect",
        }
    }
}
