//! The request path through the cache phases (see `docs/request-lifecycle.md`):
//!
//! 1. **admit**: URL length (414), request id, behaviour lookup.
//! 2. **route**: unsafe methods and disabled policies pass through (`pass`), GET/HEAD go to
//!    the cache.
//! 3. **lookup**: primary key → recorded `Vary` names → variant key → stored object.
//! 4. **freshness**: fresh → hit; inside stale-while-revalidate → stale hit + one background
//!    refresh; stale → conditional revalidation (304 → refresh hit; error → stale-if-error).
//! 5. **miss**: collapse on the variant key (leader fetches, waiters re-look-up), fetch, decide
//!    storability and TTL, stream to the viewer while filling (whole verified bodies only).
//! 6. **respond**: conditional/range/HEAD handling from the object, then the CloudFront and
//!    RFC 9211 headers, metrics.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use edgelab_common::body::{self, Body, BoxError};
use edgelab_common::names::header as names;
use edgelab_common::shutdown::Shutdown;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, Limited};
use http_cache_semantics::{CacheOptions, CachePolicy};
use hyper::body::Incoming;

use crate::config::{Behavior, EdgeConfig, Selection};
use crate::lock::{self, Acquire, LeaderGuard, Locks};
use crate::metrics::{CacheStatus, Metrics, UpstreamResult};
use crate::policy::{self, Freshness};
use crate::range::{self, RangeRequest};
use crate::store::{CachedObject, Store, StoredHeaders};
use crate::upstream::{Fetched, Route, UpstreamClient, strip_hop_by_hop};
use crate::{Clock, compress};

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

/// Per-node identity used in headers.
pub struct Identity {
    /// `X-Amz-Cf-Pop` value, `<IATA><n>-P<m>`.
    pub pop_id: String,
    /// `Via` value.
    pub via: HeaderValue,
    /// RFC 9211 cache name.
    pub cache_name: String,
    /// `X-Amz-Cf-Pop` as a header value.
    pop_value: HeaderValue,
    /// The `cdn-pop` member of `Server-Timing`, with its trailing comma.
    timing_pop: String,
    seed: u64,
    counter: AtomicU64,
}

impl Identity {
    /// The identity of a node with `config`, distinguished by `salt` (e.g. its address).
    pub fn new(config: &EdgeConfig, salt: &str) -> Self {
        let pop_id = format!(
            "{}{}-P{}",
            config.pop, config.pop_number, config.pop_partition
        );
        let seed_text = format!("{pop_id}/{}/{salt}", config.tier.as_str());
        let seed = xxhash_rust::xxh3::xxh3_64(seed_text.as_bytes());
        let host = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(seed_text.as_bytes()));
        // Invariant: hex digits and ASCII punctuation only.
        let via = HeaderValue::from_str(&format!("1.1 {host}.cloudfront.net (CloudFront)"))
            .expect("Via is ASCII");
        let cache_name = format!("edgelab-{pop_id}-{}", config.tier.as_str());
        // Validated configs hold an upper-case IATA code; a hand-built one that is not header
        // text falls back to a placeholder rather than failing.
        let pop_value =
            HeaderValue::from_str(&pop_id).unwrap_or(HeaderValue::from_static("LOC50-P1"));
        let timing_pop = format!("cdn-pop;desc=\"{pop_id}\",");
        Self {
            pop_value,
            timing_pop,
            pop_id,
            via,
            cache_name,
            seed,
            counter: AtomicU64::new(0),
        }
    }

    /// A fresh request id: 56 URL-safe base64 characters, unique per node and request.
    pub fn next_id(&self) -> String {
        use base64::Engine;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut bytes = Vec::with_capacity(48);
        for part in 0..3u64 {
            let h = xxhash_rust::xxh3::xxh3_128_with_seed(&n.to_le_bytes(), self.seed ^ part);
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        let mut id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        id.truncate(56);
        id
    }
}

/// Everything a request needs; shared by all connections of a node.
pub struct Node {
    pub(crate) config: Arc<EdgeConfig>,
    pub(crate) store: Store,
    pub(crate) locks: Locks,
    pub(crate) upstream: UpstreamClient,
    pub(crate) metrics: Metrics,
    pub(crate) identity: Identity,
    pub(crate) clock: Clock,
    pub(crate) shutdown: Shutdown,
}

/// Upstream timings and layer for `Server-Timing`.
#[derive(Default, Clone)]
struct UpstreamInfo {
    layer: Option<String>,
    connect: Option<Duration>,
    first_byte: Option<Duration>,
    /// The upstream tier's `X-Cache` said hit / refresh hit, with its hit layer.
    tier_hit: Option<(CacheStatus, String)>,
}

/// One answer before the common headers are added.
struct Outcome {
    response: Response<Body>,
    status: CacheStatus,
    /// RFC 9211 parameters after the cache name (`hit`, `fwd=miss; stored`, ...).
    cache_status: String,
    upstream: UpstreamInfo,
}

impl Outcome {
    fn error(status: StatusCode, message: impl Into<String>, detail: &str) -> Self {
        Outcome {
            response: body::text(status, message),
            status: CacheStatus::Error,
            cache_status: format!("fwd=miss; detail={detail}"),
            upstream: UpstreamInfo::default(),
        }
    }
}

