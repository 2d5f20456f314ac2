//! The report of one run: plain data (serde, JSON schema in `loadtest/report.schema.json`),
//! built from the merged [`Recorder`] by pure arithmetic, plus its terminal summary.
//!
//! Latencies are in milliseconds (microsecond resolution). The hit ratio is hits (`Hit` and
//! `RefreshHit`) over hits plus misses; responses without `X-Cache` (direct) or with `Error`
//! do not count either way.

use std::fmt::Write as _;
use std::time::Duration;

use edgelab_link::{DeliveryErrors, LatenessSeries, LatenessSummary, PathClass};
use hdrhistogram::Histogram;
use http::Uri;
use serde::{Deserialize, Serialize};

use crate::error::RequestErrorKind;
use crate::origin_load::OriginCounters;
use crate::plan::Plan;
use crate::record::{CacheResult, Recorder, Tier, new_histogram};
use crate::recorded::{Recorded, RecordedOrigin};
use crate::scenario::{Arrival, Settings};
use crate::shard::{Shard, ShardSet};
use crate::target::{Mode, Target};

/// Version of the report format (bumped on incompatible changes).
pub const REPORT_VERSION: u32 = 1;

/// A p99 of send lateness or emulation error above this (ms) means the host could not keep
/// up, and the report says so: every latency in it is inflated by about that much.
pub const SATURATION_WARNING_MS: f64 = 5.0;

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Report format version ([`REPORT_VERSION`]).
    pub version: u32,
    /// The run's name (`direct`, `edge`, `ga`, or a target).
    pub label: String,
    /// The seed every random choice came from.
    pub seed: u64,
    /// The settings the run used.
    pub settings: ReportSettings,
    /// Where each place sent its requests.
    pub targets: Vec<ReportTarget>,
    /// Whether the run was stopped early (Ctrl-C, shutdown).
    pub interrupted: bool,
    /// Wall time from the first intended send to the last completion, seconds.
    pub elapsed_s: f64,
    /// Counts over the whole run.
    pub totals: Totals,
    /// Total latency (intended send → end of body) over every response.
    pub latency: LatencySummary,
    /// Time to the response head over every response.
    pub ttfb: LatencySummary,
    /// Per client place.
    pub places: Vec<PlaceSummary>,
    /// Responses per serving tier.
    pub tiers: Vec<TierShare>,
    /// Per place × X-Cache × PoP × tier.
    pub groups: Vec<GroupSummary>,
    /// Per second of the run (by completion time).
    pub timeline: Vec<TimelinePoint>,
    /// Failed requests.
    pub errors: ErrorSummary,
    /// What the origin served during the run (when `/metrics` URLs were given).
    pub origin: Option<OriginLoad>,
    /// The emulator's own error (send lateness, link delivery error), included in every
    /// latency above.
    #[serde(default)]
    pub emulator_error: EmulatorError,
    /// Open loop: the requests that found every connection of their place busy when they
    /// were due, and how long each waited for one (intended send → a connection free). The
    /// wait is in their latency (the target was slower than its connections could carry);
    /// it is not the emulator's error and not in send lateness. Empty when none waited (and
    /// in closed loop); `places[].connection_waits` has the count per place.
    #[serde(default)]
    pub connection_wait: LatenessStats,
    /// Which shards of the seeded schedule this report covers (`1/1`: the whole run).
    #[serde(default)]
    pub shards: ShardSet,
    /// The identity of the workload and of the targets, so that only shards of one run are
    /// merged. Absent in reports written before sharding existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The measurements themselves (histograms, counters), losslessly, so that reports of
    /// shards can be added up (`edgelab report merge`). Absent in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
    /// Where the run's places are and the modelled path each client took (set by whoever
    /// routed the targets: a topology's runs have it, `--target URL` runs do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<crate::map::RunMap>,
}

/// Digests of what a run sent and to whom: two runs with the same fingerprint drew their
/// requests from the same workload (settings, catalog, places) over the same modelled paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// XXH3-64 of the settings (but not the shard), the objects (path, size, digest) and the
    /// places, as 16 hex digits.
    pub workload: String,
    /// XXH3-64 of every target's place, mode, weight and modelled path (not its URL: each
    /// shard may start its own nodes on other ports), as 16 hex digits.
    pub targets: String,
}

impl Fingerprint {
    /// The fingerprint of `plan` sent to `targets`.
    pub fn of(plan: &Plan, targets: &[Target]) -> Fingerprint {
        let settings = Settings {
            shard: Shard::WHOLE,
            ..plan.settings.clone()
        };
        let mut workload = format!("{settings:?}\n{:?}\n", plan.places);
        for object in plan.workload.objects() {
            workload.push_str(&format!(
                "{} {:?} {:?}\n",
                object.path, object.size, object.digest
            ));
        }
        let mut paths = String::new();
        for target in targets {
            paths.push_str(&format!(
                "{} {} {} {:?}\n",
                target.place, target.mode, target.weight, target.hop
            ));
        }
        let hex = |text: &str| format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()));
        Fingerprint {
            workload: hex(&workload),
            targets: hex(&paths),
        }
    }
}

/// How much of every measured latency is the emulator's own doing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmulatorError {
    /// Send lateness: how long after it could have left (its intended time, or when a
    /// connection came free if all were busy) each request left. Open loop only; empty in
    /// closed loop, where requests have no intended time.
    pub send_lateness: LatenessStats,
    /// Emulation error: how late the client-side links delivered what a reader was waiting
    /// for, against the delay line's schedule (every path class). Empty without emulated
    /// links (`--target` runs have none).
    pub emulation: LatenessStats,
    /// The emulation error per path class (only classes that had deliveries).
    pub emulation_by_class: Vec<ClassLateness>,
    /// Emulation error of the links between the tiers: how late the cache nodes' own
    /// upstream links (PoP → REC → shield → origin, over the backbone) delivered what a node
    /// was waiting for, during this run. Measured by the nodes, so present only when they
    /// ran in the measuring process (`compare`, `demo`, a topology started here); empty for
    /// direct runs and for nodes elsewhere (`--attach`, `--peers dns`, `--target`).
    #[serde(default)]
    pub tier_links: LatenessStats,
    /// The p99 (ms) above which the report warns ([`SATURATION_WARNING_MS`]).
    pub warn_above_ms: f64,
    /// The warning, in words, when a p99 is above `warn_above_ms`.
    pub warning: Option<String>,
    /// The same error over time: one point per interval of the run (a second, or a power
    /// of two seconds in long runs), each with the achieved rate and the p50/p99 of the
    /// client links, the tier links and send lateness in it. Values are binned by when they
    /// happened: a delivery when it reached its reader, a send when the request was due.
    /// Empty when nothing was measured over time (closed loop `--target` runs). Merged shards
    /// merge their points (counts and rates summed, each percentile the shards' highest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<ErrorPoint>,
    /// The intervals of [`series`](EmulatorError::series) where a p99 was above
    /// `warn_above_ms`, in words, when some but not all were (the emulator was late only in
    /// part of the run: a cold start, a burst).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_in_part: Option<String>,
}

