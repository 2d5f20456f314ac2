//! [`LinkStream`]: a TCP stream whose reads pass through a delay line.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use edgelab_geo::{HopModel, PathClass};
use hyper_util::client::legacy::connect::{Connected, Connection};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::lateness::DeliveryErrors;

/// Bytes read from the socket but not yet released; past this the delay line stops reading,
/// so TCP flow control pushes back on the sender. This plays the part of TCP's receive
/// window: a connection carries at most this much per RTT. 6 MiB is Linux's default maximum
/// receive buffer (`net.ipv4.tcp_rmem` = 4096 131072 6291456). Memory is only held for bytes
/// actually in flight.
const MAX_BUFFERED_BYTES: usize = 6 * 1024 * 1024;

/// Size of one read from the socket.
const READ_CHUNK: usize = 16 * 1024;

/// A read goes into what is left of the read buffer while at least this much is. Each queued
/// chunk keeps the buffer it was cut from alive until it is delivered, an RTT later, so
/// growing the buffer to a full [`READ_CHUNK`] before every read would allocate a fresh one
/// per read (a response head or a small body is one read); this way one allocation serves
/// the reads of several small exchanges.
const MIN_READ: usize = 4 * 1024;

/// A TCP stream that imposes a [`HopModel`] on what it reads (see the crate docs).
#[derive(Debug)]
pub struct LinkStream {
    inner: TcpStream,
    line: Option<Box<DelayLine>>,
}

#[derive(Debug)]
struct Chunk {
    /// What is left of the chunk (a slice of the read buffer: no copy, no zeroing).
    data: Bytes,
    release: Instant,
    /// The reader waited for this chunk's release (its delivery lateness is the emulator's).
    waited: bool,
}

/// Where a stream records its delivery lateness.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub(crate) errors: DeliveryErrors,
    pub(crate) class: PathClass,
}

#[derive(Debug)]
struct DelayLine {
    hop: HopModel,
    rng: SmallRng,
    queue: VecDeque<Chunk>,
    buffered: usize,
    /// The RTT sampled for the current exchange.
    delay: Duration,
    /// A write happened since the last bytes arrived: the next bytes start a new exchange.
    new_exchange: bool,
    /// When the last queued byte is released (keeps release order and bandwidth pacing).
    last_release: Option<Instant>,
    /// The socket reached end of file; the reader sees it at this instant.
    eof: Option<Instant>,
    /// A socket error, handed to the reader once the queue is drained.
    error: Option<io::Error>,
    timer: Pin<Box<Sleep>>,
    /// Reads land here; each read is split off as a chunk, and the allocation is reused once
    /// the chunks cut from it have been consumed.
    read_buf: BytesMut,
    /// Delivery lateness goes here, if anyone listens.
    probe: Option<Probe>,
}

impl LinkStream {
    /// Wraps an already connected stream. The connect cost is not charged here (see
    /// [`LinkStream::connect`]); `seed` seeds this connection's jitter and loss.
    pub fn new(inner: TcpStream, hop: HopModel, seed: u64) -> LinkStream {
        let line = if hop.is_zero() {
            None
        } else {
            Some(Box::new(DelayLine {
                hop,
                rng: SmallRng::seed_from_u64(seed),
                queue: VecDeque::new(),
                buffered: 0,
                delay: hop.rtt,
                new_exchange: true,
                last_release: None,
                eof: None,
                error: None,
                timer: Box::pin(tokio::time::sleep_until(Instant::now())),
                read_buf: BytesMut::new(),
                probe: None,
            }))
        };
        LinkStream { inner, line }
    }

    /// Records how late each delivery this stream's reader waited for came (and the connect
    /// cost, when paid by [`LinkConnector`](crate::LinkConnector)) in `errors` under `class`.
    /// A zero hop has no delay line and records nothing.
    pub fn with_delivery_errors(mut self, errors: DeliveryErrors, class: PathClass) -> LinkStream {
        if let Some(line) = self.line.as_mut() {
            line.probe = Some(Probe { errors, class });
        }
        self
    }

