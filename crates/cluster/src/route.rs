//! The inputs of `edgelab topology route`: from its flags (candidate PoPs, every REC, an
//! optional shield, endpoint-group Regions) or from a topology file (its PoPs, RECs, shield,
//! origin replicas as GA endpoints and `[link]`, exactly as `compare` and `up` plan them),
//! plus what is down. The path itself comes from the planner (`edgelab_geo::planner`);
//! [`path_map`] turns it into the map `--svg` draws.

use edgelab_geo::{
    CdnLayout, Endpoint, EndpointGroup, Failures, Hop, LatencyModel, Place, Pop, Stop, Topology,
    choose_shield,
};
use edgelab_loadgen::Mode;
use edgelab_loadgen::map::{MapPath, MapPlace, MapPlaceKind, RunMap};

use crate::targets::{cache_place, map_hop};

type Problems = Vec<String>;

/// The inputs for `query`: from its topology file, else from its flags with `model`; every
/// problem is added to `problems`.
pub fn route_inputs(
    t: &'static Topology,
    model: LatencyModel,
    query: &RouteQuery<'_>,
    problems: &mut Problems,
) -> Option<RouteInputs> {
    match query.topology {
        Some(path) => inputs_from_topology(t, path, query, problems),
        None => inputs_from_flags(t, model, query, problems),
    }
}

fn resolve<'t>(t: &'t Topology, name: &str, problems: &mut Problems) -> Option<Place<'t>> {
    t.resolve(name)
        .map_err(|error| problems.push(error.to_string()))
        .ok()
}

/// What `edgelab topology route` asks.
pub struct RouteQuery<'a> {
    /// Where the client is.
    pub client: &'a str,
    /// The origin's place (without `topology`).
    pub origin: &'a str,
    /// Candidate PoP codes (empty: every edge location).
    pub pops: &'a [String],
    /// Put the REC nearest the origin in the path as Origin Shield.
    pub shield: bool,
    /// Route through Global Accelerator.
    pub ga: bool,
    /// Endpoint-group Regions (empty: the origin's).
    pub ga_regions: &'a [String],
    /// Places that are down.
    pub down: &'a [String],
    /// Seed of GA's draws (default: the topology's, else 1).
    pub seed: Option<u64>,
    /// Plan over this topology file instead of the flags.
    pub topology: Option<&'a std::path::Path>,
}

/// What a path is planned over: the cache tiers, Global Accelerator's endpoint groups, what
/// is down, the seed of GA's draws, the model and the origin's label.
pub struct RouteInputs {
    /// The cache tiers.
    pub layout: CdnLayout<'static>,
    /// Global Accelerator's endpoint groups.
    pub groups: Vec<EndpointGroup>,
    /// What is down.
    pub failures: Failures,
    /// Seed of GA's draws.
    pub seed: u64,
    /// The latency model.
    pub model: LatencyModel,
    /// The origin, as shown.
    pub origin: String,
    /// The origin's code (Region, AZ id or Local Zone; the first replica's with a topology).
    pub origin_code: String,
}

/// `--down` as planner failures.
fn failures(t: &Topology, down: &[String], problems: &mut Problems) -> Failures {
    let mut failures = Failures::none();
    for name in down {
        match t.resolve(name) {
            Ok(Place::Region(r)) => {
                failures.regions.insert(r.code.clone());
            }
            Ok(Place::AvailabilityZone(az)) => {
                failures.azs.insert(az.id.clone());
            }
            Ok(Place::Pop(p)) => {
                failures.pops.insert(p.key());
            }
            Ok(other) => problems.push(format!(
                "--down: `{name}` is a {}, not a Region, AZ or PoP",
                other.kind()
            )),
            Err(error) => problems.push(format!("--down: {error}")),
        }
    }
    failures
}

/// One endpoint group per Region, an endpoint per AZ id (or one for the Region).
fn region_group(r: &edgelab_geo::Region) -> EndpointGroup {
    let endpoint = |id: String, az: Option<String>| Endpoint {
        id,
        region: r.code.clone(),
        az,
        weight: 1,
        healthy: true,
    };
    let mut endpoints: Vec<Endpoint> = r
        .az_ids
        .iter()
        .map(|az| endpoint(format!("{}-{az}", r.code), Some(az.clone())))
        .collect();
    if endpoints.is_empty() {
        endpoints.push(endpoint(r.code.clone(), None));
    }
    EndpointGroup {
        region: r.code.clone(),
        coordinates: r.coordinates,
        traffic_dial: 1.0,
        endpoints,
    }
}

