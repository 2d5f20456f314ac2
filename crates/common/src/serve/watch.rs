//! [`Watched`]: the connection wrapper that enforces a listener's first-byte, header-read and
//! idle keep-alive timeouts.
//!
//! hyper 1.x starts its own HTTP/1 header-read timer as soon as a connection waits for the
//! next request, so with it alone an idle keep-alive connection and a slowly sent head get
//! the same bound, and the h1/h2 detection of `hyper_util`'s auto builder reads the first
//! bytes with no timeout at all (a socket that sends nothing is held forever). No crate
//! offers the three separate bounds for a hyper server, so this wrapper keeps them: it
//! watches the socket and the connection's count of requests in flight and fails the next
//! read with `TimedOut` when the bound of the current phase has passed. While a request is
//! in flight no timer runs: how long a handler may take is the handler's business (the
//! edge's origin response timeout).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::lane::Sink;
use super::metrics::{ListenerMetrics, TimeoutKind};

/// How an HTTP/2 prior-knowledge connection starts (RFC 9113 §3.4).
const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

fn looks_like_h2(first: &[u8]) -> bool {
    let n = first.len().min(H2_PREFACE_START.len());
    n >= 3 && first[..n] == H2_PREFACE_START[..n]
}

/// The three bounds of a connection (see [`super::ServeOptions`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Timeouts {
    pub first_byte: Duration,
    pub header_read: Duration,
    pub idle: Duration,
}

/// Requests in flight on one connection; the service holds an [`InFlight`] per request.
#[derive(Debug, Default)]
pub(super) struct Activity {
    in_flight: AtomicUsize,
    begun: AtomicU64,
    // The connection's reader, parked while requests are in flight: woken when the last one
    // ends so the idle bound starts then, not at the next byte.
    reader: AtomicWaker,
}

impl Activity {
    /// Marks one request in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.begun.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    fn begun(&self) -> u64 {
        self.begun.load(Ordering::Relaxed)
    }
}

/// One request in flight (see [`Activity::begin`]).
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.reader.wake();
        }
    }
}

/// Where a connection is between requests, which decides the bound that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Accepted, nothing read yet.
    New,
    /// Some bytes of a request head read while no request is in flight.
    Head,
    /// Between requests of a keep-alive connection.
    Idle,
}

pin_project! {
    /// A connection whose reads fail with `TimedOut` once the bound of its phase passed.
    pub(super) struct Watched<S> {
        #[pin]
        inner: S,
        // Boxed so the connection stays `Unpin`, as hyper's auto builder requires.
        timer: Pin<Box<Sleep>>,
        activity: Arc<Activity>,
        timeouts: Timeouts,
        metrics: ListenerMetrics,
        phase: Phase,
        // Bytes moved since the timer was last armed: the deadline moves instead of firing.
        moved: bool,
        // Requests begun on the connection when the timer was last armed: more since means
        // a request came and went, and the connection is idle now.
        begun: u64,
        // An HTTP/2 connection: frames flow between requests (pings, settings), so there is
        // no head phase; every byte moved counts as activity.
        h2: bool,
    }
}

impl<S> Watched<S> {
    pub fn new(
        inner: S,
        activity: Arc<Activity>,
        timeouts: Timeouts,
        metrics: ListenerMetrics,
    ) -> Self {
        Self {
            inner,
            timer: Box::pin(tokio::time::sleep(timeouts.first_byte)),
            activity,
            timeouts,
            metrics,
            phase: Phase::New,
            moved: false,
            begun: 0,
            h2: false,
        }
    }
}

impl<S: AsyncRead> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        let before = buf.filled().len();
        let result = this.inner.as_mut().poll_read(cx, buf);
        let busy = this.activity.busy();
        if let Poll::Ready(Ok(())) = result {
            if buf.filled().len() > before {
                *this.moved = true;
                if *this.phase == Phase::New && looks_like_h2(&buf.filled()[before..]) {
                    *this.h2 = true;
                }
                if !busy && !*this.h2 && *this.phase != Phase::Head {
                    // The first bytes of a request head: the header-read bound starts now.
                    *this.phase = Phase::Head;
                    this.timer
                        .as_mut()
                        .reset(Instant::now() + this.timeouts.header_read);
                    *this.moved = false;
                }
            }
            return result;
        }
        if result.is_ready() {
            return result;
        }
        if busy {
            this.activity.reader.register(cx.waker());
            // The last request may have ended between the check and the registration.
            if this.activity.busy() {
                return Poll::Pending;
            }
        }
        let begun = this.activity.begun();
        if begun != *this.begun || (*this.moved && (*this.h2 || *this.phase != Phase::Head)) {
            // A request finished (or bytes flowed outside a head): the connection is idle
            // from now on.
            *this.phase = Phase::Idle;
            *this.begun = begun;
            *this.moved = false;
            this.timer
                .as_mut()
                .reset(Instant::now() + this.timeouts.idle);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let kind = match this.phase {
                    Phase::New => TimeoutKind::FirstByte,
                    Phase::Head => TimeoutKind::HeaderRead,
                    Phase::Idle => TimeoutKind::Idle,
                };
                this.metrics.timed_out(kind);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} timeout", kind.as_str()),
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let result = this.inner.poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            *this.moved = true;
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let result = this.inner.poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            *this.moved = true;
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

impl Watched<TcpStream> {
    /// Runs the socket write `op` once the socket is writable, as tokio's own writes do
    /// (`try_io` clears the readiness it reports as spent when `op` would block); a write
    /// that moved bytes counts as activity, like [`AsyncWrite`]'s.
    fn poll_socket_write(
        &mut self,
        cx: &mut Context<'_>,
        op: impl Fn(BorrowedFd<'_>) -> rustix::io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Err(error) = std::task::ready!(self.inner.poll_write_ready(cx)) {
                return Poll::Ready(Err(error));
            }
            let stream = &self.inner;
            match stream.try_io(Interest::WRITABLE, || {
                op(stream.as_fd()).map_err(io::Error::from)
            }) {
                Ok(n) => {
                    if n > 0 {
                        self.moved = true;
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl Sink for Watched<TcpStream> {
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        file: BorrowedFd<'_>,
        offset: u64,
        count: usize,
    ) -> Option<Poll<io::Result<usize>>> {
        Some(self.poll_socket_write(cx, |socket| {
            let mut at = offset;
            rustix::fs::sendfile(socket, file, Some(&mut at), count)
        }))
    }

    fn poll_write_more(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        use rustix::net::{SendAncillaryBuffer, SendFlags};
        self.poll_socket_write(cx, |socket| {
            rustix::net::sendmsg(
                socket,
                bufs,
                &mut SendAncillaryBuffer::default(),
                SendFlags::MORE | SendFlags::NOSIGNAL,
            )
        })
    }
}
