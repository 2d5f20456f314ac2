//! CloudFront's cache tiers over a trace: PoPs → Regional Edge Caches → Origin Shield.
//!
//! Each request is served by the PoP its log line names (`x-edge-location`, `FRA56-P1` →
//! `FRA`), or by one PoP when the trace names none. A PoP's misses go to its REC, the one the
//! planner gives it (`edgelab_geo::CdnLayout::upstream_chain`: the nearest REC over the
//! backbone, skipped when that REC is the shield), the RECs' misses to the shield, the
//! shield's to the origin. Every PoP and every REC is its own cache of the tier's capacity;
//! the grid is the cartesian product of the capacities given per tier.

use std::collections::BTreeMap;
use std::str::FromStr;

use edgelab_geo::planner::Stop;
use edgelab_geo::{CdnLayout, Coordinates, Failures, LatencyModel, Pop, Topology, choose_shield};
use foldhash::HashMap;
use serde::Serialize;

use crate::engine::{PointCounts, PointSpec, Run};
use crate::policy::{PolicyChoice, PolicyLabel};
use crate::sim::{Outcome, ratio};
use crate::size::{format_size, parse_size};

/// A cache tier of the distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Edge locations (PoPs), where viewers arrive.
    Pop,
    /// Regional Edge Caches.
    Rec,
    /// The Origin Shield.
    Shield,
}

impl Tier {
    /// Every tier, viewer side first.
    pub const ALL: [Tier; 3] = [Tier::Pop, Tier::Rec, Tier::Shield];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Pop => "pop",
            Tier::Rec => "rec",
            Tier::Shield => "shield",
        }
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|tier| tier.as_str() == text)
            .ok_or_else(|| format!("unknown tier `{text}` (pop, rec, shield)"))
    }
}

/// The tiers simulated: always PoPs, optionally RECs and the shield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierSet {
    /// RECs between the PoPs and the shield (or the origin).
    pub rec: bool,
    /// An Origin Shield in front of the origin.
    pub shield: bool,
}

impl TierSet {
    /// The tiers in request order.
    pub fn tiers(self) -> Vec<Tier> {
        let mut tiers = vec![Tier::Pop];
        if self.rec {
            tiers.push(Tier::Rec);
        }
        if self.shield {
            tiers.push(Tier::Shield);
        }
        tiers
    }
}

impl FromStr for TierSet {
    type Err = String;
    /// `pop`, `pop,rec`, `pop,shield` or `pop,rec,shield`, in that order.
    fn from_str(text: &str) -> Result<Self, String> {
        let tiers = text
            .split(',')
            .map(|t| t.trim().parse::<Tier>())
            .collect::<Result<Vec<_>, _>>()?;
        let ordered = tiers.windows(2).all(|pair| pair[0] < pair[1]);
        if tiers.first() != Some(&Tier::Pop) || !ordered {
            return Err(format!(
                "tiers `{text}`: pop first, then rec and/or shield, each once, in that order"
            ));
        }
        Ok(TierSet {
            rec: tiers.contains(&Tier::Rec),
            shield: tiers.contains(&Tier::Shield),
        })
    }
}

/// One `--capacity` item: a size, or `TIER=SIZE` with `--tiers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityItem {
    /// The tier it sizes (`None`: a plain size, one tier).
    pub tier: Option<Tier>,
    /// Capacity of each cache of that tier, in bytes.
    pub bytes: u64,
}

impl FromStr for CapacityItem {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('=') {
            Some((tier, size)) => Ok(CapacityItem {
                tier: Some(tier.trim().parse()?),
                bytes: parse_size(size)?,
            }),
            None => Ok(CapacityItem {
                tier: None,
                bytes: parse_size(text)?,
            }),
        }
    }
}

/// The capacity of each tier for one point of the grid (bytes per cache).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierCapacities(pub BTreeMap<&'static str, u64>);

impl TierCapacities {
    /// The capacities indexed by [`Tier`] (0 for a tier not given).
    pub(crate) fn per_tier(&self) -> [u64; 3] {
        Tier::ALL.map(|tier| self.0.get(tier.as_str()).copied().unwrap_or(0))
    }
}

