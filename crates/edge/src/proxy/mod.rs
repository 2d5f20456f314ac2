//! The request path through the cache phases (see `docs/request-lifecycle.md`). A request
//! becomes one `Exchange` after admission and carries it from phase to phase; each phase
//! ends in an `Outcome` that `Node::finish` renders into headers once.
//!
//! ```text
//!  admit ──► pass (unsafe method / disabled policy) ─────────────────────────┐
//!    │                                                                      │
//!    ▼                                                                      │
//!  lookup ──fresh──────────────────────────────────────────► Hit ───────────┤
//!    │ ├──stale-while-revalidate──► StaleWhileRevalidate ───────────────────┤
//!    │ │        └─ background: revalidate (same Exchange, same forward) ┐   │
//!    │ └──stale──► revalidate ──304──► RefreshHit ─────────────────────────┤
//!    │                 ├──5xx / no answer (stale-if-error, or CloudFront) ──► StaleOnError
//!    │                 └──full response──► fill                         │   │
//!    ▼ miss                                                             ▼   │
//!  collapse ─ leader ──► forward ──► fill task ──► flight (store + stream) ─► Fetched
//!     └─ waiter ── head within collapse_timeout ──► follow the flight ──────► Hit
//!                                                                           ▼
//!                                                     finish: X-Cache, Cache-Status,
//!                                                     Server-Timing, metrics, span
//! ```
//!
//! - `lookup`: cache key, stored object, freshness, the background refresh.
//! - `collapse`: leader or waiter on a miss; waiters answered from the leader's fill.
//! - `forward`: the request sent upstream (origin request policy), pass-through, unsafe
//!   method invalidation, what the upstream tier said.
//! - `revalidate`: conditional request, 304 merge, stale-if-error.
//! - `fill`: storability, the fill task reading the upstream body into the flight and store.
//! - `respond`: RFC 9110 conditional, range and HEAD answers from a stored object.
//! - `error_page`: CloudFront's custom error pages, fetched through the same phases.
//! - `outcome`: how a request was served, rendered into headers and metrics.
//! - `lines`: a fresh hit's head written straight as HTTP/1.1 text for the lane.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use edgelab_common::body::{Body, BoxError};
use edgelab_common::names::header as names;
use edgelab_common::names::header_name as own;
use edgelab_common::serve::lane::{Answer, WireHead};
use edgelab_common::shutdown::Shutdown;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tracing::Instrument;

use crate::clock::Clock;
use crate::config::{Behavior, EdgeConfig};
use crate::lock::{LeaderGuard, Locks};
use crate::metrics::Metrics;
use crate::store::{ObjectBody, Store};
use crate::upstream::UpstreamClient;

mod collapse;
mod error_page;
mod fill;
mod forward;
mod identity;
mod lines;
mod lookup;
mod outcome;
mod respond;
mod revalidate;

pub use identity::Identity;
use lookup::{Fresh, Looked};
pub(crate) use outcome::{ForwardReason, Outcome, Refusal, Served};
pub use respond::respond_from_object;

/// Longest accepted request target (SPEC §4: 414 beyond).
pub const MAX_URL_BYTES: usize = 8_192;

/// Longest accepted request line + header block (SPEC §4: 431 beyond). The accept loop
/// enforces it on HTTP/1.1 reads; this check covers what its buffering lets through.
pub const MAX_HEAD_BYTES: usize = 20_480;

/// Headers a node sets itself; stripped from upstream responses before storing.
const OWN_HEADERS: [&str; 6] = [
    names::X_CACHE,
    names::X_AMZ_CF_POP,
    names::X_AMZ_CF_ID,
    names::SERVER_TIMING,
    names::CACHE_STATUS,
    names::X_EDGELAB_TIER,
];

/// Everything a request needs, shared by all connections of a node and its background
/// refreshes.
pub struct NodeState {
    /// The validated configuration.
    pub config: Arc<EdgeConfig>,
    /// The object store.
    pub store: Store,
    /// In-flight fetches (request collapsing).
    pub locks: Locks,
    /// The next tier or origin group.
    pub upstream: UpstreamClient,
    /// Metric handles.
    pub metrics: Metrics,
    /// Header identity and request ids.
    pub identity: Identity,
    /// The node's clock.
    pub clock: Clock,
    /// Tracks background refreshes and stops them.
    pub shutdown: Shutdown,
}

