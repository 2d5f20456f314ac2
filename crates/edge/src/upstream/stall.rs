//! The origin response timeout between body packets. CloudFront's response timeout is both
//! how long it waits for a response head and how long it waits, once a packet of the
//! response arrived, for the next one (Developer Guide, "Response timeout"); past it the
//! response is cut. Every upstream body the node reads ([`UpstreamBody`]: fills, pass-through,
//! the rest of a body too large to store) fails with [`BodyError::Stalled`] when nothing
//! arrives for `response_timeout`, so a stalled origin cannot hold a viewer, or every waiter
//! collapsed on its fill, forever.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// An upstream response body, bounded between packets.
pub type UpstreamBody = StallBounded<Incoming>;

/// Why an upstream body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Nothing arrived for the response timeout.
    #[error("upstream body stalled: nothing arrived for {0:?} (response_timeout)")]
    Stalled(Duration),
    /// The transport failed (connection cut, bad framing).
    #[error(transparent)]
    Upstream(hyper::Error),
}

/// `inner`, failing once `timeout` passes with no frame.
#[derive(Debug)]
pub struct StallBounded<B> {
    inner: B,
    timeout: Duration,
    // Boxed so the body stays `Unpin`.
    timer: Pin<Box<Sleep>>,
    stalled: bool,
}

impl<B> StallBounded<B> {
    /// Bounds `inner`; the first frame is due within `timeout` from now.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            timer: Box::pin(tokio::time::sleep(timeout)),
            stalled: false,
        }
    }
}

impl<B> Body for StallBounded<B>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if this.stalled {
            return Poll::Ready(Some(Err(BodyError::Stalled(this.timeout))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.timer.as_mut().reset(Instant::now() + this.timeout);
            return Poll::Ready(frame.map(|f| f.map_err(BodyError::Upstream)));
        }
        ready!(this.timer.as_mut().poll(cx));
        this.stalled = true;
        Poll::Ready(Some(Err(BodyError::Stalled(this.timeout))))
    }

    fn is_end_stream(&self) -> bool {
        !self.stalled && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};
    use tokio::sync::mpsc;

    type Sent = Result<Frame<Bytes>, hyper::Error>;

    /// A body the test feeds frame by frame.
    fn fed() -> (
        mpsc::Sender<Sent>,
        impl Body<Data = Bytes, Error = hyper::Error> + Unpin,
    ) {
        let (sender, receiver) = mpsc::channel(4);
        let frames = futures_util::stream::unfold(receiver, |mut receiver| async move {
            let frame = receiver.recv().await?;
            Some((frame, receiver))
        });
        (sender, StreamBody::new(Box::pin(frames)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_fails_once_nothing_arrives_for_the_timeout_after_a_packet() {
        let timeout = Duration::from_secs(30);
        let (sender, inner) = fed();
        let mut body = StallBounded::new(inner, timeout);
        // Packets 20 s apart keep it alive: the bound is between packets, not on the whole.
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(20)).await;
            sender
                .send(Ok(Frame::data(Bytes::from_static(b"ab"))))
                .await
                .unwrap();
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "ab");
        }
        let last = Instant::now();
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(
            matches!(error, BodyError::Stalled(t) if t == timeout),
            "{error}"
        );
        assert_eq!(Instant::now() - last, timeout);
        // It stays failed, even if the origin wakes up.
        sender
            .send(Ok(Frame::data(Bytes::from_static(b"late"))))
            .await
            .unwrap();
        assert!(body.frame().await.unwrap().is_err());
        assert!(!body.is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_ends_in_time_ends_cleanly() {
        let (sender, inner) = fed();
        let body = StallBounded::new(inner, Duration::from_secs(1));
        sender
            .send(Ok(Frame::data(Bytes::from_static(b"all"))))
            .await
            .unwrap();
        drop(sender);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "all");
    }
}