impl edgelab_common::serve::Handler for Node {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let (mut parts, incoming) = request.into_parts();
        let rid = match parts
            .headers
            .get(names::X_AMZ_CF_ID)
            .and_then(|v| v.to_str().ok())
        {
            // A lower tier's id is kept so one viewer request has one id on every tier.
            Some(id) if parts.headers.contains_key(names::X_EDGELAB_TIER) => id.to_string(),
            _ => self.identity.next_id(),
        };
        parts.headers.remove(names::X_EDGELAB_TIER);
        if let Ok(value) = HeaderValue::from_str(&rid) {
            parts.headers.insert(names::X_AMZ_CF_ID, value);
        }
        let target_len = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
        let head_len: usize = target_len
            + 16
            + parts
                .headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum::<usize>();
        let outcome = if head_len > MAX_HEAD_BYTES {
            Outcome::error(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("request line and headers longer than {MAX_HEAD_BYTES} bytes"),
                "head-too-large",
            )
        } else if target_len > MAX_URL_BYTES {
            Outcome::error(
                StatusCode::URI_TOO_LONG,
                format!("request target longer than {MAX_URL_BYTES} bytes"),
                "uri-too-long",
            )
        } else {
            let behavior = self.config.behavior(parts.uri.path());
            let cacheable_method = parts.method == Method::GET || parts.method == Method::HEAD;
            if cacheable_method && !behavior.cache_policy.disabled() {
                self.cacheable(parts, behavior).await
            } else {
                self.pass(parts, incoming, behavior).await
            }
        };
        self.finish(outcome, &rid, started)
    }
}

