//! Resolved targets: where each client place sends its requests and over which modelled path.
//!
//! The load generator does not read topology files. Its caller (the CLI for `--target`, the
//! cluster runner for a topology) resolves every client place to a [`Target`]: a base URL, a
//! [`Hop`] (last mile + internet path) and the [`Mode`] it stands for. Connections are opened
//! through [`connector`], the one place that knows how a hop turns into a socket.

use std::fmt;

use edgelab_link::{DeliveryErrors, PathClass};
use http::Uri;

/// How a client reaches the content: the three paths of SPEC §5.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Client → origin over the internet.
    Direct,
    /// Client → nearest PoP (edge tier) → … → origin.
    Edge,
    /// Client → nearest PoP, then the provider backbone to the endpoint Region.
    Ga,
}

impl Mode {
    /// The label used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Edge => "edge",
            Mode::Ga => "ga",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The modelled path between a client place and its target (last mile + internet), from
/// `edgelab_geo`. [`Hop::ZERO`] is plain loopback TCP.
pub type Hop = edgelab_geo::HopModel;

/// The connector every client connection is opened with: a `tower_service::Service<Uri>`
/// whose streams pay the hop.
pub type Connector = edgelab_link::LinkConnector;

/// A connector for `hop`, with jitter and loss drawn from `seed`, recording its delivery
/// lateness in `errors`. A client path is last mile + internet in one delay line; it is
/// counted as [`PathClass::Internet`].
pub fn connector(hop: &Hop, seed: u64, errors: &DeliveryErrors) -> Connector {
    Connector::new(*hop, seed).recording(errors.clone(), PathClass::Internet)
}

/// One client place and where it sends its requests.
#[derive(Clone, Debug)]
pub struct Target {
    /// The client place label (a city, Region or Local Zone code), used as the report key.
    pub place: String,
    /// This place's share of the traffic (relative to the other targets; must be > 0).
    pub weight: f64,
    /// Scheme and authority the requests go to (`http://127.0.0.1:8080`); object paths are
    /// appended. Only `http` is supported.
    pub base_url: Uri,
    /// The modelled path from the client place to the target (last mile + internet).
    pub hop: Hop,
    /// What the target stands for.
    pub mode: Mode,
}

impl Target {
    /// A single target with no emulated latency: what `edgelab loadgen --target URL` uses.
    pub fn local(base_url: Uri, mode: Mode) -> Self {
        Self {
            place: "local".to_string(),
            weight: 1.0,
            base_url,
            hop: Hop::ZERO,
            mode,
        }
    }
}
