//! The replays a caller asks for (one tier or tiers, with or without cache policies), all
//! run by the one loop of `engine`, and the report they yield: one [`Outcome`] per
//! cache configuration (and per tier with tiers).

use serde::Serialize;

use crate::cache::Eviction;
use crate::engine::{self, Counts, PointSpec};
use crate::policy::{PolicyChoice, PolicyGrid, PolicyLabel};
use crate::size::format_size;
use crate::tiers::{Router, TierCapacities, TieredOutcome, TieredReport};
use crate::trace::{Plain, Request, Trace, TraceError};

/// What one cache configuration did over the whole trace; with tiers, what one tier of a
/// grid point did, summed over its caches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// With tiers: `pop`, `rec` or `shield`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<&'static str>,
    /// With tiers: the caches of this tier that served requests (PoPs, RECs; 1 for the
    /// shield).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caches: Option<usize>,
    /// Eviction policy of this cache.
    pub eviction: &'static str,
    /// Cache capacity in bytes (of each cache of the tier, with tiers).
    pub capacity_bytes: u64,
    /// Requests replayed (that reached the tier, with tiers).
    pub requests: u64,
    /// Requests that missed (the next tier's or the origin's requests).
    pub misses: u64,
    /// Bytes requested.
    pub bytes: u64,
    /// Bytes of the requests that missed (what the next tier or the origin serves).
    pub byte_misses: u64,
    /// `1 - misses / requests`.
    pub hit_ratio: f64,
    /// `1 - byte_misses / bytes`.
    pub byte_hit_ratio: f64,
    /// With a policy: the misses that revalidated an expired copy (no body moved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refreshes: Option<u64>,
    /// With a policy: which one (preset and TTLs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyLabel>,
}

impl Outcome {
    /// The outcome of a cache (or tier) of `capacity_bytes` at the point `spec` from its
    /// counts.
    pub(crate) fn new(spec: &PointSpec<'_>, capacity_bytes: u64, counts: &Counts) -> Self {
        Outcome {
            tier: None,
            caches: None,
            eviction: spec.eviction.as_str(),
            capacity_bytes,
            requests: counts.requests,
            misses: counts.misses,
            bytes: counts.bytes,
            byte_misses: counts.byte_misses,
            hit_ratio: 1.0 - ratio(counts.misses, counts.requests),
            byte_hit_ratio: 1.0 - ratio(counts.byte_misses, counts.bytes),
            refreshes: spec.policy.map(|_| counts.refreshes),
            policy: spec.policy.map(PolicyChoice::label),
        }
    }
}

/// The result of a replay: one [`Outcome`] per eviction policy, cache policy and capacity,
/// in the order given (eviction varying slowest, capacity fastest).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Eviction policies replayed, comma-separated (`lru`, or `lru,fifo` for several).
    pub eviction: String,
    /// Requests replayed (zero-byte requests excluded).
    pub requests: u64,
    /// Distinct objects requested.
    pub objects: u64,
    /// Bytes requested.
    pub bytes: u64,
    /// One entry per eviction policy, cache policy and capacity (empty with `--tiers`: see
    /// `tiers`).
    pub results: Vec<Outcome>,
    /// With `--tiers`: the tiers, the PoPs and their RECs, one entry per grid point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiers: Option<TieredReport>,
}

pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Counts below 2^53 convert exactly.
        part as f64 / whole as f64
    }
}

/// Replays `requests` through one cache of each capacity with `eviction`, streaming.
pub fn simulate<I>(
    requests: I,
    eviction: Eviction,
    capacities: &[u64],
) -> Result<Report, TraceError>
where
    I: IntoIterator<Item = Result<Request, TraceError>>,
{
    simulate_choices(requests, &[eviction], capacities)
}

/// The comma-separated names of `evictions`.
fn eviction_names(evictions: &[Eviction]) -> String {
    let names: Vec<&str> = evictions.iter().map(|e| e.as_str()).collect();
    names.join(",")
}

/// Replays `requests` through one cache per eviction policy and capacity (every pair), in
/// one streaming pass; nothing expires. Every cache shares one object index.
pub fn simulate_choices<I>(
    requests: I,
    evictions: &[Eviction],
    capacities: &[u64],
) -> Result<Report, TraceError>
where
    I: IntoIterator<Item = Result<Request, TraceError>>,
{
    let requests = Plain(requests.into_iter());
    simulate_policies(requests, evictions, capacities, &PolicyGrid::none())
}