/// The emulator's error in one interval of a run ([`EmulatorError::series`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorPoint {
    /// Start of the interval, seconds from the start of the run.
    pub start_s: f64,
    /// Length of the interval, seconds (the last one ends with the run).
    pub interval_s: f64,
    /// Responses completed in the interval, per second.
    pub rate_per_s: f64,
    /// Emulation error of the client links (every path class).
    pub client_links: PointStats,
    /// Emulation error of the links between the tiers.
    pub tier_links: PointStats,
    /// Send lateness (open loop).
    pub send_lateness: PointStats,
}

/// Percentiles of the values of one interval, milliseconds (1 % resolution).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PointStats {
    /// Values in the interval.
    pub count: u64,
    /// Median (0 when empty).
    pub p50_ms: f64,
    /// 99th percentile (0 when empty).
    pub p99_ms: f64,
    /// Largest (0 when empty).
    pub max_ms: f64,
}

impl PointStats {
    fn of(bin: Option<&Histogram<u32>>) -> PointStats {
        match bin {
            Some(bin) if !bin.is_empty() => {
                let ms = |us: u64| us as f64 / 1000.0;
                PointStats {
                    count: bin.len(),
                    p50_ms: ms(bin.value_at_quantile(0.5)),
                    p99_ms: ms(bin.value_at_quantile(0.99)),
                    max_ms: ms(bin.max()),
                }
            }
            _ => PointStats::default(),
        }
    }
}

/// The time series of a run's emulator error, as recorded: the client links' and the tier
/// links' (send lateness is in the [`Recorder`]).
#[derive(Clone, Debug, Default)]
pub struct ErrorSeries {
    /// Delivery lateness of the client links, by when each delivery reached its reader.
    pub client_links: LatenessSeries,
    /// Delivery lateness of the cache nodes' upstream links during the run.
    pub tier_links: LatenessSeries,
}

/// The points of [`EmulatorError::series`]: the three series coarsened to one interval, with
/// the responses the recorder counted per second of completion in each interval (pure).
pub fn error_points(
    series: &ErrorSeries,
    send: &LatenessSeries,
    timeline: &[crate::record::SecondCounts],
    elapsed_s: f64,
) -> Vec<ErrorPoint> {
    if series.client_links.count() + series.tier_links.count() + send.count() == 0 {
        return Vec::new();
    }
    let interval = series
        .client_links
        .interval()
        .max(series.tier_links.interval())
        .max(send.interval());
    let mut parts = [
        series.client_links.clone(),
        series.tier_links.clone(),
        send.clone(),
    ];
    for part in &mut parts {
        part.coarsen_to(interval);
    }
    let width = interval.as_secs().max(1) as usize;
    let seconds = timeline.len().div_ceil(width);
    let points = parts
        .iter()
        .map(|p| p.bins().len())
        .max()
        .unwrap_or(0)
        .max(seconds);
    (0..points)
        .map(|index| {
            let start_s = (index * width) as f64;
            let interval_s = (elapsed_s - start_s).clamp(0.001, width as f64);
            let responses: u64 = timeline
                .iter()
                .skip(index * width)
                .take(width)
                .map(|c| c.responses)
                .sum();
            let [client, tier, send] = &parts;
            ErrorPoint {
                start_s,
                interval_s,
                rate_per_s: responses as f64 / interval_s,
                client_links: PointStats::of(client.bins().get(index)),
                tier_links: PointStats::of(tier.bins().get(index)),
                send_lateness: PointStats::of(send.bins().get(index)),
            }
        })
        .collect()
}

/// Ranges of consecutive points, `0–3, 7` (in whole seconds, inclusive).
fn ranges(points: &[&ErrorPoint]) -> String {
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for point in points {
        let end = point.start_s + point.interval_s.ceil().max(1.0);
        match spans.last_mut() {
            Some(last) if last.1 >= point.start_s => last.1 = end,
            _ => spans.push((point.start_s, end)),
        }
    }
    spans
        .iter()
        .map(|&(from, to)| {
            let last = to - 1.0;
            if last <= from {
                format!("{from:.0}")
            } else {
                format!("{from:.0}\u{2013}{last:.0}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl EmulatorError {
    /// Builds the section from send lateness (ns) and the client links' delivery errors.
    pub fn new(send_lateness: Option<&Histogram<u64>>, delivery: &DeliveryErrors) -> EmulatorError {
        let send = send_lateness.map_or_else(LatenessStats::default, |h| {
            LatenessStats::from(LatenessSummary::from_histogram(h))
        });
        let emulation = LatenessStats::from(LatenessSummary::from_histogram(&delivery.all()));
        let emulation_by_class = PathClass::ALL
            .iter()
            .map(|&class| ClassLateness {
                class: class.as_str().to_string(),
                lateness: LatenessStats::from(delivery.summary(class)),
            })
            .filter(|c| c.lateness.count > 0)
            .collect();
        let mut section = EmulatorError {
            send_lateness: send,
            emulation,
            emulation_by_class,
            tier_links: LatenessStats::default(),
            warn_above_ms: SATURATION_WARNING_MS,
            warning: None,
            series: Vec::new(),
            late_in_part: None,
        };
        section.warning = section.saturation_warning();
        section
    }

    /// Sets the series (see [`error_points`]) and says where it broke the bound.
    pub fn set_series(&mut self, series: Vec<ErrorPoint>, elapsed_s: f64) {
        self.series = series;
        self.late_in_part = self.late_in_part(elapsed_s);
    }

    /// The intervals of the series where a p99 was over the bound, when some but not all
    /// of those with measurements were.
    fn late_in_part(&self, elapsed_s: f64) -> Option<String> {
        let bound = self.warn_above_ms;
        let measured: Vec<&ErrorPoint> = self
            .series
            .iter()
            .filter(|p| p.client_links.count + p.tier_links.count + p.send_lateness.count > 0)
            .collect();
        let late = |p: &ErrorPoint| {
            [&p.client_links, &p.tier_links, &p.send_lateness]
                .iter()
                .any(|s| s.p99_ms > bound)
        };
        let over: Vec<&ErrorPoint> = measured.iter().copied().filter(|p| late(p)).collect();
        if over.is_empty() || over.len() == measured.len() {
            return None;
        }
        let mut hops = Vec::new();
        for (name, stats) in [
            (
                "client links",
                (|p: &ErrorPoint| p.client_links.p99_ms) as fn(&ErrorPoint) -> f64,
            ),
            ("tier links", |p: &ErrorPoint| p.tier_links.p99_ms),
            ("send lateness", |p: &ErrorPoint| p.send_lateness.p99_ms),
        ] {
            if over.iter().any(|p| stats(p) > bound) {
                hops.push(name);
            }
        }
        Some(format!(
            "emulator error p99 > {bound} ms in seconds {} of {:.0} ({}): results from those \
             seconds are the emulator's",
            ranges(&over),
            elapsed_s.ceil(),
            hops.join(", ")
        ))
    }

    /// The largest of the p99s (send lateness, client links, tier links), ms.
    pub fn worst_p99_ms(&self) -> f64 {
        self.send_lateness
            .p99_ms
            .max(self.emulation.p99_ms)
            .max(self.tier_links.p99_ms)
    }

    /// Sets the tier links' error from their delivery lateness (ns) and warns again.
    fn set_tier_links(&mut self, lateness: &Histogram<u64>) {
        self.tier_links = LatenessStats::from(LatenessSummary::from_histogram(lateness));
        self.warning = self.saturation_warning();
    }

    fn saturation_warning(&self) -> Option<String> {
        let over: Vec<String> = [
            ("send lateness", &self.send_lateness),
            ("emulation error", &self.emulation),
            ("tier links' emulation error", &self.tier_links),
        ]
        .iter()
        .filter(|(_, stats)| stats.p99_ms > self.warn_above_ms)
        .map(|(name, stats)| format!("{name} p99 {:.1} ms", stats.p99_ms))
        .collect();
        (!over.is_empty()).then(|| {
            format!(
                "the host was saturated ({} over {} ms): the load generator or the emulated \
                 links ran late, so the latencies in this report are inflated by about that \
                 much; use a lower rate, fewer connections or a quieter host",
                over.join(", "),
                self.warn_above_ms
            )
        })
    }
}

/// Percentiles of a lateness distribution, milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatenessStats {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl From<LatenessSummary> for LatenessStats {
    fn from(s: LatenessSummary) -> LatenessStats {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        LatenessStats {
            count: s.count,
            p50_ms: ms(s.p50),
            p90_ms: ms(s.p90),
            p99_ms: ms(s.p99),
            max_ms: ms(s.max),
            mean_ms: ms(s.mean),
        }
    }
}

/// The emulation error of one path class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassLateness {
    /// `backbone`, `internet` or `last_mile`.
    pub class: String,
    /// Its delivery lateness.
    pub lateness: LatenessStats,
}

/// The settings in a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportSettings {
    /// Arrival process (unused in closed loop).
    pub arrival: Arrival,
    /// Closed loop instead of open loop.
    pub closed: bool,
    /// Sending duration, seconds.
    pub duration_s: f64,
    /// Request-count bound.
    pub requests: Option<u64>,
    /// Connections per target.
    pub connections: usize,
    /// Per-request timeout, seconds.
    pub timeout_s: f64,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// Objects requests were drawn from.
    pub objects: usize,
}

/// One target in a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportTarget {
    /// Client place.
    pub place: String,
    /// Mode.
    pub mode: Mode,
    /// Base URL.
    pub url: String,
    /// Share weight.
    pub weight: f64,
}

