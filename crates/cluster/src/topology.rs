//! Topology files: the raw TOML shape ([`RawTopology`], `deny_unknown_fields`; the `///`
//! comments are the reference, mirrored in `docs/config.md`) and the validated
//! [`Topology`], which knows every node of the CDN and how they are wired.
//!
//! Planning is pure: places come from `edgelab_geo`'s embedded data, each PoP's REC is its
//! nearest REC over the backbone, the shield is the REC nearest the origin, and every hop
//! between two nodes gets its modelled latency from the `[link]` table.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use edgelab_common::config::{ConfigErrors, load_toml, parse_toml};
use edgelab_edge::EdgeConfig;
use edgelab_edge::config::{RawBehavior, RawEdgeConfig, RawUpstream};
use edgelab_edge::error_responses::RawCustomErrorResponse;
use edgelab_geo::{
    CdnLayout, Coordinates, Endpoint, EndpointGroup, Failures, HopModel, LatencyModel, Pop,
    PopKind, Stop,
};
use edgelab_loadgen::scenario::RawScenario;
use edgelab_loadgen::{Overrides, Settings};
use edgelab_origin::{OriginConfig, OriginSettings};
use edgelab_wire::Layer;
use serde::{Deserialize, Serialize};

/// The built-in default topology (`config/default.toml`), used by `edgelab demo`.
pub const DEFAULT_TOPOLOGY: &str = include_str!("../../../config/default.toml");

/// A topology file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    /// Name shown in the node table and reports. Default `edgelab`.
    pub name: Option<String>,
    /// Seed of the catalog, the link jitter and loss, and the workload. Default 42.
    pub seed: Option<u64>,
    /// The origin: where its replicas run and what it serves.
    #[serde(default)]
    pub origin: RawOrigin,
    /// Origin Shield: one REC as the single path to the origin.
    #[serde(default)]
    pub shield: RawShield,
    /// Regional Edge Caches between the PoPs and the shield/origin.
    #[serde(default)]
    pub recs: RawRecs,
    /// Edge locations to run, by IATA code (`edgelab topology list pops`). At least one.
    #[serde(default)]
    pub pops: Vec<String>,
    /// Cache settings every edge node shares (behaviours, capacity, timeouts).
    #[serde(default)]
    pub edge: RawEdgeDefaults,
    /// Latency model parameters (see `docs/latency-model.md`); unset fields keep defaults.
    #[serde(default)]
    pub link: LatencyModel,
    /// The default workload of `edgelab compare` and `edgelab demo` for this topology: a
    /// scenario (see `docs/loadgen.md`) whose `[[load.population]]` are the client places.
    #[serde(default)]
    pub load: RawScenario,
}

/// Where the origin runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrigin {
    /// Origin name (the `origin` metric label). Default `origin`.
    pub name: Option<String>,
    /// Region code the origin runs in. Default `us-east-1`.
    pub region: Option<String>,
    /// Availability Zone ids of the replicas (each runs as its own node). The first is the
    /// origin group's primary, the second its secondary. Default: the Region's first three.
    pub azs: Option<Vec<String>>,
    /// Run one replica in this Local Zone instead of the Region's AZs (e.g.
    /// `us-east-1-bos-1`). Excludes `azs`.
    pub local_zone: Option<String>,
    /// Number of synthetic objects. Default 2000.
    pub objects: Option<u64>,
    /// Everything else of the origin server (classes, faults, service time): the same
    /// fields as `edgelab origin --config`. `name`, `region`, `az`, `seed` and `objects` are
    /// set from the topology.
    pub server: Option<OriginConfig>,
}

/// Origin Shield settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawShield {
    /// Whether a shield runs. Default true.
    pub enabled: bool,
    /// The REC that acts as shield (code, e.g. `IAD`). Default: the REC nearest the origin.
    pub rec: Option<String>,
}

impl Default for RawShield {
    fn default() -> Self {
        Self {
            enabled: true,
            rec: None,
        }
    }
}

/// Regional Edge Cache settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRecs {
    /// Whether PoPs go through their nearest REC. Default true.
    pub enabled: bool,
    /// Restrict the RECs a PoP may use to these codes. Default: all 13.
    pub only: Option<Vec<String>>,
}

impl Default for RawRecs {
    fn default() -> Self {
        Self {
            enabled: true,
            only: None,
        }
    }
}

