//! The edgelab edge cache node: one server plays every CloudFront tier (edge PoP, Regional Edge
//! Cache, Origin Shield). Its upstream is another tier or an origin group.
//!
//! # Layout
//! Split the way `pingora-cache` splits a cache: phases, policy, storage, lock.
//! - [`config`]: raw TOML → validated [`EdgeConfig`] (behaviours, cache policies, upstream).
//! - [`error_responses`]: CloudFront's error caching and custom error responses.
//! - [`policy`]: pure RFC 9111 + CloudFront TTL rules, freshness, cache keys (takes `now`).
//! - [`store`]: the object store bounded in bytes (compact headers, `Vary` index, eviction
//!   causes).
//! - [`lock`]: request collapsing (one upstream fetch per key, its body shared while it
//!   arrives).
//! - [`proxy`]: the request phases (admit → lookup → revalidate / collapse → forward → fill →
//!   respond → finish) over one exchange per request, and the CloudFront / RFC 9211 response
//!   headers rendered from a typed outcome.
//! - [`clock`]: the node's advanceable clock.
//! - [`upstream`]: pooled client, next tier or origin group with failover and timeouts.
//! - [`range`], [`compress`]: serving ranges and compressed variants from whole objects.
//! - [`invalidation`]: the invalidation API and its propagation to the other tiers; `admin`
//!   serves it with cache inspection and the readiness switch.
//! - [`metrics`]: SPEC §7 metrics with enum labels.
//!
//! `docs/request-lifecycle.md` walks a request through the phases with the header and metric
//! each one sets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use edgelab_common::admin::{Admin, Readiness};
use edgelab_common::serve::{ListenerFamilies, ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use tokio::net::TcpListener;

mod admin;
pub mod clock;
pub mod compress;
pub mod config;
pub mod error_responses;
pub mod invalidation;
pub mod lock;
pub mod metrics;
pub mod origin_request;
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
    // Boxed (two words, not three) with the `Arc` below: enums holding a handle stay small.
    pop_id: Box<str>,
    node: proxy::Node,
    // Behind an `Arc`: the handle stays small for the enums that hold it.
    traffic_server: Arc<Traffic>,
}

/// The traffic side of a running node, to serve it on more listeners: one per thread of a
/// thread-per-core node ([`edgelab_common::serve::bind_listeners`]), each in its own runtime.
/// Every listener shares the node's store, metrics, connection cap and shutdown.
#[derive(Clone)]
pub struct Traffic {
    node: Arc<proxy::Node>,
    options: ServeOptions,
    shutdown: Shutdown,
}

impl Traffic {
    /// Serves the node's traffic on `listener` from the current runtime until the node's
    /// shutdown fires (the accept loop is tracked by it, and so is every connection).
    pub fn serve(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        serve(
            listener,
            self.node.clone(),
            self.options.clone(),
            self.shutdown.clone(),
        )
    }

    /// The node's shutdown.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }
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

    /// The node's request handler, to serve requests in-process ([`proxy::Node::serve`]:
    /// benchmarks and tests without a socket).
    pub fn node(&self) -> &proxy::Node {
        &self.node
    }

    /// The node's traffic side, to serve it on more listeners (see [`Traffic`]).
    pub fn traffic(&self) -> Traffic {
        Traffic::clone(&self.traffic_server)
    }

    /// Objects in the store.
    pub fn cached_objects(&self) -> u64 {
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
    let routes = admin::EdgeAdmin {
        invalidations: invalidations.clone(),
        store: store.clone(),
        readiness: readiness.clone(),
        token: config.admin_token.clone(),
        clock: clock.clone(),
    };
    let (traffic_options, admin_options) = listener_options(&config, &registry)?;
    let traffic_server = Traffic {
        node: Arc::new(node.clone()),
        options: traffic_options,
        shutdown: shutdown.clone(),
    };
    traffic_server.serve(traffic);
    serve(
        admin,
        Arc::new(Admin::new(registry, readiness.clone(), routes)),
        admin_options,
        shutdown.clone(),
    );
    spawn_housekeeping(store.clone(), metrics, &shutdown);
    spawn_drain(readiness.clone(), &shutdown);
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
        pop_id: pop_id.into_boxed_str(),
        node,
        traffic_server: Arc::new(traffic_server),
    })
}

/// The traffic and admin listeners' limits (from the config) and their metrics.
fn listener_options(
    config: &EdgeConfig,
    registry: &prometheus::Registry,
) -> Result<(ServeOptions, ServeOptions), prometheus::Error> {
    let listeners = ListenerFamilies::register(registry)?;
    let mut traffic = ServeOptions {
        limits: config.listener,
        lane: config.listener.lane,
        metrics: listeners.listener("traffic"),
        ..ServeOptions::default()
    };
    let admin = ServeOptions {
        metrics: listeners.listener("admin"),
        ..traffic.clone()
    };
    // Every listener of the traffic side (one per thread) counts against one cap.
    traffic.share_connection_slots();
    Ok((traffic, admin))
}

/// Housekeeping: the store gauges, every 200 ms until shutdown.
fn spawn_housekeeping(store: store::Store, metrics: metrics::Metrics, shutdown: &Shutdown) {
    let stop = shutdown.clone();
    shutdown.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.triggered() => break,
            }
            metrics.store_size(store.bytes(), store.objects(), store.arena_bytes());
        }
    });
}

/// Readiness flips off first when shutdown starts, so load balancers stop sending traffic.
fn spawn_drain(readiness: Readiness, shutdown: &Shutdown) {
    let stop = shutdown.clone();
    shutdown.spawn(async move {
        stop.triggered().await;
        readiness.set(false);
    });
}
