//! The edge metrics of SPEC §7, registered in the registry the caller passes in. Every label
//! value comes from an enum here; `pop` and `tier` are fixed per node.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use edgelab_common::names::metric;
use edgelab_link::{DeliveryErrors, LatenessSummary, PathClass};
use edgelab_wire::XCache;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType, Quantile, Summary};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// The cache outcome of one request (label `cache_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from this node's store.
    Hit,
    /// Fetched upstream (and maybe stored).
    Miss,
    /// Stored copy revalidated upstream (304).
    RefreshHit,
    /// Stale copy served (stale-while-revalidate or stale-if-error).
    Stale,
    /// Never cacheable here (method or disabled policy): passed through.
    Pass,
    /// Failed: the node answered with an error of its own.
    Error,
}

impl CacheStatus {
    /// Every cache status, in `as_index` order (the order the counters are exported in).
    pub const ALL: [CacheStatus; 6] = [
        CacheStatus::Hit,
        CacheStatus::Miss,
        CacheStatus::RefreshHit,
        CacheStatus::Stale,
        CacheStatus::Pass,
        CacheStatus::Error,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::RefreshHit => "refresh_hit",
            CacheStatus::Stale => "stale",
            CacheStatus::Pass => "pass",
            CacheStatus::Error => "error",
        }
    }

    /// CloudFront's `X-Cache` result: a stale copy served is a hit, a pass is a miss.
    pub fn as_x_cache(self) -> XCache {
        match self {
            CacheStatus::Hit | CacheStatus::Stale => XCache::Hit,
            CacheStatus::Miss | CacheStatus::Pass => XCache::Miss,
            CacheStatus::RefreshHit => XCache::RefreshHit,
            CacheStatus::Error => XCache::Error,
        }
    }

    /// CloudFront's `X-Cache` value.
    pub fn x_cache(self) -> &'static str {
        self.as_x_cache().as_str()
    }
}

/// Result of one upstream request (label `result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamResult {
    /// 2xx/3xx (other than 304) or 4xx answered.
    Ok,
    /// 304 to a conditional request.
    NotModified,
    /// 5xx.
    ServerError,
    /// Connect failed or timed out.
    ConnectError,
    /// No response head in time.
    Timeout,
    /// Body cut short or other transport error after the head.
    Truncated,
    /// Nothing of the body arrived for the response timeout (the origin stalled mid-body).
    BodyTimeout,
    /// A failover to the secondary origin happened.
    Failover,
}

impl UpstreamResult {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamResult::Ok => "ok",
            UpstreamResult::NotModified => "not_modified",
            UpstreamResult::ServerError => "server_error",
            UpstreamResult::ConnectError => "connect_error",
            UpstreamResult::Timeout => "timeout",
            UpstreamResult::Truncated => "truncated",
            UpstreamResult::BodyTimeout => "body_timeout",
            UpstreamResult::Failover => "failover",
        }
    }
}

/// Which of a node's upstreams a connection went to (label `upstream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamRole {
    /// The next cache tier (REC or shield).
    NextTier,
    /// The origin group's primary.
    Primary,
    /// The origin group's secondary.
    Secondary,
}

impl UpstreamRole {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamRole::NextTier => "next_tier",
            UpstreamRole::Primary => "primary",
            UpstreamRole::Secondary => "secondary",
        }
    }
}

/// Counts the upstream connections a node opens, per upstream: the pool reuses keep-alive
/// connections, so at steady state these stay flat. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct UpstreamConnections {
    /// The authority (`host:port`) of each configured upstream, with its counters of
    /// connections opened and of connects that waited for a free connect slot.
    by_authority: Arc<[(String, IntCounter, IntCounter)]>,
}

impl UpstreamConnections {
    fn of(&self, uri: &http::Uri) -> Option<&(String, IntCounter, IntCounter)> {
        let authority = uri.authority()?;
        self.by_authority
            .iter()
            .find(|(known, _, _)| known == authority.as_str())
    }

    /// Counts one connection opened to `uri`'s authority (nothing for an unknown one).
    pub fn opened(&self, uri: &http::Uri) {
        if let Some((_, opened, _)) = self.of(uri) {
            opened.inc();
        }
    }

    /// Counts one connect to `uri`'s authority that waited because the node already had
    /// as many connects to it in flight as it allows (nothing for an unknown one).
    pub fn waited(&self, uri: &http::Uri) {
        if let Some((_, _, waited)) = self.of(uri) {
            waited.inc();
        }
    }
}

