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
//! Every path comes from the planner in `edgelab_geo::planner`; [`plan`] also returns the map
//! of where the clients went (every node, the clients, each client's modelled path), which
//! the lab puts into each run's report.

use edgelab_common::config::ConfigErrors;
use edgelab_geo::{
    Coordinates, Failures, Hop, HopModel, LatencyModel, Place, Stop, compose, direct_hop, ga_path,
};
use edgelab_loadgen::map::{
    MapHop, MapPath, MapPlace, MapPlaceKind, MapWaypoint, RunMap, client_id,
};
use edgelab_loadgen::scenario::Population;
use edgelab_loadgen::{Mode, Target};

use crate::topology::{NodePlan, Topology};
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

/// Where a client's requests go in one mode.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The node they are sent to.
    pub node: String,
    /// The modelled hop from the client to that node.
    pub hop: HopModel,
    /// The whole modelled path for the report's map (through the CDN: to the origin, the path
    /// of a miss), with the places it passes.
    pub hops: Vec<MapHop>,
    /// The places the path passes, the client first.
    pub stops: Vec<MapPlace>,
}

/// Where a client `client` (its map place) sends its requests in `mode`, from the planner
/// ([`edgelab_geo::CdnLayout::cdn_path`], [`ga_path`] with the topology's seed,
/// [`direct_hop`]).
pub fn route(
    topology: &Topology,
    client: &MapPlace,
    mode: Mode,
    nodes: &dyn Addresses,
) -> Result<Routed, String> {
    let link = &topology.link;
    let at = Coordinates::new(client.lat, client.lon);
    let failures = failures(topology, nodes);
    let origin = topology
        .origins()
        .find(|o| nodes.is_up(&o.name))
        .or_else(|| topology.origins().next())
        .ok_or("the topology has no origin")?;
    let groups = topology.ga_groups(&|name| nodes.is_up(name));
    let (node, hop, path) = match mode {
        Mode::Direct => {
            let hop = direct_hop(at, origin.coordinates, link);
            (origin.name.clone(), hop.model, vec![hop])
        }
        Mode::Edge => {
            let path = topology
                .layout
                .cdn_path(at, &failures, link)
                .ok_or("no healthy PoP to route to")?;
            let first = path.first().ok_or("an empty CDN path")?;
            let Stop::Pop(pop) = first.to else {
                return Err("a CDN path starts at a PoP".into());
            };
            let node = crate::topology::node_name("pop", &pop.code);
            (node, first.model, path)
        }
        Mode::Ga => {
            let path = ga_path(
                at,
                &topology.layout.pops,
                &groups,
                &failures,
                link,
                topology.seed,
            )
            .ok_or("no healthy PoP to route to")?;
            let endpoint = &groups[path.route.group].endpoints[path.route.endpoint];
            let hop = compose(&path.hops).ok_or("an empty Global Accelerator path")?;
            (endpoint.id.clone(), hop, path.hops)
        }
    };
    let place_of = |stop: Stop<'_>| match stop {
        Stop::Client => client.clone(),
        Stop::Endpoint { group, endpoint } => topology
            .node(&groups[group].endpoints[endpoint].id)
            .map_or_else(|| origin_place(origin), origin_place),
        other => cache_place(other).unwrap_or_else(|| origin_place(origin)),
    };
    let mut stops = vec![client.clone()];
    let hops = path
        .iter()
        .map(|hop| {
            let (from, to) = (place_of(hop.from), place_of(hop.to));
            let map_hop = map_hop(hop, &from, &to, link);
            stops.push(to);
            map_hop
        })
        .collect();
    Ok(Routed {
        node,
        hop,
        hops,
        stops,
    })
}

/// The map hop of the planner's `hop` from `from` to `to`: its class, modelled RTT and the
/// hubs its path crosses over the long-haul graph.
pub fn map_hop(hop: &Hop<'_>, from: &MapPlace, to: &MapPlace, model: &LatencyModel) -> MapHop {
    let at = |p: &MapPlace| Coordinates::new(p.lat, p.lon);
    MapHop {
        from: from.id.clone(),
        to: to.id.clone(),
        class: hop.class.as_str().to_string(),
        rtt_ms: hop.model.rtt.as_secs_f64() * 1000.0,
        via: model
            .via(at(from), at(to), hop.class.graph_class())
            .into_iter()
            .map(|hub| MapWaypoint {
                city: hub.city.clone(),
                lat: hub.coordinates.lat,
                lon: hub.coordinates.lon,
            })
            .collect(),
    }
}

