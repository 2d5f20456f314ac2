//! Test support shared by the integration tests of every edgelab crate (a dev-dependency
//! only), so each habit of STYLE §8 is written once:
//!
//! - [`eventually`] / [`eventually_within`]: poll a condition with a bound instead of
//!   sleeping to synchronise;
//! - [`loopback`] / [`loopback_pair`]: listeners on `127.0.0.1:0` for a server's traffic and
//!   admin ports (no fixed test ports);
//! - [`raw`]: one raw exchange of bytes, for requests no well-behaved client sends;
//! - [`metric_value`]: a sample out of Prometheus text;
//! - [`browser`]: headless Chromium driven over the DevTools protocol (load a page, press
//!   its buttons, read its DOM, take a screenshot).

pub mod browser;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long [`eventually`] waits before failing the test.
pub const EVENTUALLY: Duration = Duration::from_secs(10);

/// Polls `check` every 10 ms until it holds; panics naming `what` after [`EVENTUALLY`].
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(EVENTUALLY, what, check).await;
}

/// Polls `check` every 10 ms until it holds; panics naming `what` after `limit`.
pub async fn eventually_within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A listener on `127.0.0.1:0`.
pub async fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Traffic and admin listeners on `127.0.0.1:0`.
pub async fn loopback_pair() -> (TcpListener, TcpListener) {
    (loopback().await, loopback().await)
}

/// Sends `bytes` on a fresh connection to `addr` and returns everything read until the peer
/// closes (or 5 s pass).
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Sum of the samples in Prometheus text whose line starts with `series` (a name, or a name
/// with some of its labels: `name{a="b"`); 0 when there is none.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(series))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_value_sums_matching_series_only() {
        let text = "# HELP x y\nm_total{a=\"1\"} 2\nm_total{a=\"2\"} 3\nmore_total 7\n";
        assert_eq!(metric_value(text, "m_total"), 5.0);
        assert_eq!(metric_value(text, "m_total{a=\"2\""), 3.0);
        assert_eq!(metric_value(text, "absent"), 0.0);
    }

    #[tokio::test]
    #[should_panic(expected = "not within")]
    async fn eventually_fails_after_its_limit() {
        eventually_within(Duration::from_millis(30), "never", || async { false }).await;
    }
}