/// Why an expired object was served (label `cause` of the stale-on-error counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleCause {
    /// The upstream answered 500, 502, 503 or 504.
    ServerError,
    /// No connection could be made.
    Connect,
    /// No response head within the response timeout.
    Timeout,
    /// Another transport failure before a response head.
    Other,
}

impl StaleCause {
    /// Every cause (each label set is exported from the start, at 0).
    pub const ALL: [StaleCause; 4] = [
        StaleCause::ServerError,
        StaleCause::Connect,
        StaleCause::Timeout,
        StaleCause::Other,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StaleCause::ServerError => "server_error",
            StaleCause::Connect => "connect",
            StaleCause::Timeout => "timeout",
            StaleCause::Other => "other",
        }
    }
}

/// What became of an interim (1xx) response from upstream (label `result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterimResult {
    /// Sent on to the viewer before the final response.
    Relayed,
    /// Not sent: the viewer cannot take one (HTTP/1.0, HTTP/2, a request served in-process
    /// or in the background) or has its final response already.
    Dropped,
}

impl InterimResult {
    /// Every result (each label set is exported from the start, at 0).
    pub const ALL: [InterimResult; 2] = [InterimResult::Relayed, InterimResult::Dropped];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            InterimResult::Relayed => "relayed",
            InterimResult::Dropped => "dropped",
        }
    }
}

/// The counters of [`InterimResult`] (see [`Metrics::interim`]).
#[derive(Clone)]
pub struct InterimCounts(Arc<[IntCounter; InterimResult::ALL.len()]>);

impl InterimCounts {
    /// Counts one interim response.
    pub fn count(&self, result: InterimResult) {
        self.0[result as usize].inc();
    }
}

/// Why an object left the store (label `cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionCause {
    /// Evicted to make room.
    Capacity,
    /// Expired.
    Expired,
    /// Invalidated (API, unsafe method).
    Invalidated,
    /// Replaced by a newer copy.
    Replaced,
}

impl EvictionCause {
    /// Every cause (each label set is exported from the start, at 0).
    pub const ALL: [EvictionCause; 4] = [
        EvictionCause::Capacity,
        EvictionCause::Expired,
        EvictionCause::Invalidated,
        EvictionCause::Replaced,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionCause::Capacity => "capacity",
            EvictionCause::Expired => "expired",
            EvictionCause::Invalidated => "invalidated",
            EvictionCause::Replaced => "replaced",
        }
    }
}

/// The node's metric handles, every label set resolved once at start (a label lookup hashes
/// and allocates: none runs per request). Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    // Shared, not owned: the handle stays small for the structs and enums that hold it.
    pop: Arc<str>,
    tier: &'static str,
    /// Upstream results and stale-on-error causes appear once they happen (first use
    /// resolves the handle, later ones reuse it).
    upstream_vec: IntCounterVec,
    upstream: Arc<[OnceLock<IntCounter>; UPSTREAM_RESULTS]>,
    upstream_connections_vec: IntCounterVec,
    upstream_connect_waits_vec: IntCounterVec,
    stale_on_error_vec: IntCounterVec,
    stale_on_error: Arc<[OnceLock<IntCounter>; STALE_CAUSES]>,
    collapsed: IntCounter,
    collapsed_from_fill: IntCounter,
    interim: Arc<[IntCounter; InterimResult::ALL.len()]>,
    cache_bytes: IntGauge,
    cache_objects: IntGauge,
    arena_bytes: IntGauge,
    evictions: Arc<[IntCounter; EvictionCause::ALL.len()]>,
    by_status: Arc<[(IntCounter, Histogram); CacheStatus::ALL.len()]>,
    /// Where the upstream links record their delivery lateness (exported at scrape time).
    delivery: DeliveryErrors,
}

/// Handle slots for the upstream results and the stale-on-error causes (a variant past them
/// is still counted, through a label lookup).
const UPSTREAM_RESULTS: usize = 8;
const STALE_CAUSES: usize = 4;

/// Increments the counter of `labels` through its slot `index` in `cells`, resolving it on
/// first use.
fn lazy_inc(cells: &[OnceLock<IntCounter>], index: usize, vec: &IntCounterVec, labels: &[&str]) {
    match cells.get(index) {
        Some(cell) => cell.get_or_init(|| vec.with_label_values(labels)).inc(),
        None => vec.with_label_values(labels).inc(),
    }
}

