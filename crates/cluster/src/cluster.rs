//! Starting the planned nodes and controlling them at runtime.
//!
//! In [`Binding::Loopback`] every node runs in this process on `127.0.0.1` with a port the
//! OS picks, each with its own traffic and admin listener and its own metrics registry;
//! nodes start upstream-first (origins, shield, RECs, PoPs) so each cache node knows its
//! upstream's address. In [`Binding::Single`] only one node runs (a container) and its peers
//! are reached by DNS name. Cache nodes reach their upstream through `edgelab-link` with the
//! planned hop, so the backbone latency between tiers is paid on real connections.
//!
//! Faults: [`Cluster::fail`] takes an origin AZ (its replica answers 503, the origin group
//! fails over), a PoP (it leaves routing: `/readyz` turns 503 and new load goes to the next
//! nearest PoP), or a whole Region (every origin replica in it), and [`Cluster::restore`]
//! undoes it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use edgelab_common::admin::{Admin, AdminRoutes, Readiness, authorize};
use edgelab_common::body::{self, Body};
use edgelab_common::config::ConfigErrors;
use edgelab_common::serve::{ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use edgelab_edge::EdgeHandle;
use edgelab_origin::OriginHandle;
use http::{Method, Request, Response, StatusCode, Uri};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::live::{self, FaultTargets, LiveNode, LiveStatus, NodeCounters, Sampler};
use crate::topology::{NodePlan, Topology};
use crate::workers::NodeRuntimes;
use edgelab_wire::Layer;

/// Where nodes listen and how they find each other.
#[derive(Debug, Clone)]
pub enum Binding {
    /// Every node in this process on 127.0.0.1, ports picked by the OS.
    Loopback,
    /// Only `node`, on `listen` (traffic) and `admin`; peer node `N` is reached at
    /// `http://N:<peer_traffic_port>` and `http://N:<peer_admin_port>` (docker compose).
    Single {
        /// Node name.
        node: String,
        /// Traffic address.
        listen: SocketAddr,
        /// Admin address.
        admin: SocketAddr,
        /// Traffic port of every peer.
        peer_traffic_port: u16,
        /// Admin port of every peer.
        peer_admin_port: u16,
        /// Admin token a cache node requires for changes and sends to its invalidation
        /// peers (an origin reads `EDGELAB_ADMIN_TOKEN` itself).
        admin_token: Option<String>,
    },
}

/// Why a cluster could not start or a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Bad configuration of a node.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A listener could not be bound.
    #[error("cannot bind {what}: {source}")]
    Bind {
        /// Which listener.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// An origin replica failed to start.
    #[error("origin {node}: {message}")]
    Origin {
        /// Node name.
        node: String,
        /// The error.
        message: String,
    },
    /// An edge node failed to start.
    #[error("edge {node}: {message}")]
    Edge {
        /// Node name.
        node: String,
        /// The error.
        message: String,
    },
    /// `--node` names no node of the topology.
    #[error("no node `{0}` in the topology (see `edgelab up FILE --list`)")]
    UnknownNode(String),
    /// A fault target matched nothing.
    #[error(
        "`{0}` matches no node: use an AZ id (use1-az1), a Region code, a PoP code (FRA) or a node name"
    )]
    UnknownTarget(String),
}

impl ClusterError {
    /// Metric/log label.
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterError::Config(_) => "config",
            ClusterError::Bind { .. } => "bind",
            ClusterError::Origin { .. } => "origin",
            ClusterError::Edge { .. } => "edge",
            ClusterError::UnknownNode(_) => "unknown_node",
            ClusterError::UnknownTarget(_) => "unknown_target",
        }
    }
}

/// A running node as shown in the node table and `--nodes-json`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Tier.
    pub tier: Layer,
    /// Place code.
    pub place: String,
    /// City.
    pub city: String,
    /// Traffic URL.
    pub traffic: String,
    /// Admin URL.
    pub admin: String,
    /// Upstream node names.
    pub upstream: Vec<String>,
    /// Modelled RTT to the first upstream, ms.
    pub upstream_rtt_ms: f64,
}

enum Running {
    Origin(OriginHandle),
    /// Boxed: an edge node's handle (its config and clients) is several times an origin's.
    Edge(Box<EdgeHandle>),
}

/// A node started here, with the registry its metrics are in.
struct RunningNode {
    name: String,
    handle: Running,
    registry: prometheus::Registry,
}

/// A running CDN (or one node of it).
pub struct Cluster {
    topology: Arc<Topology>,
    nodes: Vec<NodeInfo>,
    running: Vec<RunningNode>,
    failed: Mutex<BTreeSet<String>>,
    shutdown: Shutdown,
}

