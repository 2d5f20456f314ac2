//! The response body of an object: a queue of segments (pool windows and literal bytes, the
//! latter for multipart framing and real files) handed out as zero-copy frames, optionally
//! paced (slow body) and optionally cut short by an error after N bytes, which makes hyper
//! drop the connection (HTTP/1.1) or reset the stream (HTTP/2): the client sees a failure,
//! never a short body that looks whole.

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use edgelab_common::body::BoxError;
use http_body::{Frame, SizeHint};
use prometheus::IntCounter;
use tokio::time::{Instant, Sleep};

use crate::catalog::{MAX_FRAME, Pool};

/// One piece of a body.
#[derive(Debug)]
pub enum Segment {
    /// Literal bytes.
    Bytes(Bytes),
    /// `len` bytes of the pool from stream position `position`.
    Window {
        /// The pool.
        pool: Pool,
        /// Start.
        position: u64,
        /// Length.
        len: u64,
    },
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::Bytes(bytes) => bytes.len() as u64,
            Segment::Window { len, .. } => *len,
        }
    }

    /// Takes at most `max` bytes off the front.
    fn take(&mut self, max: usize) -> Bytes {
        match self {
            Segment::Bytes(bytes) => bytes.split_to(max.min(bytes.len())),
            Segment::Window {
                pool,
                position,
                len,
            } => {
                let take = (*len).min(max as u64) as usize;
                let frame = pool.frame(*position, take);
                *position += take as u64;
                *len -= take as u64;
                frame
            }
        }
    }
}

/// The error a reset body ends with.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by fault injection after {0} bytes")]
pub struct InjectedReset(pub u64);

/// Pacing state of a slow body.
#[derive(Debug)]
struct Pace {
    bytes_per_second: u64,
    started: Instant,
    sleep: Pin<Box<Sleep>>,
    waiting: bool,
}

/// A streamed object body. See the module documentation.
#[derive(Debug)]
pub struct ObjectBody {
    segments: VecDeque<Segment>,
    remaining: u64,
    sent: u64,
    reset_after: Option<u64>,
    pace: Option<Pace>,
    sent_bytes: IntCounter,
}

impl ObjectBody {
    /// A body of `segments`, counting what it sends into `sent_bytes`.
    pub fn new(segments: Vec<Segment>, sent_bytes: IntCounter) -> Self {
        let remaining = segments.iter().map(Segment::len).sum();
        Self {
            segments: segments.into(),
            remaining,
            sent: 0,
            reset_after: None,
            pace: None,
            sent_bytes,
        }
    }

    /// Total length.
    pub fn len(&self) -> u64 {
        self.remaining
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// Fails the body after `bytes` bytes (if it is longer than that).
    pub fn reset_after(mut self, bytes: u64) -> Self {
        self.reset_after = Some(bytes);
        self
    }

    /// Sends at most `bytes_per_second` (frames of about 1/20 s each).
    pub fn paced(mut self, bytes_per_second: u64) -> Self {
        let now = Instant::now();
        self.pace = Some(Pace {
            bytes_per_second: bytes_per_second.max(1),
            started: now,
            sleep: Box::pin(tokio::time::sleep_until(now)),
            waiting: false,
        });
        self
    }
}

impl http_body::Body for ObjectBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(limit) = this.reset_after
            && this.sent >= limit
            && this.remaining > 0
        {
            this.remaining = 0;
            this.segments.clear();
            return Poll::Ready(Some(Err(Box::new(InjectedReset(this.sent)))));
        }
        let mut max = MAX_FRAME;
        if let Some(pace) = &mut this.pace {
            if pace.waiting {
                ready!(pace.sleep.as_mut().poll(cx));
                pace.waiting = false;
            } else {
                // When may the byte after `sent` go out?
                let due = pace.started
                    + Duration::from_secs_f64(this.sent as f64 / pace.bytes_per_second as f64);
                if due > Instant::now() {
                    pace.sleep.as_mut().reset(due);
                    pace.waiting = true;
                    ready!(pace.sleep.as_mut().poll(cx));
                    pace.waiting = false;
                }
            }
            max = max.min((pace.bytes_per_second / 20).max(1) as usize);
        }
        if let Some(limit) = this.reset_after {
            max = max.min(limit.saturating_sub(this.sent).max(1) as usize);
        }
        loop {
            let Some(segment) = this.segments.front_mut() else {
                return Poll::Ready(None);
            };
            if segment.len() == 0 {
                this.segments.pop_front();
                continue;
            }
            let frame = segment.take(max);
            let n = frame.len() as u64;
            this.sent += n;
            this.remaining -= n;
            this.sent_bytes.inc_by(n);
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn counter() -> IntCounter {
        IntCounter::new("t", "t").unwrap()
    }

    #[tokio::test]
    async fn segments_are_sent_in_order_and_counted() {
        let pool = Pool::new(1, 1000);
        let sent = counter();
        let body = ObjectBody::new(
            vec![
                Segment::Bytes(Bytes::from_static(b"head")),
                Segment::Window {
                    pool: pool.clone(),
                    position: 990,
                    len: 20,
                },
            ],
            sent.clone(),
        );
        assert_eq!(body.len(), 24);
        let bytes = body.collect().await.unwrap().to_bytes();
        let mut expected = b"head".to_vec();
        pool.for_each_frame(990, 20, |f| expected.extend_from_slice(&f));
        assert_eq!(bytes, expected);
        assert_eq!(sent.get(), 24);
    }

    #[tokio::test]
    async fn reset_fails_after_the_given_bytes() {
        let pool = Pool::new(1, 1000);
        let sent = counter();
        let mut body = ObjectBody::new(
            vec![Segment::Window {
                pool,
                position: 0,
                len: 5000,
            }],
            sent.clone(),
        )
        .reset_after(1500);
        let mut received = 0;
        let error = loop {
            match body.frame().await {
                Some(Ok(frame)) => received += frame.into_data().unwrap().len(),
                Some(Err(error)) => break error,
                None => panic!("body ended without the injected reset"),
            }
        };
        assert_eq!(received, 1500);
        assert!(error.to_string().contains("reset"));
        assert_eq!(sent.get(), 1500);
    }

    #[tokio::test(start_paused = true)]
    async fn paced_body_takes_its_time() {
        let pool = Pool::new(1, 1000);
        let started = Instant::now();
        let body = ObjectBody::new(
            vec![Segment::Window {
                pool,
                position: 0,
                len: 10_000,
            }],
            counter(),
        )
        .paced(5_000);
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 10_000);
        // 10,000 bytes at 5,000 B/s: the last frame may leave at 1.95 s.
        assert!(
            started.elapsed() >= Duration::from_millis(1900),
            "{:?}",
            started.elapsed()
        );
    }
}