impl CacheStatus {
    fn as_index(self) -> usize {
        match self {
            CacheStatus::Hit => 0,
            CacheStatus::Miss => 1,
            CacheStatus::RefreshHit => 2,
            CacheStatus::Stale => 3,
            CacheStatus::Pass => 4,
            CacheStatus::Error => 5,
        }
    }
}

impl Metrics {
    /// Registers the edge metrics in `registry`.
    pub fn register(
        registry: &Registry,
        pop: &str,
        tier: &'static str,
    ) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                metric::EDGE_REQUESTS_TOTAL,
                "Requests served, by cache status.",
            ),
            &["pop", "tier", "cache_status"],
        )?;
        // 100 µs to ~13 s: loopback hits sit at the bottom, modelled WAN misses higher.
        let duration = HistogramVec::new(
            HistogramOpts::new(
                metric::EDGE_REQUEST_DURATION_SECONDS,
                "Time from request head to response head, by cache status.",
            )
            .buckets(prometheus::exponential_buckets(0.0001, 2.0, 18)?),
            &["pop", "tier", "cache_status"],
        )?;
        let upstream = IntCounterVec::new(
            Opts::new(
                metric::EDGE_UPSTREAM_REQUESTS_TOTAL,
                "Upstream requests, by result.",
            ),
            &["pop", "tier", "result"],
        )?;
        let upstream_connections = IntCounterVec::new(
            Opts::new(
                metric::EDGE_UPSTREAM_CONNECTIONS_OPENED_TOTAL,
                "Upstream connections opened (the pool reuses them), by upstream.",
            ),
            &["pop", "tier", "upstream"],
        )?;
        let upstream_connect_waits = IntCounterVec::new(
            Opts::new(
                metric::EDGE_UPSTREAM_CONNECT_WAITS_TOTAL,
                "Upstream connects that waited for one of the upstream's connect slots, by upstream.",
            ),
            &["pop", "tier", "upstream"],
        )?;
        let collapsed = IntCounterVec::new(
            Opts::new(
                metric::EDGE_COLLAPSED_REQUESTS_TOTAL,
                "Requests that waited on another request's upstream fetch.",
            ),
            &["pop", "tier"],
        )?;
        let collapsed_from_fill = IntCounterVec::new(
            Opts::new(
                metric::EDGE_COLLAPSED_FROM_FILL_TOTAL,
                "Collapsed requests answered from the leader's fill while it was running.",
            ),
            &["pop", "tier"],
        )?;
        let cache_bytes = IntGaugeVec::new(
            Opts::new(
                metric::EDGE_CACHE_BYTES,
                "Weighted bytes held in the store.",
            ),
            &["pop", "tier"],
        )?;
        let stale_on_error = IntCounterVec::new(
            Opts::new(
                metric::EDGE_STALE_ON_ERROR_TOTAL,
                "Expired objects served because the upstream failed, by cause.",
            ),
            &["pop", "tier", "cause"],
        )?;
        let interim = IntCounterVec::new(
            Opts::new(
                metric::EDGE_INTERIM_RESPONSES_TOTAL,
                "Interim (1xx) responses received from upstream, relayed to the viewer or dropped.",
            ),
            &["pop", "tier", "result"],
        )?;
        let cache_objects = IntGaugeVec::new(
            Opts::new(metric::EDGE_CACHE_OBJECTS, "Objects held in the store."),
            &["pop", "tier"],
        )?;
        let evictions = IntCounterVec::new(
            Opts::new(
                metric::EDGE_EVICTIONS_TOTAL,
                "Objects removed from the store, by cause.",
            ),
            &["pop", "tier", "cause"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(upstream.clone()))?;
        registry.register(Box::new(upstream_connections.clone()))?;
        registry.register(Box::new(upstream_connect_waits.clone()))?;
        registry.register(Box::new(collapsed.clone()))?;
        registry.register(Box::new(collapsed_from_fill.clone()))?;
        registry.register(Box::new(stale_on_error.clone()))?;
        registry.register(Box::new(interim.clone()))?;
        registry.register(Box::new(cache_bytes.clone()))?;
        registry.register(Box::new(cache_objects.clone()))?;
        let arena_bytes = IntGaugeVec::new(
            Opts::new(
                metric::EDGE_ARENA_BYTES,
                "Bytes of the body arena held by stored bodies.",
            ),
            &["pop", "tier"],
        )?;
        registry.register(Box::new(arena_bytes.clone()))?;
        registry.register(Box::new(evictions.clone()))?;
        let delivery = DeliveryErrors::new();
        registry.register(Box::new(DeliveryCollector::new(
            pop,
            tier,
            delivery.clone(),
        )?))?;
        // Counters a dashboard plots are exported at 0 before the first event, so a query
        // returns a series (rate 0) rather than nothing: "none yet" is not "not scraped".
        for cause in StaleCause::ALL {
            stale_on_error.with_label_values(&[pop, tier, cause.as_str()]);
        }
        let by_status = CacheStatus::ALL.map(|status| {
            let labels = [pop, tier, status.as_str()];
            (
                requests.with_label_values(&labels),
                duration.with_label_values(&labels),
            )
        });
        Ok(Self {
            pop: Arc::from(pop),
            tier,
            upstream_vec: upstream,
            upstream: Arc::default(),
            upstream_connections_vec: upstream_connections,
            upstream_connect_waits_vec: upstream_connect_waits,
            stale_on_error_vec: stale_on_error,
            stale_on_error: Arc::default(),
            collapsed: collapsed.with_label_values(&[pop, tier]),
            collapsed_from_fill: collapsed_from_fill.with_label_values(&[pop, tier]),
            interim: Arc::new(
                InterimResult::ALL.map(|r| interim.with_label_values(&[pop, tier, r.as_str()])),
            ),
            cache_bytes: cache_bytes.with_label_values(&[pop, tier]),
            cache_objects: cache_objects.with_label_values(&[pop, tier]),
            arena_bytes: arena_bytes.with_label_values(&[pop, tier]),
            evictions: Arc::new(
                EvictionCause::ALL.map(|c| evictions.with_label_values(&[pop, tier, c.as_str()])),
            ),
            by_status: Arc::new(by_status),
            delivery,
        })
    }

    /// Where this node's upstream connections record how late their deliveries came.
    pub fn delivery_errors(&self) -> &DeliveryErrors {
        &self.delivery
    }

    /// Counts one served request.
    pub fn request(&self, status: CacheStatus, elapsed: Duration) {
        let (count, duration) = &self.by_status[status.as_index()];
        count.inc();
        duration.observe(elapsed.as_secs_f64());
    }

    /// Counts one upstream request.
    pub fn upstream(&self, result: UpstreamResult) {
        let labels = [&*self.pop, self.tier, result.as_str()];
        lazy_inc(
            &self.upstream[..],
            result as usize,
            &self.upstream_vec,
            &labels,
        );
    }

    /// The connection counters of the configured `upstreams` (each exported at 0 from now
    /// on), for the connector to count what it opens.
    pub fn upstream_connections(
        &self,
        upstreams: &[(UpstreamRole, &http::Uri)],
    ) -> UpstreamConnections {
        let by_authority = upstreams
            .iter()
            .filter_map(|(role, uri)| {
                let authority = uri.authority()?.as_str().to_string();
                let labels = [&*self.pop, self.tier, role.as_str()];
                Some((
                    authority,
                    self.upstream_connections_vec.with_label_values(&labels),
                    self.upstream_connect_waits_vec.with_label_values(&labels),
                ))
            })
            .collect();
        UpstreamConnections { by_authority }
    }

    /// Counts one collapsed request.
    pub fn collapsed(&self) {
        self.collapsed.inc();
    }

    /// Counts one collapsed request answered from the leader's running fill.
    pub fn collapsed_from_fill(&self) {
        self.collapsed_from_fill.inc();
    }

    /// Counts one expired object served because the upstream failed.
    pub fn stale_on_error(&self, cause: StaleCause) {
        let labels = [&*self.pop, self.tier, cause.as_str()];
        lazy_inc(
            &self.stale_on_error[..],
            cause as usize,
            &self.stale_on_error_vec,
            &labels,
        );
    }

    /// The interim-response counters, for a callback that outlives the request.
    pub fn interim(&self) -> InterimCounts {
        InterimCounts(self.interim.clone())
    }

    /// Counts one eviction.
    pub fn eviction(&self, cause: EvictionCause) {
        self.evictions[cause as usize].inc();
    }

    /// Sets the store gauges (`arena`: bytes of the body arena held by bodies).
    pub fn store_size(&self, bytes: u64, objects: u64, arena: u64) {
        self.cache_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.cache_objects
            .set(i64::try_from(objects).unwrap_or(i64::MAX));
        self.arena_bytes
            .set(i64::try_from(arena).unwrap_or(i64::MAX));
    }
}

