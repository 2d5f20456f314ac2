//! Interim (1xx) responses sent to an HTTP/1.1 client while its final response is still
//! being prepared: a proxy forwards the 102 (Processing) and 103 (Early Hints) it receives
//! (RFC 9110 §15.2), and a cache never stores them (RFC 9111 §3).
//!
//! hyper's server writes no 1xx of a handler's choosing (only its own `100 Continue`), so
//! the accept loop wraps each connection in an [`InterimIo`] and runs the handler of each
//! HTTP/1.1 request under [`serving`]: inside it (the handler's own task, not the tasks it
//! spawns) [`current`] is the request's [`Interim`] handle. A head sent through it is
//! queued; the connection writes it ahead of hyper's next bytes, and only between hyper's
//! writes, never inside one. A head is accepted only while the handler runs: the handle is
//! closed when it returns, before hyper writes the final head, so an interim response can
//! never land after it. HTTP/1.0 clients get none (RFC 9110 §15.2 forbids it) and HTTP/2
//! connections get none either (hyper has no way to send one there yet).
//!
//! The queue is bounded ([`MAX_QUEUED_BYTES`]): heads past it are dropped, and the sender
//! learns so from [`Interim::send`]'s answer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use http::{HeaderMap, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes of interim heads waiting to be written on one connection.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024;

tokio::task_local! {
    static CURRENT: Interim;
}

/// Runs `handler` with `interim` as [`current`], and closes it when `handler` is done.
pub async fn serving<F: Future>(interim: Option<Interim>, handler: F) -> F::Output {
    let Some(interim) = interim else {
        return handler.await;
    };
    let output = CURRENT.scope(interim.clone(), handler).await;
    interim.close();
    output
}

/// The interim handle of the request whose handler runs in this task, if it can take one.
pub fn current() -> Option<Interim> {
    CURRENT.try_with(Interim::clone).ok()
}

/// Interim heads queued on one connection, the request allowed to queue them, and the
/// connection task to wake for them.
#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    waker: Option<Waker>,
    /// The open request's number (0: none); `requests` counts the handles given out.
    open: u64,
    requests: u64,
}

/// The interim responses of one connection: shared by its [`InterimIo`] and the [`Interim`]
/// handles of its requests.
#[derive(Clone, Debug, Default)]
pub struct InterimQueue(Arc<Mutex<Queue>>);

impl InterimQueue {
    /// A new handle for the connection's current request, open until [`Interim::close`].
    pub fn request(&self) -> Interim {
        let mut queue = self.lock();
        queue.requests += 1;
        queue.open = queue.requests;
        Interim {
            queue: self.clone(),
            request: queue.requests,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves plain bytes behind: still usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the queued bytes out (empty when none) and remembers whom to wake.
    fn take(&self, waker: &Waker) -> Vec<u8> {
        let mut queue = self.lock();
        if !queue.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            queue.waker = Some(waker.clone());
        }
        std::mem::take(&mut queue.bytes)
    }
}

/// A request's way to send interim responses to its client (see [`current`]).
#[derive(Clone, Debug)]
pub struct Interim {
    queue: InterimQueue,
    request: u64,
}

impl Interim {
    /// Queues an interim response with `headers` (hop-by-hop fields are the caller's to
    /// remove). Returns whether it will be written: not for a status outside 102..=199 (100
    /// and 101 belong to hyper), once the final response is on its way, or when the queue is
    /// full.
    pub fn send(&self, status: StatusCode, headers: &HeaderMap) -> bool {
        if !(102..=199).contains(&status.as_u16()) {
            return false;
        }
        let head = encode(status, headers);
        let mut queue = self.queue.lock();
        // Checked under the lock `close` takes: no head is queued after the final response.
        if queue.open != self.request || queue.bytes.len() + head.len() > MAX_QUEUED_BYTES {
            return false;
        }
        queue.bytes.extend_from_slice(&head);
        if let Some(waker) = &queue.waker {
            waker.wake_by_ref();
        }
        true
    }

    /// Ends the handle: the final response follows, nothing more is queued.
    pub fn close(&self) {
        let mut queue = self.queue.lock();
        if queue.open == self.request {
            queue.open = 0;
        }
    }
}

/// An HTTP/1.1 interim head: status line, fields, empty line.
fn encode(status: StatusCode, headers: &HeaderMap) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("Informational")
    )
    .into_bytes();
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// A connection that writes its queued interim heads between hyper's writes.
#[derive(Debug)]
pub struct InterimIo<S> {
    inner: S,
    queue: InterimQueue,
    /// Interim bytes taken from the queue, and how many of them are written.
    out: Vec<u8>,
    written: usize,
    /// hyper's last write was short: the rest of its message comes first.
    mid_write: bool,
}