/// Every point of a grid, eviction varying slowest, then the cache policy, then `inner`
/// (capacities, or tier grid points) fastest.
fn points<'p, T>(
    evictions: &[Eviction],
    policies: &'p PolicyGrid,
    inner: &[T],
    capacities: impl Fn(&T) -> [u64; 3],
) -> Vec<PointSpec<'p>> {
    let mut points = Vec::new();
    for &eviction in evictions {
        for policy in policies.points() {
            for item in inner {
                points.push(PointSpec {
                    eviction,
                    policy,
                    capacities: capacities(item),
                });
            }
        }
    }
    points
}

/// Replays `requests` through one cache per eviction policy, cache policy of `policies` and
/// capacity (eviction varying slowest, capacity fastest), in one streaming pass; with cache
/// policies, objects expire by the trace's time, and a cache key that keeps query strings
/// reads them from `requests`.
pub fn simulate_policies<I>(
    requests: I,
    evictions: &[Eviction],
    capacities: &[u64],
    policies: &PolicyGrid,
) -> Result<Report, TraceError>
where
    I: IntoIterator<IntoIter: Trace>,
{
    let specs = points(evictions, policies, capacities, |&c| [c, 0, 0]);
    let run = engine::run(requests.into_iter(), &specs, None, policies.speed)?;
    let results = specs
        .iter()
        .zip(&run.points)
        .map(|(spec, counts)| Outcome::new(spec, spec.capacities[0], &counts.tiers[0]))
        .collect();
    Ok(Report {
        eviction: eviction_names(evictions),
        requests: run.requests,
        objects: run.objects,
        bytes: run.bytes,
        results,
        tiers: None,
    })
}

/// Replays `requests` through the tiers of `router` at every point of `grid` with each of
/// `evictions` (see [`crate::tiers`]); the report's `results` are empty, its `tiers` hold
/// the outcome.
pub fn simulate_tiered<I>(
    requests: I,
    evictions: &[Eviction],
    router: Router,
    grid: Vec<TierCapacities>,
) -> Result<Report, TraceError>
where
    I: IntoIterator<Item = Result<Request, TraceError>>,
{
    let requests = Plain(requests.into_iter());
    simulate_tiered_policies(requests, evictions, router, grid, &PolicyGrid::none())
}

/// As [`simulate_tiered`], at every point of `grid` under every policy of `policies` (the
/// policy varying slower than the grid, the eviction slowest).
pub fn simulate_tiered_policies<I>(
    requests: I,
    evictions: &[Eviction],
    mut router: Router,
    grid: Vec<TierCapacities>,
    policies: &PolicyGrid,
) -> Result<Report, TraceError>
where
    I: IntoIterator<IntoIter: Trace>,
{
    let specs = points(evictions, policies, &grid, TierCapacities::per_tier);
    let run = engine::run(
        requests.into_iter(),
        &specs,
        Some(&mut router),
        policies.speed,
    )?;
    let results = specs
        .iter()
        .zip(grid.iter().cycle())
        .zip(&run.points)
        .map(|((spec, capacities), counts)| {
            TieredOutcome::new(router.tiers(), spec, capacities, counts, &run)
        })
        .collect();
    Ok(Report {
        eviction: eviction_names(evictions),
        requests: run.requests,
        objects: run.objects,
        bytes: run.bytes,
        results: Vec::new(),
        tiers: Some(router.report(results)),
    })
}

/// A rate per second as a table shows it: millions with two decimals, plain below 10,000.
fn per_second(count: f64, seconds: f64) -> String {
    let rate = count / seconds;
    if rate >= 1e4 {
        format!("{:.2} M ", rate / 1e6)
    } else {
        format!("{rate:.0} ")
    }
}

impl Report {
    /// Cache configurations replayed: one per entry of `results`, or per tiered grid point.
    pub fn configurations(&self) -> usize {
        self.results.len() + self.tiers.as_ref().map_or(0, |t| t.results.len())
    }

