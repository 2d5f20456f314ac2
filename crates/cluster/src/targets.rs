//! Load-generator targets for a topology: every client place resolved to where its requests
//! go and over which modelled path.
//!
//! - `direct`: the client reaches the origin (its first healthy replica) over last mile +
//!   internet.
//! - `edge`: the client reaches its nearest healthy PoP (lowest modelled RTT, latency-based
//!   DNS), over last mile + internet; everything behind the PoP is the CDN's own links.
//! - `ga`: Global Accelerator: the client enters at its nearest healthy PoP over the
//!   internet, then rides the backbone to the origin's Region; nothing is cached.

use edgelab_common::config::ConfigErrors;
use edgelab_geo::{Coordinates, PathClass, Pop, PopKind};
use edgelab_loadgen::scenario::Population;
use edgelab_loadgen::{Mode, Target};

use crate::topology::Topology;

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

/// One target per population, for `mode`.
pub fn resolve(
    topology: &Topology,
    populations: &[Population],
    mode: Mode,
    nodes: &dyn Addresses,
) -> Result<Vec<Target>, ConfigErrors> {
    let geo = edgelab_geo::Topology::embedded();
    let mut errors = ConfigErrors::new();
    let origin = topology
        .origins()
        .find(|o| nodes.is_up(&o.name))
        .or_else(|| topology.origins().next());
    let pops: Vec<&Pop> = topology
        .pops()
        .filter(|p| nodes.is_up(&p.name))
        .filter_map(|p| geo.pop_of_kind(&p.place, PopKind::Edge))
        .collect();
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
        let Some(origin) = origin else {
            errors.push("origin", "the topology has no origin");
            continue;
        };
        let (node, hop) = match mode {
            Mode::Direct => (
                origin.name.clone(),
                topology.link.client_hop(client, origin.coordinates),
            ),
            Mode::Edge | Mode::Ga => {
                let Some(pop) = edgelab_geo::nearest_pop(client, &pops, |_| true, &topology.link)
                else {
                    errors.push(field, "no healthy PoP to route to");
                    continue;
                };
                let to_pop = topology.link.client_hop(client, pop.coordinates);
                if mode == Mode::Edge {
                    let name = topology
                        .pops()
                        .find(|p| p.place == pop.code)
                        .map(|p| p.name.clone())
                        .unwrap_or_default();
                    (name, to_pop)
                } else {
                    let backbone =
                        topology
                            .link
                            .hop(pop.coordinates, origin.coordinates, PathClass::Backbone);
                    (origin.name.clone(), to_pop.then(&backbone))
                }
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
