//! The edgelab edge cache node: one server plays every CloudFront tier (edge PoP, Regional Edge
//! Cache, Origin Shield). Its upstream is another tier or an origin group.
//!
//! # Layout
//! Split the way `pingora-cache` splits a cache: phases, policy, storage, lock.
//! - [`config`]: raw TOML → validated [`EdgeConfig`] (behaviours, cache policies, upstream).
//! - [`policy`]: pure RFC 9111 + CloudFront TTL rules, freshness, cache keys (takes `now`).
//! - [`store`]: the moka object store bounded in bytes, `Vary` index, eviction causes.
//! - [`lock`]: request collapsing (one upstream fetch per key).
//! - [`proxy`]: the request phases (admit → lookup → revalidate / collapse → forward → fill →
//!   respond → finish) over one exchange per request, and the CloudFront / RFC 9211 response
//!   headers rendered from a typed outcome.
//! - [`clock`]: the node's advanceable clock.
//! - [`upstream`]: pooled client, next tier or origin group with failover and timeouts.
//! - [`range`], [`compress`]: serving ranges and compressed variants from whole objects.
//! - [`invalidation`]: the invalidation API and its propagation to the other tiers.
//! - [`metrics`]: SPEC §7 metrics with enum labels.
//!
//! `docs/request-lifecycle.md` walks a request through the phases with the header and metric
//! each one sets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use edgelab_common::admin::{Admin, AdminRoutes, Readiness, authorize};
use edgelab_common::body::{self, Body};
use edgelab_common::names::header as names;
use edgelab_common::serve::{ListenerFamilies, ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use http::{Method, Request, Response, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;

pub mod clock;
pub mod compress;
pub mod config;
pub mod invalidation;
pub mod lock;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod range;
pub mod store;
pub mod upstream;

pub use clock::Clock;
pub use config::{EdgeConfig, RawEdgeConfig, Tier};
pub use invalidation::{InvalidationState, InvalidationStatus};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// A listener has no local address.
    #[error("listener has no local address: {0}")]
    Listener(#[from] std::io::Error),
    /// Metrics could not be registered (e.g. two nodes share one registry).
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl EdgeError {
    /// Short label.
    pub fn kind(&self) -> &'static str {
        match self {
            EdgeError::Listener(_) => "listener",
            EdgeError::Metrics(_) => "metrics",
        }
    }
}

/// A running node.
pub struct EdgeHandle {
    traffic: SocketAddr,
    admin: SocketAddr,
    readiness: Readiness,
    invalidations: invalidation::Invalidations,
    store: store::Store,
    clock: Clock,
    pop_id: String,
}

impl EdgeHandle {
    /// Traffic address.
    pub fn traffic_addr(&self) -> SocketAddr {
        self.traffic
    }

    /// Admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// `X-Amz-Cf-Pop` value of this node.
    pub fn pop_id(&self) -> &str {
        &self.pop_id
    }

    /// Starts an invalidation here (forwarded to the configured peers).
    pub fn invalidate(&self, paths: Vec<String>) -> Result<InvalidationState, String> {
        self.invalidations
            .create(paths, true)
            .map_err(|e| e.to_string())
    }

    /// State of an invalidation.
    pub fn invalidation(&self, id: &str) -> Option<InvalidationState> {
        self.invalidations.get(id)
    }

    /// Flips readiness (`/readyz`), e.g. to take the node out of a load balancer.
    pub fn set_healthy(&self, healthy: bool) {
        self.readiness.set(healthy);
    }

    /// Readiness.
    pub fn is_ready(&self) -> bool {
        self.readiness.get()
    }

    /// The node's clock (advance it to age cached objects in tests).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Objects in the store (after pending housekeeping).
    pub fn cached_objects(&self) -> u64 {
        self.store.run_pending_tasks();
        self.store.objects()
    }
}

/// Starts a node serving `traffic` and `admin` until `shutdown` fires.
pub fn start(
    config: EdgeConfig,
    traffic: TcpListener,
    admin: TcpListener,
    registry: prometheus::Registry,
    shutdown: Shutdown,
) -> Result<EdgeHandle, EdgeError> {
    let traffic_addr = traffic.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let config = Arc::new(config);
    let metrics = metrics::Metrics::register(&registry, &config.pop, config.tier.as_str())?;
    let store = store::Store::new(
        config.capacity_bytes,
        config.max_object_bytes,
        metrics.clone(),
    );
    let identity = proxy::Identity::new(&config, &traffic_addr.to_string());
    let pop_id = identity.pop_id.clone();
    let clock = Clock::default();
    let invalidations = invalidation::Invalidations::new(
        store.clone(),
        config.invalidation_delay,
        config.invalidation_peers.clone(),
        config.admin_token.clone(),
        &format!(
            "{}{}",
            config.pop,
            config.tier.as_str().to_ascii_uppercase()
        ),
        shutdown.clone(),
    );
    let node = proxy::Node::new(proxy::NodeState {
        config: config.clone(),
        store: store.clone(),
        locks: lock::Locks::default(),
        upstream: upstream::UpstreamClient::new(config.upstream.clone(), metrics.clone()),
        metrics: metrics.clone(),
        identity,
        clock: clock.clone(),
        shutdown: shutdown.clone(),
    });
    let readiness = Readiness::new();
    let routes = EdgeAdmin {
        invalidations: invalidations.clone(),
        store: store.clone(),
        readiness: readiness.clone(),
        token: config.admin_token.clone(),
        clock: clock.clone(),
    };
    let listeners = ListenerFamilies::register(&registry)?;
    let traffic_options = ServeOptions {
        limits: config.listener,
        metrics: listeners.listener("traffic"),
        ..ServeOptions::default()
    };
    let admin_options = ServeOptions {
        metrics: listeners.listener("admin"),
        ..traffic_options.clone()
    };
    serve(traffic, Arc::new(node), traffic_options, shutdown.clone());
    serve(
        admin,
        Arc::new(Admin::new(registry, readiness.clone(), routes)),
        admin_options,
        shutdown.clone(),
    );
    // Housekeeping: moka's pending tasks (evictions, invalidation closures, counts) and the
    // store gauges, every 200 ms.
    let housekeeping_store = store.clone();
    let housekeeping_shutdown = shutdown.clone();
    shutdown.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = housekeeping_shutdown.triggered() => break,
            }
            let store = housekeeping_store.clone();
            let _ = tokio::task::spawn_blocking(move || store.run_pending_tasks()).await;
            metrics.store_size(housekeeping_store.bytes(), housekeeping_store.objects());
        }
    });
    let drain_readiness = readiness.clone();
    let drain_shutdown = shutdown.clone();
    shutdown.spawn(async move {
        drain_shutdown.triggered().await;
        drain_readiness.set(false);
    });
    readiness.set(true);
    tracing::info!(
        pop = %pop_id,
        tier = config.tier.as_str(),
        traffic = %traffic_addr,
        admin = %admin_addr,
        "edge node listening"
    );
    Ok(EdgeHandle {
        traffic: traffic_addr,
        admin: admin_addr,
        readiness,
        invalidations,
        store,
        clock,
        pop_id,
    })
}