/// The grid of per-tier capacities: every combination of the sizes given for each tier,
/// the PoP's varying slowest. Every item must name a tier of `tiers`, and every tier needs
/// at least one size.
pub fn capacity_grid(
    tiers: TierSet,
    items: &[CapacityItem],
) -> Result<Vec<TierCapacities>, String> {
    let mut per_tier: Vec<(Tier, Vec<u64>)> =
        tiers.tiers().into_iter().map(|t| (t, Vec::new())).collect();
    for item in items {
        let Some(tier) = item.tier else {
            return Err(format!(
                "with --tiers, name the tier of each capacity (e.g. pop={})",
                format_size(item.bytes)
            ));
        };
        let Some((_, sizes)) = per_tier.iter_mut().find(|(t, _)| *t == tier) else {
            return Err(format!(
                "capacity for `{}`, which is not in --tiers",
                tier.as_str()
            ));
        };
        sizes.push(item.bytes);
    }
    if let Some((tier, _)) = per_tier.iter().find(|(_, sizes)| sizes.is_empty()) {
        return Err(format!(
            "no capacity for tier `{}` (e.g. {}=1GiB)",
            tier.as_str(),
            tier.as_str()
        ));
    }
    let mut grid = vec![BTreeMap::new()];
    for (tier, sizes) in &per_tier {
        grid = grid
            .into_iter()
            .flat_map(|point| {
                sizes.iter().map(move |&bytes| {
                    let mut point = point.clone();
                    point.insert(tier.as_str(), bytes);
                    point
                })
            })
            .collect();
    }
    Ok(grid.into_iter().map(TierCapacities).collect())
}

/// Where the PoP of requests without a known edge location is named in reports.
pub const UNPLACED: &str = "-";

/// Which PoP serves a request and which REC that PoP uses, decided once per distinct PoP.
pub struct Router {
    tiers: TierSet,
    recs: Vec<&'static Pop>,
    shield: Option<&'static Pop>,
    model: LatencyModel,
    pop_index: HashMap<Option<[u8; 3]>, usize>,
    /// Per PoP: its name and the index of its REC (`None`: no REC tier, or its REC is the
    /// shield).
    routes: Vec<(String, Option<usize>)>,
    rec_names: Vec<String>,
}

impl Router {
    /// A router over the embedded topology's RECs; with a shield, the REC nearest `origin`.
    pub fn new(tiers: TierSet, origin: Coordinates) -> Self {
        let topology = Topology::embedded();
        let recs: Vec<&'static Pop> = topology.recs().collect();
        let model = LatencyModel::default();
        let shield = tiers
            .shield
            .then(|| choose_shield(origin, &recs, &model))
            .flatten();
        Router {
            tiers,
            recs,
            shield,
            model,
            pop_index: HashMap::default(),
            routes: Vec::new(),
            rec_names: Vec::new(),
        }
    }

    /// The shield's REC code, when the shield tier is on.
    pub fn shield(&self) -> Option<&str> {
        self.shield.map(|s| s.code.as_str())
    }

    /// The tiers routed through.
    pub fn tiers(&self) -> TierSet {
        self.tiers
    }

    /// The tiered report of a replay through this router, with its grid points' outcomes.
    pub(crate) fn report(&self, results: Vec<TieredOutcome>) -> TieredReport {
        TieredReport {
            tiers: self.tiers.tiers().iter().map(|t| t.as_str()).collect(),
            shield: self.shield().map(str::to_owned),
            routes: self.routes(),
            results,
        }
    }

    fn rec_slot(&mut self, name: String) -> usize {
        match self.rec_names.iter().position(|n| *n == name) {
            Some(at) => at,
            None => {
                self.rec_names.push(name);
                self.rec_names.len() - 1
            }
        }
    }

    /// The REC a PoP's misses go to, by the planner's chain; unplaced PoPs share one REC.
    fn rec_of(&mut self, pop: Option<&'static Pop>) -> Option<usize> {
        if !self.tiers.rec {
            return None;
        }
        let Some(pop) = pop else {
            return Some(self.rec_slot(UNPLACED.to_owned()));
        };
        let layout = CdnLayout {
            pops: vec![pop],
            recs: self.recs.clone(),
            shield: self.shield,
            origin: pop.coordinates,
        };
        let chain = layout.upstream_chain(pop, &Failures::none(), &self.model);
        let rec = chain.iter().find_map(|hop| match hop.to {
            Stop::Rec(rec) => Some(rec.code.clone()),
            _ => None,
        })?;
        Some(self.rec_slot(rec))
    }

