//! Live view of a run: counters and a one-second latency histogram shared by the workers
//! (flushed from each worker's local buffer of values every 100 ms or every 64 responses,
//! so the hot path stays lock-free), the indicatif progress line,
//! and the HdrHistogram interval log.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::LoadgenError;
use crate::record::{CacheResult, micros, new_histogram, record_value};

/// How often a worker flushes its local counters into [`Live`].
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Latencies a worker buffers before it flushes. A buffer of values, not a histogram per
/// worker: with thousands of workers each answering a few requests a second, a flush of a
/// whole per-worker histogram (add every bucket, then zero them) cost more than the requests
/// it counted, and the histograms' pages alone were a tenth of a whole-CDN run's CPU time.
/// A flush records each buffered value into the shared histogram instead.
const LOCAL_VALUES: usize = 64;

/// Counters and the current interval's histogram, shared by all workers.
#[derive(Debug, Default)]
pub struct Live {
    /// Requests handed to a worker.
    pub started: AtomicU64,
    /// Requests finished (response or error).
    pub completed: AtomicU64,
    /// CDN hits.
    pub hits: AtomicU64,
    /// CDN misses.
    pub misses: AtomicU64,
    /// Failed requests.
    pub errors: AtomicU64,
    interval: Mutex<Option<Histogram<u64>>>,
}

impl Live {
    /// A worker's local accumulator.
    pub fn local(&self) -> LocalLive {
        LocalLive {
            values: Vec::new(),
            last_flush: std::time::Instant::now(),
            completed: 0,
            hits: 0,
            misses: 0,
            errors: 0,
        }
    }

    /// Takes the histogram of the interval since the last call (total latency, µs).
    pub fn take_interval(&self) -> Histogram<u64> {
        // invariant: the lock is only held to swap or add histograms, which cannot panic.
        let mut slot = self
            .interval
            .lock()
            .expect("live histogram lock is not poisoned");
        slot.take().unwrap_or_else(new_histogram)
    }

    /// Hit ratio so far (hits over hits + misses), if any response had `X-Cache`.
    pub fn hit_ratio(&self) -> Option<f64> {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64)
    }
}

/// A worker's unflushed part of [`Live`].
#[derive(Debug)]
pub struct LocalLive {
    /// Total latencies (µs) not yet in the shared histogram.
    values: Vec<u64>,
    last_flush: std::time::Instant,
    completed: u64,
    hits: u64,
    misses: u64,
    errors: u64,
}

impl LocalLive {
    /// Counts a response.
    pub fn record(&mut self, total: Duration, cache: CacheResult, failed: bool, live: &Live) {
        self.values.push(micros(total));
        self.completed += 1;
        if cache.is_hit() {
            self.hits += 1;
        } else if cache == CacheResult::Miss {
            self.misses += 1;
        }
        if failed {
            self.errors += 1;
        }
        self.maybe_flush(live);
    }

    /// Counts a request that got no response.
    pub fn record_error(&mut self, live: &Live) {
        self.completed += 1;
        self.errors += 1;
        self.maybe_flush(live);
    }

    fn maybe_flush(&mut self, live: &Live) {
        if self.values.len() >= LOCAL_VALUES || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush(live);
        }
    }

    /// Moves everything into `live`.
    pub fn flush(&mut self, live: &Live) {
        self.last_flush = std::time::Instant::now();
        live.completed
            .fetch_add(std::mem::take(&mut self.completed), Ordering::Relaxed);
        live.hits
            .fetch_add(std::mem::take(&mut self.hits), Ordering::Relaxed);
        live.misses
            .fetch_add(std::mem::take(&mut self.misses), Ordering::Relaxed);
        live.errors
            .fetch_add(std::mem::take(&mut self.errors), Ordering::Relaxed);
        if self.values.is_empty() {
            return;
        }
        // invariant: see `Live::take_interval`.
        let mut slot = live
            .interval
            .lock()
            .expect("live histogram lock is not poisoned");
        let interval = slot.get_or_insert_with(new_histogram);
        for value in self.values.drain(..) {
            record_value(interval, value);
        }
    }
}

/// The live progress line (nothing when disabled).
pub struct Progress {
    bar: Option<ProgressBar>,
    last_completed: u64,
    last_elapsed: Duration,
}

impl Progress {
    /// A progress line on standard error if `enabled` (the caller checks for a TTY).
    pub fn new(enabled: bool, duration: Duration) -> Progress {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(duration.as_secs().max(1)),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            // invariant: the template is a constant and valid.
            let style =
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:20} {msg}")
                    .expect("the progress template is valid");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Progress {
            bar,
            last_completed: 0,
            last_elapsed: Duration::ZERO,
        }
    }

    /// Refreshes the line from the counters and the last interval's histogram.
    pub fn update(&mut self, live: &Live, interval: &Histogram<u64>, elapsed: Duration) {
        let Some(bar) = &self.bar else { return };
        let completed = live.completed.load(Ordering::Relaxed);
        let seconds = (elapsed - self.last_elapsed.min(elapsed))
            .as_secs_f64()
            .max(1e-3);
        let rate = (completed - self.last_completed.min(completed)) as f64 / seconds;
        self.last_completed = completed;
        self.last_elapsed = elapsed;
        let hit = live
            .hit_ratio()
            .map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
        let p99 = if interval.is_empty() {
            "-".to_string()
        } else {
            format!("{:.2}ms", interval.value_at_quantile(0.99) as f64 / 1000.0)
        };
        bar.set_position(elapsed.as_secs());
        bar.set_message(format!(
            "{completed} done  {rate:.0} req/s  hit {hit}  p99 {p99}  errors {}",
            live.errors.load(Ordering::Relaxed)
        ));
    }

    /// Removes the line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// An HdrHistogram interval log (V2 deflate, values in microseconds), one interval a second.