/// The request handler of one node: its state behind one `Arc`, so a clone is cheap and a
/// background task runs the very same phases as a viewer request.
#[derive(Clone)]
pub struct Node(Arc<NodeState>);

impl Node {
    /// A node over `state`.
    pub fn new(state: NodeState) -> Self {
        Node(Arc::new(state))
    }
}

impl Deref for Node {
    type Target = NodeState;

    fn deref(&self) -> &NodeState {
        &self.0
    }
}

/// Where a request is (or would be) stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheKey {
    /// Host + path + the cache policy's key parts.
    pub(crate) primary: Arc<str>,
    /// The primary key plus the request's values of the stored response's `Vary` headers.
    pub(crate) variant: String,
}

/// One request on its way through the cache phases: what was asked, under which behaviour
/// and key, why it goes upstream, and the collapsing lock it holds.
pub(crate) struct Exchange<'a> {
    /// The viewer's request head (the body is never needed on the cache path).
    pub(crate) parts: Parts,
    /// The cache behaviour matching the path.
    pub(crate) behavior: &'a Behavior,
    /// Where it is stored.
    pub(crate) key: CacheKey,
    /// Why it goes upstream, if it does.
    pub(crate) reason: ForwardReason,
    /// It waited for another request's fetch first.
    pub(crate) collapsed: bool,
    /// Held while this request fetches the key for others; moves into the fill task, which
    /// drops it once the body is stored (or failed).
    pub(crate) guard: Option<LeaderGuard>,
}

/// What admission decided without waiting.
// Returned once per request and matched at once: boxing the answer would cost every hit an
// allocation, so only the waiting side is boxed.
#[allow(clippy::large_enum_variant)]
enum Admitted<'a> {
    /// Answered: a refusal.
    Answered(Outcome),
    /// A fresh hit, to answer.
    Fresh(Fresh),
    /// The phases that may wait come next (boxed: only requests that wait pay for it).
    Waits(Box<Waits<'a>>),
}

/// A request admitted to the phases that may wait.
struct Waits<'a> {
    /// Where it goes next.
    next: Next<'a>,
    /// The viewer's head, kept for a custom error page.
    page_request: Option<Parts>,
}

impl Waits<'_> {
    /// Sets the request id on the heads that may go upstream (the cache path's exchange, a
    /// pass, a custom error page's request).
    fn set_request_id(&mut self, rid: &HeaderValue) {
        let parts = match &mut self.next {
            Next::Cache(Looked::Stored(exchange, _) | Looked::Missing(exchange)) => {
                Some(&mut exchange.parts)
            }
            Next::Cache(Looked::Fresh(_)) => None,
            Next::Pass(parts, _) => Some(parts),
        };
        for parts in parts.into_iter().chain(self.page_request.as_mut()) {
            parts.headers.insert(own::X_AMZ_CF_ID.clone(), rid.clone());
        }
    }
}

/// The next phase of an admitted request.
enum Next<'a> {
    /// The cache path, after the lookup.
    Cache(Looked<'a>),
    /// Passed through (unsafe method or disabled policy).
    Pass(Parts, &'a Behavior),
}

impl edgelab_common::serve::Handler for Node {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        self.serve(request).await
    }

    fn answers_now(&self) -> bool {
        true
    }

    fn answer_now(&self, request: Request<()>, _peer: SocketAddr) -> Option<Response<Body>> {
        self.serve_now(request)
    }

    fn write_now(
        &self,
        request: Request<()>,
        _peer: SocketAddr,
        head: &mut WireHead<'_>,
    ) -> Option<Answer> {
        self.write_now(request, head)
    }
}

impl Node {
    /// Serves one viewer request: the phases every request of the traffic listener goes
    /// through, callable in-process (a benchmark or a test without a socket).
    ///
    /// Admission and the lookup wait for nothing, so they run before any future is made: a
    /// fresh hit is answered right here. Only the phases that may wait (upstream, collapsing,
    /// error pages) build their future, boxed, so the future of every request stays small
    /// (hyper moves it) and a hit never lays out the miss path's state.
    pub async fn serve<B>(&self, request: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let (mut parts, incoming) = request.into_parts();
        let rid = self.request_id(&mut parts);
        let span = self.request_span(&rid);
        let outcome = match span.in_scope(|| self.admit(parts)) {
            Admitted::Answered(outcome) => outcome,
            Admitted::Fresh(fresh) => span.in_scope(|| self.answer_fresh(&fresh)),
            Admitted::Waits(mut waits) => {
                waits.set_request_id(&rid);
                Box::pin(self.proceed(*waits, incoming).instrument(span.clone())).await
            }
        };
        span.in_scope(|| self.finish(outcome, &rid, started))
    }

