//! The live view of a running cluster: what the control port's `GET /` page shows and its
//! `GET /status` JSON carries.
//!
//! Every node of a loopback cluster runs in this process with its own metrics registry, so
//! the counters are read from the registries directly ([`counters`]), not scraped through
//! sockets. Rates come from counter deltas: a [`Sampler`] keeps the previous reading and,
//! once at least [`MIN_WINDOW`] has passed, turns the difference into requests per second
//! and a hit ratio over that window ([`rates`]). Readings are taken when the status is asked
//! for (no background task), so nothing runs while nobody looks; several viewers share one
//! window.
//!
//! A node's hit ratio counts what `X-Cache` would call a hit (`Hit`, which includes stale
//! answers, and `RefreshHit`) over all the requests the node answered in the window. A
//! window without traffic has no ratio; the page then shows the ratio since the node
//! started ([`NodeCounters::hit_ratio`]), labelled as such.

use std::time::Duration;

use edgelab_common::names::metric;
use edgelab_edge::metrics::CacheStatus;
use edgelab_wire::XCache;
use prometheus::Registry;
use serde::Serialize;
use tokio::time::Instant;

use crate::cluster::NodeInfo;

/// The page served at `GET /` of the control port (inline CSS and JS, no external assets).
pub const PAGE: &str = include_str!("live.html");

/// Shortest window a rate is computed over; readings closer together reuse the last rates.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);

/// Counter totals of one node since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Requests answered.
    pub requests: u64,
    /// Requests answered from the cache (`Hit`, stale, `RefreshHit`); 0 for an origin.
    pub hits: u64,
    /// Requests answered with an error (`Error from cloudfront`, or an origin's 5xx).
    pub errors: u64,
}

impl NodeCounters {
    /// Hits over requests since the node started; `None` before its first request.
    pub fn hit_ratio(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.hits as f64 / self.requests as f64)
    }
}

/// Rates of one node over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Requests per second.
    pub requests_per_s: f64,
    /// Errors per second.
    pub errors_per_s: f64,
    /// Hits over requests in the window; `None` when the window had no request.
    pub hit_ratio: Option<f64>,
}

/// Reads a node's counters from its registry: the edge request counter by cache status, or
/// the origin request counter by status class.
pub fn counters(registry: &Registry) -> NodeCounters {
    let mut out = NodeCounters::default();
    for family in registry.gather() {
        let edge = family.name() == metric::EDGE_REQUESTS_TOTAL;
        let origin = family.name() == metric::ORIGIN_REQUESTS_TOTAL;
        if !edge && !origin {
            continue;
        }
        for sample in family.get_metric() {
            // Counters are whole numbers kept as f64.
            let value = sample.get_counter().get_value() as u64;
            let label = |name: &str| {
                sample
                    .get_label()
                    .iter()
                    .find(|pair| pair.name() == name)
                    .map(|pair| pair.value().to_string())
                    .unwrap_or_default()
            };
            out.requests += value;
            if edge {
                let status = label("cache_status");
                let status = CacheStatus::ALL.iter().find(|s| s.as_str() == status);
                match status.map(|s| s.as_x_cache()) {
                    Some(XCache::Hit | XCache::RefreshHit) => out.hits += value,
                    Some(XCache::Error) => out.errors += value,
                    _ => {}
                }
            } else if label("status_class") == "5xx" {
                out.errors += value;
            }
        }
    }
    out
}

/// Rates between two readings `window` apart (counters never go down; a smaller reading
/// counts as no change).
pub fn rates(before: &NodeCounters, after: &NodeCounters, window: Duration) -> Rates {
    let seconds = window.as_secs_f64();
    if seconds <= 0.0 {
        return Rates::default();
    }
    let requests = after.requests.saturating_sub(before.requests);
    let hits = after.hits.saturating_sub(before.hits);
    let errors = after.errors.saturating_sub(before.errors);
    Rates {
        requests_per_s: requests as f64 / seconds,
        errors_per_s: errors as f64 / seconds,
        hit_ratio: (requests > 0).then(|| hits as f64 / requests as f64),
    }
}

/// The previous reading and the rates computed from it.
#[derive(Debug, Default)]
pub struct Sampler {
    last: Option<(Instant, Vec<NodeCounters>)>,
    window: Duration,
    rates: Vec<Rates>,
}

impl Sampler {
    /// Takes the reading `counters` at `now`: when [`MIN_WINDOW`] has passed since the
    /// previous reading, the rates over that window replace the last ones. Returns the
    /// current rates (one per node, in the order of `counters`) and their window (zero
    /// before the first window closed).
    pub fn observe(&mut self, now: Instant, counters: Vec<NodeCounters>) -> (Duration, &[Rates]) {
        match &self.last {
            None => {
                self.rates = vec![Rates::default(); counters.len()];
                self.last = Some((now, counters));
            }
            Some((at, before)) if now.duration_since(*at) >= MIN_WINDOW => {
                let window = now.duration_since(*at);
                self.rates = before
                    .iter()
                    .zip(&counters)
                    .map(|(b, a)| rates(b, a, window))
                    .collect();
                self.window = window;
                self.last = Some((now, counters));
            }
            Some(_) => {}
        }
        (self.window, &self.rates)
    }
}

