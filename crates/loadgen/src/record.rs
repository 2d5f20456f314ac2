//! Recording: HDR histograms of total latency and time to first byte per place × X-Cache ×
//! PoP × tier, hit ratio per second, and errors by kind. Each target (client place) has one
//! [`Recorder`], shared by its connections under a short lock (one per connection would cost
//! a full set of histograms each); recorders are merged at the end and no sample is kept.
//!
//! Values are microseconds. Histograms auto-resize (3 significant digits), so a run that only
//! sees sub-millisecond latencies keeps small arrays.

use std::time::Duration;

use edgelab_link::LatenessSeries;
use hdrhistogram::Histogram;
use http::HeaderMap;

use edgelab_common::names::header;
use edgelab_wire::{XCache, server_timing};

use crate::error::RequestErrorKind;

/// Significant digits of every histogram (0.1 % value resolution).
pub const SIGFIG: u8 = 3;
/// Most distinct groups one recorder keeps; further PoPs are folded into [`OTHER_POP`].
pub const MAX_GROUPS: usize = 512;
/// Most per-second timeline buckets (one day).
pub const MAX_SECONDS: usize = 86_400;
/// Most error examples kept (the first ones seen).
pub const MAX_ERROR_EXAMPLES: usize = 8;
/// PoP label for responses without `X-Amz-Cf-Pop`.
pub const NO_POP: &str = "-";
/// PoP label once [`MAX_GROUPS`] is reached.
pub const OTHER_POP: &str = "(other)";

/// A new empty histogram with the shared precision.
pub fn new_histogram() -> Histogram<u64> {
    // invariant: 3 significant digits is within hdrhistogram's 0..=5 range.
    Histogram::new(SIGFIG).expect("3 significant digits is a valid precision")
}

/// Largest value recorded (one hour in µs); longer latencies are clamped to it.
pub const MAX_VALUE_US: u64 = 3_600_000_000;

/// Records `value` µs, growing the histogram as needed (clamped to [`MAX_VALUE_US`]).
pub fn record_value(histogram: &mut Histogram<u64>, value: u64) {
    let value = value.clamp(1, MAX_VALUE_US);
    if histogram.record(value).is_err() {
        histogram.saturating_record(value);
    }
}

/// Microseconds in `duration`, at least 1 (the histogram's lowest value).
pub fn micros(duration: Duration) -> u64 {
    (duration.as_micros().min(u64::MAX as u128) as u64).max(1)
}

/// The cache result a response reports in `X-Cache` (CloudFront's values).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CacheResult {
    /// `Hit from cloudfront`.
    Hit,
    /// `RefreshHit from cloudfront` (revalidated, 304 from upstream).
    RefreshHit,
    /// `Miss from cloudfront`.
    Miss,
    /// `Error from cloudfront`.
    Error,
    /// Some other `X-Cache` value.
    Other,
    /// No `X-Cache` header (a direct response from the origin).
    None,
}

impl CacheResult {
    /// Reads `X-Cache`.
    pub fn from_headers(headers: &HeaderMap) -> CacheResult {
        let Some(value) = headers.get(header::X_CACHE).and_then(|v| v.to_str().ok()) else {
            return CacheResult::None;
        };
        match XCache::parse(value) {
            Some(XCache::Hit) => CacheResult::Hit,
            Some(XCache::RefreshHit) => CacheResult::RefreshHit,
            Some(XCache::Miss) => CacheResult::Miss,
            Some(XCache::Error) => CacheResult::Error,
            None => CacheResult::Other,
        }
    }

    /// The label used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::RefreshHit => "refresh_hit",
            CacheResult::Miss => "miss",
            CacheResult::Error => "error",
            CacheResult::Other => "other",
            CacheResult::None => "none",
        }
    }

    /// Whether the CDN answered from a cache (`Hit` or `RefreshHit`).
    pub fn is_hit(self) -> bool {
        matches!(self, CacheResult::Hit | CacheResult::RefreshHit)
    }
}

/// The layer that served a response: a cache tier, the origin, or none (no CDN).
pub use edgelab_wire::Layer as Tier;

/// Reads `Server-Timing: cdn-hit-layer;desc=…`; without it a CDN hit is the edge's, a CDN
/// miss or error the origin's, and a response without `X-Cache` is [`Tier::None`].
pub fn tier_from_headers(headers: &HeaderMap, cache: CacheResult) -> Tier {
    let values = headers
        .get_all(header::SERVER_TIMING)
        .iter()
        .filter_map(|v| v.to_str().ok());
    if let Some(tier) = server_timing::hit_layer(values) {
        return tier.into();
    }
    match cache {
        CacheResult::None => Tier::None,
        CacheResult::Hit | CacheResult::RefreshHit => Tier::Edge,
        _ => Tier::Origin,
    }
}