/// Counts over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Requests released by the schedule (open loop) or started (closed loop).
    pub scheduled: u64,
    /// Requests that ended with a response or an error.
    pub completed: u64,
    /// Scheduled but never completed (run stopped or drain deadline passed).
    pub unfinished: u64,
    /// Requests that got a response head.
    pub responses: u64,
    /// Failed requests (transport failures and bad responses).
    pub errors: u64,
    /// CDN hits.
    pub hits: u64,
    /// CDN misses.
    pub misses: u64,
    /// hits / (hits + misses), absent without CDN responses.
    pub hit_ratio: Option<f64>,
    /// Body bytes received.
    pub bytes: u64,
    /// Completed requests per second of elapsed time.
    pub rate_per_s: f64,
}

/// Percentiles of one latency distribution, milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// 50th percentile.
    pub p50_ms: f64,
    /// 75th percentile.
    pub p75_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl LatencySummary {
    /// Summarises a histogram of microseconds.
    pub fn from_histogram(histogram: &Histogram<u64>) -> LatencySummary {
        if histogram.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        let q = |quantile: f64| ms(histogram.value_at_quantile(quantile));
        LatencySummary {
            count: histogram.len(),
            min_ms: ms(histogram.min()),
            mean_ms: histogram.mean() / 1000.0,
            p50_ms: q(0.5),
            p75_ms: q(0.75),
            p90_ms: q(0.9),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: ms(histogram.max()),
        }
    }
}

/// One client place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceSummary {
    /// Place label.
    pub place: String,
    /// Mode of its target.
    pub mode: Mode,
    /// Responses.
    pub responses: u64,
    /// Failed requests.
    pub errors: u64,
    /// CDN hits.
    pub hits: u64,
    /// CDN misses.
    pub misses: u64,
    /// hits / (hits + misses).
    pub hit_ratio: Option<f64>,
    /// Total latency.
    pub latency: LatencySummary,
    /// Time to first byte.
    pub ttfb: LatencySummary,
    /// The distribution of total latency as points of its CDF, from the fastest response
    /// (`fraction` 0) to the slowest (`fraction` 1), at the quantiles in [`CDF_QUANTILES`].
    #[serde(default)]
    pub cdf: Vec<CdfPoint>,
    /// Open loop: requests that waited for a free connection (see
    /// [`Report::connection_wait`]).
    #[serde(default)]
    pub connection_waits: u64,
}

/// The quantiles a place's latency CDF is sampled at.
pub const CDF_QUANTILES: [f64; 26] = [
    0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75,
    0.8, 0.85, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 1.0,
];

/// One point of a latency CDF: `fraction` of the responses took at most `ms`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CdfPoint {
    /// Latency, milliseconds.
    pub ms: f64,
    /// Fraction of responses at or below `ms` (0 to 1).
    pub fraction: f64,
}

/// The CDF of a histogram of microseconds at [`CDF_QUANTILES`] (empty for no values).
pub fn cdf_of(histogram: &Histogram<u64>) -> Vec<CdfPoint> {
    if histogram.is_empty() {
        return Vec::new();
    }
    CDF_QUANTILES
        .iter()
        .map(|&fraction| CdfPoint {
            ms: histogram.value_at_quantile(fraction) as f64 / 1000.0,
            fraction,
        })
        .collect()
}

/// Responses served by one tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TierShare {
    /// The tier.
    pub tier: Tier,
    /// Responses it served.
    pub responses: u64,
    /// Fraction of all responses.
    pub share: f64,
}

/// One place × X-Cache × PoP × tier group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// Client place.
    pub place: String,
    /// X-Cache result.
    pub cache: CacheResult,
    /// PoP label (`-` without `X-Amz-Cf-Pop`).
    pub pop: String,
    /// Serving tier.
    pub tier: Tier,
    /// Responses.
    pub responses: u64,
    /// Body bytes.
    pub bytes: u64,
    /// Total latency.
    pub latency: LatencySummary,
    /// Time to first byte.
    pub ttfb: LatencySummary,
}

/// One second of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Second since the start (completions in [second, second + 1)).
    pub second: u64,
    /// How long this interval is, seconds: 1 but for the run's last, which ends with the
    /// run (0.4 for a run of 12.4 s). A rate over the interval is its count divided by this.
    #[serde(default = "full_second")]
    pub interval_s: f64,
    /// Responses.
    pub responses: u64,
    /// CDN hits.
    pub hits: u64,
    /// CDN misses.
    pub misses: u64,
    /// Failed requests.
    pub errors: u64,
    /// hits / (hits + misses) in this second.
    pub hit_ratio: Option<f64>,
    /// Responses per serving layer in this second (layers that served any).
    #[serde(default)]
    pub served: Vec<TierCount>,
}

fn full_second() -> f64 {
    1.0
}

/// Responses one layer served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TierCount {
    /// The layer.
    pub tier: Tier,
    /// Responses it served.
    pub responses: u64,
}

