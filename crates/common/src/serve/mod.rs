//! The HTTP accept loop every edgelab listener uses: HTTP/1.1 with keep-alive and HTTP/2
//! prior-knowledge (h2c) on the same port, the request-head size limit of SPEC §4, and a
//! graceful drain when the [`Shutdown`] fires.
//!
//! hyper answers what it cannot parse itself: a head larger than
//! [`ServeOptions::max_head_bytes`] or with too many fields gets 431, a malformed request
//! line 400; [`head`] answers what hyper parses but HTTP forbids (an HTTP/1.1 request without
//! exactly one valid `Host`: 400) and enforces the head-size limit exactly. Handlers never see
//! those requests.
//!
//! Everything a peer controls is bounded (STYLE §14): at most
//! [`ListenerLimits::max_connections`] connections at once (the accept loop waits for a slot,
//! mini-redis style, and the kernel's backlog holds the rest), a first-byte, a header-read and
//! an idle keep-alive timeout per connection (the `watch` module), and a growing back-off after accept
//! errors. Each bound counts in [`ListenerMetrics`] when it bites.
//!
//! A handler that [answers some requests at once](Handler::answer_now) gets the [`lane`]:
//! its connections start there, HTTP/1.1 heads parsed and those answers written without
//! hyper, and go to hyper (with the bytes read so far) at the first request the lane does not
//! take. [`ServeOptions::lane`] turns it off.

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
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::body::Body;
use crate::interim::{self, InterimIo, InterimQueue};
use crate::shutdown::Shutdown;

mod bind;
pub mod head;
pub mod lane;
mod limits;
mod metrics;
mod watch;

pub use bind::bind_listeners;
pub use limits::{ListenerLimits, RawListenerLimits};
pub use metrics::{ListenerFamilies, ListenerMetrics, TimeoutKind};
use watch::{Activity, Timeouts, Watched};

/// Something that answers HTTP requests.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from `peer`. Must not panic; every error is a response.
    fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// Whether [`Handler::answer_now`] answers some requests: only then do connections start
    /// in the lane (see [`ServeOptions::lane`]).
    fn answers_now(&self) -> bool {
        false
    }

    /// Answers a request without a body at once, without waiting for anything, or declines
    /// (`None`, the default). A declined request is served by [`Handler::handle`] afterwards,
    /// from the same bytes, so declining must leave no trace a second try would see twice.
    /// The answer must be the one [`Handler::handle`] would give.
    fn answer_now(&self, request: Request<()>, peer: SocketAddr) -> Option<Response<Body>> {
        let _ = (request, peer);
        None
    }

    /// [`Handler::answer_now`] for the lane, which may also take the answer's head written
    /// as HTTP/1.1 text into `head` ([`lane::Answer::Written`], under [`lane::WireHead`]'s
    /// rules), so a handler that keeps its answers in the form they are sent builds no
    /// response map at all. The bytes must be those hyper would send for
    /// [`Handler::handle`]'s answer. By default, [`Handler::answer_now`]'s response.
    fn write_now(
        &self,
        request: Request<()>,
        peer: SocketAddr,
        head: &mut lane::WireHead<'_>,
    ) -> Option<lane::Answer> {
        let _ = head;
        self.answer_now(request, peer).map(lane::Answer::Response)
    }
}

/// Limits and timeouts of a listener.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Largest request line + header block accepted (SPEC §4: 20,480 bytes → 431 beyond).
    /// hyper requires at least 8,192.
    pub max_head_bytes: usize,
    /// Most header fields in one request (beyond: 431).
    pub max_headers: usize,
    /// Connection cap and timeouts (the `[listener]` table of a config).
    pub limits: ListenerLimits,
    /// How long in-flight requests may run after shutdown before connections are dropped.
    pub drain_deadline: Duration,
    /// Where the listener counts its bounds biting; [`ListenerMetrics::unregistered`] for
    /// nobody.
    pub metrics: ListenerMetrics,
    /// One connection cap for every listener served with these options (and their clones),
    /// made by [`ServeOptions::share_connection_slots`]: the sockets of one address, each
    /// served by its own thread, hold at most [`ListenerLimits::max_connections`] together.
    /// `None`: each listener has a cap of its own.
    pub connection_slots: Option<Arc<Semaphore>>,
    /// Serve the HTTP/1.1 requests the handler [answers at once](Handler::answer_now)
    /// without hyper (the [`lane`] module; on by default, [`ListenerLimits::lane`] in a
    /// config). Off: every connection is hyper's.
    pub lane: bool,
}

