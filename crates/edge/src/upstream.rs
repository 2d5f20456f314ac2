//! The upstream side: a pooled keep-alive hyper client, the next tier or the origin group
//! (primary/secondary failover on chosen statuses or connection failure, connection attempts ×
//! connection timeout, response timeout for the head and between body packets, [`stall`]),
//! and how long connect and first byte took. Large
//! request bodies wait for `100 Continue` ([`expect`]), so an origin's early refusal (413)
//! reaches the viewer. Interim responses (102, 103) go on to the viewer ([`interim`]).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use edgelab_common::body::{self, Body};
use edgelab_link::{LinkConnector, PathClass};
use http::request::Parts;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::Upstream;
use crate::metrics::{Metrics, UpstreamConnections, UpstreamResult, UpstreamRole};

pub mod expect;
pub mod interim;
pub mod stall;

pub use stall::{BodyError, UpstreamBody};

/// The connector upstream connections use: `edgelab_link::LinkConnector` (the hop's modelled
/// latency, or plain TCP for a zero hop), timed for `cdn-upstream-connect`.
pub type Connector = TimedConnector<LinkConnector>;

tokio::task_local! {
    static CONNECT_TIME: Cell<Option<Duration>>;
    /// Whether the request of this task still waits for a connection (cleared when its
    /// response head arrived or it gave up), for a connect started on its behalf.
    static WANTED: Arc<AtomicBool>;
}

/// Wraps a connector to bound each connect by the connection timeout, record how long it
/// took in the requesting task, count the connections opened per upstream, and cap the
/// connects in flight per upstream ([`ConnectSlots`]).
#[derive(Clone, Debug)]
pub struct TimedConnector<C> {
    inner: C,
    timeout: Duration,
    opened: UpstreamConnections,
    slots: ConnectSlots,
}

/// At most `max_connecting` connects in flight to each configured upstream.
///
/// The pool (hyper-util's legacy client) starts a connect for every request that finds no
/// idle connection, races it against a connection coming free, and when the free connection
/// wins lets the connect finish in the background and keeps the new connection: a burst of
/// misses (the cold start of a run) opens about one connection per request in the burst,
/// each costing a handshake, two tasks and their buffers, up to the process's file limit.
/// hyper-util has no setting for it, so the connector bounds it: a connect waits for one of
/// its upstream's slots, and once it has one it is skipped if its request no longer waits
/// (served by a connection that came free meanwhile).
#[derive(Clone, Debug, Default)]
pub struct ConnectSlots {
    by_authority: Arc<[(String, Arc<tokio::sync::Semaphore>)]>,
}

impl ConnectSlots {
    /// `max_connecting` slots for each of `upstreams`.
    pub fn new(upstreams: &[&Uri], max_connecting: usize) -> ConnectSlots {
        let by_authority = upstreams
            .iter()
            .filter_map(|uri| {
                let authority = uri.authority()?.as_str().to_string();
                Some((
                    authority,
                    Arc::new(tokio::sync::Semaphore::new(max_connecting)),
                ))
            })
            .collect();
        ConnectSlots { by_authority }
    }

    fn of(&self, uri: &Uri) -> Option<Arc<tokio::sync::Semaphore>> {
        let authority = uri.authority()?;
        self.by_authority
            .iter()
            .find(|(known, _)| known == authority.as_str())
            .map(|(_, slots)| slots.clone())
    }
}