/// The PoP label from `X-Amz-Cf-Pop` (at most 32 visible characters).
pub fn pop_from_headers(headers: &HeaderMap) -> &str {
    headers
        .get(header::X_AMZ_CF_POP)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 32)
        .unwrap_or(NO_POP)
}

/// Latencies of one group of responses.
#[derive(Clone, Debug)]
pub struct Group {
    /// Index of the client place (target order).
    pub place: usize,
    /// X-Cache result.
    pub cache: CacheResult,
    /// PoP label.
    pub pop: String,
    /// Serving tier.
    pub tier: Tier,
    /// Intended send → end of body, µs.
    pub total: Histogram<u64>,
    /// Intended send → response head, µs.
    pub ttfb: Histogram<u64>,
    /// Body bytes received.
    pub bytes: u64,
}

/// Per-second counts (by completion time, from the start of the run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SecondCounts {
    /// Responses (with a status) completed in this second.
    pub responses: u64,
    /// Of which CDN hits.
    pub hits: u64,
    /// Of which CDN misses.
    pub misses: u64,
    /// Requests that failed in this second (any [`RequestErrorKind`]).
    pub errors: u64,
    /// Responses per serving layer, indexed by the layer's position in [`Tier::ALL`].
    pub by_tier: [u64; Tier::ALL.len()],
}

/// Position of `tier` in [`Tier::ALL`] (the index of [`SecondCounts::by_tier`]).
pub fn tier_index(tier: Tier) -> usize {
    // invariant: Tier::ALL lists every layer.
    Tier::ALL
        .iter()
        .position(|t| *t == tier)
        .expect("Tier::ALL lists every layer")
}

/// What one request produced, as the recorder needs it.
#[derive(Debug)]
pub struct Sample<'a> {
    /// Index of the client place.
    pub place: usize,
    /// When it completed, from the start of the run.
    pub completed_at: Duration,
    /// The response, if a head arrived.
    pub response: Option<ResponseSample<'a>>,
    /// The failure, if any (a response can also carry one: 5xx, digest mismatch).
    pub error: Option<(RequestErrorKind, String)>,
}

/// The measured parts of a response.
#[derive(Debug)]
pub struct ResponseSample<'a> {
    /// X-Cache result.
    pub cache: CacheResult,
    /// PoP label.
    pub pop: &'a str,
    /// Serving tier.
    pub tier: Tier,
    /// Intended send → end of body.
    pub total: Duration,
    /// Intended send → response head.
    pub ttfb: Duration,
    /// Body bytes received.
    pub bytes: u64,
}

