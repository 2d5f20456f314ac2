//! [`LinkConnector`]: a connector for `hyper_util::client::legacy::Client` whose connections
//! pay a hop's model.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use edgelab_geo::{HopModel, PathClass};
use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::LinkError;
use crate::lateness::DeliveryErrors;
use crate::stream::{LinkStream, Probe};

/// What [`LinkConnector`] hands to hyper: a [`LinkStream`] adapted to hyper's I/O traits.
pub type LinkIo = TokioIo<LinkStream>;

/// A connector whose every connection pays `hop`: the connect cost, then the delay line.
///
/// Connection `n` (counted from 0 per connector, shared by its clones) seeds its jitter and
/// loss from `seed` and `n`, so a run that opens connections in the same order replays the
/// same delays.
#[derive(Debug, Clone)]
pub struct LinkConnector {
    hop: HopModel,
    seed: u64,
    opened: Arc<AtomicU64>,
    probe: Option<Probe>,
}

impl LinkConnector {
    /// A connector that imposes `hop` on every connection.
    pub fn new(hop: HopModel, seed: u64) -> LinkConnector {
        LinkConnector {
            hop,
            seed,
            opened: Arc::new(AtomicU64::new(0)),
            probe: None,
        }
    }

    /// The same connector, recording how late its connections' deliveries (and connect
    /// costs) come in `errors`, under `class` (the class of the hop, or the one that names
    /// it best for a composed hop: a client's last mile + internet path is `Internet`).
    pub fn recording(self, errors: DeliveryErrors, class: PathClass) -> LinkConnector {
        LinkConnector {
            probe: Some(Probe { errors, class }),
            ..self
        }
    }

    /// Where this connector records delivery lateness, if it does.
    pub fn delivery_errors(&self) -> Option<&DeliveryErrors> {
        self.probe.as_ref().map(|p| &p.errors)
    }

    /// A connector with no emulation (plain TCP).
    pub fn plain() -> LinkConnector {
        LinkConnector::new(HopModel::ZERO, 0)
    }

    /// The hop this connector imposes.
    pub fn hop(&self) -> HopModel {
        self.hop
    }

    /// How many connections this connector (and its clones) has started.
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Opens a connection to `uri`'s host and port and pays the connect cost.
    pub async fn connect(&self, uri: Uri) -> Result<LinkStream, LinkError> {
        let n = self.opened.fetch_add(1, Ordering::Relaxed);
        let seed = connection_seed(self.seed, n);
        let (host, port) = target(&uri)?;
        let started = tokio::time::Instant::now();
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|source| LinkError::Connect {
                target: format!("{host}:{port}"),
                source,
            })?;
        // Nagle would add its own delay to small writes; the model charges latency itself.
        let _ = tcp.set_nodelay(true);
        Ok(LinkStream::opened(tcp, self.hop, seed, self.probe.clone(), started).await)
    }
}

/// Mixes the connector seed with the connection number (SplitMix64 finaliser), so nearby
/// connections get unrelated streams.
fn connection_seed(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn target(uri: &Uri) -> Result<(String, u16), LinkError> {
    let invalid = |reason| LinkError::InvalidUri {
        uri: uri.to_string(),
        reason,
    };
    let host = uri.host().ok_or_else(|| invalid("no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("https")) => 443,
        (None, Some("http") | None) => 80,
        (None, Some(_)) => return Err(invalid("unknown scheme and no port")),
    };
    Ok((host, port))
}

impl tower_service::Service<Uri> for LinkConnector {
    type Response = LinkIo;
    type Error = LinkError;
    type Future = Pin<Box<dyn Future<Output = Result<LinkIo, LinkError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect(uri).await.map(TokioIo::new) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_default_their_port() {
        let t = |s: &str| target(&s.parse::<Uri>().unwrap());
        assert_eq!(
            t("http://127.0.0.1:8080/x").unwrap(),
            ("127.0.0.1".into(), 8080)
        );
        assert_eq!(
            t("http://example.test/").unwrap(),
            ("example.test".into(), 80)
        );
        assert_eq!(
            t("https://example.test/").unwrap(),
            ("example.test".into(), 443)
        );
        assert_eq!(t("http://[::1]:9/").unwrap(), ("::1".into(), 9));
        assert!(t("/relative").is_err());
    }

    #[test]
    fn connection_seeds_differ_and_repeat() {
        assert_eq!(connection_seed(1, 0), connection_seed(1, 0));
        assert_ne!(connection_seed(1, 0), connection_seed(1, 1));
        assert_ne!(connection_seed(1, 0), connection_seed(2, 0));
    }
}