    /// Bytes read from the socket and held by the delay line, not yet handed to the reader.
    pub fn queued_bytes(&self) -> usize {
        self.line.as_ref().map_or(0, |l| l.buffered)
    }

    /// A stream with no emulation at all (the same as [`HopModel::ZERO`]).
    pub fn plain(inner: TcpStream) -> LinkStream {
        LinkStream { inner, line: None }
    }

    /// Connects to `addr` and pays the hop's connect cost (1 RTT, +1 with TLS, each with
    /// jitter and loss) before returning.
    pub async fn connect(
        addr: std::net::SocketAddr,
        hop: HopModel,
        seed: u64,
    ) -> io::Result<LinkStream> {
        let started = Instant::now();
        let tcp = TcpStream::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        Ok(Self::opened(tcp, hop, seed, None, started).await)
    }

    /// Wraps a stream whose connect began at `started` and pays the connect cost, counted
    /// from `started`: the real handshake happens inside the modelled one, so it adds
    /// nothing while it is faster, and when it is slower (a loopback listener whose accept
    /// queue overflowed drops the SYN, and the retry comes a second later) the excess is the
    /// emulator's own delivery lateness, not hidden in the connect.
    pub(crate) async fn opened(
        tcp: TcpStream,
        hop: HopModel,
        seed: u64,
        probe: Option<Probe>,
        started: Instant,
    ) -> LinkStream {
        let mut stream = LinkStream::new(tcp, hop, seed);
        if let Some(line) = stream.line.as_mut() {
            line.probe = probe;
            let deadline = started + hop.sample_connect(&mut line.rng);
            if deadline > Instant::now() {
                tokio::time::sleep_until(deadline).await;
            }
            line.delivered(deadline, Instant::now());
        }
        stream
    }

    /// Takes the next chunk the delay line has released, whole and without a copy: the
    /// bytes of one socket read (or what an earlier [`AsyncRead`] read left of it), as a
    /// slice of the line's read buffer. An empty chunk is the end of the stream; a socket
    /// error comes once the queue is drained, as through [`AsyncRead`]. Each chunk's delivery
    /// lateness is recorded exactly as a read would record it. Chunks already due come out
    /// one per call without waiting.
    ///
    /// `None` for a stream without a delay line (a zero hop): it has no chunks, read it
    /// through [`AsyncRead`]. A reader mixing both sees the same bytes in order. Holding a
    /// chunk keeps the read buffer it was cut from allocated, so drop it once consumed.
    pub fn poll_next_chunk(&mut self, cx: &mut Context<'_>) -> Option<Poll<io::Result<Bytes>>> {
        let line = self.line.as_mut()?;
        Some(line.poll_chunk(&mut self.inner, cx))
    }

    /// The hop this stream imposes.
    pub fn hop(&self) -> HopModel {
        self.line.as_ref().map_or(HopModel::ZERO, |l| l.hop)
    }

    /// The socket underneath.
    pub fn get_ref(&self) -> &TcpStream {
        &self.inner
    }

    /// Unwraps the socket. Bytes read from it but not yet released are lost.
    pub fn into_inner(self) -> TcpStream {
        self.inner
    }
}

impl DelayLine {
    /// Records a delivery scheduled at `due` that reached the reader at `now`.
    fn delivered(&self, due: Instant, now: Instant) {
        if let Some(probe) = &self.probe {
            probe
                .errors
                .record_at(probe.class, now.saturating_duration_since(due), now);
        }
    }