impl Cluster {
    /// Starts the nodes of `topology` per `binding`, all on the current runtime. Every node
    /// is tracked by `shutdown`.
    pub async fn start(
        topology: Topology,
        binding: Binding,
        shutdown: Shutdown,
    ) -> Result<Cluster, ClusterError> {
        Cluster::start_on(topology, binding, shutdown, None).await
    }

    /// [`Cluster::start`], each node on its runtime of `runtimes` when given (node `i` in
    /// start order on runtime `i mod N`: its listeners, connections and upstream links live
    /// there), else on the current runtime.
    pub async fn start_on(
        topology: Topology,
        binding: Binding,
        shutdown: Shutdown,
        runtimes: Option<&NodeRuntimes>,
    ) -> Result<Cluster, ClusterError> {
        let topology = Arc::new(topology);
        let only = match &binding {
            Binding::Single { node, .. } => {
                if topology.node(node).is_none() {
                    return Err(ClusterError::UnknownNode(node.clone()));
                }
                Some(node.clone())
            }
            Binding::Loopback => None,
        };
        let wants_origin = topology
            .origins()
            .any(|o| only.as_ref().is_none_or(|name| name == &o.name));
        let catalog = if wants_origin {
            Some(build_catalog(&topology).await?)
        } else {
            None
        };
        let starting = Starting {
            topology: &topology,
            binding: &binding,
            catalog: catalog.as_ref(),
            shutdown: &shutdown,
        };
        let mut nodes: Vec<NodeInfo> = Vec::new();
        let mut running = Vec::new();
        let plans = topology
            .nodes
            .iter()
            .filter(|plan| only.as_ref().is_none_or(|name| name == &plan.name));
        for (index, plan) in plans.enumerate() {
            // Listeners bind and tasks spawn on the node's runtime (nothing awaits meanwhile).
            let entered = runtimes.map(|r| r.for_node(index).enter());
            let node = starting.node(plan, &nodes)?;
            drop(entered);
            let (traffic_addr, admin_addr) = match &node.handle {
                Running::Origin(h) => (h.traffic_addr(), h.admin_addr()),
                Running::Edge(h) => (h.traffic_addr(), h.admin_addr()),
            };
            nodes.push(info(plan, traffic_addr, admin_addr));
            running.push(node);
        }
        Ok(Cluster {
            topology,
            nodes,
            running,
            failed: Mutex::new(BTreeSet::new()),
            shutdown,
        })
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The running nodes, in start order.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// A running node by name.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Whether node `name` is up (not failed).
    pub fn is_up(&self, name: &str) -> bool {
        !self.lock_failed().contains(name)
    }

    /// Names of the failed nodes.
    pub fn failed(&self) -> BTreeSet<String> {
        self.lock_failed().clone()
    }

    fn lock_failed(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // A panic while holding this lock cannot leave the set inconsistent (inserts and
        // removes only), so a poisoned lock is still usable.
        self.failed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The origins' admin `/metrics` URLs (for origin load in reports).
    pub fn origin_metrics(&self) -> Vec<Uri> {
        self.nodes
            .iter()
            .filter(|n| n.tier == Layer::Origin)
            .filter_map(|n| format!("{}/metrics", n.admin).parse().ok())
            .collect()
    }

    /// Node names a fault target names: an AZ id or Local Zone (its origin replica), a Region
    /// code (every origin replica in it), a PoP code (`FRA` or `pop:FRA`) or a node name.
    pub fn resolve_target(&self, target: &str) -> Result<Vec<String>, ClusterError> {
        let target = target.trim();
        let lower = target.to_ascii_lowercase();
        let code = lower.strip_prefix("pop:").unwrap_or(&lower);
        let matched: Vec<String> = self
            .topology
            .nodes
            .iter()
            .filter(|plan| {
                plan.name == lower
                    || (plan.tier == Layer::Origin
                        && (plan.place.eq_ignore_ascii_case(target)
                            || plan.region.as_deref() == Some(target)))
                    || (plan.tier == Layer::Edge && plan.place.eq_ignore_ascii_case(code))
            })
            .map(|plan| plan.name.clone())
            .collect();
        if matched.is_empty() {
            Err(ClusterError::UnknownTarget(target.to_string()))
        } else {
            Ok(matched)
        }
    }

    /// Fails what `target` names (see [`Cluster::resolve_target`]); returns the node names.
    pub fn fail(&self, target: &str) -> Result<Vec<String>, ClusterError> {
        self.set_failed(target, true)
    }

    /// Restores what `target` names.
    pub fn restore(&self, target: &str) -> Result<Vec<String>, ClusterError> {
        self.set_failed(target, false)
    }

    fn set_failed(&self, target: &str, failed: bool) -> Result<Vec<String>, ClusterError> {
        let names = self.resolve_target(target)?;
        let mut set = self.lock_failed();
        for name in &names {
            if let Some(node) = self.running.iter().find(|node| &node.name == name) {
                match &node.handle {
                    Running::Origin(handle) => handle.set_outage(failed),
                    Running::Edge(handle) => handle.set_healthy(!failed),
                }
            }
            if failed {
                set.insert(name.clone());
            } else {
                set.remove(name);
            }
        }
        tracing::info!(target, failed, nodes = ?names, "fault switched");
        Ok(names)
    }

    /// Each running node's counters, in start order (read from its registry in process).
    pub fn counters(&self) -> Vec<NodeCounters> {
        self.nodes
            .iter()
            .map(|info| {
                self.running
                    .iter()
                    .find(|node| node.name == info.name)
                    .map(|node| live::counters(&node.registry))
                    .unwrap_or_default()
            })
            .collect()
    }

    /// How late every cache node's upstream links (the links between the tiers) delivered
    /// what the node waited for, since the nodes started: their delivery lateness (ns) added
    /// up. A run's share is the difference of two readings.
    pub fn tier_link_lateness(&self) -> hdrhistogram::Histogram<u64> {
        let mut all = edgelab_link::lateness::new_histogram();
        for node in &self.running {
            if let Running::Edge(handle) = &node.handle {
                let links = handle.node().metrics.delivery_errors().all();
                // invariant: auto-resizing histograms always add.
                all.add(links).expect("auto-resizing histograms always add");
            }
        }
        all
    }

    /// Every running cache node's upstream links' delivery errors (the links between the
    /// tiers), where a run attaches its time series.
    pub fn tier_links(&self) -> Vec<edgelab_link::DeliveryErrors> {
        self.running
            .iter()
            .filter_map(|node| match &node.handle {
                Running::Edge(handle) => Some(handle.node().metrics.delivery_errors().clone()),
                _ => None,
            })
            .collect()
    }

    /// What the fault switches can name: the AZs and Regions holding an origin replica, and
    /// the PoPs, each once in plan order.
    pub fn fault_targets(&self) -> FaultTargets {
        let mut targets = FaultTargets::default();
        let add = |list: &mut Vec<String>, value: &str| {
            if !list.iter().any(|v| v == value) {
                list.push(value.to_string());
            }
        };
        for plan in &self.topology.nodes {
            match plan.tier {
                Layer::Origin => {
                    add(&mut targets.azs, &plan.place);
                    if let Some(region) = &plan.region {
                        add(&mut targets.regions, region);
                    }
                }
                Layer::Edge => add(&mut targets.pops, &plan.place),
                _ => {}
            }
        }
        targets
    }

    /// The live status at `now`: every node with its health, totals and the rates
    /// `sampler` computes from this reading and the previous one.
    pub fn live_status(
        &self,
        sampler: &mut Sampler,
        now: tokio::time::Instant,
        token_required: bool,
    ) -> LiveStatus {
        let counters = self.counters();
        let totals = counters.clone();
        let (window, rates) = sampler.observe(now, counters);
        let nodes = self
            .nodes
            .iter()
            .zip(totals)
            .enumerate()
            .map(|(i, (node, total))| {
                let plan = self.topology.node(&node.name);
                let origin = node.tier == Layer::Origin;
                LiveNode {
                    node: node.clone(),
                    az: origin.then(|| node.place.clone()),
                    region: plan.and_then(|p| p.region.clone()),
                    up: self.is_up(&node.name),
                    requests_total: total.requests,
                    hits_total: total.hits,
                    errors_total: total.errors,
                    hit_ratio_total: total.hit_ratio(),
                    rates: rates.get(i).copied().unwrap_or_default(),
                }
            })
            .collect();
        LiveStatus {
            topology: self.topology.name.clone(),
            token_required,
            window_s: window.as_secs_f64(),
            nodes,
            targets: self.fault_targets(),
        }
    }

    /// The node table: tier, name, place, traffic and admin URLs, upstream and its RTT, each
    /// column as wide as its widest cell.
    pub fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .nodes
            .iter()
            .map(|node| {
                let upstream = if node.upstream.is_empty() {
                    "-".to_string()
                } else {
                    format!(
                        "{} ({:.1} ms)",
                        node.upstream.join(", "),
                        node.upstream_rtt_ms
                    )
                };
                vec![
                    node.tier.as_str().to_string(),
                    node.name.clone(),
                    format!("{} {}", node.place, node.city),
                    node.traffic.to_string(),
                    node.admin.to_string(),
                    upstream,
                ]
            })
            .collect();
        edgelab_common::text::table(
            &[
                "tier",
                "node",
                "place",
                "traffic",
                "admin",
                "upstream (modelled RTT)",
            ],
            &rows,
        )
    }

    /// Serves the cluster control API on `listener` (`GET /` the live page, `GET /status` its
    /// data, `GET /nodes`, `POST /fail?target=X`, `POST /restore?target=X`, `/healthz`,
    /// `/readyz`), with `token` required for changes.
    pub fn serve_control(
        self: &Arc<Self>,
        listener: TcpListener,
        token: Option<String>,
    ) -> std::io::Result<SocketAddr> {
        let addr = listener.local_addr()?;
        let readiness = Readiness::new();
        readiness.set(true);
        // The first window of the rates starts now.
        let mut sampler = Sampler::default();
        sampler.observe(tokio::time::Instant::now(), self.counters());
        let admin = Admin::new(
            prometheus::Registry::new(),
            readiness,
            Control {
                cluster: self.clone(),
                sampler: Mutex::new(sampler),
                token,
            },
        );
        serve(
            listener,
            Arc::new(admin),
            ServeOptions::default(),
            self.shutdown.clone(),
        );
        Ok(addr)
    }
}

/// The origin catalog every origin replica serves (built off the runtime's threads).
async fn build_catalog(topology: &Topology) -> Result<Arc<edgelab_origin::Catalog>, ClusterError> {
    let settings = topology.origin.clone();
    let problem = |message: String| ClusterError::Origin {
        node: "catalog".into(),
        message,
    };
    let catalog = tokio::task::spawn_blocking(move || edgelab_origin::Catalog::build(&settings))
        .await
        .map_err(|error| problem(error.to_string()))?
        .map_err(|error| problem(error.to_string()))?;
    Ok(Arc::new(catalog))
}

/// What starting one node needs besides its plan.
struct Starting<'a> {
    topology: &'a Arc<Topology>,
    binding: &'a Binding,
    catalog: Option<&'a Arc<edgelab_origin::Catalog>>,
    shutdown: &'a Shutdown,
}