/// Clears the request's [`WANTED`] flag when it is dropped (the attempt ended either way).
struct Served(Arc<AtomicBool>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl<C> tower_service::Service<Uri> for TimedConnector<C>
where
    C: tower_service::Service<Uri> + Clone + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = C::Response;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<C::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let timeout = self.timeout;
        let opened = self.opened.clone();
        let slots = self.slots.of(&uri);
        let wanted = WANTED.try_with(Arc::clone).ok();
        let mut inner = self.inner.clone();
        Box::pin(async move {
            // The wait for a slot is the node's own queue, not the upstream's connect: it is
            // not bounded by the connection timeout (the request's response timeout bounds
            // it), or a busy node would fail requests its upstream never saw.
            let _slot = match slots {
                Some(slots) => {
                    let slot = match slots.clone().try_acquire_owned() {
                        Ok(slot) => slot,
                        Err(_) => {
                            opened.waited(&uri);
                            // invariant: the semaphore is never closed.
                            slots
                                .acquire_owned()
                                .await
                                .expect("connect slots are never closed")
                        }
                    };
                    if wanted.is_some_and(|w| !w.load(Ordering::Relaxed)) {
                        return Err("connect not needed: its request was served".into());
                    }
                    Some(slot)
                }
                None => None,
            };
            let started = Instant::now();
            let result = match tokio::time::timeout(timeout, inner.call(uri.clone())).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(format!("connect timed out after {timeout:?}").into()),
            };
            if result.is_ok() {
                opened.opened(&uri);
            }
            let _ = CONNECT_TIME.try_with(|cell| cell.set(Some(started.elapsed())));
            result
        })
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The next cache tier if configured, else the origin group.
    Cacheable,
    /// The origin group if configured (non-cacheable requests skip the tiers), else the next
    /// tier.
    Origin,
}

/// An upstream failure before a response head arrived.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Every connection attempt failed.
    #[error("cannot connect upstream: {0}")]
    Connect(String),
    /// No response head within the response timeout.
    #[error("upstream response timed out after {0:?}")]
    Timeout(Duration),
    /// Another transport error.
    #[error("upstream request failed: {0}")]
    Other(String),
    /// The viewer's request body failed while it was being sent (malformed chunked framing,
    /// a cut connection): the viewer's fault, not the upstream's.
    #[error("malformed request body: {0}")]
    ViewerBody(String),
    /// The viewer's request body outgrew the node's limit while it was being sent.
    #[error("request body larger than the node's limit")]
    ViewerBodyTooLarge,
}

impl UpstreamError {
    /// Metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Other(_) => "other",
            UpstreamError::ViewerBody(_) => "bad-request-body",
            UpstreamError::ViewerBodyTooLarge => "body-too-large",
        }
    }

    /// Status the viewer gets (CloudFront: 502 for connection problems, 504 for timeouts).
    pub fn status(&self) -> http::StatusCode {
        match self {
            UpstreamError::Timeout(_) => http::StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::ViewerBody(_) => http::StatusCode::BAD_REQUEST,
            UpstreamError::ViewerBodyTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }

    /// The upstream metric's result; `None` for the viewer's own faults (not counted as an
    /// upstream failure).
    fn result(&self) -> Option<UpstreamResult> {
        match self {
            UpstreamError::Connect(_) => Some(UpstreamResult::ConnectError),
            UpstreamError::Timeout(_) => Some(UpstreamResult::Timeout),
            UpstreamError::Other(_) => Some(UpstreamResult::Truncated),
            UpstreamError::ViewerBody(_) | UpstreamError::ViewerBodyTooLarge => None,
        }
    }

    /// A hyper client error, told apart by whose fault it is.
    fn of_client(error: &hyper_util::client::legacy::Error) -> Self {
        if error.is_connect() {
            return UpstreamError::Connect(format!("{error:?}"));
        }
        let chain = || causes(error);
        if chain().any(|cause| cause.is::<http_body_util::LengthLimitError>()) {
            return UpstreamError::ViewerBodyTooLarge;
        }
        let user = |cause: &(dyn std::error::Error + 'static)| {
            cause
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_user)
        };
        if chain().any(user) {
            return UpstreamError::ViewerBody(format!("{error:?}"));
        }
        UpstreamError::Other(format!("{error:?}"))
    }
}

/// The chain of causes below `error`.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |cause| cause.source())
}

/// Marks a forwarded request whose viewer `Host` reaches the origin too (the origin request
/// policy or the key selects `Host`, as under `AllViewer` and `HostHeaderOnly`); without it
/// the origin sees its own name.
#[derive(Debug, Clone, Copy)]
pub struct ViewerHost;

/// A response head from upstream, with timings.
pub struct Fetched {
    /// The response (body still streaming, bounded between packets by the response
    /// timeout).
    pub response: Response<UpstreamBody>,
    /// Connect time when a new connection was opened for it.
    pub connect: Option<Duration>,
    /// Time to the response head.
    pub first_byte: Duration,
    /// Whether it came from a cache tier (its `X-Cache` etc. are meaningful).
    pub from_tier: bool,
}

