//! The HTTP accept loop every edgelab listener uses: HTTP/1.1 with keep-alive and HTTP/2
//! prior-knowledge (h2c) on the same port, the request-head size limit of SPEC §4, and a
//! graceful drain when the [`Shutdown`] fires.
//!
//! hyper answers what it cannot parse itself: a head larger than
//! [`ServeOptions::max_head_bytes`] or with too many fields gets 431, a malformed request
//! line 400. Handlers never see those requests.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::body::Body;
use crate::shutdown::Shutdown;

/// Something that answers HTTP requests.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from `peer`. Must not panic; every error is a response.
    fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send;
}

/// Limits and timeouts of a listener.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Largest request line + header block accepted (SPEC §4: 20,480 bytes → 431 beyond).
    /// hyper requires at least 8,192.
    pub max_head_bytes: usize,
    /// Most header fields in one request (beyond: 431).
    pub max_headers: usize,
    /// Time allowed for a client to send a request head.
    pub header_read_timeout: Duration,
    /// How long in-flight requests may run after shutdown before connections are dropped.
    pub drain_deadline: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_head_bytes: 20_480,
            max_headers: 128,
            header_read_timeout: Duration::from_secs(30),
            drain_deadline: Duration::from_secs(10),
        }
    }
}

/// Serves `handler` on `listener` until `shutdown` fires, then stops accepting, lets
/// in-flight requests finish (at most `drain_deadline`) and returns. The task is tracked
/// by `shutdown`.
pub fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    options: ServeOptions,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    let tracker = shutdown.tracker().clone();
    let task_shutdown = shutdown.clone();
    shutdown.spawn(async move {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .keep_alive(true)
            .max_buf_size(options.max_head_bytes.max(8_192))
            .max_headers(options.max_headers)
            .header_read_timeout(options.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(options.max_head_bytes as u32);
        let graceful = GracefulShutdown::new();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = task_shutdown.triggered() => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler.handle(request, peer).await) }
            });
            let builder = builder.clone();
            let watcher = graceful.watcher();
            tracker.spawn(async move {
                let connection =
                    builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                if let Err(error) = watcher.watch(connection).await {
                    tracing::debug!(%peer, error = %error, "connection ended with an error");
                }
            });
        }
        drop(listener);
        if tokio::time::timeout(options.drain_deadline, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                deadline = ?options.drain_deadline,
                "connections still open after the drain deadline; dropping them"
            );
        }
    })
}
