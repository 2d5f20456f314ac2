//! How late the emulator itself is: [`DeliveryErrors`] counts, per path class, how long after
//! its scheduled time each delivery of the delay line reached its reader.
//!
//! A delay line holds bytes until `arrival + RTT` (plus pacing) and then wakes its reader.
//! The timer fires on the runtime's next tick after the deadline (tokio: 1 ms), and a busy
//! host runs the woken task later still, so every delivery is a little late; that lateness
//! is added to every latency a run measures. Only deliveries the reader was *waiting for*
//! count: bytes whose time passed while nobody was reading (a slow consumer, back-pressure)
//! were held up by the reader, not by the emulator.
//!
//! Recording is one uncontended lock and one histogram increment per delivery (one per
//! response head and per body chunk, not per byte). Values are nanoseconds in an HDR
//! histogram (3 significant digits), clamped to [`MAX_LATENESS`].
//!
//! Over time: a [`TimedLateness`] attached to a [`DeliveryErrors`] (or fed directly) also bins
//! every value by when it happened into a [`LatenessSeries`], one coarser histogram per
//! interval of a run, so a report can show *when* the emulator was late (a cold start, a
//! burst) and not only how late over the whole run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgelab_geo::PathClass;
use hdrhistogram::Histogram;
use tokio::time::Instant;

/// Longest lateness recorded; anything later is counted as this (one minute).
pub const MAX_LATENESS: Duration = Duration::from_secs(60);

/// An empty lateness histogram: nanoseconds, 3 significant digits, growing as needed.
pub fn new_histogram() -> Histogram<u64> {
    // invariant: 3 significant digits is within hdrhistogram's 0..=5 range.
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

/// Records `late` into `histogram` (nanoseconds, clamped to [`MAX_LATENESS`]).
pub fn record(histogram: &mut Histogram<u64>, late: Duration) {
    let nanos = late.min(MAX_LATENESS).as_nanos() as u64;
    if histogram.record(nanos).is_err() {
        histogram.saturating_record(nanos);
    }
}

/// Percentiles of one lateness distribution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatenessSummary {
    /// Deliveries (or sends) counted.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Latest.
    pub max: Duration,
    /// Mean.
    pub mean: Duration,
}

impl LatenessSummary {
    /// Summarises a histogram of nanoseconds (zeros when it is empty).
    pub fn from_histogram(histogram: &Histogram<u64>) -> LatenessSummary {
        if histogram.is_empty() {
            return LatenessSummary::default();
        }
        let at = |q: f64| Duration::from_nanos(histogram.value_at_quantile(q));
        LatenessSummary {
            count: histogram.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: Duration::from_nanos(histogram.max()),
            mean: Duration::from_nanos(histogram.mean().round() as u64),
        }
    }
}

/// Delivery lateness per [`PathClass`], shared by every connector (and stream) given a clone.
/// Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct DeliveryErrors {
    classes: Arc<[Mutex<Slot>; 3]>,
}

/// One class's histogram, and the series its deliveries also go to while one is attached.
#[derive(Debug, Default)]
struct Slot {
    histogram: Option<Histogram<u64>>,
    series: Option<TimedLateness>,
}

fn index(class: PathClass) -> usize {
    match class {
        PathClass::Backbone => 0,
        PathClass::Internet => 1,
        PathClass::LastMile => 2,
    }
}

impl DeliveryErrors {
    /// An empty set of histograms (allocated on the first record of each class).
    pub fn new() -> DeliveryErrors {
        DeliveryErrors::default()
    }

    /// Counts one delivery of `class` that reached its reader `late` after its scheduled time
    /// (now, for an attached series: [`DeliveryErrors::record_at`]).
    pub fn record(&self, class: PathClass, late: Duration) {
        self.record_at(class, late, Instant::now());
    }

    /// Counts one delivery of `class` that reached its reader `late` after its scheduled
    /// time, at `now` (the interval of an attached [`TimedLateness`] it falls in).
    pub fn record_at(&self, class: PathClass, late: Duration, now: Instant) {
        // invariant: nothing panics while the lock is held, so it is never poisoned.
        let mut slot = self.classes[index(class)]
            .lock()
            .expect("delivery histogram lock is not poisoned");
        record(slot.histogram.get_or_insert_with(new_histogram), late);
        if let Some(series) = &slot.series {
            series.record(now, late);
        }
    }