impl Node {
    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Adds the CloudFront, RFC 9211 and Server-Timing headers; counts the request.
    fn finish(&self, outcome: Outcome, rid: &str, started: Instant) -> Response<Body> {
        let Outcome {
            mut response,
            status,
            cache_status,
            upstream,
        } = outcome;
        let own_tier = self.config.tier.layer();
        let (x_cache, hit_layer) = match (status, &upstream.tier_hit) {
            (CacheStatus::Miss, Some((tier_status, layer))) => {
                (tier_status.x_cache(), Some(layer.clone()))
            }
            (CacheStatus::Hit | CacheStatus::Stale | CacheStatus::RefreshHit, _) => {
                (status.x_cache(), Some(own_tier.to_string()))
            }
            _ => (status.x_cache(), None),
        };
        // CloudFront labels an error status it did not serve from cache (the origin's 4xx/5xx
        // passed through, or its own 502/504) `Error from cloudfront`.
        let served_from_cache = matches!(
            status,
            CacheStatus::Hit | CacheStatus::Stale | CacheStatus::RefreshHit
        ) || hit_layer.is_some();
        let x_cache = if response.status().as_u16() >= 400 && !served_from_cache {
            CacheStatus::Error.x_cache()
        } else {
            x_cache
        };
        let headers = response.headers_mut();
        for name in OWN_HEADERS {
            // Lower tiers' Cache-Status entries stay (RFC 9211: one entry per cache).
            if name != names::CACHE_STATUS {
                headers.remove(name);
            }
        }
        headers.insert(names::X_CACHE, HeaderValue::from_static(x_cache));
        headers.append(header::VIA, self.identity.via.clone());
        headers.insert(names::X_AMZ_CF_POP, self.identity.pop_value.clone());
        if let Ok(v) = HeaderValue::from_str(rid) {
            headers.insert(names::X_AMZ_CF_ID, v);
        }
        headers.insert(names::X_EDGELAB_TIER, HeaderValue::from_static(own_tier));
        let entry = format!("{}; {}", self.identity.cache_name, cache_status);
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(entry)) {
            headers.append(names::CACHE_STATUS, v);
        }
        use std::fmt::Write as _;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        // One buffer for the whole value (this runs on every hit).
        let mut timing = String::with_capacity(256);
        if let Some(layer) = &upstream.layer {
            let _ = write!(timing, "cdn-upstream-layer;desc=\"{layer}\",");
        }
        if let Some(connect) = upstream.connect {
            let _ = write!(timing, "cdn-upstream-connect;dur={:.0},", ms(connect));
        } else if upstream.first_byte.is_some() {
            timing.push_str("cdn-upstream-connect;dur=0,");
        }
        if let Some(fbl) = upstream.first_byte {
            let _ = write!(timing, "cdn-upstream-fbl;dur={:.0},", ms(fbl));
        }
        timing.push_str(match x_cache {
            "Hit from cloudfront" => "cdn-cache-hit,",
            "RefreshHit from cloudfront" => "cdn-cache-refresh,",
            _ => "cdn-cache-miss,",
        });
        timing.push_str(&self.identity.timing_pop);
        let _ = write!(timing, "cdn-rid;desc=\"{rid}\",");
        if let Some(layer) = hit_layer {
            let _ = write!(timing, "cdn-hit-layer;desc=\"{layer}\",");
        }
        let elapsed = started.elapsed();
        let _ = write!(timing, "cdn-downstream-fbl;dur={:.0}", ms(elapsed));
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(timing)) {
            headers.insert(names::SERVER_TIMING, v);
        }
        self.metrics.request(status, elapsed);
        tracing::debug!(
            pop = %self.identity.pop_id,
            tier = self.config.tier.as_str(),
            cache_status = status.as_str(),
            http_status = response.status().as_u16(),
            "request served"
        );
        response
    }

    /// Requests that are never cached here: forwarded (to the origin group directly for unsafe
    /// methods), streamed back; a successful unsafe method invalidates the stored URI.
    async fn pass(&self, parts: Parts, incoming: Incoming, behavior: &Behavior) -> Outcome {
        let unsafe_method = !matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        let route = if unsafe_method || parts.method == Method::OPTIONS {
            Route::Origin
        } else {
            Route::Cacheable
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|l| l > self.config.max_request_body_bytes) {
            return Outcome::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body larger than {} bytes",
                    self.config.max_request_body_bytes
                ),
                "body-too-large",
            );
        }
        let forwarded = self.forward_parts(&parts, behavior, false);
        let limit = usize::try_from(self.config.max_request_body_bytes).unwrap_or(usize::MAX);
        // Safe methods carry no body worth forwarding and stay replayable (retries, failover).
        let request_body: Option<Body> = if unsafe_method {
            Some(Limited::new(incoming, limit).boxed())
        } else {
            None
        };
        let fetched = match self.upstream.send(route, &forwarded, request_body).await {
            Ok(fetched) => fetched,
            Err(error) => {
                return Outcome::error(error.status(), error.to_string(), error.kind());
            }
        };
        let info = self.upstream_info(&fetched);
        let status = fetched.response.status();
        if unsafe_method && (status.is_success() || status.is_redirection()) {
            self.invalidate_for_unsafe(&parts, fetched.response.headers());
        }
        let (mut head, incoming) = fetched.response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let fwd = if unsafe_method { "method" } else { "bypass" };
        Outcome {
            response: Response::from_parts(head, incoming.map_err(BoxError::from).boxed()),
            status: CacheStatus::Pass,
            cache_status: format!("fwd={fwd}; fwd-status={}", status.as_u16()),
            upstream: info,
        }
    }

    /// RFC 9111 §4.4: the target URI, and `Location`/`Content-Location` on the same host.
    fn invalidate_for_unsafe(&self, parts: &Parts, response: &HeaderMap) {
        let mut paths = vec![parts.uri.path().to_string()];
        let host = host_of(parts);
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            let Some(value) = response.get(&name).and_then(|v| v.to_str().ok()) else {
                continue;
            };
            let Ok(uri) = value.parse::<http::Uri>() else {
                continue;
            };
            let same_host = uri.host().is_none_or(|h| host.split(':').next() == Some(h));
            if same_host && uri.path().starts_with('/') {
                paths.push(uri.path().to_string());
            }
        }
        self.store.invalidate_paths(&paths);
    }

    fn upstream_info(&self, fetched: &Fetched) -> UpstreamInfo {
        let headers = fetched.response.headers();
        let layer = if fetched.from_tier {
            headers
                .get(names::X_EDGELAB_TIER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| Some("REC".to_string()))
        } else {
            Some("Origin".to_string())
        };
        let tier_hit = if fetched.from_tier {
            let x_cache = headers.get(names::X_CACHE).and_then(|v| v.to_str().ok());
            let status = match x_cache {
                Some(v) if v.starts_with("Hit") => Some(CacheStatus::Hit),
                Some(v) if v.starts_with("RefreshHit") => Some(CacheStatus::RefreshHit),
                _ => None,
            };
            status.map(|s| {
                let layer = headers
                    .get(names::SERVER_TIMING)
                    .and_then(|v| v.to_str().ok())
                    .and_then(hit_layer_of)
                    .unwrap_or_else(|| "REC".to_string());
                (s, layer)
            })
        } else {
            None
        };
        UpstreamInfo {
            layer,
            connect: fetched.connect,
            first_byte: Some(fetched.first_byte),
            tier_hit,
        }
    }

    /// The request sent upstream: the origin request policy's query strings, headers and
    /// cookies, plus everything in the cache key. `for_fill` strips the viewer's conditional
    /// and range headers (the node wants the whole object) and asks for the normalised
    /// encoding.
    fn forward_parts(&self, parts: &Parts, behavior: &Behavior, for_fill: bool) -> Parts {
        let orp = &behavior.origin_request;
        let key = &behavior.cache_policy;
        let mut forwarded = Request::new(());
        *forwarded.method_mut() = parts.method.clone();
        if for_fill && parts.method == Method::HEAD {
            *forwarded.method_mut() = Method::GET;
        }
        let query = parts.uri.query().map(|q| {
            if orp.query_strings == Selection::All || key.query_strings == Selection::All {
                q.to_string()
            } else {
                q.split('&')
                    .filter(|pair| {
                        let name = pair.split('=').next().unwrap_or("");
                        orp.query_strings.selects(name) || key.query_strings.selects(name)
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            }
        });
        let path_and_query = match query {
            Some(q) if !q.is_empty() => format!("{}?{q}", parts.uri.path()),
            _ => parts.uri.path().to_string(),
        };
        *forwarded.uri_mut() = path_and_query.parse().unwrap_or_else(|_| parts.uri.clone());
        let headers = forwarded.headers_mut();
        for (name, value) in &parts.headers {
            let keep = *name == header::HOST
                || name.as_str() == names::X_AMZ_CF_ID
                || orp.headers.selects(name.as_str())
                || key.headers.contains(name);
            if keep && *name != header::COOKIE {
                headers.append(name.clone(), value.clone());
            }
        }
        let cookies: Vec<&str> = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|c| {
                let name = c.split('=').next().unwrap_or("");
                orp.cookies.selects(name) || key.cookies.selects(name)
            })
            .collect();
        if !cookies.is_empty()
            && let Ok(v) = HeaderValue::from_str(&cookies.join("; "))
        {
            headers.insert(header::COOKIE, v);
        }
        if for_fill {
            for name in [
                header::IF_NONE_MATCH,
                header::IF_MODIFIED_SINCE,
                header::IF_MATCH,
                header::IF_UNMODIFIED_SINCE,
                header::IF_RANGE,
                header::RANGE,
            ] {
                headers.remove(name);
            }
            if key.compress {
                headers.insert(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_static(policy::normalised_encoding(&parts.headers)),
                );
            }
        }
        // The forwarded hop is marked so the next tier keeps the request id.
        headers.insert(
            names::X_EDGELAB_TIER,
            HeaderValue::from_static(self.config.tier.layer()),
        );
        forwarded.into_parts().0
    }

    async fn cacheable(&self, parts: Parts, behavior: &Behavior) -> Outcome {
        let host = self
            .config
            .distribution
            .clone()
            .unwrap_or_else(|| host_of(&parts));
        let primary = policy::cache_key(
            behavior,
            &host,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
        );
        let vary = self.store.vary_of(&primary);
        let variant = policy::variant_key(&primary, &vary, &parts.headers);
        let rfc = behavior.cache_policy.rfc;
        if let Some(object) = self.store.get(&variant) {
            let now = self.now();
            let age = object.age(now);
            match policy::freshness(&object.lifetime, age, &parts.headers, rfc) {
                Freshness::Fresh => {
                    let ttl = object.lifetime.lifetime.saturating_sub(age).as_secs();
                    return self.answer_from_object(
                        &parts,
                        &object,
                        CacheStatus::Hit,
                        format!("hit; ttl={ttl}"),
                        UpstreamInfo::default(),
                    );
                }
                Freshness::StaleWhileRevalidate => {
                    if let Some(guard) = self.locks.try_lead(&variant) {
                        self.spawn_refresh(parts.clone(), behavior.clone(), object.clone(), guard);
                    }
                    let ttl =
                        i128::from(object.lifetime.lifetime.as_secs()) - i128::from(age.as_secs());
                    return self.answer_from_object(
                        &parts,
                        &object,
                        CacheStatus::Stale,
                        format!("hit; ttl={ttl}; detail=stale-while-revalidate"),
                        UpstreamInfo::default(),
                    );
                }
                Freshness::Stale { serve_on_error } => {
                    return self
                        .revalidate(parts, behavior, object, &primary, serve_on_error)
                        .await;
                }
            }
        }
        let fwd = if vary.is_empty() {
            "uri-miss"
        } else {
            "vary-miss"
        };
        if !behavior.collapse {
            return self
                .fetch(parts, behavior, &primary, None, fwd, false)
                .await;
        }
        match self.locks.acquire(&variant) {
            Acquire::Leader(guard) => {
                self.fetch(parts, behavior, &primary, Some(guard), fwd, false)
                    .await
            }
            Acquire::Waiter(receiver) => {
                self.metrics.collapsed();
                lock::wait(receiver, self.config.collapse_timeout).await;
                let vary = self.store.vary_of(&primary);
                let variant = policy::variant_key(&primary, &vary, &parts.headers);
                if let Some(object) = self.store.get(&variant) {
                    let now = self.now();
                    let age = object.age(now);
                    if policy::freshness(&object.lifetime, age, &parts.headers, rfc)
                        == Freshness::Fresh
                    {
                        let ttl = object.lifetime.lifetime.saturating_sub(age).as_secs();
                        return self.answer_from_object(
                            &parts,
                            &object,
                            CacheStatus::Hit,
                            format!("hit; ttl={ttl}; collapsed"),
                            UpstreamInfo::default(),
                        );
                    }
                }
                // The leader's answer was not stored (or the wait timed out): go on our own.
                self.fetch(parts, behavior, &primary, None, fwd, true).await
            }
        }
    }

    fn spawn_refresh(
        &self,
        parts: Parts,
        behavior: Behavior,
        object: Arc<CachedObject>,
        guard: LeaderGuard,
    ) {
        let node = self.clone_for_task();
        let shutdown = self.shutdown.clone();
        self.shutdown.spawn(async move {
            let _guard = guard;
            let primary = object.primary.clone();
            tokio::select! {
                outcome = node.revalidate(parts, &behavior, object, &primary, false) => {
                    // Drain the body so a streamed fill completes.
                    let _ = outcome.response.into_body().collect().await;
                }
                () = shutdown.triggered() => {}
            }
        });
    }

    fn clone_for_task(&self) -> NodeRef {
        NodeRef {
            config: self.config.clone(),
            store: self.store.clone(),
            upstream: self.upstream.clone(),
            metrics: self.metrics.clone(),
            clock: self.clock.clone(),
        }
    }

    async fn revalidate(
        &self,
        parts: Parts,
        behavior: &Behavior,
        object: Arc<CachedObject>,
        primary: &str,
        serve_on_error: bool,
    ) -> Outcome {
        self.clone_for_task()
            .revalidate_with(parts, behavior, object, primary, serve_on_error, self)
            .await
    }

    /// Fetches the whole object upstream and answers from it, filling the store when allowed.
    #[allow(clippy::too_many_arguments)]
    async fn fetch(
        &self,
        parts: Parts,
        behavior: &Behavior,
        primary: &str,
        guard: Option<LeaderGuard>,
        fwd: &str,
        collapsed: bool,
    ) -> Outcome {
        let forwarded = self.forward_parts(&parts, behavior, true);
        match self.upstream.send(Route::Cacheable, &forwarded, None).await {
            Ok(fetched) => {
                self.clone_for_task()
                    .answer_fetched(
                        parts, behavior, primary, guard, fwd, collapsed, fetched, self,
                    )
                    .await
            }
            Err(error) => Outcome::error(error.status(), error.to_string(), error.kind()),
        }
    }

    /// Answers `parts` from a stored object: conditional requests, ranges, HEAD, `Age`.
    fn answer_from_object(
        &self,
        parts: &Parts,
        object: &CachedObject,
        status: CacheStatus,
        cache_status: String,
        upstream: UpstreamInfo,
    ) -> Outcome {
        let now = self.now();
        let response = respond_from_object(parts, object, now);
        Outcome {
            response,
            status,
            cache_status,
            upstream,
        }
    }
}

