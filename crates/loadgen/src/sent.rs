//! When a request really left: a [`SendStamp`] notes the moment of the first write after it
//! was armed, i.e. when the request's first byte was handed to the socket (the client,
//! `client.rs`, stamps it as its write returns). Send lateness runs to it, not to the moment
//! the worker picked the request up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

/// The moment of the first write since [`SendStamp::arm`], shared by a worker and its
/// connection's I/O.
#[derive(Debug)]
pub(crate) struct SendStamp {
    base: Instant,
    /// Nanoseconds after `base`, plus one; 0 while nothing was written since arming.
    first_write: AtomicU64,
}

impl SendStamp {
    /// A stamp measuring from `base` (any instant before the writes).
    pub(crate) fn new(base: Instant) -> Arc<SendStamp> {
        Arc::new(SendStamp {
            base,
            first_write: AtomicU64::new(0),
        })
    }

    /// Forgets the last write: the next one is the next request's first byte.
    pub(crate) fn arm(&self) {
        self.first_write.store(0, Ordering::Release);
    }

    /// When the first byte since [`SendStamp::arm`] was written, if one was.
    pub(crate) fn written_at(&self) -> Option<Instant> {
        match self.first_write.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.base + std::time::Duration::from_nanos(n - 1)),
        }
    }

    /// A stamp whose first write was at `at` (for tests of what is computed from it).
    #[cfg(test)]
    pub(crate) fn written(base: Instant, at: Instant) -> Arc<SendStamp> {
        let stamp = SendStamp::new(base);
        let nanos = at.saturating_duration_since(base).as_nanos() as u64;
        stamp.first_write.store(nanos + 1, Ordering::Release);
        stamp
    }

    /// Notes a write now; only the first since [`SendStamp::arm`] counts.
    pub(crate) fn wrote(&self) {
        if self.first_write.load(Ordering::Relaxed) == 0 {
            let nanos = Instant::now()
                .saturating_duration_since(self.base)
                .as_nanos();
            let stamp = (nanos.min(u128::from(u64::MAX - 1)) as u64) + 1;
            // Only the first write after arming counts; a later one does not move it.
            let _ =
                self.first_write
                    .compare_exchange(0, stamp, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_first_write_after_arming_is_kept_and_later_ones_do_not_move_it() {
        let base = Instant::now();
        let stamp = SendStamp::new(base);
        assert_eq!(stamp.written_at(), None);
        tokio::time::advance(Duration::from_millis(3)).await;
        stamp.wrote();
        tokio::time::advance(Duration::from_millis(2)).await;
        stamp.wrote();
        assert_eq!(stamp.written_at(), Some(base + Duration::from_millis(3)));
        stamp.arm();
        assert_eq!(stamp.written_at(), None, "arming forgets the last request");
        stamp.wrote();
        assert_eq!(stamp.written_at(), Some(base + Duration::from_millis(5)));
    }
}