impl Starting<'_> {
    /// Binds `plan`'s listeners and starts it on the current runtime; `started` are the
    /// nodes already running (its upstreams, in loopback mode).
    fn node(&self, plan: &NodePlan, started: &[NodeInfo]) -> Result<RunningNode, ClusterError> {
        let (binding, topology, shutdown) = (self.binding, self.topology, self.shutdown);
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("literal");
        let (traffic, admin) = match binding {
            Binding::Loopback => (
                bind(&plan.name, "traffic", loopback)?,
                bind(&plan.name, "admin", loopback)?,
            ),
            Binding::Single { listen, admin, .. } => (
                bind(&plan.name, "traffic", *listen)?,
                bind(&plan.name, "admin", *admin)?,
            ),
        };
        let url_of = |name: &str| -> String {
            match binding {
                Binding::Loopback => started
                    .iter()
                    .find(|n| n.name == name)
                    .map(|n| n.traffic.clone())
                    .unwrap_or_default(),
                Binding::Single {
                    peer_traffic_port, ..
                } => format!("http://{name}:{peer_traffic_port}"),
            }
        };
        let registry = prometheus::Registry::new();
        let handle = match plan.tier {
            Layer::Origin => {
                let mut settings = topology.origin.clone();
                settings.az = plan.place.clone();
                let catalog = self
                    .catalog
                    .cloned()
                    .expect("the catalog is built when an origin runs");
                let handle = edgelab_origin::start_with_catalog(
                    settings,
                    catalog,
                    traffic,
                    admin,
                    registry.clone(),
                    shutdown.clone(),
                )
                .map_err(|error| ClusterError::Origin {
                    node: plan.name.clone(),
                    message: error.to_string(),
                })?;
                Running::Origin(handle)
            }
            _ => {
                let peers = invalidation_peers(topology, plan, binding, started);
                let mut config = topology.edge_config(plan, &url_of, peers)?;
                if let Binding::Single { admin_token, .. } = binding {
                    config.admin_token.clone_from(admin_token);
                }
                let handle =
                    edgelab_edge::start(config, traffic, admin, registry.clone(), shutdown.clone())
                        .map_err(|error| ClusterError::Edge {
                            node: plan.name.clone(),
                            message: error.to_string(),
                        })?;
                Running::Edge(Box::new(handle))
            }
        };
        Ok(RunningNode {
            name: plan.name.clone(),
            handle,
            registry,
        })
    }
}