impl<S> InterimIo<S> {
    /// Wraps `inner`; heads sent through `queue`'s handles are written on it.
    pub fn new(inner: S, queue: InterimQueue) -> Self {
        Self {
            inner,
            queue,
            out: Vec::new(),
            written: 0,
            mid_write: false,
        }
    }
}

impl<S: AsyncWrite + Unpin> InterimIo<S> {
    /// Writes the queued interim heads, unless hyper is inside a message.
    fn poll_interim(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.mid_write {
            return Poll::Ready(Ok(()));
        }
        loop {
            if self.written == self.out.len() {
                self.out = self.queue.take(cx.waker());
                self.written = 0;
                if self.out.is_empty() {
                    return Poll::Ready(Ok(()));
                }
            }
            let rest = &self.out[self.written..];
            match Pin::new(&mut self.inner).poll_write(cx, rest)? {
                Poll::Ready(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(n) => self.written += n,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for InterimIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // hyper reads while a handler runs (to see the client leave); a head queued then is
        // written here, or at the next flush.
        if let Poll::Ready(Err(error)) = self.poll_interim(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for InterimIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_interim(cx))?;
        let written = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, data))?;
        self.mid_write = written < data.len();
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_interim(cx))?;
        let written = std::task::ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
        let offered: usize = bufs.iter().map(|b| b.len()).sum();
        self.mid_write = written < offered;
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_interim(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_io::Trickle;
    use http::HeaderValue;
    use tokio::io::AsyncWriteExt;

    fn hints() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "link",
            HeaderValue::from_static("</style.css>; rel=preload; as=style"),
        );
        headers
    }

    #[tokio::test]
    async fn a_queued_head_goes_out_before_the_next_write_and_never_after_close() {
        let queue = InterimQueue::default();
        let mut io = InterimIo::new(Vec::new(), queue.clone());
        let first = queue.request();
        assert!(first.send(StatusCode::EARLY_HINTS, &hints()));
        assert!(first.send(StatusCode::PROCESSING, &HeaderMap::new()));
        first.close();
        assert!(!first.send(StatusCode::EARLY_HINTS, &hints()), "closed");
        io.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let written = String::from_utf8(io.inner.clone()).unwrap();
        assert_eq!(
            written,
            "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n\
             HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn only_informational_statuses_hyper_does_not_own_are_sent() {
        let request = InterimQueue::default().request();
        assert!(!request.send(StatusCode::CONTINUE, &HeaderMap::new()));
        assert!(!request.send(StatusCode::SWITCHING_PROTOCOLS, &HeaderMap::new()));
        assert!(!request.send(StatusCode::OK, &HeaderMap::new()));
        assert!(request.send(StatusCode::from_u16(199).unwrap(), &HeaderMap::new()));
    }

    #[tokio::test]
    async fn only_the_handler_s_own_task_sees_its_handle() {
        let queue = InterimQueue::default();
        let seen = serving(Some(queue.request()), async {
            let spawned = tokio::spawn(async { current().is_some() });
            (current().is_some(), spawned.await.unwrap())
        })
        .await;
        assert_eq!(seen, (true, false));
        assert!(current().is_none());
        // Closed once the handler returned.
        let kept = serving(Some(queue.request()), async { current().unwrap() }).await;
        assert!(!kept.send(StatusCode::EARLY_HINTS, &hints()));
    }

    #[tokio::test]
    async fn the_queue_is_bounded() {
        let request = InterimQueue::default().request();
        let mut big = HeaderMap::new();
        big.insert("link", HeaderValue::from_str(&"x".repeat(6000)).unwrap());
        assert!(request.send(StatusCode::EARLY_HINTS, &big));
        assert!(request.send(StatusCode::EARLY_HINTS, &big));
        assert!(
            !request.send(StatusCode::EARLY_HINTS, &big),
            "over the bound"
        );
    }

    #[tokio::test]
    async fn a_head_queued_during_a_short_write_waits_for_the_rest_of_it() {
        let queue = InterimQueue::default();
        let mut io = InterimIo::new(
            Trickle {
                got: Vec::new(),
                step: 4,
            },
            queue.clone(),
        );
        let message = b"HTTP/1.1 100 Continue\r\n\r\n";
        let n = io.write(message).await.unwrap();
        assert_eq!(n, 4);
        queue
            .request()
            .send(StatusCode::PROCESSING, &HeaderMap::new());
        io.write_all(&message[n..]).await.unwrap();
        io.flush().await.unwrap();
        assert_eq!(
            String::from_utf8(io.inner.got).unwrap(),
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
        );
    }
}
