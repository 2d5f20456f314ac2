//! `Expect: 100-continue` for request bodies forwarded upstream (RFC 9110 §10.1.1). An origin
//! that refuses a request from its head (413 for a declared length over its limit, 401, 400)
//! answers and closes without reading the body; a client still writing a large body then
//! gets a broken pipe instead of the answer, and the viewer a 502. So a body over
//! [`THRESHOLD`] (or of unknown length) waits behind a gate: it is sent once the origin says
//! `100 Continue`, or after [`WAIT`] without an answer (an origin that ignores the
//! expectation, as RFC 9110 allows the client to assume), and never when a final response
//! comes first: that response is the viewer's answer, and the unsent body is dropped with the
//! connection when the origin closes it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use edgelab_common::body::{Body, BoxError};
use futures_util::task::AtomicWaker;
use http::{HeaderValue, Request, header};
use http_body::Frame;

/// Bodies up to this size are sent at once: they fit the socket buffers, so an early answer
/// is read rather than lost to a broken pipe.
pub const THRESHOLD: u64 = 64 * 1024;

/// How long a body waits for `100 Continue` before it is sent anyway (curl's default).
pub const WAIT: Duration = Duration::from_secs(1);

const WAITING: u8 = 0;
const OPEN: u8 = 1;
const REFUSED: u8 = 2;

#[derive(Default)]
struct State {
    state: AtomicU8,
    waker: AtomicWaker,
}

impl State {
    fn move_from_waiting(&self, to: u8) {
        if self
            .state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.waker.wake();
        }
    }
}

/// The sending side's handle on a gated body.
#[derive(Clone)]
pub struct Gate(Arc<State>);

impl Gate {
    /// Gates `body` when it is large or of unknown length; returns it unchanged otherwise.
    pub fn wrap(body: Body) -> (Body, Option<Gate>) {
        let small = http_body::Body::size_hint(&body)
            .exact()
            .is_some_and(|length| length <= THRESHOLD);
        if small {
            return (body, None);
        }
        let state = Arc::new(State::default());
        let gated = GatedBody {
            inner: body,
            state: state.clone(),
            timer: Box::pin(tokio::time::sleep(WAIT)),
        };
        (Body::new(gated), Some(Gate(state)))
    }

    /// Adds the expectation to `request`; the origin's `100 Continue` reaches
    /// [`Gate::continued`] through the request's informational callback
    /// (`super::interim::watch`).
    pub fn arm<B>(&self, request: &mut Request<B>) {
        request
            .headers_mut()
            .insert(header::EXPECT, HeaderValue::from_static("100-continue"));
    }

    /// The origin said `100 Continue`: the body is sent.
    pub fn continued(&self) {
        self.0.move_from_waiting(OPEN);
    }

    /// A final response arrived: a body still waiting is never sent.
    pub fn answered(&self) {
        self.0.move_from_waiting(REFUSED);
    }
}

/// The viewer's body behind the gate.
struct GatedBody {
    inner: Body,
    state: Arc<State>,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for GatedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        this.state.waker.register(cx.waker());
        match this.state.state.load(Ordering::Acquire) {
            OPEN => return Pin::new(&mut this.inner).poll_frame(cx),
            REFUSED => return Poll::Pending,
            _ => {}
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            this.state.move_from_waiting(OPEN);
            if this.state.state.load(Ordering::Acquire) == OPEN {
                return Pin::new(&mut this.inner).poll_frame(cx);
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgelab_common::body;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn small_bodies_are_not_gated() {
        let (_, gate) = Gate::wrap(body::full(Bytes::from(vec![0u8; 1000])));
        assert!(gate.is_none());
        let (_, gate) = Gate::wrap(body::full(Bytes::from(vec![0u8; 100_000])));
        assert!(gate.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_gated_body_waits_for_continue_or_the_timeout_but_never_after_an_answer() {
        let payload = || body::full(Bytes::from(vec![7u8; 100_000]));
        // Opened by 100 Continue.
        let (gated, gate) = Gate::wrap(payload());
        gate.unwrap().continued();
        assert_eq!(gated.collect().await.unwrap().to_bytes().len(), 100_000);
        // No answer: sent after WAIT.
        let (gated, _gate) = Gate::wrap(payload());
        let started = tokio::time::Instant::now();
        assert_eq!(gated.collect().await.unwrap().to_bytes().len(), 100_000);
        assert!(started.elapsed() >= WAIT);
        // A final response first: never sent, even after WAIT.
        let (gated, gate) = Gate::wrap(payload());
        gate.unwrap().answered();
        let collected = tokio::time::timeout(WAIT * 3, gated.collect()).await;
        assert!(collected.is_err(), "the body stays unsent");
    }
}