/// Failures by kind (bounded: the kinds are a closed set, examples are capped).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// All failed requests.
    pub total: u64,
    /// Count per kind (only kinds that occurred).
    pub by_kind: Vec<KindCount>,
    /// Count per place (only places with errors).
    pub by_place: Vec<PlaceCount>,
    /// The first few messages.
    pub examples: Vec<ErrorExample>,
}

/// A count of one error kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindCount {
    /// The kind's label (`connect`, `timeout`, `digest`, …).
    pub kind: String,
    /// How many.
    pub count: u64,
}

/// Errors of one place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceCount {
    /// Place label.
    pub place: String,
    /// How many.
    pub count: u64,
}

/// One error message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorExample {
    /// The kind's label.
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// What the origin served during the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OriginLoad {
    /// The `/metrics` URLs scraped.
    pub metrics_urls: Vec<String>,
    /// Requests the origin served (after − before).
    pub requests: f64,
    /// Response body bytes the origin sent (after − before).
    pub response_bytes: f64,
    /// What the origin served in each second of the run (scraped once a second).
    pub timeline: Vec<OriginSecond>,
}

/// What the origin served in one interval of the run (scrapes are a second apart, so these
/// are per-second rates).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OriginSecond {
    /// Seconds since the start at the end of the interval.
    pub second: u64,
    /// Origin requests in the interval (since the previous scrape).
    pub requests: f64,
    /// Origin response bytes in the interval (since the previous scrape).
    pub response_bytes: f64,
}

/// The inputs of [`Report::build`].
#[derive(Debug)]
pub struct ReportInput<'a> {
    /// Run name.
    pub label: &'a str,
    /// The plan.
    pub plan: &'a Plan,
    /// The targets.
    pub targets: &'a [Target],
    /// Everything recorded, merged.
    pub recorder: &'a Recorder,
    /// The client links' delivery errors.
    pub delivery: &'a DeliveryErrors,
    /// The emulator's error over time (the send lateness series is in `recorder`).
    pub series: &'a ErrorSeries,
    /// Requests scheduled.
    pub scheduled: u64,
    /// Run wall time.
    pub elapsed: Duration,
    /// Whether the run was stopped early.
    pub interrupted: bool,
    /// Scraped URLs.
    pub origin_metrics: &'a [Uri],
    /// Origin counters before.
    pub origin_before: Option<OriginCounters>,
    /// Origin counters after.
    pub origin_after: Option<OriginCounters>,
    /// Origin counters during.
    pub origin_timeline: Vec<OriginSecond>,
}

/// Everything a report is derived from, as plain data: one run's measurements
/// ([`Report::build`]) or the sum of several shards' ([`crate::merge`]).
#[derive(Debug)]
pub struct Measurements<'a> {
    /// Run name.
    pub label: String,
    /// The run's seed.
    pub seed: u64,
    /// The settings, as reported.
    pub settings: ReportSettings,
    /// The targets, as reported (the recorder's place indices index these).
    pub targets: Vec<ReportTarget>,
    /// The shards measured.
    pub shards: ShardSet,
    /// The identity of the workload and targets.
    pub fingerprint: Option<Fingerprint>,
    /// Latency histograms, timeline and errors.
    pub recorder: &'a Recorder,
    /// The client links' delivery errors.
    pub delivery: &'a DeliveryErrors,
    /// The emulator's error over time (empty for merged shards: not carried in
    /// [`Recorded`]).
    pub series: &'a ErrorSeries,
    /// Requests scheduled.
    pub scheduled: u64,
    /// Run wall time.
    pub elapsed: Duration,
    /// Whether the run was stopped early.
    pub interrupted: bool,
    /// The origin's counters, when its `/metrics` were read.
    pub origin: Option<OriginRecord>,
}

/// The origin's counters around a run.
#[derive(Clone, Debug, PartialEq)]
pub struct OriginRecord {
    /// The `/metrics` URLs read.
    pub metrics_urls: Vec<String>,
    /// The counters before the run.
    pub before: OriginCounters,
    /// The counters after the run.
    pub after: OriginCounters,
    /// What the origin served in each second of the run.
    pub timeline: Vec<OriginSecond>,
}

fn ratio(hits: u64, misses: u64) -> Option<f64> {
    (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64)
}

impl ReportSettings {
    /// The settings of `plan` as a report states them.
    pub fn of(plan: &Plan) -> ReportSettings {
        let settings = &plan.settings;
        ReportSettings {
            arrival: settings.arrival.clone(),
            closed: settings.closed,
            duration_s: settings.duration.as_secs_f64(),
            requests: settings.requests,
            connections: settings.connections,
            timeout_s: settings.timeout.as_secs_f64(),
            zipf_s: settings.zipf_s,
            objects: plan.workload.objects().len(),
        }
    }
}

impl ReportTarget {
    /// `target` as a report states it.
    pub fn of(target: &Target) -> ReportTarget {
        ReportTarget {
            place: target.place.clone(),
            mode: target.mode,
            url: target.base_url.to_string(),
            weight: target.weight,
        }
    }
}

impl Report {
    /// Sets the delivery lateness (ns) of the links between the tiers during this run, as
    /// the cache nodes measured it ([`EmulatorError::tier_links`]): into the emulator's
    /// error, its warning and the recorded histograms (so a merge adds it up).
    pub fn set_tier_links(&mut self, lateness: &Histogram<u64>) {
        self.emulator_error.set_tier_links(lateness);
        if let Some(recorded) = &mut self.recorded {
            recorded.tier_links = (!lateness.is_empty()).then(|| crate::recorded::encode(lateness));
        }
    }

    /// Builds the report of one run (pure).
    pub fn build(input: ReportInput<'_>) -> Report {
        let origin = match (input.origin_before, input.origin_after) {
            (Some(before), Some(after)) => Some(OriginRecord {
                metrics_urls: input.origin_metrics.iter().map(|u| u.to_string()).collect(),
                before,
                after,
                timeline: input.origin_timeline,
            }),
            _ => None,
        };
        Report::derive(Measurements {
            label: input.label.to_string(),
            seed: input.plan.settings.seed,
            settings: ReportSettings::of(input.plan),
            targets: input.targets.iter().map(ReportTarget::of).collect(),
            shards: ShardSet::from(input.plan.settings.shard),
            fingerprint: Some(Fingerprint::of(input.plan, input.targets)),
            recorder: input.recorder,
            delivery: input.delivery,
            series: input.series,
            scheduled: input.scheduled,
            elapsed: input.elapsed,
            interrupted: input.interrupted,
            origin,
        })
    }

