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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgelab_geo::PathClass;
use hdrhistogram::Histogram;

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
    classes: Arc<[Mutex<Option<Histogram<u64>>>; 3]>,
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

    /// Counts one delivery of `class` that reached its reader `late` after its scheduled time.
    pub fn record(&self, class: PathClass, late: Duration) {
        // invariant: nothing panics while the lock is held, so it is never poisoned.
        let mut slot = self.classes[index(class)]
            .lock()
            .expect("delivery histogram lock is not poisoned");
        record(slot.get_or_insert_with(new_histogram), late);
    }

    /// Adds every delivery counted in `histogram` (nanoseconds) to `class`: how the
    /// measurements of separate runs (saved in their reports) are added up.
    pub fn add(&self, class: PathClass, histogram: &Histogram<u64>) {
        // invariant: nothing panics while the lock is held, so it is never poisoned.
        let mut slot = self.classes[index(class)]
            .lock()
            .expect("delivery histogram lock is not poisoned");
        // invariant: auto-resizing histograms always add.
        slot.get_or_insert_with(new_histogram)
            .add(histogram)
            .expect("auto-resizing histograms always add");
    }

    /// A copy of the histogram of `class` (nanoseconds; empty when nothing was recorded).
    pub fn histogram(&self, class: PathClass) -> Histogram<u64> {
        // invariant: nothing panics while the lock is held, so it is never poisoned.
        let slot = self.classes[index(class)]
            .lock()
            .expect("delivery histogram lock is not poisoned");
        slot.clone().unwrap_or_else(new_histogram)
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
}