/// One row of the live node table.
#[derive(Debug, Clone, Serialize)]
pub struct LiveNode {
    /// The node as listed by `GET /nodes`.
    #[serde(flatten)]
    pub node: NodeInfo,
    /// AZ id or Local Zone of an origin replica.
    pub az: Option<String>,
    /// Region of an origin replica.
    pub region: Option<String>,
    /// Not failed through the control API.
    pub up: bool,
    /// Totals since the node started.
    pub requests_total: u64,
    /// Hits since the node started.
    pub hits_total: u64,
    /// Errors since the node started.
    pub errors_total: u64,
    /// Hits over requests since the node started (`None` before its first request): what
    /// the page shows when the window had no request.
    pub hit_ratio_total: Option<f64>,
    /// Rates over the last window.
    #[serde(flatten)]
    pub rates: Rates,
}

/// What the fault buttons can name (each a target of `POST /fail` and `POST /restore`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultTargets {
    /// AZ ids and Local Zones holding an origin replica.
    pub azs: Vec<String>,
    /// Regions holding an origin replica.
    pub regions: Vec<String>,
    /// PoP codes.
    pub pops: Vec<String>,
}

/// The `GET /status` document.
#[derive(Debug, Clone, Serialize)]
pub struct LiveStatus {
    /// Topology name.
    pub topology: String,
    /// Whether `POST /fail` and `POST /restore` need the admin token.
    pub token_required: bool,
    /// Window of the rates, seconds (0 before the first window closed).
    pub window_s: f64,
    /// Every node, in start order.
    pub nodes: Vec<LiveNode>,
    /// What can be failed and restored.
    pub targets: FaultTargets,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(requests: u64, hits: u64, errors: u64) -> NodeCounters {
        NodeCounters {
            requests,
            hits,
            errors,
        }
    }

    #[test]
    fn rates_are_counter_deltas_over_the_window() {
        let r = rates(&at(10, 5, 0), &at(30, 20, 2), Duration::from_secs(2));
        assert_eq!(r.requests_per_s, 10.0);
        assert_eq!(r.errors_per_s, 1.0);
        assert_eq!(r.hit_ratio, Some(0.75));
        let idle = rates(&at(30, 20, 2), &at(30, 20, 2), Duration::from_secs(1));
        assert_eq!(idle.requests_per_s, 0.0);
        assert_eq!(idle.hit_ratio, None, "no request, no ratio");
        assert_eq!(
            at(40, 30, 2).hit_ratio(),
            Some(0.75),
            "the ratio since start"
        );
        assert_eq!(at(0, 0, 0).hit_ratio(), None);
        let restarted = rates(&at(30, 20, 2), &at(3, 1, 0), Duration::from_secs(1));
        assert_eq!(restarted.requests_per_s, 0.0);
        assert_eq!(
            rates(&at(0, 0, 0), &at(5, 0, 0), Duration::ZERO),
            Rates::default()
        );
    }

    #[test]
    fn the_sampler_keeps_its_rates_until_a_window_has_passed() {
        let start = Instant::now();
        let mut sampler = Sampler::default();
        let (window, first) = sampler.observe(start, vec![at(0, 0, 0)]);
        assert_eq!(
            (window, first.to_vec()),
            (Duration::ZERO, vec![Rates::default()])
        );
        let soon = start + Duration::from_millis(400);
        let (window, early) = sampler.observe(soon, vec![at(40, 0, 0)]);
        assert_eq!(window, Duration::ZERO, "too soon for a window");
        assert_eq!(early[0].requests_per_s, 0.0);
        let later = start + Duration::from_millis(1250);
        let (window, closed) = sampler.observe(later, vec![at(50, 25, 0)]);
        assert_eq!(window, Duration::from_millis(1250));
        assert_eq!(closed[0].requests_per_s, 40.0);
        assert_eq!(closed[0].hit_ratio, Some(0.5));
        let (_, kept) = sampler.observe(later + Duration::from_millis(10), vec![at(99, 0, 0)]);
        assert_eq!(kept[0].requests_per_s, 40.0, "the last window's rates");
    }

    #[test]
    fn counters_read_edge_and_origin_registries() {
        let registry = Registry::new();
        let requests = prometheus::IntCounterVec::new(
            prometheus::Opts::new(metric::EDGE_REQUESTS_TOTAL, "test"),
            &["pop", "tier", "cache_status"],
        )
        .unwrap();
        registry.register(Box::new(requests.clone())).unwrap();
        for (status, n) in [("hit", 6), ("refresh_hit", 1), ("miss", 2), ("error", 1)] {
            requests
                .with_label_values(&["FRA", "edge", status])
                .inc_by(n);
        }
        assert_eq!(counters(&registry), at(10, 7, 1));

        let registry = Registry::new();
        let requests = prometheus::IntCounterVec::new(
            prometheus::Opts::new(metric::ORIGIN_REQUESTS_TOTAL, "test"),
            &["origin", "az", "status_class"],
        )
        .unwrap();
        registry.register(Box::new(requests.clone())).unwrap();
        requests.with_label_values(&["o", "az1", "2xx"]).inc_by(8);
        requests.with_label_values(&["o", "az1", "5xx"]).inc_by(3);
        assert_eq!(counters(&registry), at(11, 0, 3));
    }
}