    /// Derives every summary (percentiles, CDFs, ratios, shares, timeline) from the
    /// measurements, and carries the histograms themselves losslessly ([`Recorded`]) so that
    /// reports of shards can be added up later (pure).
    pub fn derive(input: Measurements<'_>) -> Report {
        let recorder = input.recorder;
        let targets = &input.targets;
        let place_name = |index: usize| {
            targets
                .get(index)
                .map_or_else(|| format!("#{index}"), |t| t.place.clone())
        };
        let overall = overall(recorder, &place_name);
        let mut totals = overall.totals;
        let errors = error_summary(recorder, &place_name);
        // A failed request with a response (5xx, digest, body) is both a response and an
        // error; transport failures and timeouts are errors only.
        totals.errors = errors.total;
        totals.completed = totals.responses + transport_errors(recorder);
        totals.scheduled = input.scheduled.max(totals.completed);
        totals.unfinished = totals.scheduled - totals.completed;
        totals.hit_ratio = ratio(totals.hits, totals.misses);
        let elapsed_s = input.elapsed.as_secs_f64();
        totals.rate_per_s = if elapsed_s > 0.0 {
            totals.completed as f64 / elapsed_s
        } else {
            0.0
        };
        let recorded = Recorded::new(
            recorder,
            input.delivery,
            &place_name,
            input.origin.as_ref().map(|o| RecordedOrigin {
                before: o.before,
                after: o.after,
            }),
        );
        let mut emulator_error =
            EmulatorError::new(recorder.send_lateness.as_ref(), input.delivery);
        emulator_error.set_series(
            error_points(
                input.series,
                &recorder.send_series,
                &recorder.timeline,
                elapsed_s,
            ),
            elapsed_s,
        );
        Report {
            version: REPORT_VERSION,
            label: input.label,
            seed: input.seed,
            settings: input.settings,
            interrupted: input.interrupted,
            elapsed_s,
            totals,
            latency: LatencySummary::from_histogram(&overall.total),
            ttfb: LatencySummary::from_histogram(&overall.ttfb),
            places: place_summaries(recorder, targets),
            tiers: overall.tiers,
            groups: overall.groups,
            timeline: timeline(recorder, elapsed_s),
            errors,
            origin: input.origin.map(origin_load),
            emulator_error,
            connection_wait: LatenessStats::from(LatenessSummary::from_histogram(
                &recorder.connection_waits(),
            )),
            targets: input.targets,
            shards: input.shards,
            fingerprint: input.fingerprint,
            recorded: Some(recorded),
            map: None,
        }
    }
}

/// The run-wide sums of [`Report::derive`].
struct Overall {
    total: Histogram<u64>,
    ttfb: Histogram<u64>,
    totals: Totals,
    tiers: Vec<TierShare>,
    groups: Vec<GroupSummary>,
}

/// Every group's summary, and the run's latency, counts and tier shares over all groups.
fn overall(recorder: &Recorder, place_name: &dyn Fn(usize) -> String) -> Overall {
    let mut all = Overall {
        total: new_histogram(),
        ttfb: new_histogram(),
        totals: Totals::default(),
        tiers: Vec::new(),
        groups: Vec::new(),
    };
    for group in &recorder.groups {
        // invariant: auto-resizing histograms always add.
        all.total
            .add(&group.total)
            .expect("auto-resizing histograms always add");
        all.ttfb
            .add(&group.ttfb)
            .expect("auto-resizing histograms always add");
        let responses = group.total.len();
        all.totals.responses += responses;
        all.totals.bytes += group.bytes;
        if group.cache.is_hit() {
            all.totals.hits += responses;
        } else if group.cache == CacheResult::Miss {
            all.totals.misses += responses;
        }
        match all.tiers.iter_mut().find(|t| t.tier == group.tier) {
            Some(share) => share.responses += responses,
            None => all.tiers.push(TierShare {
                tier: group.tier,
                responses,
                share: 0.0,
            }),
        }
        all.groups.push(GroupSummary {
            place: place_name(group.place),
            cache: group.cache,
            pop: group.pop.clone(),
            tier: group.tier,
            responses,
            bytes: group.bytes,
            latency: LatencySummary::from_histogram(&group.total),
            ttfb: LatencySummary::from_histogram(&group.ttfb),
        });
    }
    all.groups.sort_by(|a, b| {
        (&a.place, a.cache, &a.pop, a.tier).cmp(&(&b.place, b.cache, &b.pop, b.tier))
    });
    all.tiers.sort_by_key(|t| t.tier);
    for tier in &mut all.tiers {
        tier.share = if all.totals.responses > 0 {
            tier.responses as f64 / all.totals.responses as f64
        } else {
            0.0
        };
    }
    all
}

/// One summary per target (client place), in target order.
fn place_summaries(recorder: &Recorder, targets: &[ReportTarget]) -> Vec<PlaceSummary> {
    let mut places = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        let mut total = new_histogram();
        let mut ttfb = new_histogram();
        let (mut hits, mut misses) = (0, 0);
        for group in recorder.groups.iter().filter(|g| g.place == index) {
            // invariant: auto-resizing histograms always add.
            total
                .add(&group.total)
                .expect("auto-resizing histograms always add");
            ttfb.add(&group.ttfb)
                .expect("auto-resizing histograms always add");
            if group.cache.is_hit() {
                hits += group.total.len();
            } else if group.cache == CacheResult::Miss {
                misses += group.total.len();
            }
        }
        let errors = recorder
            .errors
            .iter()
            .filter(|(p, _)| *p == index)
            .map(|(_, counts)| counts.iter().sum::<u64>())
            .sum();
        places.push(PlaceSummary {
            place: target.place.clone(),
            mode: target.mode,
            responses: total.len(),
            errors,
            hits,
            misses,
            hit_ratio: ratio(hits, misses),
            latency: LatencySummary::from_histogram(&total),
            ttfb: LatencySummary::from_histogram(&ttfb),
            cdf: cdf_of(&total),
            connection_waits: recorder
                .connection_wait
                .iter()
                .filter(|(p, _)| *p == index)
                .map(|(_, waits)| waits.len())
                .sum(),
        });
    }
    places
}

/// Errors by kind, by place, and the first examples.
fn error_summary(recorder: &Recorder, place_name: &dyn Fn(usize) -> String) -> ErrorSummary {
    let mut errors = ErrorSummary::default();
    for kind in RequestErrorKind::ALL {
        let count: u64 = recorder.errors.iter().map(|(_, c)| c[kind.index()]).sum();
        if count > 0 {
            errors.by_kind.push(KindCount {
                kind: kind.as_str().to_string(),
                count,
            });
            errors.total += count;
        }
    }
    for (place, counts) in &recorder.errors {
        let count = counts.iter().sum();
        if count > 0 {
            errors.by_place.push(PlaceCount {
                place: place_name(*place),
                count,
            });
        }
    }
    errors.examples = recorder
        .error_examples
        .iter()
        .map(|(kind, message)| ErrorExample {
            kind: kind.as_str().to_string(),
            message: message.clone(),
        })
        .collect();
    errors
}

/// One point per second of the run, from the recorder's per-second counts; the last
/// interval is as long as what is left of the run's `elapsed_s`.
fn timeline(recorder: &Recorder, elapsed_s: f64) -> Vec<TimelinePoint> {
    recorder
        .timeline
        .iter()
        .enumerate()
        .map(|(second, counts)| TimelinePoint {
            second: second as u64,
            interval_s: interval_s(second as f64, elapsed_s),
            responses: counts.responses,
            hits: counts.hits,
            misses: counts.misses,
            errors: counts.errors,
            hit_ratio: ratio(counts.hits, counts.misses),
            served: Tier::ALL
                .iter()
                .zip(counts.by_tier)
                .filter(|(_, responses)| *responses > 0)
                .map(|(&tier, responses)| TierCount { tier, responses })
                .collect(),
        })
        .collect()
}