fn info(plan: &NodePlan, traffic: SocketAddr, admin: SocketAddr) -> NodeInfo {
    NodeInfo {
        name: plan.name.clone(),
        tier: plan.tier,
        place: plan.place.clone(),
        city: plan.city.clone(),
        traffic: format!("http://{traffic}"),
        admin: format!("http://{admin}"),
        upstream: plan.upstream.clone(),
        upstream_rtt_ms: plan.upstream_rtt_ms,
    }
}

/// Admin URLs an invalidation at `plan` is forwarded to: every other cache node of the
/// distribution. In loopback mode nodes start upstream-first, so a node forwards to the
/// cache nodes already running (the tiers above it); the PoPs, which start last, reach
/// every REC and the shield. An invalidation sent to a PoP therefore reaches all tiers; one
/// sent to a REC or shield reaches the tiers above it (see docs/config.md).
fn invalidation_peers(
    topology: &Topology,
    plan: &NodePlan,
    binding: &Binding,
    started: &[NodeInfo],
) -> Vec<String> {
    match binding {
        Binding::Loopback => started
            .iter()
            .filter(|n| n.tier != Layer::Origin && n.name != plan.name)
            .map(|n| n.admin.clone())
            .collect(),
        Binding::Single {
            peer_admin_port, ..
        } => topology
            .nodes
            .iter()
            .filter(|n| n.tier != Layer::Origin && n.name != plan.name)
            .map(|n| format!("http://{}:{peer_admin_port}", n.name))
            .collect(),
    }
}