/// The pooled upstream client of one node.
///
/// On a single-thread runtime (`edgelab edge` runs one per traffic thread, `--workers N`
/// clusters one per worker) each thread has its own hyper client, and so its own pool of
/// keep-alive connections: hyper runs each connection as a task on the runtime that opened
/// it, so a request sent on another thread's connection woke that thread to write it and was
/// woken back for its head and for its body (an `eventfd` write and a wake-up of a parked
/// thread each time; with two traffic threads about half of all upstream requests). Each
/// thread reuses the connections it opened. On a multi-thread runtime, where tasks move
/// between threads anyway, the node has one shared client. The connect slots
/// ([`ConnectSlots`]) and the metrics are per node either way.
#[derive(Clone)]
pub struct UpstreamClient {
    shared: Client<Connector, Body>,
    per_thread: Arc<thread_local::ThreadLocal<Client<Connector, Body>>>,
    connector: Connector,
    config: Upstream,
    metrics: Metrics,
}

impl UpstreamClient {
    /// A client for `config`.
    pub fn new(config: Upstream, metrics: Metrics) -> Self {
        let link = match config.hop {
            // Upstream hops (edge → REC → shield → origin) are the provider's backbone.
            Some(hop) => LinkConnector::new(hop, config.link_seed)
                .recording(metrics.delivery_errors().clone(), PathClass::Backbone),
            None => LinkConnector::plain(),
        };
        let upstreams: Vec<(UpstreamRole, &Uri)> = [
            (UpstreamRole::NextTier, config.next_tier.as_ref()),
            (UpstreamRole::Primary, config.primary.as_ref()),
            (UpstreamRole::Secondary, config.secondary.as_ref()),
        ]
        .into_iter()
        .filter_map(|(role, uri)| Some((role, uri?)))
        .collect();
        let connector = TimedConnector {
            inner: link,
            timeout: config.connection_timeout,
            opened: metrics.upstream_connections(&upstreams),
            slots: ConnectSlots::new(
                &upstreams.iter().map(|(_, uri)| *uri).collect::<Vec<_>>(),
                config.max_connecting,
            ),
        };
        Self {
            shared: pooled(connector.clone()),
            per_thread: Arc::new(thread_local::ThreadLocal::new()),
            connector,
            config,
            metrics,
        }
    }

    /// The client for the calling thread: its own on a single-thread runtime (built on its
    /// first request), else the node's shared one.
    fn client(&self) -> Client<Connector, Body> {
        let single = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
        if single {
            self.per_thread
                .get_or(|| pooled(self.connector.clone()))
                .clone()
        } else {
            self.shared.clone()
        }
    }

    fn targets(&self, route: Route) -> Vec<(Uri, bool)> {
        let origin = || {
            let mut t = Vec::new();
            if let Some(p) = &self.config.primary {
                t.push((p.clone(), false));
            }
            if let Some(s) = &self.config.secondary {
                t.push((s.clone(), false));
            }
            t
        };
        match (route, &self.config.next_tier) {
            (Route::Cacheable, Some(tier)) => vec![(tier.clone(), true)],
            (Route::Origin, Some(tier)) if self.config.primary.is_none() => {
                vec![(tier.clone(), true)]
            }
            _ => origin(),
        }
    }

