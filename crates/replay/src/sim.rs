//! One pass over a trace feeding one cache per capacity, and the report it yields.

use serde::Serialize;

use crate::cache::Eviction;
use crate::policy::{Counts, PolicyCache, PolicyGrid, PolicyLabel, scaled_ms};
use crate::size::format_size;
use crate::tiers::{Router, TierCapacities, TieredReport, simulate_tiers};
use crate::trace::{Request, TraceError};

/// What one cache of one capacity did over the whole trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Cache capacity in bytes.
    pub capacity_bytes: u64,
    /// Requests replayed.
    pub requests: u64,
    /// Requests that missed.
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

/// The result of a replay: one [`Outcome`] per capacity, in the order given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Eviction policy replayed.
    pub eviction: &'static str,
    /// Requests replayed (zero-byte requests excluded).
    pub requests: u64,
    /// Bytes requested.
    pub bytes: u64,
    /// One entry per capacity (empty with `--tiers`: see `tiers`).
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
    let mut caches: Vec<_> = capacities.iter().map(|&c| eviction.build(c)).collect();
    let mut misses = vec![0u64; capacities.len()];
    let mut byte_misses = vec![0u64; capacities.len()];
    let (mut total, mut bytes) = (0u64, 0u64);
    for request in requests {
        let Request { id, size, .. } = request?;
        total += 1;
        bytes += size;
        for (at, cache) in caches.iter_mut().enumerate() {
            if !cache.get(id, size) {
                misses[at] += 1;
                byte_misses[at] += size;
            }
        }
    }
    let results = capacities
        .iter()
        .enumerate()
        .map(|(at, &capacity_bytes)| Outcome {
            capacity_bytes,
            requests: total,
            misses: misses[at],
            bytes,
            byte_misses: byte_misses[at],
            hit_ratio: 1.0 - ratio(misses[at], total),
            byte_hit_ratio: 1.0 - ratio(byte_misses[at], bytes),
            refreshes: None,
            policy: None,
        })
        .collect();
    Ok(Report {
        eviction: eviction.as_str(),
        requests: total,
        bytes,
        results,
        tiers: None,
    })
}

/// Replays `requests` through one cache per capacity and policy of `policies` (the policy
/// varying slowest), streaming; objects expire by the trace's time. Without a policy this is
/// [`simulate`].
pub fn simulate_policies<I>(
    requests: I,
    eviction: Eviction,
    capacities: &[u64],
    policies: &PolicyGrid,
) -> Result<Report, TraceError>
where
    I: IntoIterator<Item = Result<Request, TraceError>>,
{
    if policies.choices.is_empty() {
        return simulate(requests, eviction, capacities);
    }
    let points: Vec<(usize, u64)> = (0..policies.choices.len())
        .flat_map(|choice| capacities.iter().map(move |&c| (choice, c)))
        .collect();
    let mut caches: Vec<PolicyCache> = points
        .iter()
        .map(|&(_, capacity)| PolicyCache::new(eviction.build(capacity)))
        .collect();
    let mut counts = vec![Counts::default(); points.len()];
    let no_headers = http::HeaderMap::new();
    let (mut total, mut bytes) = (0u64, 0u64);
    for request in requests {
        let request = request?;
        total += 1;
        bytes += request.size;
        let now = scaled_ms(request.time, policies.speed);
        for ((cache, count), &(choice, _)) in caches.iter_mut().zip(&mut counts).zip(&points) {
            let choice = &policies.choices[choice];
            let lookup = cache.serve(Some(choice), &request, now, &no_headers);
            count.add(request.size, lookup);
        }
    }
    let results = points
        .iter()
        .zip(counts)
        .map(|(&(choice, capacity_bytes), c)| Outcome {
            capacity_bytes,
            requests: c.requests,
            misses: c.misses,
            bytes: c.bytes,
            byte_misses: c.byte_misses,
            hit_ratio: 1.0 - ratio(c.misses, c.requests),
            byte_hit_ratio: 1.0 - ratio(c.byte_misses, c.bytes),
            refreshes: Some(c.refreshes),
            policy: Some(policies.choices[choice].label()),
        })
        .collect();
    Ok(Report {
        eviction: eviction.as_str(),
        requests: total,
        bytes,
        results,
        tiers: None,
    })
}

/// Replays `requests` through the tiers of `router` at every point of `grid` (see
/// [`crate::tiers`]); the report's `results` are empty, its `tiers` hold the outcome.
pub fn simulate_tiered<I>(
    requests: I,
    eviction: Eviction,
    router: Router,
    grid: Vec<TierCapacities>,
) -> Result<Report, TraceError>
where
    I: IntoIterator<Item = Result<Request, TraceError>>,
{
    simulate_tiered_policies(requests, eviction, router, grid, &PolicyGrid::none())
}

/// As [`simulate_tiered`], at every point of `grid` under every policy of `policies` (the
/// policy varying slowest).
pub fn simulate_tiered_policies<I>(
    requests: I,
    eviction: Eviction,
    router: Router,
    grid: Vec<TierCapacities>,
    policies: &PolicyGrid,
) -> Result<Report, TraceError>
where
    I: IntoIterator<Item = Result<Request, TraceError>>,
{
    let run = simulate_tiers(requests, eviction, router, grid, policies)?;
    Ok(Report {
        eviction: eviction.as_str(),
        requests: run.requests,
        bytes: run.bytes,
        results: Vec::new(),
        tiers: Some(run.report),
    })
}

impl Report {
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
        let mut out = format!(
            "eviction {}, {} requests, {} bytes\n",
            self.eviction, self.requests, self.bytes
        );
        if policies {
            out.push_str(&format!("{:<32} ", "policy"));
        }
        out.push_str(&format!(
            "{:>10} {:>10} {:>10} {:>10} {:>16}",
            "capacity", "misses", "hit", "byte hit", "byte misses"
        ));
        out.push_str(if policies { "  refreshes\n" } else { "\n" });
        for o in &self.results {
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
mod tests {
    use super::*;

    fn trace(items: &[(u64, u64)]) -> Vec<Result<Request, TraceError>> {
        items
            .iter()
            .map(|&(id, size)| {
                Ok(Request {
                    time: 0,
                    id,
                    size,
                    pop: None,
                    class: None,
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
    }

    #[test]
    fn trace_error_stops_the_replay() {
        let mut items = trace(&[(1, 1)]);
        items.push(Err(TraceError::Truncated { offset: 24 }));
        assert!(simulate(items, Eviction::Fifo, &[1]).is_err());
    }
}