/// The parts of a node a background task needs (cheap clones).
#[derive(Clone)]
struct NodeRef {
    config: Arc<EdgeConfig>,
    store: Store,
    upstream: UpstreamClient,
    metrics: Metrics,
    clock: Clock,
}

impl NodeRef {
    async fn revalidate(
        &self,
        parts: Parts,
        behavior: &Behavior,
        object: Arc<CachedObject>,
        primary: &str,
        serve_on_error: bool,
    ) -> Outcome {
        self.revalidate_with(
            parts,
            behavior,
            object,
            primary,
            serve_on_error,
            &DetachedForward,
        )
        .await
    }

    async fn revalidate_with(
        &self,
        parts: Parts,
        behavior: &Behavior,
        object: Arc<CachedObject>,
        primary: &str,
        serve_on_error: bool,
        forwarder: &impl Forward,
    ) -> Outcome {
        let mut forwarded = forwarder.forward_parts(&parts, behavior, true, &self.config);
        let etag = object.headers.get(&header::ETAG);
        let last_modified = object.headers.get(&header::LAST_MODIFIED);
        if let Some(etag) = &etag {
            forwarded
                .headers
                .insert(header::IF_NONE_MATCH, etag.clone());
        }
        if let Some(lm) = &last_modified {
            forwarded
                .headers
                .insert(header::IF_MODIFIED_SINCE, lm.clone());
        }
        let stale_answer = |detail: &str, info: UpstreamInfo| {
            let now = self.clock.now();
            Outcome {
                response: respond_from_object(&parts, &object, now),
                status: CacheStatus::Stale,
                cache_status: format!("fwd=stale; detail={detail}"),
                upstream: info,
            }
        };
        let fetched = match self.upstream.send(Route::Cacheable, &forwarded, None).await {
            Ok(fetched) => fetched,
            Err(error) => {
                if serve_on_error {
                    return stale_answer("stale-if-error", UpstreamInfo::default());
                }
                return Outcome::error(error.status(), error.to_string(), error.kind());
            }
        };
        let info = forwarder.upstream_info(&fetched);
        let status = fetched.response.status();
        if serve_on_error && matches!(status.as_u16(), 500 | 502 | 503 | 504) {
            return stale_answer("stale-if-error", info);
        }
        if status == StatusCode::NOT_MODIFIED {
            let now = self.clock.now();
            let mut merged = object.headers.to_map();
            for name in fetched.response.headers().keys() {
                if !excluded_from_merge(name) {
                    merged.remove(name);
                }
            }
            for (name, value) in fetched.response.headers() {
                if !excluded_from_merge(name) {
                    merged.append(name.clone(), value.clone());
                }
            }
            let mut response_like = Response::new(());
            *response_like.status_mut() = object.status;
            *response_like.headers_mut() = policy::decision_headers(&merged);
            let cache_policy =
                CachePolicy::new_options(&parts, &response_like, now, CacheOptions::default());
            let lifetime = match policy::storable(
                &behavior.cache_policy,
                &cache_policy,
                &Method::GET,
                &parts.headers,
                object.status,
                response_like.headers(),
                now,
            ) {
                Ok(lifetime) => lifetime,
                Err(_) => crate::policy::Lifetime {
                    lifetime: Duration::ZERO,
                    swr: Duration::ZERO,
                    sie: Duration::ZERO,
                    must_revalidate: true,
                },
            };
            let refreshed = CachedObject {
                primary: object.primary.clone(),
                path_range: object.path_range,
                status: object.status,
                headers: StoredHeaders::from_map(&merged),
                body: object.body.clone(),
                initial_age: cache_policy.age(now),
                lifetime,
                stored_at: now,
                upstream_hit_layer: object.upstream_hit_layer.clone(),
            };
            let vary = policy::vary_names(&refreshed.headers.to_map());
            let variant = policy::variant_key(primary, &vary, &parts.headers);
            let refreshed = Arc::new(refreshed);
            self.store.insert_arc(variant, vary, refreshed.clone());
            return Outcome {
                response: respond_from_object(&parts, &refreshed, now),
                status: CacheStatus::RefreshHit,
                cache_status: "fwd=stale; fwd-status=304; stored".to_string(),
                upstream: info,
            };
        }
        // A full response replaces the stale copy.
        self.answer_fetched(
            parts, behavior, primary, None, "stale", false, fetched, forwarder,
        )
        .await
    }