    /// How long the replay took and its rates, for the end of the table and the HTML page:
    /// `replayed in 22.8 ms: 4.99 M requests/s × 8 cache configuration(s) = 39.93 M/s`.
    pub fn timing(&self, elapsed: std::time::Duration) -> String {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let caches = self.configurations();
        let requests = self.requests as f64;
        format!(
            "replayed in {:.1} ms: {}requests/s × {caches} cache configuration(s) = {}/s",
            seconds * 1e3,
            per_second(requests, seconds),
            per_second(requests * caches as f64, seconds).trim_end()
        )
    }
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        // A struct of numbers and strings always serialises.
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// The report as a terminal table, one row per capacity (per tier and grid point with
    /// tiers).
    pub fn table(&self) -> String {
        if let Some(tiers) = &self.tiers {
            return format!(
                "eviction {}, {} requests, {} bytes\n{}",
                self.eviction,
                self.requests,
                self.bytes,
                tiers.table()
            );
        }
        let policies = self.results.iter().any(|o| o.policy.is_some());
        let several = self.eviction.contains(',');
        let mut out = format!(
            "eviction {}, {} requests, {} bytes\n",
            self.eviction, self.requests, self.bytes
        );
        if several {
            out.push_str(&format!("{:>10} ", "eviction"));
        }
        if policies {
            out.push_str(&format!("{:<32} ", "policy"));
        }
        out.push_str(&format!(
            "{:>10} {:>10} {:>10} {:>10} {:>16}",
            "capacity", "misses", "hit", "byte hit", "byte misses"
        ));
        out.push_str(if policies { "  refreshes\n" } else { "\n" });
        for o in &self.results {
            if several {
                out.push_str(&format!("{:>10} ", o.eviction));
            }
            if let Some(policy) = &o.policy {
                out.push_str(&format!("{:<32} ", policy.name));
            }
            out.push_str(&format!(
                "{:>10} {:>10} {:>9.2}% {:>9.2}% {:>16}",
                format_size(o.capacity_bytes),
                o.misses,
                o.hit_ratio * 100.0,
                o.byte_hit_ratio * 100.0,
                o.byte_misses
            ));
            match o.refreshes {
                Some(refreshes) => out.push_str(&format!(" {refreshes:>10}\n")),
                None => out.push('\n'),
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A trace of `(id, size)` requests at time 0 with no PoP or class.
    pub(crate) fn trace(items: &[(u64, u64)]) -> Vec<Result<Request, TraceError>> {
        items
            .iter()
            .map(|&(id, size)| {
                Ok(Request {
                    time: 0,
                    id,
                    size,
                    ..Request::default()
                })
            })
            .collect()
    }

    #[test]
    fn one_pass_feeds_every_capacity() {
        let items = [(1, 10), (2, 10), (1, 10), (3, 10), (1, 10), (2, 10)];
        let report = simulate(trace(&items), Eviction::Lru, &[10, 20, 30]).unwrap();
        let misses: Vec<u64> = report.results.iter().map(|o| o.misses).collect();
        assert_eq!(misses, [6, 4, 3]);
        assert_eq!(report.results[2].byte_misses, 30);
        assert_eq!(report.requests, 6);
        assert!((report.results[2].hit_ratio - 0.5).abs() < 1e-12);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["results"][1]["capacity_bytes"], 20);
        assert_eq!(json["results"][1]["misses"], 4);
        assert!(report.table().contains("20B"));
        let timing = report.timing(std::time::Duration::from_millis(2));
        assert_eq!(
            timing,
            "replayed in 2.0 ms: 3000 requests/s × 3 cache configuration(s) = 9000/s"
        );
        let fast = report.timing(std::time::Duration::from_micros(1));
        assert!(
            fast.ends_with("6.00 M requests/s × 3 cache configuration(s) = 18.00 M/s"),
            "{fast}"
        );
    }

    #[test]
    fn query_strings_in_the_key_split_objects_and_caching_optimized_keeps_them_one() {
        use crate::policy::tests::choice;
        use edgelab_policy::Selection;
        let queries = [
            Some("v=1"),
            Some("v=2"),
            Some("v=1"),
            Some("v=2"),
            Some("x=1"),
            None,
        ];
        let trace: crate::trace::Queried = queries
            .iter()
            .enumerate()
            .map(|(at, query)| {
                let request = Request {
                    time: at as u64,
                    id: 7,
                    size: 10,
                    class: Some(edgelab_wire::Class::Img),
                    ..Request::default()
                };
                (request, query.map(str::to_owned))
            })
            .collect();
        let optimized = || choice("CachingOptimized", [None; 3]);
        let only_v = Selection::Only(vec!["v".into()]);
        let policies = PolicyGrid {
            choices: vec![
                optimized(),
                optimized().keyed_on(only_v),
                optimized().keyed_on(Selection::All),
            ],
            speed: 1.0,
        };
        let report = simulate_policies(trace, &[Eviction::Lru], &[1000], &policies).unwrap();
        let misses: Vec<u64> = report.results.iter().map(|o| o.misses).collect();
        // Keyed on v: v=1, v=2 and the path alone (x=1 is not kept; the last request hits it).
        assert_eq!(misses, [1, 3, 4]);
        assert_eq!(report.objects, 1, "distinct paths");
    }

    #[test]
    fn trace_error_stops_the_replay() {
        let mut items = trace(&[(1, 1)]);
        items.push(Err(TraceError::Truncated { offset: 24 }));
        assert!(simulate(items, Eviction::Fifo, &[1]).is_err());
    }
}