/// The length of the interval of the timeline that starts at `second` in a run of
/// `elapsed_s`: a whole second, or what is left of the run (never 0, so a rate stays finite:
/// completions recorded at the very end of a run fall in an interval of a millisecond).
fn interval_s(second: f64, elapsed_s: f64) -> f64 {
    (elapsed_s - second).clamp(0.001, 1.0)
}

/// What the origin served: the counters' differences.
fn origin_load(origin: OriginRecord) -> OriginLoad {
    OriginLoad {
        metrics_urls: origin.metrics_urls,
        requests: (origin.after.requests - origin.before.requests).max(0.0),
        response_bytes: (origin.after.response_bytes - origin.before.response_bytes).max(0.0),
        timeline: origin.timeline,
    }
}

impl Report {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        // invariant: the report holds only strings, numbers and finite floats.
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// The terminal summary: totals, then one line per place, then tiers and errors.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let t = &self.totals;
        let _ = writeln!(
            out,
            "{} run{}: seed {}, {:.1}s, {} requests completed ({:.0}/s), {} errors, {} unfinished",
            self.label,
            if self.interrupted {
                " (interrupted, partial)"
            } else {
                ""
            },
            self.seed,
            self.elapsed_s,
            t.completed,
            t.rate_per_s,
            t.errors,
            t.unfinished
        );
        if self.shards.count > 1 {
            let _ = writeln!(
                out,
                "{} {} of the seeded schedule",
                if self.shards.indices.len() > 1 {
                    "merged shards"
                } else {
                    "shard"
                },
                self.shards
            );
        }
        let _ = writeln!(
            out,
            "latency (ms, from intended send): p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            self.latency.p50_ms,
            self.latency.p90_ms,
            self.latency.p99_ms,
            self.latency.p999_ms,
            self.latency.max_ms
        );
        let _ = writeln!(out, "hit ratio: {}", percent(t.hit_ratio));
        out.push_str(&self.emulator_error.summary_lines());
        if !self.settings.closed {
            out.push_str(&self.connection_wait_line());
        }
        let _ = writeln!(
            out,
            "\n{:<16} {:<6} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "place", "mode", "responses", "errors", "p50 ms", "p90 ms", "p99 ms", "ttfb p50", "hit"
        );
        for place in &self.places {
            let _ = writeln!(
                out,
                "{:<16} {:<6} {:>9} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7}",
                place.place,
                place.mode.as_str(),
                place.responses,
                place.errors,
                place.latency.p50_ms,
                place.latency.p90_ms,
                place.latency.p99_ms,
                place.ttfb.p50_ms,
                percent(place.hit_ratio)
            );
        }
        if !self.tiers.is_empty() {
            let tiers: Vec<String> = self
                .tiers
                .iter()
                .map(|s| format!("{} {:.1}%", s.tier.as_str(), s.share * 100.0))
                .collect();
            let _ = writeln!(out, "\nserved by: {}", tiers.join(", "));
        }
        if let Some(origin) = &self.origin {
            let _ = writeln!(
                out,
                "origin served: {:.0} requests, {} bytes",
                origin.requests, origin.response_bytes as u64
            );
        }
        if self.errors.total > 0 {
            let kinds: Vec<String> = self
                .errors
                .by_kind
                .iter()
                .map(|k| format!("{} {}", k.kind, k.count))
                .collect();
            let _ = writeln!(out, "errors: {}", kinds.join(", "));
            for example in &self.errors.examples {
                let _ = writeln!(out, "  {}: {}", example.kind, example.message);
            }
        }
        if let Some(warning) = &self.emulator_error.warning {
            let _ = writeln!(out, "\nwarning: {warning}");
        }
        out
    }

    /// `connection wait: …`: how many requests found every connection of their place busy,
    /// and for how long they waited.
    fn connection_wait_line(&self) -> String {
        let w = &self.connection_wait;
        if w.count == 0 {
            return "connection wait: none (every request found a free connection)\n".to_string();
        }
        let share = w.count as f64 / self.totals.scheduled.max(1) as f64 * 100.0;
        let places: Vec<String> = self
            .places
            .iter()
            .filter(|p| p.connection_waits > 0)
            .map(|p| format!("{} {}", p.place, p.connection_waits))
            .collect();
        format!(
            "connection wait: {} requests ({share:.2}%) found every connection of their place \
             busy and waited p50/p99/max {:.3}/{:.3}/{:.3} ms (in their latency; {})\n",
            w.count,
            w.p50_ms,
            w.p99_ms,
            w.max_ms,
            places.join(", ")
        )
    }
}

impl EmulatorError {
    /// The summary lines: `emulation error p50/p99/max` and `send lateness p50/p99`, then
    /// `tier links error p50/p99/max` when the run measured the links between tiers.
    pub fn summary_lines(&self) -> String {
        let e = &self.emulation;
        let s = &self.send_lateness;
        let emulation = if e.count == 0 {
            "- (no emulated links)".to_string()
        } else {
            format!(
                "{:.3}/{:.3}/{:.3} ms over {} link deliveries",
                e.p50_ms, e.p99_ms, e.max_ms, e.count
            )
        };
        let send = if s.count == 0 {
            "- (closed loop: no intended send times)".to_string()
        } else {
            format!(
                "{:.3}/{:.3} ms (max {:.3} ms)",
                s.p50_ms, s.p99_ms, s.max_ms
            )
        };
        let mut lines =
            format!("emulation error p50/p99/max: {emulation}\nsend lateness p50/p99: {send}\n");
        let t = &self.tier_links;
        if t.count > 0 {
            let _ = writeln!(
                lines,
                "tier links error p50/p99/max: {:.3}/{:.3}/{:.3} ms over {} link deliveries",
                t.p50_ms, t.p99_ms, t.max_ms, t.count
            );
        }
        if let Some(part) = &self.late_in_part {
            let _ = writeln!(lines, "{part}");
        }
        lines
    }
}

/// Errors that came without a response (transport and timeouts).
fn transport_errors(recorder: &Recorder) -> u64 {
    recorder
        .errors
        .iter()
        .map(|(_, c)| {
            c[RequestErrorKind::Connect.index()]
                + c[RequestErrorKind::Request.index()]
                + c[RequestErrorKind::Timeout.index()]
        })
        .sum()
}