/// Settings shared by every cache node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEdgeDefaults {
    /// Cache behaviours in order (first match wins), as in `edgelab edge --config`.
    #[serde(default)]
    pub behaviors: Vec<RawBehavior>,
    /// The default behaviour. Default: the `CachingOptimized` preset.
    pub default_behavior: Option<RawBehavior>,
    /// Store capacity of each PoP, bytes. Default 256 MiB.
    pub capacity_bytes: Option<u64>,
    /// Store capacity of each REC and the shield, bytes. Default 1 GiB.
    pub rec_capacity_bytes: Option<u64>,
    /// Largest object a node stores, bytes. Default: the edge node's default.
    pub max_object_bytes: Option<u64>,
    /// How long a collapsed request waits for the leader. Default: the edge node's default.
    #[serde(default, with = "humantime_serde")]
    pub collapse_timeout: Option<Duration>,
    /// Delay before an invalidation reaches the other tiers. Default: the edge node's.
    #[serde(default, with = "humantime_serde")]
    pub invalidation_delay: Option<Duration>,
    /// Primary statuses that make the origin group fail over to its secondary (GET/HEAD).
    /// Default 500, 502, 503, 504.
    pub failover_status_codes: Option<Vec<u16>>,
    /// CloudFront DefaultRootObject: a request for `/` is served as `/<this>`. Default none.
    pub default_root_object: Option<String>,
    /// Origin-group connection attempts. Default 3 (CloudFront).
    pub connection_attempts: Option<u32>,
    /// Origin-group connection timeout per attempt. Default 1 s (CloudFront: 10 s; shorter
    /// so the failure drill fits in a demo).
    #[serde(default, with = "humantime_serde")]
    pub connection_timeout: Option<Duration>,
    /// Origin response timeout. Default 30 s (CloudFront).
    #[serde(default, with = "humantime_serde")]
    pub response_timeout: Option<Duration>,
    /// Most connects a cache node has in flight to one upstream at a time. Default 16 (the
    /// edge node's).
    pub max_connecting: Option<usize>,
    /// CloudFront custom error responses of the distribution (`[[edge.custom_error_responses]]`:
    /// `error_code`, `error_caching_min_ttl`, `response_page_path`, `response_code`), as in
    /// `edgelab edge --config`.
    #[serde(default)]
    pub custom_error_responses: Vec<RawCustomErrorResponse>,
}

/// One node of the planned CDN.
#[derive(Debug, Clone, Serialize)]
pub struct NodePlan {
    /// Unique name: `origin-<az>`, `shield-<rec>`, `rec-<code>`, `pop-<code>` (lower case,
    /// usable as a DNS name in docker compose).
    pub name: String,
    /// What the node is: a cache tier or the origin (never [`Layer::None`]).
    pub tier: Layer,
    /// Place: AZ id or Local Zone for origins, IATA code for caches.
    pub place: String,
    /// City of the place.
    pub city: String,
    /// Region the place belongs to (origins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Coordinates.
    #[serde(skip)]
    pub coordinates: Coordinates,
    /// Upstream node names: the next tier, or the origin group (primary, secondary).
    pub upstream: Vec<String>,
    /// Upstream hop (cache nodes): modelled link to the first upstream.
    #[serde(skip)]
    pub upstream_hop: HopModel,
    /// Modelled RTT to the first upstream, ms (for the node table).
    pub upstream_rtt_ms: f64,
}

/// A validated topology: settings and the node plan.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Name.
    pub name: String,
    /// Seed.
    pub seed: u64,
    /// Latency model.
    pub link: LatencyModel,
    /// Validated origin server settings shared by every replica (name, Region, seed and
    /// objects set; `az` is the first replica's, each replica sets its own).
    pub origin: OriginSettings,
    /// Region of the origin.
    pub origin_region: String,
    /// Validated cache-node settings (per-node fields are filled in when nodes start).
    pub cache: CacheSettings,
    /// The cache tiers as the planner sees them (PoPs, usable RECs, shield, origin place).
    pub layout: CdnLayout<'static>,
    /// Every node, origins first, then shield, RECs and PoPs (the start order).
    pub nodes: Vec<NodePlan>,
    /// Default workload, validated (seed: its own, else the topology's; every client place
    /// resolves).
    pub load: Settings,
}