    /// Decides storability of a fetched response and answers the viewer: streamed with a
    /// fill, buffered (HEAD, ranges, conditionals, compression), or passed through.
    #[allow(clippy::too_many_arguments)]
    async fn answer_fetched(
        &self,
        parts: Parts,
        behavior: &Behavior,
        primary: &str,
        guard: Option<LeaderGuard>,
        fwd: &str,
        collapsed: bool,
        fetched: Fetched,
        forwarder: &impl Forward,
    ) -> Outcome {
        let info = forwarder.upstream_info(&fetched);
        let now = self.clock.now();
        let (mut head, incoming) = fetched.response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let mut stored_headers = head.headers.clone();
        for name in OWN_HEADERS {
            stored_headers.remove(name);
        }
        let status = head.status;
        let collapsed_note = if collapsed { "; collapsed" } else { "" };
        let mut response_like = Response::new(());
        *response_like.status_mut() = status;
        *response_like.headers_mut() = policy::decision_headers(&head.headers);
        let mut request_like = parts.clone();
        request_like.method = Method::GET;
        let cache_policy =
            CachePolicy::new_options(&request_like, &response_like, now, CacheOptions::default());
        let decision = policy::storable(
            &behavior.cache_policy,
            &cache_policy,
            &Method::GET,
            &parts.headers,
            status,
            response_like.headers(),
            now,
        );
        let content_length = head
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let too_big = content_length.is_some_and(|l| l > self.store.max_object_bytes());
        let lifetime = match decision {
            Ok(lifetime) if !too_big => lifetime,
            other => {
                drop(guard);
                let detail = match other {
                    Err(reason) => reason.as_str(),
                    Ok(_) => "too-large",
                };
                let body = if parts.method == Method::HEAD {
                    body::empty()
                } else {
                    incoming.map_err(BoxError::from).boxed()
                };
                return Outcome {
                    response: Response::from_parts(head, body),
                    status: CacheStatus::Miss,
                    cache_status: format!(
                        "fwd={fwd}; fwd-status={}; detail={detail}{collapsed_note}",
                        status.as_u16()
                    ),
                    upstream: info,
                };
            }
        };
        let vary = policy::vary_names(&head.headers);
        let variant = policy::variant_key(primary, &vary, &parts.headers);
        let template = ObjectTemplate {
            primary: Arc::from(primary),
            path_range: CachedObject::path_range(primary, parts.uri.path()),
            status,
            headers: stored_headers,
            initial_age: cache_policy.age(now),
            lifetime,
            stored_at: now,
            upstream_hit_layer: info.tier_hit.as_ref().map(|(_, l)| l.clone()),
            encoding: if behavior.cache_policy.compress {
                policy::normalised_encoding(&parts.headers)
            } else {
                "identity"
            },
        };
        let cache_status = format!(
            "fwd={fwd}; fwd-status={}; stored{collapsed_note}",
            status.as_u16()
        );
        let needs_buffer = parts.method == Method::HEAD
            || parts.headers.contains_key(header::RANGE)
            || parts.headers.contains_key(header::IF_NONE_MATCH)
            || parts.headers.contains_key(header::IF_MODIFIED_SINCE)
            || (template.encoding != "identity"
                && compress::compressible(
                    &head.headers,
                    content_length.map_or(compress::MIN_BYTES, |l| l as usize),
                ));
        if needs_buffer {
            let limit = usize::try_from(self.store.max_object_bytes()).unwrap_or(usize::MAX);
            let collected = Limited::new(incoming, limit).collect().await;
            let bytes = match collected {
                Ok(c) => c.to_bytes(),
                Err(error) => {
                    self.metrics.upstream(UpstreamResult::Truncated);
                    return Outcome::error(
                        StatusCode::BAD_GATEWAY,
                        format!("upstream body failed: {error}"),
                        "truncated",
                    );
                }
            };
            if content_length.is_some_and(|l| l != bytes.len() as u64) {
                self.metrics.upstream(UpstreamResult::Truncated);
                return Outcome::error(
                    StatusCode::BAD_GATEWAY,
                    "upstream body shorter than its Content-Length",
                    "truncated",
                );
            }
            // A single small frame may be a slice of hyper's read buffer: own it instead.
            let bytes = if bytes.len() < 64 * 1024 {
                Bytes::copy_from_slice(&bytes)
            } else {
                bytes
            };
            let object = Arc::new(template.build(bytes));
            self.store.insert_arc(variant, vary, object.clone());
            drop(guard);
            return Outcome {
                response: respond_from_object(&parts, &object, now),
                status: CacheStatus::Miss,
                cache_status,
                upstream: info,
            };
        }
        let fill = Fill {
            template: Some(template),
            store: self.store.clone(),
            variant,
            vary,
            // Exact capacity when the length is known, so a stored body wastes nothing.
            buffer: BytesMut::with_capacity(
                content_length
                    .filter(|&l| l <= self.store.max_object_bytes())
                    .map_or(0, |l| l as usize),
            ),
            expected: content_length,
            max: self.store.max_object_bytes(),
            guard,
            metrics: self.metrics.clone(),
        };
        let body = FillBody {
            inner: incoming,
            fill: Some(fill),
        };
        Outcome {
            response: Response::from_parts(head, body.boxed()),
            status: CacheStatus::Miss,
            cache_status,
            upstream: info,
        }
    }
}