    /// Sends `parts` (with `body` for unsafe methods; `None` makes the request replayable for
    /// retries and failover) along `route`.
    pub async fn send(
        &self,
        route: Route,
        parts: &Parts,
        body: Option<Body>,
    ) -> Result<Fetched, UpstreamError> {
        let targets = self.targets(route);
        let replayable = body.is_none();
        let mut body = body;
        let mut last_error = UpstreamError::Connect("no upstream configured".into());
        let count = targets.len();
        for (index, (base, from_tier)) in targets.into_iter().enumerate() {
            let is_last = index + 1 == count;
            let attempts = if replayable {
                self.config.connection_attempts
            } else {
                1
            };
            for _ in 0..attempts {
                let (request_body, gate) = if replayable {
                    (body::empty(), None)
                } else {
                    expect::Gate::wrap(body.take().unwrap_or_else(body::empty))
                };
                let mut request = match build(&base, parts, request_body, from_tier) {
                    Ok(r) => r,
                    Err(error) => return Err(UpstreamError::Other(error)),
                };
                if let Some(gate) = &gate {
                    gate.arm(&mut request);
                }
                interim::watch(&mut request, gate.as_ref(), &self.metrics);
                let result = self.attempt(request).await;
                if let Some(gate) = &gate {
                    gate.answered();
                }
                match result {
                    Ok((response, connect, first_byte)) => {
                        let status = response.status();
                        if !is_last
                            && replayable
                            && self.config.failover_status_codes.contains(&status.as_u16())
                        {
                            self.metrics.upstream(UpstreamResult::Failover);
                            last_error = UpstreamError::Other(format!("primary answered {status}"));
                            break;
                        }
                        self.metrics
                            .upstream(if status == http::StatusCode::NOT_MODIFIED {
                                UpstreamResult::NotModified
                            } else if status.is_server_error() {
                                UpstreamResult::ServerError
                            } else {
                                UpstreamResult::Ok
                            });
                        return Ok(Fetched {
                            response,
                            connect,
                            first_byte,
                            from_tier,
                        });
                    }
                    Err(error) => {
                        if let Some(result) = error.result() {
                            self.metrics.upstream(result);
                        }
                        let retry = matches!(error, UpstreamError::Connect(_));
                        last_error = error;
                        if !retry || !replayable {
                            break;
                        }
                    }
                }
            }
            if !replayable {
                break;
            }
            if !is_last {
                if matches!(
                    last_error,
                    UpstreamError::Connect(_) | UpstreamError::Timeout(_)
                ) {
                    self.metrics.upstream(UpstreamResult::Failover);
                }
                continue;
            }
        }
        Err(last_error)
    }

    async fn attempt(
        &self,
        request: Request<Body>,
    ) -> Result<(Response<UpstreamBody>, Option<Duration>, Duration), UpstreamError> {
        let started = Instant::now();
        let timeout = self.config.response_timeout;
        let client = self.client();
        let wanted = Arc::new(AtomicBool::new(true));
        let served = Served(wanted.clone());
        let fut = CONNECT_TIME.scope(
            Cell::new(None),
            WANTED.scope(wanted, async move {
                let _served = served;
                let result = client.request(request).await;
                (result, CONNECT_TIME.with(Cell::get))
            }),
        );
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => Err(UpstreamError::Timeout(timeout)),
            Ok((Ok(response), connect)) => {
                let response = response.map(|body| UpstreamBody::new(body, timeout));
                Ok((response, connect, started.elapsed()))
            }
            Ok((Err(error), _)) => Err(UpstreamError::of_client(&error)),
        }
    }
}

/// A pooled keep-alive client over `connector`.
fn pooled(connector: Connector) -> Client<Connector, Body> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .build(connector)
}

/// Hop-by-hop headers never forwarded (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// Removes hop-by-hop headers and those named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

fn build(base: &Uri, parts: &Parts, body: Body, to_tier: bool) -> Result<Request<Body>, String> {
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let authority: Authority = base
        .authority()
        .cloned()
        .ok_or_else(|| format!("upstream {base} has no authority"))?;
    let uri = Uri::builder()
        .scheme(base.scheme().cloned().unwrap_or(Scheme::HTTP))
        .authority(authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = parts.headers.clone();
    strip_hop_by_hop(request.headers_mut());
    // The viewer's framing describes the viewer's body, not the one sent here (a safe method
    // is forwarded without its body): hyper frames the upstream request from `body` itself
    // (an exact size hint becomes Content-Length, none at all for an empty body), so a
    // declared length can never make the next hop read the following request as a body.
    request.headers_mut().remove(header::CONTENT_LENGTH);
    let viewer_host = to_tier || parts.extensions.get::<ViewerHost>().is_some();
    if !viewer_host || !request.headers().contains_key(header::HOST) {
        // The origin sees its own name unless the policy forwards the viewer's (`ViewerHost`);
        // a cache tier sees the viewer's Host so every tier computes the same key.
        let host = HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?;
        request.headers_mut().insert(header::HOST, host);
    }
    Ok(request)
}