/// The edge's own admin routes: invalidations, cache inspection, readiness switch.
struct EdgeAdmin {
    invalidations: invalidation::Invalidations,
    store: store::Store,
    readiness: Readiness,
    token: Option<String>,
    clock: Clock,
}

/// One stored variant, as `/cache?key=` shows it.
#[derive(Serialize)]
struct VariantView {
    variant: String,
    status: u16,
    size: usize,
    age_seconds: u64,
    ttl_seconds: i64,
    headers: Vec<(String, String)>,
}

impl AdminRoutes for EdgeAdmin {
    async fn route(&self, request: &Request<Bytes>) -> Option<Response<Body>> {
        let path = request.uri().path();
        let method = request.method();
        if path == "/invalidations" && *method == Method::POST {
            if let Err(denied) = authorize(request, self.token.as_deref()) {
                return Some(denied);
            }
            let parsed: invalidation::InvalidationRequest =
                match serde_json::from_slice(request.body()) {
                    Ok(p) => p,
                    Err(error) => {
                        return Some(body::text(
                            StatusCode::BAD_REQUEST,
                            format!("expected {{\"paths\": [\"/a\", \"/img/*\"]}}: {error}"),
                        ));
                    }
                };
            let forward = !request.headers().contains_key(names::X_EDGELAB_FORWARDED);
            return Some(match self.invalidations.create(parsed.paths, forward) {
                Ok(state) => body::json(StatusCode::CREATED, &state),
                Err(error) => body::text(StatusCode::BAD_REQUEST, error.to_string()),
            });
        }
        if let Some(id) = path.strip_prefix("/invalidations/")
            && *method == Method::GET
        {
            return Some(match self.invalidations.get(id) {
                Some(state) => body::json(StatusCode::OK, &state),
                None => body::text(StatusCode::NOT_FOUND, format!("no invalidation {id}")),
            });
        }
        if path == "/cache" && *method == Method::GET {
            let param = |name: &str| {
                request
                    .uri()
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .find_map(|pair| pair.strip_prefix(name))
                    .map(percent_decode)
            };
            let found = match (param("key="), param("path=")) {
                (Some(key), _) => self.store.variants_of(&key),
                (None, Some(path)) => self.store.objects_at(&path),
                (None, None) => {
                    return Some(body::text(
                        StatusCode::BAD_REQUEST,
                        "use /cache?key=<primary key> (host + path + key parts) or \
                         /cache?path=/a.js (every stored object for that path)",
                    ));
                }
            };
            let now = self.clock.now();
            let variants: Vec<VariantView> = found
                .into_iter()
                .map(|(variant, object)| {
                    let age = object.age(now);
                    VariantView {
                        variant,
                        status: object.status.as_u16(),
                        size: object.body.len(),
                        age_seconds: age.as_secs(),
                        ttl_seconds: object.lifetime.lifetime.as_secs() as i64
                            - age.as_secs() as i64,
                        headers: object
                            .headers
                            .to_map()
                            .iter()
                            .map(|(n, v)| {
                                (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into())
                            })
                            .collect(),
                    }
                })
                .collect();
            let status = if variants.is_empty() {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            return Some(body::json(status, &variants));
        }
        if path == "/health" && *method == Method::POST {
            if let Err(denied) = authorize(request, self.token.as_deref()) {
                return Some(denied);
            }
            let healthy = match request.body().as_ref() {
                b"true" | b"{\"healthy\":true}" | b"{\"healthy\": true}" => true,
                b"false" | b"{\"healthy\":false}" | b"{\"healthy\": false}" => false,
                _ => {
                    return Some(body::text(
                        StatusCode::BAD_REQUEST,
                        "expected {\"healthy\": true|false}",
                    ));
                }
            };
            self.readiness.set(healthy);
            return Some(body::text(StatusCode::OK, format!("healthy={healthy}")));
        }
        None
    }
}

/// Decodes `%XX` and `+` in a query value (hand-written: one small use, no crate needed).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
        assert_eq!(percent_decode("bad%zz%"), "bad%zz%");
    }
}