/// Smallest and largest pause after a failed accept; it doubles per consecutive failure.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_head_bytes: 20_480,
            max_headers: 128,
            limits: ListenerLimits::default(),
            drain_deadline: Duration::from_secs(10),
            metrics: ListenerMetrics::unregistered(),
            connection_slots: None,
            lane: true,
        }
    }
}

impl ServeOptions {
    /// Makes every listener served with these options (and their clones) share one
    /// connection cap of `limits.max_connections`.
    pub fn share_connection_slots(&mut self) {
        self.connection_slots = Some(Arc::new(Semaphore::new(self.limits.max_connections.max(1))));
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
    let task_shutdown = shutdown.clone();
    shutdown.spawn(accept_loop(listener, handler, options, task_shutdown))
}

fn connection_builder(options: &ServeOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own header-read timer also runs while a keep-alive connection is idle, so it
    // is off here and `watch` keeps the header-read and idle bounds apart.
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .max_buf_size(options.max_head_bytes.max(8_192))
        .max_headers(options.max_headers)
        .header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(options.max_head_bytes as u32);
    builder
}

/// One accepted connection, before it is served: what hyper (or the lane, then hyper) needs.
struct Connection<H> {
    handler: Arc<H>,
    peer: SocketAddr,
    activity: Arc<Activity>,
    max_head_bytes: usize,
    builder: auto::Builder<TokioExecutor>,
    /// Holds the drain open until the connection ends.
    watcher: Watcher,
    /// The lane's counters.
    lane_answers: prometheus::IntCounter,
    lane_handovers: prometheus::IntCounter,
    lane_written: prometheus::IntCounter,
}

impl<H: Handler> Connection<H> {
    /// Serves the connection with hyper until it closes or the drain ends it.
    async fn hyper<S>(self, io: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            handler,
            peer,
            activity,
            max_head_bytes,
            builder,
            watcher,
            ..
        } = self;
        let interim_queue = InterimQueue::default();
        let service_interim = interim_queue.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let handler = handler.clone();
            let in_flight = activity.begin();
            let refused = head::check(&request, max_head_bytes);
            // Interim responses reach HTTP/1.1 clients only (crate::interim).
            let interim =
                (request.version() == http::Version::HTTP_11).then(|| service_interim.request());
            async move {
                let response = match refused {
                    Some(problem) => problem.response(),
                    None => interim::serving(interim, handler.handle(request, peer)).await,
                };
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        });
        let io = TokioIo::new(InterimIo::new(io, interim_queue));
        let connection = builder.serve_connection_with_upgrades(io, service);
        if let Err(error) = watcher.watch(connection).await {
            tracing::debug!(%peer, error = %error, "connection ended with an error");
        }
    }
}

async fn accept_loop<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    options: ServeOptions,
    shutdown: Shutdown,
) {
    let builder = connection_builder(&options);
    let limits = options.limits;
    let slots = options
        .connection_slots
        .clone()
        .unwrap_or_else(|| Arc::new(Semaphore::new(limits.max_connections.max(1))));
    let timeouts = Timeouts {
        first_byte: limits.first_byte_timeout,
        header_read: limits.header_read_timeout,
        idle: limits.idle_timeout,
    };
    let metrics = options.metrics.clone();
    let graceful = GracefulShutdown::new();
    let mut backoff = ACCEPT_BACKOFF.0;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                metrics.limit_waits.inc();
                tracing::debug!(max = limits.max_connections, "connection limit reached");
                tokio::select! {
                    // Invariant: the semaphore is never closed.
                    slot = slots.clone().acquire_owned() => slot.expect("semaphore stays open"),
                    () = shutdown.triggered() => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.triggered() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF.0;
                accepted
            }
            Err(error) => {
                // Out of file descriptors and similar: back off, longer each time.
                metrics.accept_errors.inc();
                tracing::warn!(%error, pause = ?backoff, "accept failed");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.triggered() => break,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        metrics.accepted.inc();
        let activity = Arc::new(Activity::default());
        let watched = Watched::new(stream, activity.clone(), timeouts, metrics.clone());
        let connection = Connection {
            handler: handler.clone(),
            peer,
            activity,
            max_head_bytes: options.max_head_bytes,
            builder: builder.clone(),
            watcher: graceful.watcher(),
            lane_answers: metrics.lane_answers.clone(),
            lane_handovers: metrics.lane_handovers.clone(),
            lane_written: metrics.lane_written.clone(),
        };
        let open = metrics.open.clone();
        let stop = (options.lane && handler.answers_now()).then(|| shutdown.token().clone());
        shutdown.tracker().spawn(async move {
            open.inc();
            match stop {
                Some(stop) => lane::serve(connection, watched, stop).await,
                None => connection.hyper(watched).await,
            }
            open.dec();
            drop(slot);
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
}