    /// From now on every delivery of every class also goes into `series` (`None`: no longer
    /// into any). Clones share the attachment. Several sets of delivery errors may feed one
    /// series (every cache node's upstream links into a run's tier-link series).
    pub fn attach(&self, series: Option<&TimedLateness>) {
        for slot in self.classes.iter() {
            // invariant: nothing panics while the lock is held, so it is never poisoned.
            slot.lock()
                .expect("delivery histogram lock is not poisoned")
                .series = series.cloned();
        }
    }

    /// Adds every delivery counted in `histogram` (nanoseconds) to `class`: how the
    /// measurements of separate runs (saved in their reports) are added up.
    pub fn add(&self, class: PathClass, histogram: &Histogram<u64>) {
        // invariant: nothing panics while the lock is held, so it is never poisoned.
        let mut slot = self.classes[index(class)]
            .lock()
            .expect("delivery histogram lock is not poisoned");
        // invariant: auto-resizing histograms always add.
        slot.histogram
            .get_or_insert_with(new_histogram)
            .add(histogram)
            .expect("auto-resizing histograms always add");
    }

    /// A copy of the histogram of `class` (nanoseconds; empty when nothing was recorded).
    pub fn histogram(&self, class: PathClass) -> Histogram<u64> {
        // invariant: nothing panics while the lock is held, so it is never poisoned.
        let slot = self.classes[index(class)]
            .lock()
            .expect("delivery histogram lock is not poisoned");
        slot.histogram.clone().unwrap_or_else(new_histogram)
    }

    /// The summary of `class`.
    pub fn summary(&self, class: PathClass) -> LatenessSummary {
        LatenessSummary::from_histogram(&self.histogram(class))
    }

    /// Every class's histogram merged (the emulator's error over all its links).
    pub fn all(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for class in PathClass::ALL {
            // invariant: auto-resizing histograms always add.
            all.add(self.histogram(class))
                .expect("auto-resizing histograms always add");
        }
        all
    }
}

/// Significant digits of each interval's histogram in a [`LatenessSeries`] (1 % value
/// resolution: enough for a p99 per second, at a tenth of the memory of the run-wide 3).
pub const SERIES_SIGFIG: u8 = 2;

/// Most intervals a [`LatenessSeries`] keeps; past it the interval doubles (neighbouring
/// intervals are added up), so a long run costs at most this many histograms (a few KiB each).
pub const MAX_INTERVALS: usize = 512;

/// The interval a [`LatenessSeries`] starts with.
pub const SERIES_INTERVAL: Duration = Duration::from_secs(1);

/// Lateness binned by when it happened: one histogram (µs, [`SERIES_SIGFIG`]) per interval
/// from the series' start, the interval doubling whenever the run outgrows
/// [`MAX_INTERVALS`]. Pure: the time of each value is given, as an offset from the start.
#[derive(Clone, Debug, PartialEq)]
pub struct LatenessSeries {
    interval: Duration,
    bins: Vec<Histogram<u32>>,
}

impl Default for LatenessSeries {
    fn default() -> LatenessSeries {
        LatenessSeries::new()
    }
}

fn new_bin() -> Histogram<u32> {
    // invariant: 2 significant digits is within hdrhistogram's 0..=5 range.
    Histogram::new(SERIES_SIGFIG).expect("2 significant digits is a valid precision")
}

impl LatenessSeries {
    /// An empty series of [`SERIES_INTERVAL`]s.
    pub fn new() -> LatenessSeries {
        LatenessSeries {
            interval: SERIES_INTERVAL,
            bins: Vec::new(),
        }
    }

    /// How long each interval is.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// One histogram (µs) per interval, from the start; intervals after the last value are
    /// absent, those before it with nothing in them are empty.
    pub fn bins(&self) -> &[Histogram<u32>] {
        &self.bins
    }

    /// Values recorded, every interval together.
    pub fn count(&self) -> u64 {
        self.bins.iter().map(Histogram::len).sum()
    }

    /// Records `late`, which happened `at` after the start of the series.
    pub fn record(&mut self, at: Duration, late: Duration) {
        let index = self.index_of(at);
        let micros = (late.min(MAX_LATENESS).as_micros() as u64).max(1);
        let bin = &mut self.bins[index];
        if bin.record(micros).is_err() {
            bin.saturating_record(micros);
        }
    }