pub struct IntervalLog {
    path: String,
    file: BufWriter<File>,
    serializer: V2DeflateSerializer,
    last: Duration,
}

impl IntervalLog {
    /// Creates the file and writes the header.
    pub fn create(path: &Path, started_at: SystemTime) -> Result<IntervalLog, LoadgenError> {
        let fail = |error: std::io::Error| LoadgenError::Output {
            path: path.display().to_string(),
            message: error.to_string(),
        };
        let mut file = BufWriter::new(File::create(path).map_err(fail)?);
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment("edgelab loadgen: total latency from the intended send time, microseconds")
            .with_start_time(started_at)
            .begin_log_with(&mut file, &mut serializer)
            .map_err(fail)?;
        Ok(IntervalLog {
            path: path.display().to_string(),
            file,
            serializer,
            last: Duration::ZERO,
        })
    }

    /// Appends the interval that ends at `elapsed`.
    pub fn write(
        &mut self,
        histogram: &Histogram<u64>,
        elapsed: Duration,
    ) -> Result<(), LoadgenError> {
        let start = self.last;
        self.last = elapsed;
        let fail = |message: String| LoadgenError::Output {
            path: self.path.clone(),
            message,
        };
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.file, &mut self.serializer)
            .map_err(|error| fail(error.to_string()))?;
        writer
            .write_histogram(histogram, start, elapsed.saturating_sub(start), None)
            .map_err(|error| fail(error.to_string()))
    }

    /// Flushes the file.
    pub fn close(mut self) -> Result<(), LoadgenError> {
        self.file.flush().map_err(|error| LoadgenError::Output {
            path: self.path.clone(),
            message: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn local_values_reach_the_interval_when_the_buffer_fills_or_on_flush() {
        let live = Live::default();
        let mut local = live.local();
        for ms in 1..=LOCAL_VALUES as u64 {
            local.record(Duration::from_millis(ms), CacheResult::Hit, false, &live);
        }
        let interval = live.take_interval();
        assert_eq!(
            interval.len(),
            LOCAL_VALUES as u64,
            "a full buffer is flushed"
        );
        assert_eq!(live.completed.load(Ordering::Relaxed), LOCAL_VALUES as u64);
        assert_eq!(live.hits.load(Ordering::Relaxed), LOCAL_VALUES as u64);
        assert!(interval.max() >= 63_000 && interval.min() <= 1_001);
        local.record(Duration::from_millis(7), CacheResult::Miss, true, &live);
        assert!(
            live.take_interval().is_empty(),
            "one value waits in the buffer"
        );
        local.flush(&live);
        let interval = live.take_interval();
        assert_eq!(interval.len(), 1);
        assert_eq!(live.misses.load(Ordering::Relaxed), 1);
        assert_eq!(live.errors.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn interval_log_reads_back() {
        let path = std::env::temp_dir().join(format!("edgelab-hlog-{}.hlog", std::process::id()));
        let mut log = IntervalLog::create(&path, SystemTime::UNIX_EPOCH).unwrap();
        let mut first = new_histogram();
        record_value(&mut first, 1_500);
        record_value(&mut first, 2_500);
        let mut second = new_histogram();
        record_value(&mut second, 90_000);
        log.write(&first, Duration::from_secs(1)).unwrap();
        log.write(&second, Duration::from_secs(2)).unwrap();
        log.close().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut lengths = Vec::new();
        let mut starts = Vec::new();
        for entry in IntervalLogIterator::new(&bytes) {
            if let Ok(LogEntry::Interval(interval)) = entry {
                let encoded = base64_decode(interval.encoded_histogram());
                let histogram: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut encoded.as_slice())
                    .unwrap();
                lengths.push(histogram.len());
                starts.push(interval.start_timestamp().as_secs());
            }
        }
        assert_eq!(lengths, [2, 1]);
        assert_eq!(starts, [0, 1]);
    }

    /// Standard base64 (the log's encoding), enough for a test.
    fn base64_decode(text: &str) -> Vec<u8> {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut buffer, mut bits) = (0u32, 0);
        for c in text.bytes().filter(|c| *c != b'=') {
            let value = alphabet.iter().position(|a| *a == c).unwrap() as u32;
            buffer = (buffer << 6) | value;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        out
    }

    #[test]
    fn live_counters_flush_from_workers() {
        let live = Live::default();
        let mut local = live.local();
        local.record(Duration::from_millis(3), CacheResult::Hit, false, &live);
        local.record(Duration::from_millis(5), CacheResult::Miss, true, &live);
        local.record_error(&live);
        local.flush(&live);
        assert_eq!(live.completed.load(Ordering::Relaxed), 3);
        assert_eq!(live.errors.load(Ordering::Relaxed), 2);
        assert_eq!(live.hit_ratio(), Some(0.5));
        assert_eq!(live.take_interval().len(), 2);
        assert!(
            live.take_interval().is_empty(),
            "taking resets the interval"
        );
    }
}