/// `93.1%`, or `-`.
pub fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::{Catalog, CatalogObject};
    use crate::record::{ResponseSample, Sample};
    use crate::scenario::Settings;

    /// A plan over a one-object catalog and a zero-hop target per place (`mode` for all):
    /// the fixture of the report and merge tests.
    pub(crate) fn plan_and_targets(places: &[&str], mode: Mode) -> (Plan, Vec<Target>) {
        let catalog = Catalog {
            seed: None,
            objects: vec![CatalogObject {
                path: "/a".into(),
                class: "static".into(),
                size: None,
                digest: None,
                content_type: None,
            }],
        };
        let names: Vec<String> = places.iter().map(|p| p.to_string()).collect();
        let plan = Plan::new(Settings::default(), &catalog, &names).unwrap();
        let targets = names
            .iter()
            .map(|place| Target {
                place: place.clone(),
                ..Target::local("http://127.0.0.1:1".parse().unwrap(), mode)
            })
            .collect();
        (plan, targets)
    }

    fn sample(place: usize, cache: CacheResult, tier: Tier, ms: u64) -> Sample<'static> {
        Sample {
            place,
            completed_at: Duration::from_millis(ms),
            response: Some(ResponseSample {
                cache,
                pop: "FRA50-P1",
                tier,
                total: Duration::from_millis(ms),
                ttfb: Duration::from_millis(1),
                bytes: 100,
            }),
            error: None,
        }
    }

    /// A run of 12.4 s at a steady 100 responses a second, a tenth of them served by the
    /// origin, the rest at the PoP.
    fn steady_run_of_12_4_s() -> Report {
        let (plan, targets) = plan_and_targets(&["London"], Mode::Edge);
        let mut recorder = Recorder::new();
        for ms in (5..12_400).step_by(10) {
            let (cache, tier) = if ms % 100 == 5 {
                (CacheResult::Miss, Tier::Origin)
            } else {
                (CacheResult::Hit, Tier::Edge)
            };
            recorder.record(sample(0, cache, tier, ms));
        }
        Report::build(ReportInput {
            label: "edge",
            plan: &plan,
            targets: &targets,
            recorder: &recorder,
            delivery: &DeliveryErrors::new(),
            series: &ErrorSeries::default(),
            scheduled: 1240,
            elapsed: Duration::from_millis(12_400),
            interrupted: false,
            origin_metrics: &[],
            origin_before: None,
            origin_after: None,
            origin_timeline: Vec::new(),
        })
    }

    #[test]
    fn a_partial_last_second_is_as_long_as_what_is_left_of_the_run() {
        let report = steady_run_of_12_4_s();
        assert_eq!(report.timeline.len(), 13);
        let last = &report.timeline[12];
        assert_eq!((last.second, last.responses), (12, 40));
        assert!((last.interval_s - 0.4).abs() < 1e-9, "{}", last.interval_s);
        // The rate over every interval, the last too, is the run's 100/s: no dip at the end.
        for point in &report.timeline {
            let rate = point.responses as f64 / point.interval_s;
            assert!(
                (rate - 100.0).abs() < 1e-6,
                "second {}: {rate}/s",
                point.second
            );
        }
        assert!(report.timeline[..12].iter().all(|p| p.interval_s == 1.0));
        // Older reports carry no interval_s: their seconds read as whole.
        let mut json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        json["timeline"][12]
            .as_object_mut()
            .unwrap()
            .remove("interval_s");
        let old: Report = serde_json::from_value(json).unwrap();
        assert_eq!(old.timeline[12].interval_s, 1.0);
    }

    #[test]
    fn totals_ratios_and_shares_add_up() {
        let (plan, targets) = plan_and_targets(&["London", "Tokyo"], Mode::Edge);
        let mut recorder = Recorder::new();
        for ms in 1..=6 {
            recorder.record(sample(0, CacheResult::Hit, Tier::Edge, ms));
        }
        recorder.record(sample(0, CacheResult::Miss, Tier::Rec, 40));
        recorder.record(sample(1, CacheResult::Miss, Tier::Origin, 1500));
        let mut failed = sample(1, CacheResult::Error, Tier::Origin, 1600);
        failed.error = Some((RequestErrorKind::Status5xx, "502".into()));
        recorder.record(failed);
        recorder.record(Sample {
            place: 1,
            completed_at: Duration::from_millis(1700),
            response: None,
            error: Some((RequestErrorKind::Timeout, "late".into())),
        });
        let report = Report::build(ReportInput {
            label: "edge",
            plan: &plan,
            targets: &targets,
            recorder: &recorder,
            delivery: &DeliveryErrors::new(),
            series: &ErrorSeries::default(),
            scheduled: 12,
            elapsed: Duration::from_secs(2),
            interrupted: false,
            origin_metrics: &[],
            origin_before: None,
            origin_after: None,
            origin_timeline: Vec::new(),
        });
        let t = &report.totals;
        assert_eq!(
            (t.responses, t.errors, t.completed, t.unfinished),
            (9, 2, 10, 2)
        );
        assert_eq!((t.hits, t.misses), (6, 2));
        assert_eq!(t.hit_ratio, Some(0.75));
        assert_eq!(t.rate_per_s, 5.0);
        assert_eq!(t.bytes, 900);
        let london = &report.places[0];
        assert_eq!(
            (london.responses, london.errors, london.hit_ratio),
            (7, 0, Some(6.0 / 7.0))
        );
        let tokyo = &report.places[1];
        assert_eq!(
            (tokyo.responses, tokyo.errors, tokyo.hit_ratio),
            (2, 2, Some(0.0))
        );
        let shares: Vec<(Tier, u64)> = report.tiers.iter().map(|s| (s.tier, s.responses)).collect();
        assert_eq!(shares, [(Tier::Edge, 6), (Tier::Rec, 1), (Tier::Origin, 2)]);
        assert!((report.tiers.iter().map(|s| s.share).sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(report.timeline.len(), 2);
        assert_eq!(report.timeline[1].errors, 2);
        assert_eq!(report.errors.by_kind.len(), 2);
        assert!(report.latency.max_ms >= 1599.0 && report.latency.min_ms <= 1.001);
        assert_eq!(report.origin, None);
        assert!(report.summary().contains("London"));
    }

    #[test]
    fn emulator_error_is_summarised_and_warns_past_five_ms() {
        let ms = Duration::from_millis;
        let mut recorder = Recorder::new();
        let delivery = DeliveryErrors::new();
        for i in 0..100u64 {
            recorder.record_send_lateness(
                Duration::from_micros(10 * (i + 1)),
                Duration::from_millis(i),
            );
            delivery.record(PathClass::Internet, Duration::from_micros(i));
        }
        let calm = EmulatorError::new(recorder.send_lateness.as_ref(), &delivery);
        assert_eq!(calm.send_lateness.count, 100);
        assert!((calm.send_lateness.p50_ms - 0.5).abs() < 0.001);
        assert!((calm.send_lateness.p99_ms - 0.99).abs() < 0.001);
        assert!((calm.emulation.max_ms - 0.099).abs() < 0.0001);
        assert_eq!(calm.emulation_by_class.len(), 1);
        assert_eq!(calm.emulation_by_class[0].class, "internet");
        assert_eq!(calm.warning, None);
        let lines = calm.summary_lines();
        assert!(
            lines.contains("emulation error p50/p99/max: 0.049/0.098/0.099 ms"),
            "{lines}"
        );
        assert!(
            lines.contains("send lateness p50/p99: 0.500/0.990 ms"),
            "{lines}"
        );

        // Two late deliveries in a hundred put the p99 of the emulation error over 5 ms.
        delivery.record(PathClass::Backbone, ms(9));
        delivery.record(PathClass::Backbone, ms(9));
        let busy = EmulatorError::new(recorder.send_lateness.as_ref(), &delivery);
        let warning = busy.warning.as_deref().expect("a warning past 5 ms");
        assert!(warning.contains("saturated") && warning.contains("emulation error p99 9.0 ms"));
        assert!(!warning.contains("send lateness"));
        assert!((busy.worst_p99_ms() - 9.0).abs() < 0.01);

        assert!(!lines.contains("tier links"), "no line without tier links");
        // The links between tiers: their own line, and their p99 warns and counts too.
        let mut tiers = edgelab_link::lateness::new_histogram();
        for i in 0..100u64 {
            edgelab_link::lateness::record(&mut tiers, ms(if i < 2 { 12 } else { 1 }));
        }
        let (plan, targets) = plan_and_targets(&["London"], Mode::Edge);
        let mut report = Report::build(ReportInput {
            label: "edge",
            plan: &plan,
            targets: &targets,
            recorder: &recorder,
            delivery: &DeliveryErrors::new(),
            series: &ErrorSeries::default(),
            scheduled: 0,
            elapsed: Duration::from_secs(1),
            interrupted: false,
            origin_metrics: &[],
            origin_before: None,
            origin_after: None,
            origin_timeline: Vec::new(),
        });
        report.set_tier_links(&tiers);
        let own = &report.emulator_error;
        assert_eq!(own.tier_links.count, 100);
        assert!((own.tier_links.p99_ms - 12.0).abs() < 0.02, "{own:?}");
        assert!((own.worst_p99_ms() - 12.0).abs() < 0.02);
        let warning = own.warning.as_deref().expect("a warning past 5 ms");
        assert!(
            warning.contains("tier links' emulation error p99 12.0 ms"),
            "{warning}"
        );
        assert!(
            own.summary_lines()
                .contains("tier links error p50/p99/max: 1.000/12.001/12.001 ms over 100 link"),
            "{}",
            own.summary_lines()
        );
        let recorded = report
            .recorded
            .as_ref()
            .and_then(|r| r.tier_links.as_deref());
        let back = crate::recorded::decode(recorded.expect("recorded for a merge")).unwrap();
        assert_eq!(back.len(), 100);

        let none = EmulatorError::new(None, &DeliveryErrors::new());
        assert!(none.summary_lines().contains("- (no emulated links)"));
        assert!(none.summary_lines().contains("- (closed loop"));
        assert_eq!(none.worst_p99_ms(), 0.0);
    }

    fn counts(responses: &[u64]) -> Vec<crate::record::SecondCounts> {
        responses
            .iter()
            .map(|&responses| crate::record::SecondCounts {
                responses,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn error_points_bin_each_series_with_the_rate_of_its_interval() {
        let ms = Duration::from_millis;
        let mut series = ErrorSeries::default();
        // Client links: 20 ms late in second 0, 1 ms in seconds 1 and 2.
        for i in 0..100 {
            series.client_links.record(ms(i * 9), ms(20));
            series.client_links.record(ms(1000 + i * 9), ms(1));
            series.client_links.record(ms(2000 + i * 4), ms(1));
        }
        series.tier_links.record(ms(1500), ms(7));
        let mut send = LatenessSeries::new();
        send.record(ms(2100), ms(3));
        let points = error_points(&series, &send, &counts(&[10, 20, 30]), 2.5);
        assert_eq!(points.len(), 3);
        assert_eq!(
            points.iter().map(|p| p.start_s).collect::<Vec<_>>(),
            [0.0, 1.0, 2.0]
        );
        assert_eq!(points[2].interval_s, 0.5);
        assert_eq!(
            points.iter().map(|p| p.rate_per_s).collect::<Vec<_>>(),
            [10.0, 20.0, 60.0]
        );
        let close = |got: f64, want: f64| (got - want).abs() <= want / 50.0;
        assert!(close(points[0].client_links.p99_ms, 20.0), "{points:?}");
        assert!(close(points[1].client_links.p50_ms, 1.0), "{points:?}");
        assert_eq!(points[0].tier_links, PointStats::default());
        assert_eq!(points[1].tier_links.count, 1);
        assert!(close(points[2].send_lateness.max_ms, 3.0));
        assert_eq!(points[0].send_lateness.count, 0);

        // The responses of seconds after the last measurement still get a point.
        let points = error_points(&series, &send, &counts(&[1, 1, 1, 1, 1]), 4.2);
        assert_eq!(points.len(), 5);
        assert_eq!(points[4].client_links.count, 0);
        // Nothing measured over time: no series.
        let empty = error_points(
            &ErrorSeries::default(),
            &LatenessSeries::new(),
            &counts(&[5]),
            1.0,
        );
        assert!(empty.is_empty());
    }

    #[test]
    fn error_points_of_a_coarsened_series_line_up_at_its_interval() {
        let mut series = ErrorSeries::default();
        let seconds = edgelab_link::lateness::MAX_INTERVALS as u64 + 10;
        for second in 0..seconds {
            series
                .tier_links
                .record(Duration::from_secs(second), Duration::from_millis(1));
        }
        let mut send = LatenessSeries::new();
        send.record(Duration::from_secs(3), Duration::from_millis(2));
        let timeline = counts(&vec![1; seconds as usize]);
        let points = error_points(&series, &send, &timeline, seconds as f64);
        assert_eq!(points[1].start_s, 2.0);
        assert_eq!(points[1].interval_s, 2.0);
        assert_eq!(points[1].rate_per_s, 1.0);
        assert_eq!(points[1].tier_links.count, 2);
        assert_eq!(points[1].send_lateness.count, 1);
        let tier: u64 = points.iter().map(|p| p.tier_links.count).sum();
        assert_eq!(tier, seconds);
    }

    fn point(start_s: f64, client: f64, tier: f64, send: f64) -> ErrorPoint {
        let stats = |p99_ms: f64| PointStats {
            count: 10,
            p50_ms: p99_ms / 2.0,
            p99_ms,
            max_ms: p99_ms,
        };
        ErrorPoint {
            start_s,
            interval_s: 1.0,
            rate_per_s: 10.0,
            client_links: stats(client),
            tier_links: stats(tier),
            send_lateness: stats(send),
        }
    }

    #[test]
    fn a_bound_broken_in_part_of_the_run_is_named_by_its_seconds() {
        let mut own = EmulatorError::new(None, &DeliveryErrors::new());
        let mut series: Vec<ErrorPoint> = (0..15).map(|s| point(s as f64, 1.0, 2.0, 0.5)).collect();
        for second in [0, 1, 2, 3] {
            series[second].tier_links.p99_ms = 400.0;
        }
        series[1].client_links.p99_ms = 9.0;
        series[7].send_lateness.p99_ms = 6.0;
        own.set_series(series.clone(), 14.3);
        let part = own.late_in_part.clone().unwrap();
        assert_eq!(
            part,
            "emulator error p99 > 5 ms in seconds 0\u{2013}3, 7 of 15 (client links, tier links, \
             send lateness): results from those seconds are the emulator's"
        );
        assert!(own.summary_lines().contains(&part));

        // Within the bound throughout, or over it throughout: nothing to single out.
        let held: Vec<ErrorPoint> = (0..5).map(|s| point(s as f64, 1.0, 2.0, 0.5)).collect();
        own.set_series(held, 5.0);
        assert_eq!(own.late_in_part, None);
        let late: Vec<ErrorPoint> = (0..5).map(|s| point(s as f64, 9.0, 2.0, 0.5)).collect();
        own.set_series(late, 5.0);
        assert_eq!(own.late_in_part, None);
        // Intervals without measurements do not count either way.
        let mut gaps = series;
        gaps.truncate(3);
        gaps[0] = ErrorPoint {
            start_s: 0.0,
            interval_s: 1.0,
            ..ErrorPoint::default()
        };
        own.set_series(gaps, 3.0);
        assert_eq!(own.late_in_part, None);
    }
}