/// What differs between answering in a request and in a background task.
trait Forward: Sync {
    fn forward_parts(
        &self,
        parts: &Parts,
        behavior: &Behavior,
        for_fill: bool,
        config: &EdgeConfig,
    ) -> Parts;
    fn upstream_info(&self, fetched: &Fetched) -> UpstreamInfo;
}

impl Forward for Node {
    fn forward_parts(
        &self,
        parts: &Parts,
        behavior: &Behavior,
        for_fill: bool,
        _: &EdgeConfig,
    ) -> Parts {
        Node::forward_parts(self, parts, behavior, for_fill)
    }
    fn upstream_info(&self, fetched: &Fetched) -> UpstreamInfo {
        Node::upstream_info(self, fetched)
    }
}

/// Forwarding for background refreshes (no node identity needed beyond the tier).
struct DetachedForward;

impl Forward for DetachedForward {
    fn forward_parts(
        &self,
        parts: &Parts,
        behavior: &Behavior,
        for_fill: bool,
        config: &EdgeConfig,
    ) -> Parts {
        forward_parts_for(parts, behavior, for_fill, config)
    }
    fn upstream_info(&self, _fetched: &Fetched) -> UpstreamInfo {
        UpstreamInfo::default()
    }
}

fn forward_parts_for(
    parts: &Parts,
    behavior: &Behavior,
    for_fill: bool,
    config: &EdgeConfig,
) -> Parts {
    let mut forwarded = parts.clone();
    if for_fill {
        forwarded.method = Method::GET;
        for name in [
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_MATCH,
            header::IF_UNMODIFIED_SINCE,
            header::IF_RANGE,
            header::RANGE,
        ] {
            forwarded.headers.remove(name);
        }
        if behavior.cache_policy.compress {
            forwarded.headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(policy::normalised_encoding(&parts.headers)),
            );
        }
    }
    forwarded.headers.insert(
        names::X_EDGELAB_TIER,
        HeaderValue::from_static(config.tier.layer()),
    );
    forwarded
}