impl Topology {
    /// Reads and validates a topology file.
    pub fn load(path: &Path) -> Result<Topology, ConfigErrors> {
        Topology::try_from(load_toml::<RawTopology>(path)?)
    }

    /// Parses and validates topology text (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Topology, ConfigErrors> {
        Topology::try_from(parse_toml::<RawTopology>(text, origin)?)
    }

    /// The built-in default topology.
    pub fn default_topology() -> Topology {
        // The embedded file is checked by this crate's tests; it always validates.
        Topology::parse(DEFAULT_TOPOLOGY, "config/default.toml")
            .expect("the embedded default topology validates (tested)")
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&NodePlan> {
        self.nodes.iter().find(|node| node.name == name)
    }

    /// The origin replicas.
    pub fn origins(&self) -> impl Iterator<Item = &NodePlan> {
        self.nodes.iter().filter(|n| n.tier == Layer::Origin)
    }

    /// The PoPs.
    pub fn pops(&self) -> impl Iterator<Item = &NodePlan> {
        self.nodes.iter().filter(|n| n.tier == Layer::Edge)
    }

    /// Global Accelerator's endpoint groups: one group in the origin's Region, dial 100 %,
    /// whose endpoints are the origin replicas (named by node, weight 1 each); `is_up` gives
    /// each replica's health.
    pub fn ga_groups(&self, is_up: &dyn Fn(&str) -> bool) -> Vec<EndpointGroup> {
        let endpoints: Vec<Endpoint> = self
            .origins()
            .map(|o| Endpoint {
                id: o.name.clone(),
                region: self.origin_region.clone(),
                az: Some(o.place.clone()),
                weight: 1,
                healthy: is_up(&o.name),
            })
            .collect();
        vec![EndpointGroup {
            region: self.origin_region.clone(),
            coordinates: self.layout.origin,
            traffic_dial: 1.0,
            endpoints,
        }]
    }

    /// The edge configuration of cache node `node`: its tier's validated settings with its
    /// place, tier, upstream URLs given by `url_of` (node name → traffic URL), its hop and
    /// the admin URLs of the other cache nodes for invalidation.
    pub fn edge_config(
        &self,
        node: &NodePlan,
        url_of: &dyn Fn(&str) -> String,
        invalidation_peers: Vec<String>,
    ) -> Result<EdgeConfig, ConfigErrors> {
        let mut errors = ConfigErrors::new();
        let mut config = match node.tier {
            Layer::Edge => self.cache.pop.clone(),
            _ => self.cache.rec.clone(),
        };
        config.pop = node.place.clone();
        config.tier = node.tier.tier().unwrap_or_default();
        let mut url =
            |name: &String| errors.check(&format!("upstream {name}"), url_of(name).parse());
        let first_is_origin = node
            .upstream
            .first()
            .and_then(|name| self.node(name))
            .is_some_and(|n| n.tier == Layer::Origin);
        let origins: Vec<&String> = self.origins().map(|o| &o.name).collect();
        let up = &mut config.upstream;
        if first_is_origin {
            up.next_tier = None;
            up.primary = node.upstream.first().and_then(&mut url);
            up.secondary = node.upstream.get(1).and_then(&mut url);
        } else {
            up.next_tier = node.upstream.first().and_then(&mut url);
            // Requests that cannot be cached go from the PoP straight to the origin.
            up.primary = origins.first().and_then(|n| url(n));
            up.secondary = origins.get(1).and_then(|n| url(n));
        }
        up.hop = (!node.upstream_hop.is_zero()).then_some(node.upstream_hop);
        up.link_seed = self.seed ^ fnv(&node.name);
        config.invalidation_peers = invalidation_peers
            .iter()
            .filter_map(|peer| errors.check("invalidation_peers", peer.parse()))
            .collect();
        errors.into_result(config)
    }
}

/// Validated settings of every cache node: one edge configuration per kind of tier, complete
/// but for what each node fills in when it starts (place, tier, upstream URLs, hop, peers).
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// For the PoPs.
    pub pop: EdgeConfig,
    /// For the RECs and the shield.
    pub rec: EdgeConfig,
}

/// Origin-group connection timeout in a topology: 1 s (CloudFront: 10 s; shorter so the
/// failure drill fits in a demo).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// Store capacity of each REC and the shield: 1 GiB.
pub const REC_CAPACITY_BYTES: u64 = 1 << 30;
/// Stand-in upstream while validating the shared settings (every node sets its own).
const UNSET_UPSTREAM: &str = "http://upstream.invalid";