/// Inputs from the flags: `--pops` (or every edge), every REC, `--shield`, `--ga-regions`.
fn inputs_from_flags(
    t: &'static Topology,
    model: LatencyModel,
    request: &RouteQuery<'_>,
    problems: &mut Problems,
) -> Option<RouteInputs> {
    let origin = resolve(t, request.origin, problems);
    let mut pops: Vec<&Pop> = Vec::new();
    for code in request.pops {
        match t.pop(code) {
            Some(p) if !p.is_rec() => pops.push(p),
            Some(_) => problems.push(format!(
                "--pops: `{code}` is a Regional Edge Cache, not an edge"
            )),
            None => problems.push(format!("--pops: {}", unknown(t, code))),
        }
    }
    if request.pops.is_empty() {
        pops = t.edges().collect();
    }
    let failures = failures(t, request.down, problems);
    let mut groups = Vec::new();
    if request.ga {
        let names: Vec<String> = if request.ga_regions.is_empty() {
            origin
                .and_then(|o| o.region().map(String::from))
                .into_iter()
                .collect()
        } else {
            request.ga_regions.to_vec()
        };
        for name in &names {
            match t.region(name) {
                Some(r) => groups.push(region_group(r)),
                None => problems.push(format!("--ga-regions: {}", unknown(t, name))),
            }
        }
    }
    let origin = origin?;
    let recs: Vec<&Pop> = t.recs().collect();
    let healthy: Vec<&Pop> = recs
        .iter()
        .copied()
        .filter(|r| failures.pop_up(r))
        .collect();
    let shield = request
        .shield
        .then(|| choose_shield(origin.coordinates(), &healthy, &model))
        .flatten();
    Some(RouteInputs {
        layout: CdnLayout {
            pops,
            recs,
            shield,
            origin: origin.coordinates(),
        },
        groups,
        failures,
        seed: request.seed.unwrap_or(1),
        model,
        origin: origin.to_string(),
        origin_code: origin.code(),
    })
}

/// Inputs from a topology file: its PoPs, RECs, shield, origin replicas and `[link]`.
fn inputs_from_topology(
    t: &Topology,
    path: &std::path::Path,
    request: &RouteQuery<'_>,
    problems: &mut Problems,
) -> Option<RouteInputs> {
    let topology = match crate::Topology::load(path) {
        Ok(topology) => topology,
        Err(errors) => {
            problems.extend(
                errors
                    .errors()
                    .iter()
                    .map(|e| format!("{}: {}: {}", path.display(), e.field, e.message)),
            );
            return None;
        }
    };
    let failures = failures(t, request.down, problems);
    let first = topology.origins().next()?;
    let origin = t
        .resolve(&first.place)
        .map(|p| p.to_string())
        .unwrap_or_else(|_| first.place.clone());
    Some(RouteInputs {
        origin_code: first.place.clone(),
        groups: topology.ga_groups(&|_| true),
        layout: topology.layout.clone(),
        failures,
        seed: request.seed.unwrap_or(topology.seed),
        model: topology.link.clone(),
        origin,
    })
}

/// The map of one routed path: `client`, every stop of `hops` as a place, and the path
/// taken in `mode`.
pub fn path_map(client: &MapPlace, hops: &[Hop<'_>], mode: Mode, inputs: &RouteInputs) -> RunMap {
    let place_of = |stop: Stop<'_>| match stop {
        Stop::Client => client.clone(),
        Stop::Origin => MapPlace {
            id: inputs.origin_code.clone(),
            kind: MapPlaceKind::Origin,
            label: inputs.origin_code.clone(),
            city: inputs.origin.clone(),
            lat: inputs.layout.origin.lat,
            lon: inputs.layout.origin.lon,
        },
        Stop::Endpoint { group, endpoint } => {
            let group = &inputs.groups[group];
            let endpoint = &group.endpoints[endpoint];
            MapPlace {
                id: endpoint.id.clone(),
                kind: MapPlaceKind::Origin,
                label: endpoint.az.clone().unwrap_or_else(|| endpoint.id.clone()),
                city: group.region.clone(),
                lat: group.coordinates.lat,
                lon: group.coordinates.lon,
            }
        }
        // Invariant: every other stop is a PoP, REC or shield, which `cache_place` names.
        other => cache_place(other).expect("a cache stop has a place"),
    };
    let mut map = RunMap::default();
    map.add_place(client.clone());
    let mut path = Vec::new();
    for hop in hops {
        let (from, to) = (place_of(hop.from), place_of(hop.to));
        path.push(map_hop(hop, &from, &to, &inputs.model));
        map.add_place(from);
        map.add_place(to);
    }
    map.paths.push(MapPath::new(&client.label, mode, path));
    map
}

fn unknown(t: &Topology, name: &str) -> String {
    match t.resolve(name) {
        Err(error) => error.to_string(),
        Ok(place) => format!("`{name}` is a {}", place.kind()),
    }
}