/// Headers a 304 does not replace in the stored response (RFC 9111 §3.2: framing, plus the
/// headers each node sets itself).
fn excluded_from_merge(name: &HeaderName) -> bool {
    OWN_HEADERS.contains(&name.as_str())
        || crate::upstream::HOP_BY_HOP.contains(&name.as_str())
        || matches!(
            name.as_str(),
            "content-length" | "content-encoding" | "content-range" | "age"
        )
}

/// Everything of a stored object but its body.
struct ObjectTemplate {
    primary: Arc<str>,
    path_range: (u32, u32),
    status: StatusCode,
    headers: HeaderMap,
    initial_age: Duration,
    lifetime: policy::Lifetime,
    stored_at: SystemTime,
    upstream_hit_layer: Option<String>,
    encoding: &'static str,
}

impl ObjectTemplate {
    /// The object with `body`, compressed when the key's encoding asks for it.
    fn build(self, body: Bytes) -> CachedObject {
        let mut headers = self.headers;
        let mut body = body;
        if self.encoding != "identity"
            && compress::compressible(&headers, body.len())
            && let Some(packed) = compress::compress(&body, self.encoding)
        {
            body = Bytes::from(packed);
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(self.encoding),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            headers.remove(header::ETAG); // a different representation; validators would lie
        }
        CachedObject {
            primary: self.primary,
            path_range: self.path_range,
            status: self.status,
            headers: StoredHeaders::from_map(&headers),
            body,
            initial_age: self.initial_age,
            lifetime: self.lifetime,
            stored_at: self.stored_at,
            upstream_hit_layer: self.upstream_hit_layer,
        }
    }
}

/// A store fill riding along a streamed response.
struct Fill {
    template: Option<ObjectTemplate>,
    store: Store,
    variant: String,
    vary: Vec<HeaderName>,
    buffer: BytesMut,
    expected: Option<u64>,
    max: u64,
    guard: Option<LeaderGuard>,
    metrics: Metrics,
}

impl Fill {
    fn complete(&mut self) -> Result<(), BoxError> {
        if let Some(expected) = self.expected
            && expected != self.buffer.len() as u64
        {
            self.metrics.upstream(UpstreamResult::Truncated);
            return Err(format!(
                "upstream body has {} bytes, Content-Length said {expected}",
                self.buffer.len()
            )
            .into());
        }
        if let Some(template) = self.template.take() {
            let body = std::mem::take(&mut self.buffer).freeze();
            self.store.insert_arc(
                std::mem::take(&mut self.variant),
                std::mem::take(&mut self.vary),
                Arc::new(template.build(body)),
            );
        }
        self.guard.take();
        Ok(())
    }
}

/// The upstream body, passed through to the viewer frame by frame while a copy fills the
/// store. An upstream error ends the viewer's body with an error (hyper then aborts the
/// response, so the viewer sees a failure, never a short 200) and nothing is stored.
struct FillBody {
    inner: Incoming,
    fill: Option<Fill>,
}