    /// The PoP index and REC index of a request from the edge location `code`.
    pub fn route(&mut self, code: Option<[u8; 3]>) -> (usize, Option<usize>) {
        if let Some(&at) = self.pop_index.get(&code) {
            return (at, self.routes[at].1);
        }
        let name = code.map(|c| String::from_utf8_lossy(&c).into_owned());
        let pop = name
            .as_deref()
            .and_then(|n| Topology::embedded().pop(n))
            .filter(|p| !p.is_rec());
        let rec = self.rec_of(pop);
        let at = self.routes.len();
        self.routes
            .push((name.unwrap_or_else(|| UNPLACED.to_owned()), rec));
        self.pop_index.insert(code, at);
        (at, rec)
    }

    /// Every PoP seen and where its misses went.
    pub fn routes(&self) -> Vec<Route> {
        self.routes
            .iter()
            .map(|(pop, rec)| Route {
                pop: pop.clone(),
                rec: rec.map(|at| self.rec_names[at].clone()),
            })
            .collect()
    }
}

/// A PoP of the trace and its REC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// IATA code of the PoP (`-`: the trace names none, or not a CloudFront edge).
    pub pop: String,
    /// IATA code of its REC (`None`: no REC tier, or its nearest REC is the shield).
    pub rec: Option<String>,
}

/// One grid point of a tiered replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TieredOutcome {
    /// Eviction policy of every cache at this point.
    pub eviction: &'static str,
    /// With a policy: which one (preset and TTLs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyLabel>,
    /// Capacity per cache of each tier, in bytes.
    pub capacities: TierCapacities,
    /// One entry per tier, viewer side first (`tier` and `caches` set).
    pub tiers: Vec<Outcome>,
    /// Requests that reached the origin (revalidations included).
    pub origin_requests: u64,
    /// Bytes the origin served (a revalidation carries none).
    pub origin_bytes: u64,
    /// `1 - origin_requests / requests`: the share of requests the CDN kept from the origin.
    pub offload: f64,
    /// `1 - origin_bytes / bytes`.
    pub byte_offload: f64,
}

/// The tiered part of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TieredReport {
    /// The tiers simulated, viewer side first.
    pub tiers: Vec<&'static str>,
    /// The REC chosen as Origin Shield (nearest the origin), when the shield tier is on.
    pub shield: Option<String>,
    /// Every PoP of the trace and its REC.
    pub routes: Vec<Route>,
    /// One entry per point of the capacity grid.
    pub results: Vec<TieredOutcome>,
}

impl TieredOutcome {
    /// The outcome of the grid point `spec` (capacities `capacities`) over tiers `tiers`
    /// from its counts, out of the run's requests and bytes.
    pub(crate) fn new(
        tiers: TierSet,
        spec: &PointSpec<'_>,
        capacities: &TierCapacities,
        counts: &PointCounts,
        run: &Run,
    ) -> Self {
        let tier_outcomes = tiers
            .tiers()
            .into_iter()
            .map(|tier| {
                let at = tier as usize;
                Outcome {
                    tier: Some(tier.as_str()),
                    caches: Some(counts.caches[at]),
                    ..Outcome::new(spec, spec.capacities[at], &counts.tiers[at])
                }
            })
            .collect();
        let origin = counts.origin;
        TieredOutcome {
            eviction: spec.eviction.as_str(),
            policy: spec.policy.map(PolicyChoice::label),
            capacities: capacities.clone(),
            tiers: tier_outcomes,
            origin_requests: origin.misses,
            origin_bytes: origin.byte_misses,
            offload: 1.0 - ratio(origin.misses, run.requests),
            byte_offload: 1.0 - ratio(origin.byte_misses, run.bytes),
        }
    }
}