/// Quantiles exported for delivery lateness (1.0 is the largest value seen).
const LATENESS_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 1.0];

/// Exports [`DeliveryErrors`] as a Prometheus summary at scrape time: the HDR histograms are
/// the record, so the hot path pays one histogram increment and nothing for Prometheus.
struct DeliveryCollector {
    desc: Desc,
    pop: String,
    tier: &'static str,
    errors: DeliveryErrors,
}

impl DeliveryCollector {
    fn new(
        pop: &str,
        tier: &'static str,
        errors: DeliveryErrors,
    ) -> Result<Self, prometheus::Error> {
        let desc = Desc::new(
            metric::LINK_DELIVERY_LATENESS_SECONDS.to_string(),
            DELIVERY_HELP.to_string(),
            vec!["pop".into(), "tier".into(), "class".into()],
            Default::default(),
        )?;
        Ok(Self {
            desc,
            pop: pop.to_string(),
            tier,
            errors,
        })
    }

    fn metric(&self, class: PathClass, lateness: &LatenessSummary) -> Metric {
        let label = |name: &str, value: &str| {
            let mut pair = LabelPair::default();
            pair.set_name(name.to_string());
            pair.set_value(value.to_string());
            pair
        };
        let histogram = self.errors.histogram(class);
        let quantiles = LATENESS_QUANTILES
            .iter()
            .map(|&q| {
                let mut quantile = Quantile::default();
                quantile.set_quantile(q);
                let nanos = if q >= 1.0 {
                    histogram.max()
                } else {
                    histogram.value_at_quantile(q)
                };
                quantile.set_value(nanos as f64 / 1e9);
                quantile
            })
            .collect();
        let mut summary = Summary::default();
        summary.set_sample_count(lateness.count);
        summary.set_sample_sum(lateness.mean.as_secs_f64() * lateness.count as f64);
        summary.set_quantile(quantiles);
        let mut metric = Metric::default();
        metric.set_label(vec![
            label("class", class.as_str()),
            label("pop", &self.pop),
            label("tier", self.tier),
        ]);
        metric.set_summary(summary);
        metric
    }
}