impl http_body::Body for FillBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Some(fill) = &mut this.fill
                {
                    if (fill.buffer.len() + data.len()) as u64 > fill.max {
                        this.fill = None; // too big: stop filling, keep streaming
                    } else {
                        fill.buffer.extend_from_slice(data);
                        // hyper may stop polling once Content-Length bytes were written, so
                        // a complete body is stored as soon as its last byte passes.
                        if fill.expected == Some(fill.buffer.len() as u64)
                            && let Some(mut fill) = this.fill.take()
                        {
                            let _ = fill.complete();
                        }
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                if let Some(fill) = this.fill.take() {
                    fill.metrics.upstream(UpstreamResult::Truncated);
                }
                Poll::Ready(Some(Err(Box::new(error))))
            }
            Poll::Ready(None) => {
                if let Some(mut fill) = this.fill.take()
                    && let Err(error) = fill.complete()
                {
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.fill.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The viewer's host (Host header, else the URI authority).
fn host_of(parts: &Parts) -> String {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// The `cdn-hit-layer` description in a `Server-Timing` value.
pub fn hit_layer_of(server_timing: &str) -> Option<String> {
    server_timing.split(',').find_map(|metric| {
        let metric = metric.trim();
        let rest = metric.strip_prefix("cdn-hit-layer;")?;
        let desc = rest.trim().strip_prefix("desc=")?;
        Some(desc.trim_matches('"').to_string())
    })
}

fn etag_matches(list: &str, etag: Option<&str>) -> bool {
    let Some(etag) = etag else {
        return list.trim() == "*";
    };
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    list.split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == bare(etag))
}

/// Builds the viewer's response from a stored object at `now`.
pub fn respond_from_object(
    parts: &Parts,
    object: &CachedObject,
    now: SystemTime,
) -> Response<Body> {
    let mut headers = object.headers.to_map();
    headers.insert(header::AGE, HeaderValue::from(object.age(now).as_secs()));
    let etag = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let last_modified = headers
        .get(header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let is_head = parts.method == Method::HEAD;
    // RFC 9110 §13.2.2: If-None-Match first, If-Modified-Since only without it.
    let not_modified = if let Some(inm) = parts
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        etag_matches(inm, etag.as_deref())
    } else if let (Some(ims), Some(lm)) = (
        parts
            .headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok()),
        last_modified,
    ) {
        lm <= ims
    } else {
        false
    };
    if not_modified && object.status == StatusCode::OK {
        let mut response = Response::new(body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        for name in [
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ] {
            headers.remove(name);
        }
        *response.headers_mut() = headers;
        return response;
    }
    let length = object.body.len() as u64;
    let range = parts
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| object.status == StatusCode::OK && parts.method == Method::GET);
    let if_range_ok = match parts
        .headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(value) if value.starts_with('"') => etag
            .as_deref()
            .is_some_and(|e| !e.starts_with("W/") && e == value),
        Some(value) => httpdate::parse_http_date(value)
            .ok()
            .zip(last_modified)
            .is_some_and(|(a, b)| a == b),
    };
    if let Some(range_value) = range.filter(|_| if_range_ok) {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        match range::parse(range_value, length) {
            RangeRequest::Ignore => {}
            RangeRequest::Unsatisfiable => {
                headers.insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{length}"))
                        .unwrap_or(HeaderValue::from_static("bytes */0")),
                );
                headers.remove(header::CONTENT_LENGTH);
                let mut response = Response::new(body::empty());
                *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                *response.headers_mut() = headers;
                return response;
            }
            RangeRequest::Ranges(ranges) if ranges.len() == 1 => {
                let (first, last) = ranges[0];
                let slice = object.body.slice(first as usize..=last as usize);
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{length}")) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(slice.len()));
                let mut response = Response::new(body::full(slice));
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                *response.headers_mut() = headers;
                return response;
            }
            RangeRequest::Ranges(ranges) => {
                let boundary = format!(
                    "edgelab{:016x}",
                    xxhash_rust::xxh3::xxh3_64(range_value.as_bytes())
                );
                let content_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let multipart =
                    range::multipart(&object.body, &ranges, content_type.as_deref(), &boundary);
                if let Ok(v) =
                    HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
                {
                    headers.insert(header::CONTENT_TYPE, v);
                }
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(multipart.len()));
                let mut response = Response::new(body::full(multipart));
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                *response.headers_mut() = headers;
                return response;
            }
        }
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    let body = if is_head {
        body::empty()
    } else {
        body::full(object.body.clone())
    };
    let mut response = Response::new(body);
    *response.status_mut() = object.status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_layer_is_read_from_server_timing() {
        let value = "cdn-cache-hit,cdn-pop;desc=\"FRA50-P1\",cdn-hit-layer;desc=\"Origin Shield\"";
        assert_eq!(hit_layer_of(value).as_deref(), Some("Origin Shield"));
        assert_eq!(hit_layer_of("cdn-cache-miss"), None);
    }

    #[test]
    fn etags_compare_weakly_for_if_none_match() {
        assert!(etag_matches("\"a\", W/\"b\"", Some("\"b\"")));
        assert!(etag_matches("*", Some("\"x\"")));
        assert!(!etag_matches("\"a\"", Some("\"b\"")));
    }
}