/// Binds `addr` (as `TcpListener::bind` does) and registers it with the current runtime.
fn bind(node: &str, what: &str, addr: SocketAddr) -> Result<TcpListener, ClusterError> {
    edgelab_common::serve::bind_listeners(addr, 1)
        .and_then(|mut sockets| {
            // invariant: one socket was asked for and bound.
            TcpListener::from_std(sockets.pop().expect("one socket"))
        })
        .map_err(|source| ClusterError::Bind {
            what: format!("{what} listener of {node} on {addr}"),
            source,
        })
}

/// The control API routes.
struct Control {
    cluster: Arc<Cluster>,
    sampler: Mutex<Sampler>,
    token: Option<String>,
}

impl Control {
    fn status(&self) -> LiveStatus {
        // A panic while holding the lock leaves at worst one stale window: still usable.
        let mut sampler = self
            .sampler
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.cluster.live_status(
            &mut sampler,
            tokio::time::Instant::now(),
            self.token.is_some(),
        )
    }
}

/// The live page, never cached, allowed to talk to the control port only.
fn page() -> Response<Body> {
    let mut response = Response::new(body::full(live::PAGE));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        ),
    );
    response
}

impl AdminRoutes for Control {
    async fn route(&self, request: &Request<Bytes>) -> Option<Response<Body>> {
        let path = request.uri().path();
        let target = request.uri().query().and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("target="))
                .map(str::to_string)
        });
        match (request.method(), path) {
            (&Method::GET, "/") => Some(page()),
            (&Method::GET, "/status") => Some(body::json(StatusCode::OK, &self.status())),
            (&Method::GET, "/nodes") => {
                #[derive(Serialize)]
                struct NodeState<'a> {
                    #[serde(flatten)]
                    node: &'a NodeInfo,
                    up: bool,
                }
                let states: Vec<NodeState<'_>> = self
                    .cluster
                    .nodes()
                    .iter()
                    .map(|node| NodeState {
                        node,
                        up: self.cluster.is_up(&node.name),
                    })
                    .collect();
                Some(body::json(StatusCode::OK, &states))
            }
            (&Method::POST, "/fail") | (&Method::POST, "/restore") => {
                if let Err(response) = authorize(request, self.token.as_deref()) {
                    return Some(response);
                }
                let Some(target) = target else {
                    return Some(body::text(
                        StatusCode::BAD_REQUEST,
                        "give the target as ?target=<AZ id|Region|PoP code|node name>",
                    ));
                };
                let result = if path == "/fail" {
                    self.cluster.fail(&target)
                } else {
                    self.cluster.restore(&target)
                };
                Some(match result {
                    Ok(names) => body::json(
                        StatusCode::OK,
                        &serde_json::json!({ "target": target, "nodes": names, "failed": path == "/fail" }),
                    ),
                    Err(error) => body::text(StatusCode::NOT_FOUND, error.to_string()),
                })
            }
            _ => None,
        }
    }
}