    /// Reads what the socket has into the queue, stamping release times. Leaves the socket's
    /// waker registered unless the buffer is full or the socket is done.
    fn pump(&mut self, inner: &mut TcpStream, cx: &mut Context<'_>) {
        while self.eof.is_none() && self.error.is_none() && self.buffered < MAX_BUFFERED_BYTES {
            if self.read_buf.capacity() - self.read_buf.len() < MIN_READ {
                self.read_buf.reserve(READ_CHUNK);
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut *inner), cx, &mut self.read_buf) {
                Poll::Pending => return,
                Poll::Ready(Err(error)) => self.error = Some(error),
                Poll::Ready(Ok(read)) => {
                    let now = Instant::now();
                    if self.new_exchange {
                        self.delay = self.hop.sample_exchange(&mut self.rng);
                        self.new_exchange = false;
                    }
                    let arrival = now + self.delay;
                    let start = self.last_release.map_or(arrival, |last| last.max(arrival));
                    if read == 0 {
                        self.eof = Some(start);
                        return;
                    }
                    let release = start + self.hop.transfer_time(read as u64);
                    self.last_release = Some(release);
                    self.buffered += read;
                    self.queue.push_back(Chunk {
                        data: self.read_buf.split().freeze(),
                        release,
                        waited: false,
                    });
                }
            }
        }
    }

    /// Waits for `deadline`; `Ready` when it has passed.
    fn wait_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        self.timer.as_mut().poll(cx)
    }

    /// Waits until the front chunk is due (`Some(now)`), or for the end of the stream
    /// (`None`, at the end of file's release; a socket error once the queue is drained).
    /// The one wait both ways of taking bytes share: a chunk whose release the reader had
    /// to wait for is marked, so its delivery lateness is recorded when it goes out.
    fn poll_due(
        &mut self,
        inner: &mut TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Instant>>> {
        loop {
            self.pump(inner, cx);
            let now = Instant::now();
            match self.queue.front_mut() {
                Some(front) if front.release > now => {
                    front.waited = true;
                    let release = front.release;
                    ready!(self.wait_until(release, cx));
                }
                Some(_) => return Poll::Ready(Ok(Some(now))),
                None => {
                    if let Some(error) = self.error.take() {
                        return Poll::Ready(Err(error));
                    }
                    if let Some(eof) = self.eof {
                        ready!(self.wait_until(eof, cx));
                        return Poll::Ready(Ok(None));
                    }
                    // Nothing queued: the socket's waker is registered by `pump`.
                    return Poll::Pending;
                }
            }
        }
    }

    /// The front chunk once due (see [`LinkStream::poll_next_chunk`]).
    fn poll_chunk(
        &mut self,
        inner: &mut TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Bytes>> {
        let Some(now) = ready!(self.poll_due(inner, cx))? else {
            return Poll::Ready(Ok(Bytes::new()));
        };
        // invariant: `poll_due` answered `Some` for a due front chunk.
        let chunk = self.queue.pop_front().expect("a front chunk");
        self.buffered -= chunk.data.len();
        if chunk.waited {
            self.delivered(chunk.release, now);
        }
        Poll::Ready(Ok(chunk.data))
    }

    fn poll_read(
        &mut self,
        inner: &mut TcpStream,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(now) = ready!(self.poll_due(inner, cx))? else {
            return Poll::Ready(Ok(()));
        };
        // Every chunk already due goes out in this read, as far as the reader's buffer
        // goes: one poll (and one wake-up of the reader) for what arrived together.
        // (The front is due: a reader with no room gets an empty read, as before.)
        while buf.remaining() > 0
            && let Some(front) = self.queue.front_mut()
            && front.release <= now
        {
            let waited_for = std::mem::take(&mut front.waited).then_some(front.release);
            let n = buf.remaining().min(front.data.len());
            buf.put_slice(&front.data[..n]);
            front.data.advance(n);
            self.buffered -= n;
            if front.data.is_empty() {
                self.queue.pop_front();
            }
            if let Some(due) = waited_for {
                self.delivered(due, now);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for LinkStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.line.as_mut() {
            None => Pin::new(&mut this.inner).poll_read(cx, buf),
            Some(line) => line.poll_read(&mut this.inner, cx, buf),
        }
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, data))?;
        if written > 0
            && let Some(line) = this.line.as_mut()
        {
            line.new_exchange = true;
        }
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        if written > 0
            && let Some(line) = this.line.as_mut()
        {
            line.new_exchange = true;
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl Connection for LinkStream {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Waits for bytes on the socket, then lets the delay line read them into its queue.
    async fn pump_once(stream: &mut LinkStream) {
        stream.inner.readable().await.unwrap();
        let LinkStream { inner, line } = stream;
        let line = line.as_mut().expect("a delay line");
        std::future::poll_fn(|cx| {
            line.pump(inner, cx);
            Poll::Ready(())
        })
        .await;
    }

    /// A connected pair of loopback sockets: (client, server).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_connect_slower_than_its_model_is_the_emulators_lateness_not_extra_latency() {
        let hop = HopModel::fixed(Duration::from_millis(10));
        let errors = DeliveryErrors::new();
        let probe = || {
            Some(Probe {
                errors: errors.clone(),
                class: PathClass::Backbone,
            })
        };
        // The handshake itself took 50 ms (a dropped SYN, a stalled host): the modelled
        // 10 ms were over long before, so the stream is ready at once, 40 ms late.
        let (client, _server) = pair().await;
        let started = Instant::now() - Duration::from_millis(50);
        let before = Instant::now();
        let _stream = LinkStream::opened(client, hop, 1, probe(), started).await;
        assert_eq!(Instant::now(), before, "no modelled wait is added on top");
        let late = errors.summary(PathClass::Backbone);
        assert_eq!(late.count, 1);
        assert!(
            late.max.abs_diff(Duration::from_millis(40)) <= Duration::from_micros(100),
            "{late:?}"
        );
        // A handshake inside the model: the stream is ready when the model says, on time.
        let (client, _server) = pair().await;
        let started = Instant::now();
        let _stream = LinkStream::opened(client, hop, 1, probe(), started).await;
        assert_eq!(Instant::now(), started + Duration::from_millis(10));
        assert_eq!(errors.summary(PathClass::Backbone).count, 2);
        assert_eq!(
            errors.histogram(PathClass::Backbone).min(),
            0,
            "the second connect was on time"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn chunks_already_due_go_out_in_one_read() {
        use tokio::io::AsyncReadExt;
        let (client, mut server) = pair().await;
        let hop = HopModel::fixed(Duration::from_millis(10));
        let mut stream = LinkStream::new(client, hop, 1);
        for (round, text) in [&b"first"[..], b"second"].into_iter().enumerate() {
            server.write_all(text).await.unwrap();
            while stream.line.as_ref().unwrap().queue.len() == round {
                pump_once(&mut stream).await;
            }
        }
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"firstsecond", "both due at once: one read");
        assert_eq!(
            Instant::now(),
            started + Duration::from_millis(10),
            "after the RTT"
        );
        assert_eq!(stream.queued_bytes(), 0);
        // A reader with less room takes what fits; the rest is the next read's.
        server.write_all(b"third").await.unwrap();
        let mut small = [0u8; 2];
        let n = stream.read(&mut small).await.unwrap();
        assert_eq!(&small[..n], b"th");
        let n = stream.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ird");
    }

    /// One take from `stream`, through a chunk or through a 64-byte read.
    fn poll_take(
        stream: &mut LinkStream,
        chunks: bool,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Vec<u8>>> {
        if chunks {
            let polled = stream.poll_next_chunk(cx).expect("a delay line");
            return polled.map_ok(|chunk| chunk.to_vec());
        }
        let mut space = [0u8; 64];
        let mut buf = ReadBuf::new(&mut space);
        ready!(Pin::new(stream).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().to_vec()))
    }

    /// Everything `stream` hands over without waiting (each take separately).
    fn take_due(stream: &mut LinkStream, chunks: bool) -> Vec<Vec<u8>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut takes = Vec::new();
        while let Poll::Ready(taken) = poll_take(stream, chunks, &mut cx) {
            let taken = taken.unwrap();
            let end = taken.is_empty();
            takes.push(taken);
            if end {
                break;
            }
        }
        takes
    }

    /// The same bytes from the server, read through `AsyncRead` or taken as chunks: what the
    /// reader got (per take) and the delivery lateness recorded.
    async fn delivered_through(chunks: bool) -> (Vec<Vec<u8>>, Vec<(u64, u64)>) {
        let (client, mut server) = pair().await;
        let errors = DeliveryErrors::new();
        let hop = HopModel::fixed(Duration::from_millis(10));
        let mut stream = LinkStream::new(client, hop, 1)
            .with_delivery_errors(errors.clone(), PathClass::Internet);
        let mut takes = Vec::new();
        for (late_ms, texts) in [(4, vec![&b"first"[..]]), (0, vec![b"second", b"third"])] {
            for text in texts {
                let queued = stream.line.as_ref().unwrap().queue.len();
                server.write_all(text).await.unwrap();
                while stream.line.as_ref().unwrap().queue.len() == queued {
                    pump_once(&mut stream).await;
                }
            }
            // The reader asks before the release (so it waited for it), then is woken
            // `late_ms` after it.
            assert!(take_due(&mut stream, chunks).is_empty(), "nothing due yet");
            tokio::time::advance(Duration::from_millis(10 + late_ms)).await;
            takes.extend(take_due(&mut stream, chunks));
        }
        drop(server);
        pump_once(&mut stream).await;
        tokio::time::advance(Duration::from_millis(10)).await;
        takes.extend(take_due(&mut stream, chunks));
        let histogram = errors.histogram(PathClass::Internet);
        let recorded = histogram
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        (takes, recorded)
    }

    #[tokio::test(start_paused = true)]
    async fn chunks_hand_over_the_same_bytes_and_lateness_as_reads() {
        let (read, read_late) = delivered_through(false).await;
        let (taken, taken_late) = delivered_through(true).await;
        assert_eq!(
            read,
            [&b"first"[..], b"secondthird", b""],
            "due chunks share a read; the end is an empty read"
        );
        assert_eq!(
            taken,
            [&b"first"[..], b"second", b"third", b""],
            "one chunk per take, whole; the end is an empty chunk"
        );
        assert_eq!(
            read.concat(),
            taken.concat(),
            "the same bytes in the same order"
        );
        assert_eq!(read_late, taken_late, "the same lateness recorded");
        assert_eq!(
            read_late.iter().map(|(_, count)| count).sum::<u64>(),
            2,
            "one delivery per wait: the third chunk came with the second"
        );
        let max = read_late.iter().map(|(value, _)| *value).max().unwrap();
        assert!(
            Duration::from_nanos(max).abs_diff(Duration::from_millis(4))
                <= Duration::from_micros(50),
            "{read_late:?}"
        );
    }

    #[tokio::test]
    async fn a_stream_without_a_delay_line_has_no_chunks() {
        let (client, _server) = pair().await;
        let mut stream = LinkStream::plain(client);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(stream.poll_next_chunk(&mut cx).is_none());
    }

    #[tokio::test]
    async fn small_reads_share_one_read_buffer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (mut server, _) = accepted.unwrap();
        let hop = HopModel::fixed(Duration::from_secs(60));
        let mut stream = LinkStream::new(client.unwrap(), hop, 1);
        for (round, text) in [&b"first response"[..], b"second"].into_iter().enumerate() {
            server.write_all(text).await.unwrap();
            while stream.line.as_ref().unwrap().queue.len() == round {
                pump_once(&mut stream).await;
            }
        }
        let queue = &stream.line.as_ref().unwrap().queue;
        assert_eq!(queue.len(), 2, "both held for the RTT");
        let (first, second) = (&queue[0].data, &queue[1].data);
        assert_eq!(
            (&first[..], &second[..]),
            (&b"first response"[..], &b"second"[..])
        );
        assert_eq!(
            second.as_ptr(),
            first.as_ptr().wrapping_add(first.len()),
            "the second read went into the rest of the first buffer, not a new one"
        );
    }
}
