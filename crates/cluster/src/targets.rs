//! Load-generator targets for a topology: every client place resolved to where its requests
//! go and over which modelled path.
//!
//! - `direct`: the client reaches the origin (its first healthy replica) over last mile +
//!   internet.
//! - `edge`: the client reaches its nearest healthy PoP (lowest modelled RTT, latency-based
//!   DNS), over last mile + internet; everything behind the PoP is the CDN's own links.
//! - `ga`: Global Accelerator: the client enters at its nearest healthy PoP over the
//!   internet, then rides the backbone to the endpoint group of the origin's Region, whose
//!   endpoints are the origin replicas (traffic dial, weights, failover and fail-open as
//!   `edgelab topology route --ga` shows them); nothing is cached.
//!
//! Every path comes from the planner in `edgelab_geo::planner`.

use edgelab_common::config::ConfigErrors;
use edgelab_geo::{Coordinates, Failures, HopModel, Stop, compose, direct_hop, ga_path};
use edgelab_loadgen::scenario::Population;
use edgelab_loadgen::{Mode, Target};

use crate::topology::Topology;
use edgelab_wire::Layer;

/// Where a running node listens, by name (what [`crate::Cluster::node`] gives, or DNS).
pub trait Addresses {
    /// Traffic URL of node `name`.
    fn traffic_url(&self, name: &str) -> Option<String>;
    /// Whether node `name` is up.
    fn is_up(&self, name: &str) -> bool;
}

impl Addresses for crate::Cluster {
    fn traffic_url(&self, name: &str) -> Option<String> {
        self.node(name).map(|n| n.traffic.clone())
    }

    fn is_up(&self, name: &str) -> bool {
        crate::Cluster::is_up(self, name)
    }
}

/// Nodes reached by DNS name on one port (docker compose); all considered up.
#[derive(Debug, Clone, Copy)]
pub struct Dns {
    /// Traffic port of every node.
    pub port: u16,
}

impl Addresses for Dns {
    fn traffic_url(&self, name: &str) -> Option<String> {
        Some(format!("http://{name}:{}", self.port))
    }

    fn is_up(&self, _name: &str) -> bool {
        true
    }
}

/// The cache places `nodes` reports down, as the planner's [`Failures`].
pub fn failures(topology: &Topology, nodes: &dyn Addresses) -> Failures {
    let mut failures = Failures::none();
    for node in &topology.nodes {
        if nodes.is_up(&node.name) {
            continue;
        }
        match node.tier {
            Layer::Edge => failures.pops.insert(node.place.clone()),
            Layer::Rec | Layer::Shield => failures.pops.insert(format!("rec:{}", node.place)),
            Layer::Origin | Layer::None => false,
        };
    }
    failures
}

/// Where a client at `client` sends its requests in `mode` and over which modelled hop:
/// `(node name, hop)`, from the planner ([`edgelab_geo::CdnLayout::cdn_path`], [`ga_path`] with the
/// topology's seed, [`direct_hop`]).
pub fn route(
    topology: &Topology,
    client: Coordinates,
    mode: Mode,
    nodes: &dyn Addresses,
) -> Result<(String, HopModel), String> {
    let link = &topology.link;
    let failures = failures(topology, nodes);
    match mode {
        Mode::Direct => {
            let origin = topology
                .origins()
                .find(|o| nodes.is_up(&o.name))
                .or_else(|| topology.origins().next())
                .ok_or("the topology has no origin")?;
            let hop = direct_hop(client, origin.coordinates, link);
            Ok((origin.name.clone(), hop.model))
        }
        Mode::Edge => {
            let path = topology
                .layout
                .cdn_path(client, &failures, link)
                .ok_or("no healthy PoP to route to")?;
            let first = path.first().ok_or("an empty CDN path")?;
            let Stop::Pop(pop) = first.to else {
                return Err("a CDN path starts at a PoP".into());
            };
            Ok((crate::topology::node_name("pop", &pop.code), first.model))
        }
        Mode::Ga => {
            let groups = topology.ga_groups(&|name| nodes.is_up(name));
            let path = ga_path(
                client,
                &topology.layout.pops,
                &groups,
                &failures,
                link,
                topology.seed,
            )
            .ok_or("no healthy PoP to route to")?;
            let endpoint = &groups[path.route.group].endpoints[path.route.endpoint];
            let hop = compose(&path.hops).ok_or("an empty Global Accelerator path")?;
            Ok((endpoint.id.clone(), hop))
        }
    }
}

/// One target per population, for `mode`.
pub fn resolve(
    topology: &Topology,
    populations: &[Population],
    mode: Mode,
    nodes: &dyn Addresses,
) -> Result<Vec<Target>, ConfigErrors> {
    let geo = edgelab_geo::Topology::embedded();
    let mut errors = ConfigErrors::new();
    let mut targets = Vec::new();
    for (i, population) in populations.iter().enumerate() {
        let field = format!("population[{i}].place");
        let client: Coordinates = match geo.resolve(&population.place) {
            Ok(place) => place.coordinates(),
            Err(error) => {
                errors.push(field, error.to_string());
                continue;
            }
        };
        let (node, hop) = match route(topology, client, mode, nodes) {
            Ok(routed) => routed,
            Err(problem) => {
                errors.push(field, problem);
                continue;
            }
        };
        let Some(url) = nodes.traffic_url(&node) else {
            errors.push(field, format!("node `{node}` is not running here"));
            continue;
        };
        match url.parse() {
            Ok(base_url) => targets.push(Target {
                place: population.place.clone(),
                weight: population.weight,
                base_url,
                hop,
                mode,
            }),
            Err(error) => errors.push(field, format!("bad URL {url}: {error}")),
        }
    }
    errors.into_result(targets)
}