/// `[edge]` validated through the edge's own rules, errors under `edge.` (fields of the
/// upstream, such as `connection_attempts`, are flat in `[edge]`).
fn cache_settings(
    raw: &RawEdgeDefaults,
    name: &str,
    errors: &mut ConfigErrors,
) -> Option<CacheSettings> {
    let config = |capacity_bytes: Option<u64>| {
        EdgeConfig::try_from(RawEdgeConfig {
            behaviors: raw.behaviors.clone(),
            default_behavior: raw.default_behavior.clone().unwrap_or_default(),
            custom_error_responses: raw.custom_error_responses.clone(),
            capacity_bytes,
            max_object_bytes: raw.max_object_bytes,
            collapse_timeout: raw.collapse_timeout,
            invalidation_delay: raw.invalidation_delay,
            // One distribution: every PoP and tier keys an object alike, whatever address
            // the viewer used (each PoP listens on its own loopback port).
            distribution: Some(format!("{name}.distribution.edgelab")),
            default_root_object: raw.default_root_object.clone(),
            upstream: RawUpstream {
                primary: Some(UNSET_UPSTREAM.to_string()),
                failover_status_codes: raw.failover_status_codes.clone(),
                connection_attempts: raw.connection_attempts,
                connection_timeout: Some(raw.connection_timeout.unwrap_or(CONNECTION_TIMEOUT)),
                response_timeout: raw.response_timeout,
                max_connecting: raw.max_connecting,
                ..RawUpstream::default()
            },
            ..RawEdgeConfig::default()
        })
    };
    let pop = config(raw.capacity_bytes).map_err(|problems| {
        for problem in problems.errors() {
            let field = problem
                .field
                .strip_prefix("upstream.")
                .unwrap_or(&problem.field);
            errors.push(format!("edge.{field}"), problem.message.clone());
        }
    });
    let rec =
        config(Some(raw.rec_capacity_bytes.unwrap_or(REC_CAPACITY_BYTES))).map_err(|problems| {
            // Only the capacity differs from the PoPs' settings, whose problems are listed.
            for problem in problems
                .errors()
                .iter()
                .filter(|p| p.field == "capacity_bytes")
            {
                errors.push("edge.rec_capacity_bytes", problem.message.clone());
            }
        });
    Some(CacheSettings {
        pop: pop.ok()?,
        rec: rec.ok()?,
    })
}

/// FNV-1a of a name: a stable per-node seed offset (std's hasher is randomised per process).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A node's name: `<prefix>-<code>` in lower case.
pub(crate) fn node_name(prefix: &str, code: &str) -> String {
    format!("{prefix}-{}", code.to_ascii_lowercase())
}

impl TryFrom<RawTopology> for Topology {
    type Error = ConfigErrors;