impl TieredReport {
    /// The tiered results as a terminal table, one row per grid point and tier.
    pub fn table(&self) -> String {
        let refreshes = self.results.iter().any(|p| p.policy.is_some());
        let mut out = format!(
            "tiers {}{}\n{:>8} {:>10} {:>7} {:>10} {:>10} {:>10} {:>10}{}\n",
            self.tiers.join(" → "),
            self.shield
                .as_deref()
                .map(|s| format!(" (shield {s})"))
                .unwrap_or_default(),
            "tier",
            "capacity",
            "caches",
            "requests",
            "misses",
            "hit",
            "byte hit",
            if refreshes { "  refreshes" } else { "" }
        );
        let several = self
            .results
            .iter()
            .any(|p| p.eviction != self.results[0].eviction);
        for point in &self.results {
            if several {
                out.push_str(&format!("eviction {}\n", point.eviction));
            }
            if let Some(policy) = &point.policy {
                out.push_str(&format!("policy {}\n", policy.name));
            }
            for t in &point.tiers {
                out.push_str(&format!(
                    "{:>8} {:>10} {:>7} {:>10} {:>10} {:>9.2}% {:>9.2}%",
                    t.tier.unwrap_or_default(),
                    format_size(t.capacity_bytes),
                    t.caches.unwrap_or_default(),
                    t.requests,
                    t.misses,
                    t.hit_ratio * 100.0,
                    t.byte_hit_ratio * 100.0
                ));
                match t.refreshes {
                    Some(count) => out.push_str(&format!(" {count:>10}\n")),
                    None => out.push('\n'),
                }
            }
            out.push_str(&format!(
                "{:>8} {:>10} {:>7} {:>10} {:>10} offload {:.2}%, byte offload {:.2}%\n",
                "origin",
                "",
                "",
                point.origin_requests,
                "",
                point.offload * 100.0,
                point.byte_offload * 100.0
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Eviction;
    use crate::policy::PolicyGrid;
    use crate::trace::{Request, TraceError};

    /// The tiered report of `trace` through `router` at `grid`.
    fn tiered(
        trace: impl IntoIterator<Item = Result<Request, TraceError>>,
        router: Router,
        grid: Vec<TierCapacities>,
        policies: &PolicyGrid,
    ) -> TieredReport {
        let trace = crate::trace::Plain(trace.into_iter());
        crate::simulate_tiered_policies(trace, &[Eviction::Lru], router, grid, policies)
            .unwrap()
            .tiers
            .expect("a tiered report")
    }

    fn at(pop: Option<&str>, id: u64, size: u64) -> Result<Request, TraceError> {
        let pop = pop.map(|p| {
            let mut code = [0u8; 3];
            code.copy_from_slice(p.as_bytes());
            code
        });
        Ok(Request {
            time: 0,
            id,
            size,
            pop,
            ..Request::default()
        })
    }

    fn virginia() -> Coordinates {
        Topology::embedded()
            .resolve("us-east-1")
            .unwrap()
            .coordinates()
    }

    #[test]
    fn tier_sets_parse_in_order_only() {
        assert_eq!(
            "pop,rec,shield".parse(),
            Ok(TierSet {
                rec: true,
                shield: true
            })
        );
        assert_eq!(
            "pop,shield".parse(),
            Ok(TierSet {
                rec: false,
                shield: true
            })
        );
        assert!("rec,pop".parse::<TierSet>().is_err());
        assert!("pop,pop".parse::<TierSet>().is_err());
        assert!("pop,edge".parse::<TierSet>().is_err());
    }

    #[test]
    fn capacity_grid_is_the_product_per_tier() {
        let items: Vec<CapacityItem> = ["pop=1KiB", "pop=2KiB", "rec=1MiB", "shield=4MiB"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let grid = capacity_grid("pop,rec,shield".parse().unwrap(), &items).unwrap();
        assert_eq!(grid.len(), 2);
        assert_eq!(grid[1].0["pop"], 2048);
        assert_eq!(grid[1].0["shield"], 4 << 20);
        let tiers: TierSet = "pop,rec".parse().unwrap();
        assert!(capacity_grid(tiers, &items).unwrap_err().contains("shield"));
        assert!(
            capacity_grid(tiers, &items[..2])
                .unwrap_err()
                .contains("rec")
        );
        let bare = ["1KiB".parse().unwrap()];
        assert!(
            capacity_grid(tiers, &bare)
                .unwrap_err()
                .contains("pop=1KiB")
        );
    }

    #[test]
    fn pops_miss_to_their_planner_rec_and_recs_to_the_shield() {
        let tiers: TierSet = "pop,rec,shield".parse().unwrap();
        let mut router = Router::new(tiers, virginia());
        // FRA and MUC share the Frankfurt REC; a request at MUC for what FRA fetched is a
        // REC hit; one at SYD goes through another REC and is a shield hit.
        let trace = vec![
            at(Some("FRA"), 1, 10),
            at(Some("MUC"), 1, 10),
            at(Some("SYD"), 1, 10),
            at(Some("FRA"), 1, 10),
        ];
        let (fra, fra_rec) = router.route(Some(*b"FRA"));
        let (_, muc_rec) = router.route(Some(*b"MUC"));
        assert_eq!(fra, 0);
        assert_eq!(fra_rec, muc_rec);
        let grid = capacity_grid(
            tiers,
            &[
                "pop=1KiB".parse().unwrap(),
                "rec=1KiB".parse().unwrap(),
                "shield=1KiB".parse().unwrap(),
            ],
        )
        .unwrap();
        let report = tiered(trace, router, grid, &PolicyGrid::none());
        let point = &report.results[0];
        let misses: Vec<u64> = point.tiers.iter().map(|t| t.misses).collect();
        let requests: Vec<u64> = point.tiers.iter().map(|t| t.requests).collect();
        assert_eq!(requests, [4, 3, 2], "{:?}", report.routes);
        assert_eq!(misses, [3, 2, 1]);
        assert_eq!(point.origin_requests, 1);
        assert!((point.offload - 0.75).abs() < 1e-12);
        assert_eq!(point.tiers[0].caches, Some(3));
        assert_eq!(report.shield.as_deref(), Some("IAD"));
        assert!(report.table().contains("offload 75.00%"));
    }

    #[test]
    fn an_expired_copy_is_revalidated_through_every_tier_without_bytes() {
        let tiers: TierSet = "pop,rec,shield".parse().unwrap();
        let router = Router::new(tiers, virginia());
        let s = std::time::Duration::from_secs;
        let policies = PolicyGrid {
            choices: crate::policy_grid(&[], &[s(0)], &[s(5)], &[s(5)]).unwrap(),
            speed: 1.0,
        };
        // An image at FRA at 0 s (filled everywhere), 2 s (a PoP hit), 20 s (expired at
        // every tier: revalidated up to the origin), 21 s (fresh again at the PoP).
        let trace = [0, 2, 20, 21].map(|time| {
            Ok(Request {
                time,
                id: 1,
                size: 100,
                pop: Some(*b"FRA"),
                class: Some(edgelab_wire::Class::Img),
            })
        });
        let grid = capacity_grid(
            tiers,
            &["pop=1KiB", "rec=1KiB", "shield=1KiB"].map(|c| c.parse().unwrap()),
        )
        .unwrap();
        let report = tiered(trace, router, grid, &policies);
        let point = &report.results[0];
        let refreshes: Vec<Option<u64>> = point.tiers.iter().map(|t| t.refreshes).collect();
        let misses: Vec<u64> = point.tiers.iter().map(|t| t.misses).collect();
        assert_eq!(refreshes, [Some(1), Some(1), Some(1)]);
        assert_eq!(misses, [2, 2, 2]);
        assert_eq!((point.origin_requests, point.origin_bytes), (2, 100));
        assert_eq!(point.tiers[0].byte_misses, 100, "a refresh moves no body");
        assert!(point.policy.is_some());
        assert!(report.table().contains("refreshes"));
    }

    #[test]
    fn a_trace_without_locations_is_one_pop_and_pop_only_equals_one_tier() {
        let items = [(1, 10), (2, 10), (1, 10), (3, 10), (1, 10), (2, 10)];
        let trace = || items.iter().map(|&(id, size)| at(None, id, size));
        let tiers: TierSet = "pop".parse().unwrap();
        let grid = capacity_grid(tiers, &["pop=20B".parse().unwrap()]).unwrap();
        let router = Router::new(tiers, virginia());
        let report = tiered(trace(), router, grid, &PolicyGrid::none());
        let one = crate::simulate(trace(), Eviction::Lru, &[20]).unwrap();
        assert_eq!(report.results[0].tiers[0].misses, one.results[0].misses);
        assert_eq!(report.results[0].origin_requests, one.results[0].misses);
        assert_eq!(
            report.routes,
            [Route {
                pop: UNPLACED.into(),
                rec: None
            }]
        );
    }
}