    /// Serves a request without a body if admission answers it without waiting (a fresh hit,
    /// or the node's own refusal of the head): the same response [`Node::serve`] gives, with
    /// the same headers, metrics and span. `None` for every request that would wait (a miss,
    /// a stale copy, a pass, a custom error page): nothing is counted then, and [`Node::serve`]
    /// serves it from the start (the lookup runs again; a request id is skipped).
    pub fn serve_now(&self, request: Request<()>) -> Option<Response<Body>> {
        self.at_once(request, |_, _, _| None, |response| response)
    }

    /// [`Node::serve_now`] for the lane: a fresh hit that needs no map (no conditional or
    /// `Range`, a stored head whose lines are usable, see `proxy/lines.rs`) is written
    /// into `head` as HTTP/1.1 text, with the same bytes, metrics and span; every other
    /// answer is [`Node::serve_now`]'s response.
    pub fn write_now(&self, request: Request<()>, head: &mut WireHead<'_>) -> Option<Answer> {
        self.at_once(
            request,
            |fresh, rid, started| {
                if !self.write_fresh(fresh, rid, started, head) {
                    return None;
                }
                let answer = if fresh.parts.method == Method::HEAD {
                    Answer::Written(Bytes::new())
                } else {
                    match &fresh.object.body {
                        ObjectBody::Memory(bytes) => Answer::Written(bytes.clone()),
                        ObjectBody::File(file) => Answer::WrittenFile(file.clone()),
                    }
                };
                head.give_back(std::mem::take(&mut fresh.parts.headers));
                Some(answer)
            },
            Answer::Response,
        )
    }

    /// The one way of [`Node::serve_now`] and [`Node::write_now`]: request id, span,
    /// admission; `written` may answer a fresh hit itself (inside the span), else the
    /// response `finish` makes is handed to `response`. `None` when the request would wait.
    fn at_once<T>(
        &self,
        request: Request<()>,
        written: impl FnOnce(&mut Fresh, &HeaderValue, Instant) -> Option<T>,
        response: impl FnOnce(Response<Body>) -> T,
    ) -> Option<T> {
        let started = Instant::now();
        let (mut parts, ()) = request.into_parts();
        let rid = self.request_id(&mut parts);
        let span = self.request_span(&rid);
        let outcome = match span.in_scope(|| self.admit(parts)) {
            Admitted::Answered(outcome) => outcome,
            Admitted::Fresh(mut fresh) => {
                let _entered = span.enter();
                if let Some(answer) = written(&mut fresh, &rid, started) {
                    return Some(answer);
                }
                self.answer_fresh(&fresh)
            }
            Admitted::Waits(_) => return None,
        };
        Some(response(
            span.in_scope(|| self.finish(outcome, &rid, started)),
        ))
    }

    /// The span of one viewer request, on both ways in ([`Node::serve`], [`Node::serve_now`]).
    fn request_span(&self, rid: &HeaderValue) -> tracing::Span {
        tracing::debug_span!(
            "request",
            pop = %self.identity.pop_id,
            tier = %self.config.tier.as_str(),
            request_id = %rid.to_str().unwrap_or_default(),
            cache_status = tracing::field::Empty,
        )
    }

    /// The storability rules for `behavior`: its cache policy and the distribution's error
    /// caching.
    pub(crate) fn rules<'a>(&'a self, behavior: &'a Behavior) -> crate::policy::Rules<'a> {
        crate::policy::Rules {
            cache: &behavior.cache_policy,
            errors: &self.config.error_responses,
        }
    }