    fn try_from(raw: RawTopology) -> Result<Self, Self::Error> {
        let geo = edgelab_geo::Topology::embedded();
        let mut errors = ConfigErrors::new();
        for problem in raw.link.validate() {
            errors.push("link", problem.to_string());
        }
        let link = raw.link.clone();
        let seed = raw.seed.unwrap_or(42);
        let region_code = raw
            .origin
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".to_string());
        let origins = place_origins(&raw.origin, &region_code, geo, &mut errors);
        let origin = origin_server(&raw.origin, &region_code, seed, &origins, &mut errors);
        let recs = choose_recs(&raw.recs, geo, &mut errors);
        let pops = choose_pops(&raw.pops, geo, &mut errors);
        let shield = choose_shield(&raw.shield, origins.first(), geo, &link, &mut errors);
        let name = raw.name.clone().unwrap_or_else(|| "edgelab".to_string());
        let cache = cache_settings(&raw.edge, &name, &mut errors);
        let load = default_workload(raw.load, seed, &mut errors);
        let (Some(first_origin), Some(cache), Some(origin), Some(load)) =
            (origins.first(), cache, origin, load)
        else {
            if errors.is_empty() {
                errors.push("origin", "no origin replica could be placed");
            }
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let layout = CdnLayout {
            pops,
            recs: if raw.recs.enabled { recs } else { Vec::new() },
            shield,
            origin: first_origin.coordinates,
        };
        let nodes = plan_nodes(origins, &layout, &link);
        Ok(Topology {
            name,
            seed,
            link,
            origin,
            origin_region: region_code,
            cache,
            layout,
            nodes,
            load,
        })
    }
}

/// `[load]` validated, its seed defaulting to the topology's; errors under `load.`.
fn default_workload(raw: RawScenario, seed: u64, errors: &mut ConfigErrors) -> Option<Settings> {
    let overrides = Overrides {
        seed: Some(raw.seed.unwrap_or(seed)),
        ..Overrides::default()
    };
    let mut problems = ConfigErrors::new();
    let settings = problems.absorb(Settings::resolve(raw, &overrides));
    if let Some(settings) = &settings {
        check_places(settings, &mut problems);
    }
    let valid = problems.is_empty();
    errors.extend_prefixed("load", problems);
    settings.filter(|_| valid)
}

/// Every client place of `settings` must be a real place (`population[i].place`): checked
/// once, where a workload is validated.
pub(crate) fn check_places(settings: &Settings, errors: &mut ConfigErrors) {
    let geo = edgelab_geo::Topology::embedded();
    for (i, population) in settings.populations.iter().enumerate() {
        if let Err(error) = geo.resolve(&population.place) {
            errors.push(format!("population[{i}].place"), error.to_string());
        }
    }
}

/// Checks one origin replica's placement (`edgelab origin --region --az`) against the
/// embedded AWS geography: `region` must be a Region code;
/// `az` one of its AZ ids or one of its Local Zones (any id where the AZ ids are not public).
pub fn check_placement(region: &str, az: &str) -> ConfigErrors {
    let topology = edgelab_geo::Topology::embedded();
    let mut errors = ConfigErrors::new();
    let Some(known) = topology.region(region) else {
        errors.push(
            "region",
            format!("unknown Region `{region}` (see `edgelab topology list`)"),
        );
        return errors;
    };
    let in_region = known.az_ids.iter().any(|id| id.eq_ignore_ascii_case(az));
    // A Local Zone of the Region: its group code, a zone name (`us-west-2-lax-1a`) or a
    // zone id (`usw2-lax1-az1`).
    let local_zone = topology.local_zones().iter().any(|zone| {
        zone.parent_region.eq_ignore_ascii_case(region)
            && (az
                .to_ascii_lowercase()
                .starts_with(&zone.code.to_ascii_lowercase())
                || zone.zone_ids.iter().any(|pair| {
                    pair.split('=')
                        .any(|part| part.trim().eq_ignore_ascii_case(az))
                }))
    });
    if !(in_region || local_zone || known.az_ids.is_empty()) {
        errors.push(
            "az",
            format!(
                "`{az}` is neither an AZ of {region} ({}) nor one of its Local Zones",
                known.az_ids.join(", ")
            ),
        );
    }
    errors
}

/// An origin replica's node.
fn origin_node(code: &str, city: &str, region: &str, coordinates: Coordinates) -> NodePlan {
    NodePlan {
        name: node_name("origin", code),
        tier: Layer::Origin,
        place: code.to_string(),
        city: city.to_string(),
        region: Some(region.to_string()),
        coordinates,
        upstream: Vec::new(),
        upstream_hop: HopModel::ZERO,
        upstream_rtt_ms: 0.0,
    }
}

/// The origin replicas: one in the Local Zone, or one per AZ.
fn place_origins(
    raw: &RawOrigin,
    region_code: &str,
    geo: &edgelab_geo::Topology,
    errors: &mut ConfigErrors,
) -> Vec<NodePlan> {
    let Some(region) = geo.region(region_code) else {
        errors.push(
            "origin.region",
            format!(
                "unknown Region `{region_code}`{}",
                suggest(&geo.resolve(region_code))
            ),
        );
        return Vec::new();
    };
    if let Some(lz_code) = &raw.local_zone {
        if raw.azs.is_some() {
            errors.push("origin.local_zone", "give either `azs` or `local_zone`");
        }
        return match geo.local_zone(lz_code) {
            Some(lz) if lz.parent_region == region.code => {
                vec![origin_node(
                    &lz.code,
                    &lz.city,
                    &region.code,
                    lz.coordinates,
                )]
            }
            Some(lz) => {
                errors.push(
                    "origin.local_zone",
                    format!(
                        "`{}` belongs to {}, not to origin.region {}",
                        lz.code, lz.parent_region, region.code
                    ),
                );
                Vec::new()
            }
            None => {
                errors.push(
                    "origin.local_zone",
                    format!("unknown Local Zone `{lz_code}`"),
                );
                Vec::new()
            }
        };
    }
    let azs = raw.azs.clone().unwrap_or_else(|| {
        let mut ids = region.az_ids.clone();
        if ids.is_empty() {
            ids = (1..=region.az_count.min(3))
                .map(|n| format!("{}-az{n}", region.code))
                .collect();
        }
        ids.into_iter().take(3).collect()
    });
    if azs.is_empty() {
        errors.push("origin.azs", "at least one AZ is needed");
    }
    let mut seen = BTreeSet::new();
    let mut origins = Vec::new();
    for (i, az) in azs.iter().enumerate() {
        let field = format!("origin.azs[{i}]");
        if !(region.az_ids.is_empty() || region.az_ids.contains(az)) {
            let known = region.az_ids.join(", ");
            let message = format!("`{az}` is not an AZ of {} (its AZs: {known})", region.code);
            errors.push(field, message);
        } else if !seen.insert(az.clone()) {
            errors.push(field, format!("`{az}` is listed twice"));
        } else {
            origins.push(origin_node(
                az,
                &region.city,
                &region.code,
                region.coordinates,
            ));
        }
    }
    origins
}

/// Origin server settings shared by the replicas (name, Region, seed, objects set).
fn origin_server(
    raw: &RawOrigin,
    region_code: &str,
    seed: u64,
    origins: &[NodePlan],
    errors: &mut ConfigErrors,
) -> Option<OriginSettings> {
    let mut origin = raw.server.clone().unwrap_or_default();
    origin.name = raw.name.clone().unwrap_or_else(|| "origin".to_string());
    origin.region = region_code.to_string();
    origin.seed = seed;
    origin.objects = raw.objects.unwrap_or(2_000);
    if let Some(first) = origins.first() {
        origin.az = first.place.clone();
    }
    OriginSettings::try_from(origin)
        .map_err(|problems| errors.extend_prefixed("origin.server", problems))
        .ok()
}

/// The RECs PoPs may use (all 13 unless `only` restricts them).
fn choose_recs(
    raw: &RawRecs,
    geo: &'static edgelab_geo::Topology,
    errors: &mut ConfigErrors,
) -> Vec<&'static Pop> {
    let all: Vec<&Pop> = geo.recs().collect();
    let Some(codes) = &raw.only else {
        return all;
    };
    let mut chosen = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        match geo.pop_of_kind(code, PopKind::RegionalEdgeCache) {
            Some(rec) => chosen.push(rec),
            None => {
                let known: Vec<&str> = all.iter().map(|r| r.code.as_str()).collect();
                errors.push(
                    format!("recs.only[{i}]"),
                    format!(
                        "`{code}` is not a Regional Edge Cache (known: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    chosen
}

/// The shield: the configured REC, else the REC nearest the origin; none when disabled.
fn choose_shield(
    raw: &RawShield,
    origin: Option<&NodePlan>,
    geo: &'static edgelab_geo::Topology,
    link: &LatencyModel,
    errors: &mut ConfigErrors,
) -> Option<&'static Pop> {
    if !raw.enabled {
        return None;
    }
    match &raw.rec {
        Some(code) => {
            let rec = geo.pop_of_kind(code, PopKind::RegionalEdgeCache);
            if rec.is_none() {
                errors.push(
                    "shield.rec",
                    format!("`{code}` is not a Regional Edge Cache"),
                );
            }
            rec
        }
        None => {
            let recs: Vec<&Pop> = geo.recs().collect();
            origin.and_then(|o| edgelab_geo::choose_shield(o.coordinates, &recs, link))
        }
    }
}

/// The PoPs to run, each once.
fn choose_pops(
    codes: &[String],
    geo: &'static edgelab_geo::Topology,
    errors: &mut ConfigErrors,
) -> Vec<&'static Pop> {
    if codes.is_empty() {
        errors.push(
            "pops",
            "at least one PoP is needed (e.g. pops = [\"FRA\", \"NRT\"])",
        );
    }
    let mut pops: Vec<&Pop> = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        match geo.pop_of_kind(code, PopKind::Edge) {
            Some(pop) if pops.iter().any(|p| p.code == pop.code) => {
                errors.push(format!("pops[{i}]"), format!("`{code}` is listed twice"))
            }
            Some(pop) => pops.push(pop),
            None => errors.push(
                format!("pops[{i}]"),
                format!(
                    "unknown edge location `{code}`{}",
                    suggest(&geo.resolve(code))
                ),
            ),
        }
    }
    pops
}

/// The cache node a planner stop runs as (`None` for the client, origin and GA endpoints).
fn cache_node(stop: Stop<'_>) -> Option<(Layer, &Pop)> {
    match stop {
        Stop::Pop(pop) => Some((Layer::Edge, pop)),
        Stop::Rec(rec) => Some((Layer::Rec, rec)),
        Stop::Shield(shield) => Some((Layer::Shield, shield)),
        Stop::Client | Stop::Origin | Stop::Endpoint { .. } => None,
    }
}

fn stop_name(stop: Stop<'_>, origins: &[String]) -> Vec<String> {
    match cache_node(stop) {
        Some((Layer::Edge, pop)) => vec![node_name("pop", &pop.code)],
        Some((Layer::Rec, rec)) => vec![node_name("rec", &rec.code)],
        Some((_, shield)) => vec![node_name("shield", &shield.code)],
        None => origins.to_vec(),
    }
}

/// Every node in start order: origins, shield, RECs, PoPs. Each PoP's upstream chain comes
/// from the planner; a node on several chains (a REC, the shield) is planned once.
fn plan_nodes(
    origins: Vec<NodePlan>,
    layout: &CdnLayout<'static>,
    link: &LatencyModel,
) -> Vec<NodePlan> {
    let origin_names: Vec<String> = origins.iter().take(2).map(|o| o.name.clone()).collect();
    let mut caches: Vec<NodePlan> = Vec::new();
    for pop in &layout.pops {
        for hop in layout.upstream_chain(pop, &Failures::none(), link) {
            let Some((tier, place)) = cache_node(hop.from) else {
                continue;
            };
            let name = stop_name(hop.from, &origin_names).remove(0);
            if caches.iter().any(|n| n.name == name) {
                continue;
            }
            caches.push(NodePlan {
                name,
                tier,
                place: place.code.clone(),
                city: place.city.clone(),
                region: None,
                coordinates: place.coordinates,
                upstream: stop_name(hop.to, &origin_names),
                upstream_rtt_ms: hop.model.rtt.as_secs_f64() * 1e3,
                upstream_hop: hop.model,
            });
        }
    }
    // Upstream first: shield, then RECs, then PoPs (a stable sort keeps the pop order).
    caches.sort_by_key(|n| match n.tier {
        Layer::Shield => 0,
        Layer::Rec => 1,
        _ => 2,
    });
    let mut nodes = origins;
    nodes.extend(caches);
    nodes
}

fn suggest<T>(result: &Result<T, edgelab_geo::GeoError>) -> String {
    match result {
        Err(error) => format!(" ({error})"),
        Ok(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_topology_plans_origins_shield_recs_and_pops() {
        let topology = Topology::default_topology();
        let origins: Vec<_> = topology.origins().collect();
        assert_eq!(origins.len(), 3, "three AZ replicas");
        assert!(topology.nodes.iter().any(|n| n.tier == Layer::Shield));
        assert!(topology.pops().count() >= 4);
        // Every upstream names a node that starts earlier.
        for (i, node) in topology.nodes.iter().enumerate() {
            for up in &node.upstream {
                let at = topology.nodes.iter().position(|n| &n.name == up);
                assert!(at.is_some_and(|at| at < i), "{} -> {up}", node.name);
            }
        }
        // Names are unique.
        let names: BTreeSet<_> = topology.nodes.iter().map(|n| &n.name).collect();
        assert_eq!(names.len(), topology.nodes.len());
    }

    #[test]
    fn a_pop_far_from_the_origin_goes_through_its_nearest_rec_then_the_shield() {
        let topology = Topology::parse(
            "pops = [\"NRT\"]\n[origin]\nregion = \"us-east-1\"\n",
            "test",
        )
        .expect("valid");
        let pop = topology.node("pop-nrt").expect("pop");
        assert_eq!(pop.upstream, vec!["rec-nrt".to_string()]);
        let rec = topology.node("rec-nrt").expect("rec");
        assert_eq!(rec.upstream, vec!["shield-iad".to_string()]);
        let shield = topology.node("shield-iad").expect("shield");
        assert_eq!(
            shield.upstream.len(),
            2,
            "origin group: primary and secondary"
        );
        assert!(pop.upstream_rtt_ms < 5.0, "NRT PoP to NRT REC is local");
        assert!(
            rec.upstream_rtt_ms > 100.0,
            "Tokyo to Virginia over the backbone"
        );
    }

    #[test]
    fn every_problem_is_listed_with_its_field() {
        let error = Topology::parse(
            "pops = [\"FRA\", \"XXX\", \"FRA\"]\n[origin]\nregion = \"us-east-1\"\nazs = [\"use1-az9\"]\n[shield]\nrec = \"ZZZ\"\n[[load.population]]\nplace = \"Atlantis\"\n",
            "test",
        )
        .unwrap_err();
        let fields: Vec<&str> = error.errors().iter().map(|e| e.field.as_str()).collect();
        for field in [
            "pops[1]",
            "pops[2]",
            "origin.azs[0]",
            "shield.rec",
            "load.population[0].place",
        ] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
    }

    #[test]
    fn the_edge_section_is_validated_up_front_with_edge_field_paths() {
        let error = Topology::parse(
            "pops = [\"FRA\"]\n[edge]\nresponse_timeout = \"0s\"\n[[edge.behaviors]]\ncache_policy = { min_ttl = \"10s\", max_ttl = \"1s\" }\n\
             [[edge.custom_error_responses]]\nerror_code = 418\n[[edge.custom_error_responses]]\nerror_code = 404\nresponse_page_path = \"/404.html\"\n",
            "test",
        )
        .unwrap_err();
        let fields: Vec<&str> = error.errors().iter().map(|e| e.field.as_str()).collect();
        for field in [
            "edge.response_timeout",
            "edge.behaviors[0].path_pattern",
            "edge.behaviors[0].cache_policy.min_ttl",
            "edge.custom_error_responses[0].error_code",
            "edge.custom_error_responses[1].response_code",
        ] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
        let topology = Topology::default_topology();
        let defaults = &topology.cache.pop;
        assert_eq!(
            defaults.capacity_bytes,
            edgelab_edge::config::defaults::CAPACITY_BYTES
        );
        assert_eq!(defaults.upstream.connection_timeout, CONNECTION_TIMEOUT);
        assert_eq!(topology.cache.rec.capacity_bytes, REC_CAPACITY_BYTES);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let error = Topology::parse("popz = [\"FRA\"]\n", "test").unwrap_err();
        assert!(error.to_string().contains("popz"), "{error}");
    }
}

#[cfg(test)]
mod shipped_files {
    //! Every example file the project ships parses and validates.
    use std::path::{Path, PathBuf};

    use super::*;

    fn files(dir: &str) -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
            .map(|entry| entry.expect("dir entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_file_in_config_validates() {
        let files = files("config");
        assert!(
            files.len() >= 5,
            "expected the shipped configs, found {files:?}"
        );
        for path in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let result = match name {
                "origin.toml" => load_toml::<OriginConfig>(&path)
                    .and_then(edgelab_origin::OriginSettings::try_from)
                    .map(|_| ()),
                "edge.toml" => load_toml::<RawEdgeConfig>(&path)
                    .and_then(edgelab_edge::EdgeConfig::try_from)
                    .map(|_| ()),
                _ => Topology::load(&path).map(|_| ()),
            };
            if let Err(errors) = result {
                panic!("{}: {errors}", path.display());
            }
        }
    }

    #[test]
    fn every_scenario_validates() {
        let files = files("loadtest/scenarios");
        assert!(!files.is_empty());
        for path in files {
            let result = load_toml::<RawScenario>(&path).and_then(|raw| {
                edgelab_loadgen::Settings::resolve(raw, &edgelab_loadgen::Overrides::default())
            });
            if let Err(errors) = result {
                panic!("{}: {errors}", path.display());
            }
        }
    }

    #[test]
    fn global_topology_has_a_pop_on_every_continent_and_all_recs() {
        let topology =
            Topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/global.toml"))
                .expect("valid");
        assert!(topology.pops().count() >= 40);
        let caches = topology
            .nodes
            .iter()
            .filter(|n| matches!(n.tier, Layer::Rec | Layer::Shield))
            .count();
        assert_eq!(
            caches, 13,
            "all 13 Regional Edge Caches (one of them the shield)"
        );
    }
}