/// The map place of a client population at `place`, named `label`.
pub fn client_place(place: &Place<'_>, label: &str) -> MapPlace {
    let at = place.coordinates();
    MapPlace {
        id: client_id(label),
        kind: MapPlaceKind::Client,
        label: label.to_string(),
        city: place.city().to_string(),
        lat: at.lat,
        lon: at.lon,
    }
}

/// The map place of a PoP, REC or shield stop (`None` for the client, origin, endpoints).
pub fn cache_place(stop: Stop<'_>) -> Option<MapPlace> {
    let (kind, pop) = match stop {
        Stop::Pop(pop) => (MapPlaceKind::Pop, pop),
        Stop::Rec(rec) => (MapPlaceKind::Rec, rec),
        Stop::Shield(shield) => (MapPlaceKind::Shield, shield),
        Stop::Client | Stop::Origin | Stop::Endpoint { .. } => return None,
    };
    Some(MapPlace {
        id: pop.key(),
        kind,
        label: pop.code.clone(),
        city: pop.city.clone(),
        lat: pop.coordinates.lat,
        lon: pop.coordinates.lon,
    })
}

/// The map place of an origin replica (named by its AZ id or Local Zone).
fn origin_place(node: &NodePlan) -> MapPlace {
    MapPlace {
        id: node.place.clone(),
        kind: MapPlaceKind::Origin,
        label: node.place.clone(),
        city: node.city.clone(),
        lat: node.coordinates.lat,
        lon: node.coordinates.lon,
    }
}

/// Every node of `topology` as a map place: origin replicas, shield, RECs and PoPs.
pub fn node_places(topology: &Topology) -> Vec<MapPlace> {
    topology
        .nodes
        .iter()
        .map(|node| {
            let (kind, id) = match node.tier {
                Layer::Edge => (MapPlaceKind::Pop, node.place.clone()),
                Layer::Rec => (MapPlaceKind::Rec, format!("rec:{}", node.place)),
                Layer::Shield => (MapPlaceKind::Shield, format!("rec:{}", node.place)),
                Layer::Origin | Layer::None => return origin_place(node),
            };
            MapPlace {
                id,
                kind,
                label: node.place.clone(),
                city: node.city.clone(),
                lat: node.coordinates.lat,
                lon: node.coordinates.lon,
            }
        })
        .collect()
}

/// One target per population, for `mode`.
pub fn resolve(
    topology: &Topology,
    populations: &[Population],
    mode: Mode,
    nodes: &dyn Addresses,
) -> Result<Vec<Target>, ConfigErrors> {
    plan(topology, populations, mode, nodes).map(|(targets, _)| targets)
}

/// One target per population for `mode`, and the map of where they went: every node of the
/// topology, the clients, and each client's modelled path.
pub fn plan(
    topology: &Topology,
    populations: &[Population],
    mode: Mode,
    nodes: &dyn Addresses,
) -> Result<(Vec<Target>, RunMap), ConfigErrors> {
    let geo = edgelab_geo::Topology::embedded();
    let mut errors = ConfigErrors::new();
    let mut targets = Vec::new();
    let mut map = RunMap {
        places: node_places(topology),
        paths: Vec::new(),
    };
    for (i, population) in populations.iter().enumerate() {
        let field = format!("population[{i}].place");
        let client = match geo.resolve(&population.place) {
            Ok(place) => client_place(&place, &population.place),
            Err(error) => {
                errors.push(field, error.to_string());
                continue;
            }
        };
        let routed = match route(topology, &client, mode, nodes) {
            Ok(routed) => routed,
            Err(problem) => {
                errors.push(field, problem);
                continue;
            }
        };
        let Some(url) = nodes.traffic_url(&routed.node) else {
            errors.push(field, format!("node `{}` is not running here", routed.node));
            continue;
        };
        match url.parse() {
            Ok(base_url) => targets.push(Target {
                place: population.place.clone(),
                weight: population.weight,
                base_url,
                hop: routed.hop,
                mode,
            }),
            Err(error) => {
                errors.push(field, format!("bad URL {url}: {error}"));
                continue;
            }
        }
        for stop in routed.stops {
            map.add_place(stop);
        }
        map.paths
            .push(MapPath::new(&population.place, mode, routed.hops));
    }
    errors.into_result((targets, map))
}