    /// The request's `X-Amz-Cf-Id`: a lower tier's id is kept so one viewer request has one
    /// id on every tier; a viewer's own is dropped and replaced. The tier marker goes too. The
    /// id is set on the request only when it goes on ([`Waits::set_request_id`]): a fresh hit
    /// forwards nothing.
    fn request_id(&self, parts: &mut Parts) -> HeaderValue {
        // Most requests carry neither field: one pass over their names says so without
        // hashing a name (a removal hashes it even when the field is absent).
        let marked = parts
            .headers
            .keys()
            .any(|name| *name == own::X_EDGELAB_TIER || *name == own::X_AMZ_CF_ID);
        if !marked {
            return self.identity.next_id_value();
        }
        let from_tier = parts.headers.remove(&own::X_EDGELAB_TIER).is_some();
        let kept = from_tier
            .then(|| parts.headers.get(&own::X_AMZ_CF_ID))
            .flatten()
            .filter(|id| id.to_str().is_ok())
            .cloned();
        match kept {
            Some(rid) => rid,
            None => {
                parts.headers.remove(&own::X_AMZ_CF_ID);
                self.identity.next_id_value()
            }
        }
    }

    /// Admission: head and URL limits, then the behaviour decides cache or pass; a cacheable
    /// request is looked up. Answers what needs no waiting (a refusal, a fresh hit).
    fn admit(&self, mut parts: Parts) -> Admitted<'_> {
        self.default_root(&mut parts);
        let target_len = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
        let head_len: usize = target_len
            + 16
            + parts
                .headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum::<usize>();
        if head_len > MAX_HEAD_BYTES {
            return Admitted::Answered(Outcome::error(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("request line and headers longer than {MAX_HEAD_BYTES} bytes"),
                Refusal::HeadTooLarge,
            ));
        }
        if target_len > MAX_URL_BYTES {
            return Admitted::Answered(Outcome::error(
                StatusCode::URI_TOO_LONG,
                format!("request target longer than {MAX_URL_BYTES} bytes"),
                Refusal::UriTooLong,
            ));
        }
        let behavior = self.config.behavior(parts.uri.path());
        let cacheable_method = parts.method == Method::GET || parts.method == Method::HEAD;
        // Custom error pages answer GET and HEAD; the head is kept only when one is set.
        let page_request =
            (cacheable_method && self.config.error_responses.has_pages()).then(|| parts.clone());
        let next = if cacheable_method && !behavior.cache_policy.disabled() {
            match self.look_up(parts, behavior) {
                Looked::Fresh(fresh) if page_request.is_none() => return Admitted::Fresh(fresh),
                Looked::Fresh(fresh) => {
                    // The answer's own status (a 304, a 416) picks the page, if any.
                    let outcome = self.answer_fresh(&fresh);
                    if self
                        .config
                        .error_responses
                        .page(outcome.response.status())
                        .is_none()
                    {
                        return Admitted::Answered(outcome);
                    }
                    // Answered again after the lookup: only a hit whose answer has a page.
                    Next::Cache(Looked::Fresh(fresh))
                }
                looked => Next::Cache(looked),
            }
        } else {
            Next::Pass(parts, behavior)
        };
        Admitted::Waits(Box::new(Waits { next, page_request }))
    }

    /// The phases that may wait, after [`Node::admit`].
    async fn proceed<B>(&self, waits: Waits<'_>, incoming: B) -> Outcome
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let outcome = match waits.next {
            Next::Cache(looked) => self.after_lookup(looked).await,
            Next::Pass(parts, behavior) => {
                let incoming = incoming.map_err(Into::into).boxed();
                self.pass(parts, incoming, behavior).await
            }
        };
        match waits.page_request {
            Some(parts) => self.with_error_page(parts, outcome).await,
            None => outcome,
        }
    }

    /// CloudFront's DefaultRootObject: a request for `/` (query kept) becomes a request for
    /// the root object, on every method, before the behaviour is chosen.
    fn default_root(&self, parts: &mut Parts) {
        let Some(root) = &self.config.default_root_object else {
            return;
        };
        if parts.uri.path() != "/" {
            return;
        }
        let target = match parts.uri.query() {
            Some(query) => format!("/{root}?{query}"),
            None => format!("/{root}"),
        };
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        // Validation checked that `/<root>` is a valid path; the query came from a URI.
        uri.path_and_query = target.parse().ok();
        parts.uri = http::Uri::from_parts(uri).unwrap_or_default();
    }
}