/// One worker's measurements.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    /// Latency groups.
    pub groups: Vec<Group>,
    /// Per-second counts.
    pub timeline: Vec<SecondCounts>,
    /// Error counts per place, indexed by [`RequestErrorKind::index`].
    pub errors: Vec<(usize, [u64; RequestErrorKind::ALL.len()])>,
    /// The first few error messages.
    pub error_examples: Vec<(RequestErrorKind, String)>,
    /// Send lateness (open loop): how long after it could have left each request left, in
    /// nanoseconds (`edgelab_link::lateness`); `None` until the first one.
    pub send_lateness: Option<Histogram<u64>>,
    /// Send lateness by when each request was sent (from the start of the run).
    pub send_series: LatenessSeries,
    /// Connection waits (open loop) per place: how long each request that found every
    /// connection of its place busy waited for one, in nanoseconds. Only places where a
    /// request waited have an entry.
    pub connection_wait: Vec<(usize, Histogram<u64>)>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Records one request.
    pub fn record(&mut self, sample: Sample<'_>) {
        let second = (sample.completed_at.as_secs() as usize).min(MAX_SECONDS - 1);
        if self.timeline.len() <= second {
            self.timeline.resize(second + 1, SecondCounts::default());
        }
        let counts = &mut self.timeline[second];
        if let Some(response) = &sample.response {
            counts.responses += 1;
            if response.cache.is_hit() {
                counts.hits += 1;
            } else if response.cache == CacheResult::Miss {
                counts.misses += 1;
            }
            counts.by_tier[tier_index(response.tier)] += 1;
            let group = self.group(sample.place, response.cache, response.pop, response.tier);
            record_value(&mut group.total, micros(response.total));
            record_value(&mut group.ttfb, micros(response.ttfb));
            group.bytes += response.bytes;
        }
        if let Some((kind, message)) = sample.error {
            self.timeline[second].errors += 1;
            self.count_error(sample.place, kind, 1);
            if self.error_examples.len() < MAX_ERROR_EXAMPLES {
                self.error_examples.push((kind, message));
            }
        }
    }

    /// Records how late one request was sent (see `run`: actual send − the later of its
    /// intended time and the moment a connection was free for it), `at` after the start of
    /// the run.
    pub fn record_send_lateness(&mut self, late: Duration, at: Duration) {
        let histogram = self
            .send_lateness
            .get_or_insert_with(edgelab_link::lateness::new_histogram);
        edgelab_link::lateness::record(histogram, late);
        self.send_series.record(at, late);
    }

    /// Records that a request of `place` waited `wait` for a free connection.
    pub fn record_connection_wait(&mut self, place: usize, wait: Duration) {
        let index = match self.connection_wait.iter().position(|(p, _)| *p == place) {
            Some(index) => index,
            None => {
                self.connection_wait
                    .push((place, edgelab_link::lateness::new_histogram()));
                self.connection_wait.len() - 1
            }
        };
        edgelab_link::lateness::record(&mut self.connection_wait[index].1, wait);
    }

    /// Every connection wait, all places together (empty if none waited).
    pub fn connection_waits(&self) -> Histogram<u64> {
        let mut all = edgelab_link::lateness::new_histogram();
        for (_, waits) in &self.connection_wait {
            // invariant: auto-resizing histograms always add.
            all.add(waits).expect("auto-resizing histograms always add");
        }
        all
    }

    fn count_error(&mut self, place: usize, kind: RequestErrorKind, count: u64) {
        match self.errors.iter_mut().find(|(p, _)| *p == place) {
            Some((_, counts)) => counts[kind.index()] += count,
            None => {
                let mut counts = [0; RequestErrorKind::ALL.len()];
                counts[kind.index()] = count;
                self.errors.push((place, counts));
            }
        }
    }

    fn group(&mut self, place: usize, cache: CacheResult, pop: &str, tier: Tier) -> &mut Group {
        let find = |groups: &[Group], pop: &str| {
            groups.iter().position(|g| {
                g.place == place && g.cache == cache && g.tier == tier && g.pop == pop
            })
        };
        let mut pop = pop;
        let mut index = find(&self.groups, pop);
        if index.is_none() && self.groups.len() >= MAX_GROUPS {
            pop = OTHER_POP;
            index = find(&self.groups, pop);
        }
        let index = match index {
            Some(index) => index,
            None => {
                self.groups.push(Group {
                    place,
                    cache,
                    pop: pop.to_string(),
                    tier,
                    total: new_histogram(),
                    ttfb: new_histogram(),
                    bytes: 0,
                });
                self.groups.len() - 1
            }
        };
        &mut self.groups[index]
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: Recorder) {
        for group in other.groups {
            let into = self.group(group.place, group.cache, &group.pop, group.tier);
            // invariant: every histogram auto-resizes, so adding cannot run out of range.
            into.total
                .add(&group.total)
                .expect("auto-resizing histograms always add");
            into.ttfb
                .add(&group.ttfb)
                .expect("auto-resizing histograms always add");
            into.bytes += group.bytes;
        }
        if self.timeline.len() < other.timeline.len() {
            self.timeline
                .resize(other.timeline.len(), SecondCounts::default());
        }
        for (into, from) in self.timeline.iter_mut().zip(&other.timeline) {
            into.responses += from.responses;
            into.hits += from.hits;
            into.misses += from.misses;
            into.errors += from.errors;
            for (into, from) in into.by_tier.iter_mut().zip(from.by_tier) {
                *into += from;
            }
        }
        for (place, counts) in other.errors {
            for kind in RequestErrorKind::ALL {
                if counts[kind.index()] > 0 {
                    self.count_error(place, kind, counts[kind.index()]);
                }
            }
        }
        for example in other.error_examples {
            if self.error_examples.len() < MAX_ERROR_EXAMPLES {
                self.error_examples.push(example);
            }
        }
        for (place, waits) in other.connection_wait {
            match self.connection_wait.iter_mut().find(|(p, _)| *p == place) {
                // invariant: auto-resizing histograms always add.
                Some((_, into)) => into
                    .add(&waits)
                    .expect("auto-resizing histograms always add"),
                None => self.connection_wait.push((place, waits)),
            }
        }
        self.send_series.add(&other.send_series);
        if let Some(late) = other.send_lateness {
            match &mut self.send_lateness {
                // invariant: auto-resizing histograms always add.
                Some(into) => into
                    .add(&late)
                    .expect("auto-resizing histograms always add"),
                None => self.send_lateness = Some(late),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn response(cache: CacheResult, tier: Tier, ms: u64) -> Option<ResponseSample<'static>> {
        Some(ResponseSample {
            cache,
            pop: "FRA56-P1",
            tier,
            total: Duration::from_millis(ms),
            ttfb: Duration::from_millis(ms / 2),
            bytes: 10,
        })
    }

    #[test]
    fn headers_map_to_cache_result_tier_and_pop() {
        let mut headers = HeaderMap::new();
        assert_eq!(CacheResult::from_headers(&headers), CacheResult::None);
        assert_eq!(tier_from_headers(&headers, CacheResult::None), Tier::None);
        headers.insert(
            header::X_CACHE,
            HeaderValue::from_static("Miss from cloudfront"),
        );
        headers.insert(header::X_AMZ_CF_POP, HeaderValue::from_static("NRT57-P2"));
        headers.append(
            header::SERVER_TIMING,
            HeaderValue::from_static("cdn-upstream-dns;dur=0"),
        );
        headers.append(
            header::SERVER_TIMING,
            HeaderValue::from_static("cdn-cache-miss, cdn-hit-layer;desc=\"Origin Shield\""),
        );
        let cache = CacheResult::from_headers(&headers);
        assert_eq!(cache, CacheResult::Miss);
        assert_eq!(tier_from_headers(&headers, cache), Tier::Shield);
        assert_eq!(pop_from_headers(&headers), "NRT57-P2");
        headers.insert(
            header::SERVER_TIMING,
            HeaderValue::from_static("cdn-hit-layer;desc=REC"),
        );
        assert_eq!(tier_from_headers(&headers, cache), Tier::Rec);
        headers.remove(header::SERVER_TIMING);
        assert_eq!(tier_from_headers(&headers, cache), Tier::Origin);
        headers.insert(
            header::X_CACHE,
            HeaderValue::from_static("RefreshHit from cloudfront"),
        );
        assert!(CacheResult::from_headers(&headers).is_hit());
    }

    #[test]
    fn merging_adds_histograms_timelines_and_errors() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for ms in 1..=100 {
            a.record(Sample {
                place: 0,
                completed_at: Duration::from_millis(ms * 9),
                response: response(CacheResult::Hit, Tier::Edge, ms),
                error: None,
            });
        }
        for ms in 101..=200 {
            b.record(Sample {
                place: 0,
                completed_at: Duration::from_millis(1500),
                response: response(CacheResult::Hit, Tier::Edge, ms),
                error: None,
            });
        }
        b.record(Sample {
            place: 0,
            completed_at: Duration::from_millis(2500),
            response: response(CacheResult::Miss, Tier::Origin, 300),
            error: Some((RequestErrorKind::Status5xx, "503".into())),
        });
        b.record(Sample {
            place: 1,
            completed_at: Duration::from_millis(100),
            response: None,
            error: Some((RequestErrorKind::Connect, "refused".into())),
        });
        a.merge(b);
        let hits = a
            .groups
            .iter()
            .find(|g| g.cache == CacheResult::Hit)
            .unwrap();
        assert_eq!(hits.total.len(), 200);
        // p50 of 1..=200 ms is 100 ms (within the histogram's 0.1 %).
        let p50 = hits.total.value_at_quantile(0.5) as f64;
        assert!((p50 / 100_000.0 - 1.0).abs() < 0.002, "{p50}");
        assert_eq!(a.groups.len(), 2);
        assert_eq!(a.timeline.len(), 3);
        assert_eq!(
            a.timeline[1],
            SecondCounts {
                responses: 100,
                hits: 100,
                misses: 0,
                errors: 0,
                by_tier: [100, 0, 0, 0, 0],
            }
        );
        assert_eq!(
            a.timeline[2],
            SecondCounts {
                responses: 1,
                hits: 0,
                misses: 1,
                errors: 1,
                by_tier: [0, 0, 0, 1, 0],
            }
        );
        assert_eq!(a.timeline[0].errors, 1);
        let place1 = a.errors.iter().find(|(p, _)| *p == 1).unwrap().1;
        assert_eq!(place1[RequestErrorKind::Connect.index()], 1);
        assert_eq!(a.error_examples.len(), 2);
    }

    #[test]
    fn groups_are_bounded() {
        let mut recorder = Recorder::new();
        for i in 0..(MAX_GROUPS + 50) {
            let pop = format!("P{i}");
            recorder.record(Sample {
                place: 0,
                completed_at: Duration::ZERO,
                response: Some(ResponseSample {
                    cache: CacheResult::Hit,
                    pop: &pop,
                    tier: Tier::Edge,
                    total: Duration::from_millis(1),
                    ttfb: Duration::from_millis(1),
                    bytes: 1,
                }),
                error: None,
            });
        }
        assert_eq!(recorder.groups.len(), MAX_GROUPS + 1);
        let other = recorder.groups.iter().find(|g| g.pop == OTHER_POP).unwrap();
        assert_eq!(other.total.len(), 50);
    }
}