const DELIVERY_HELP: &str = "How late the upstream links delivered what a reader waited for, \
against the delay line's schedule (the emulator's own error), by path class.";

impl Collector for DeliveryCollector {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Upstream links are backbone hops; other classes appear once they have deliveries.
        let metrics = PathClass::ALL
            .into_iter()
            .map(|class| (class, self.errors.summary(class)))
            .filter(|(class, s)| *class == PathClass::Backbone || s.count > 0)
            .map(|(class, s)| self.metric(class, &s))
            .collect();
        let mut family = MetricFamily::default();
        family.set_name(metric::LINK_DELIVERY_LATENESS_SECONDS.to_string());
        family.set_help(DELIVERY_HELP.to_string());
        family.set_field_type(MetricType::SUMMARY);
        family.set_metric(metrics);
        vec![family]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_cache_statuses_are_listed_once_in_index_order() {
        for (index, status) in CacheStatus::ALL.iter().enumerate() {
            assert_eq!(status.as_index(), index, "{}", status.as_str());
        }
    }

    #[test]
    fn a_fresh_node_exports_collapses_and_every_eviction_cause_at_zero() {
        let registry = Registry::new();
        Metrics::register(&registry, "FRA", "edge").expect("registers");
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .expect("encodes");
        for name in [
            metric::EDGE_COLLAPSED_REQUESTS_TOTAL,
            metric::EDGE_COLLAPSED_FROM_FILL_TOTAL,
        ] {
            let collapsed = format!("{name}{{pop=\"FRA\",tier=\"edge\"}} 0\n");
            assert!(
                text.contains(&collapsed),
                "{collapsed} missing from\n{text}"
            );
        }
        for cause in EvictionCause::ALL {
            let line = format!(
                "{}{{cause=\"{}\",pop=\"FRA\",tier=\"edge\"}} 0\n",
                metric::EDGE_EVICTIONS_TOTAL,
                cause.as_str()
            );
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        for cause in StaleCause::ALL {
            let line = format!(
                "{}{{cause=\"{}\",pop=\"FRA\",tier=\"edge\"}} 0\n",
                metric::EDGE_STALE_ON_ERROR_TOTAL,
                cause.as_str()
            );
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
    }
}