    /// The interval `at` falls in, coarsening and growing the series to hold it.
    fn index_of(&mut self, at: Duration) -> usize {
        let mut index = (at.as_nanos() / self.interval.as_nanos()) as usize;
        while index >= MAX_INTERVALS {
            self.coarsen();
            index /= 2;
        }
        if self.bins.len() <= index {
            self.bins.resize_with(index + 1, new_bin);
        }
        index
    }

    /// Doubles the interval, adding up neighbouring intervals.
    fn coarsen(&mut self) {
        let bins = std::mem::take(&mut self.bins);
        let mut pairs = bins.into_iter();
        while let Some(mut first) = pairs.next() {
            if let Some(second) = pairs.next() {
                // invariant: auto-resizing histograms always add.
                first
                    .add(second)
                    .expect("auto-resizing histograms always add");
            }
            self.bins.push(first);
        }
        self.interval *= 2;
    }

    /// Coarsens the series until its interval is at least `interval` (a multiple of
    /// [`SERIES_INTERVAL`] by doubling, as every series' is), so that two series line up.
    pub fn coarsen_to(&mut self, interval: Duration) {
        while self.interval < interval {
            self.coarsen();
        }
    }

    /// Adds `other` (a series with the same start) interval by interval.
    pub fn add(&mut self, other: &LatenessSeries) {
        let mut other = other.clone();
        other.coarsen_to(self.interval);
        self.coarsen_to(other.interval);
        if self.bins.len() < other.bins.len() {
            self.bins.resize_with(other.bins.len(), new_bin);
        }
        for (into, from) in self.bins.iter_mut().zip(&other.bins) {
            // invariant: auto-resizing histograms always add.
            into.add(from).expect("auto-resizing histograms always add");
        }
    }
}

/// A [`LatenessSeries`] that starts at an instant and is fed from many places at once
/// (every connection of a run, through [`DeliveryErrors::attach`]). Cheap to clone; clones
/// share the series.
#[derive(Clone, Debug)]
pub struct TimedLateness {
    start: Instant,
    series: Arc<Mutex<LatenessSeries>>,
}

impl TimedLateness {
    /// An empty series starting at `start`.
    pub fn new(start: Instant) -> TimedLateness {
        TimedLateness {
            start,
            series: Arc::default(),
        }
    }

    /// Records `late`, which happened at `now` (at the start if `now` is before it).
    pub fn record(&self, now: Instant, late: Duration) {
        let at = now.saturating_duration_since(self.start);
        // invariant: nothing panics while the lock is held, so it is never poisoned.
        self.series
            .lock()
            .expect("lateness series lock is not poisoned")
            .record(at, late);
    }

    /// A copy of the series so far.
    pub fn snapshot(&self) -> LatenessSeries {
        // invariant: nothing panics while the lock is held, so it is never poisoned.
        self.series
            .lock()
            .expect("lateness series lock is not poisoned")
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let mut h = new_histogram();
        for micros in 1..=100u64 {
            record(&mut h, Duration::from_micros(micros));
        }
        let s = LatenessSummary::from_histogram(&h);
        assert_eq!(s.count, 100);
        let close = |got: Duration, micros: u64| {
            let want = Duration::from_micros(micros);
            assert!(
                got.abs_diff(want) <= want / 500,
                "got {got:?}, want about {want:?}"
            );
        };
        close(s.p50, 50);
        close(s.p90, 90);
        close(s.p99, 99);
        close(s.max, 100);
        assert!(s.mean.abs_diff(Duration::from_nanos(50_500)) <= Duration::from_nanos(100));
        assert_eq!(
            LatenessSummary::from_histogram(&new_histogram()),
            LatenessSummary::default()
        );
    }

    #[test]
    fn lateness_is_clamped_and_zero_counts() {
        let mut h = new_histogram();
        record(&mut h, Duration::ZERO);
        record(&mut h, Duration::from_secs(3600));
        let s = LatenessSummary::from_histogram(&h);
        assert_eq!(s.count, 2);
        assert_eq!(s.p50, Duration::ZERO);
        assert!(s.max <= MAX_LATENESS + MAX_LATENESS / 500 && s.max >= MAX_LATENESS);
    }

    #[test]
    fn classes_are_kept_apart_and_clones_share() {
        let errors = DeliveryErrors::new();
        let clone = errors.clone();
        clone.record(PathClass::Backbone, Duration::from_millis(2));
        clone.record(PathClass::Backbone, Duration::from_millis(4));
        errors.record(PathClass::Internet, Duration::from_millis(1));
        assert_eq!(errors.summary(PathClass::Backbone).count, 2);
        assert_eq!(errors.summary(PathClass::Internet).count, 1);
        assert_eq!(errors.summary(PathClass::LastMile).count, 0);
        assert_eq!(errors.all().len(), 3);
    }

    #[test]
    fn values_fall_in_the_interval_of_when_they_happened() {
        let mut series = LatenessSeries::new();
        let ms = Duration::from_millis;
        series.record(ms(0), ms(1));
        series.record(ms(999), ms(2));
        series.record(ms(1000), ms(30));
        series.record(ms(3500), ms(4));
        assert_eq!(series.interval(), Duration::from_secs(1));
        let counts: Vec<u64> = series.bins().iter().map(Histogram::len).collect();
        assert_eq!(counts, [2, 1, 0, 1]);
        assert_eq!(series.count(), 4);
        // µs, within the 1 % of two significant digits.
        let p99 = series.bins()[1].value_at_quantile(0.99);
        assert!((29_700..=30_300).contains(&p99), "{p99}");
        let max = series.bins()[0].max();
        assert!((1_980..=2_020).contains(&max), "{max}");
    }

    #[test]
    fn a_long_series_doubles_its_interval_and_keeps_every_value() {
        let mut series = LatenessSeries::new();
        let seconds = MAX_INTERVALS as u64 * 3;
        for second in 0..seconds {
            series.record(
                Duration::from_secs(second),
                Duration::from_micros(second + 1),
            );
        }
        assert_eq!(series.interval(), Duration::from_secs(4));
        assert!(series.bins().len() <= MAX_INTERVALS);
        assert_eq!(series.count(), seconds);
        assert!(series.bins().iter().all(|bin| bin.len() == 4));
        // The first interval of four seconds holds the values of seconds 0-3.
        assert_eq!(series.bins()[0].max(), 4);
    }

    #[test]
    fn series_of_different_intervals_add_up_at_the_coarser() {
        let mut fine = LatenessSeries::new();
        let mut coarse = LatenessSeries::new();
        fine.record(Duration::from_millis(2500), Duration::from_millis(1));
        for second in 0..MAX_INTERVALS as u64 + 1 {
            coarse.record(Duration::from_secs(second), Duration::from_millis(1));
        }
        assert_eq!(coarse.interval(), Duration::from_secs(2));
        fine.add(&coarse);
        assert_eq!(fine.interval(), Duration::from_secs(2));
        assert_eq!(fine.count(), MAX_INTERVALS as u64 + 2);
        // Second 2.5 is in the second interval of two seconds, with seconds 2 and 3.
        assert_eq!(fine.bins()[1].len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn attached_series_get_every_class_from_every_clone_until_detached() {
        let start = Instant::now();
        let series = TimedLateness::new(start);
        let errors = DeliveryErrors::new();
        let other = DeliveryErrors::new();
        errors.record_at(PathClass::Backbone, Duration::from_millis(1), start);
        errors.attach(Some(&series));
        other.attach(Some(&series));
        let clone = errors.clone();
        clone.record_at(PathClass::Backbone, Duration::from_millis(2), start);
        errors.record_at(
            PathClass::Internet,
            Duration::from_millis(3),
            start + Duration::from_millis(1500),
        );
        other.record_at(
            PathClass::LastMile,
            Duration::from_millis(4),
            start + Duration::from_millis(1600),
        );
        errors.attach(None);
        errors.record_at(PathClass::Backbone, Duration::from_millis(5), start);
        let snapshot = series.snapshot();
        let counts: Vec<u64> = snapshot.bins().iter().map(Histogram::len).collect();
        assert_eq!(counts, [1, 2]);
        assert_eq!(errors.all().len(), 4);
        // Before the start counts in the first interval.
        series.record(start - Duration::from_secs(1), Duration::ZERO);
        assert_eq!(series.snapshot().bins()[0].len(), 2);
    }
}
