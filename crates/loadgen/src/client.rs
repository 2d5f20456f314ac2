//! [`Http1`]: the load generator's HTTP/1.1 client for its measured requests, a keep-alive
//! `GET` at a time on one connection, driven by the worker's own task.
//!
//! hyper's client splits a connection between two tasks (the caller's, holding a
//! `SendRequest`, and the connection's, running the dispatcher) that hand every request,
//! response head and body frame to each other through channels, and allocates a frame per
//! body read. For the one kind of request the load generator sends (a `GET` without a body,
//! one in flight per connection) that machinery is most of its CPU time per request. This
//! client writes the request head and reads the response on the worker's task, with one read
//! buffer per connection reused for every response, and hands body bytes to a callback
//! (the digest) straight from that buffer. Nothing here replaces a general client: there is
//! no pipelining, no request body, no upgrade and no HTTP/2 (the load generator asks for
//! none), and its control-plane GETs ([`fetch`](crate::fetch)) still go through hyper.
//!
//! What it reads follows RFC 9112 as hyper does, and `tests::against_hyper` checks it byte
//! for byte against hyper's client on the same answers: the request head is hyper's
//! (`GET path HTTP/1.1`, then `host`); interim (1xx) responses are skipped; a response to a
//! `GET` with status 204 or 304 has no body; `Transfer-Encoding` ending in `chunked` is
//! decoded (extensions and trailers read and dropped), another transfer coding runs to the
//! end of the connection; else `Content-Length` (all copies equal, digits only), else the
//! body runs to the end of the connection. The connection is kept for the next request
//! unless the response said `Connection: close`, was HTTP/1.0, ran to
//! the end of the connection, or was followed by bytes nobody asked for.
//!
//! Over a delay line ([`LinkStream`]) the client takes each released chunk whole
//! ([`LinkStream::poll_next_chunk`]) and parses heads and hands body bytes to the callback
//! from the chunk itself, so nothing is copied between the line's read buffer and the
//! digest; only a head or framing line split across two chunks is joined (copied) into the
//! connection's own buffer. A plain socket (and a zero hop) is read into that buffer.
//!
//! httparse parses the heads and chunk sizes (the parser hyper uses); only the framing
//! rules above are written here, because no maintained crate offers a response reader over
//! a caller's `AsyncRead` without its own connection task.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes, BytesMut};
use edgelab_link::LinkStream;
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sent::SendStamp;

/// Largest response head accepted: hyper's default read buffer limit (8 KiB + 100 × 4 KiB).
const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
/// Most header fields in a response head (hyper's default).
const MAX_HEADERS: usize = 100;
/// Largest trailer section of a chunked body.
const MAX_TRAILER_BYTES: usize = 64 * 1024;
/// Room made in the read buffer before each read from the socket.
const READ_CHUNK: usize = 16 * 1024;

/// A failed exchange, told apart by how far it got.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// Writing the request or reading the response head failed.
    #[error("{0}")]
    Head(String),
    /// The body failed (cut short, bad chunk framing) after `bytes` body bytes.
    #[error("body failed after {bytes} bytes: {reason}")]
    Body { bytes: u64, reason: String },
}

/// A response head, and how its body is framed.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    framing: Framing,
    /// The connection may carry the next request once the body is read.
    keep_alive: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A stream the client runs over: read into the client's buffer through [`AsyncRead`], or,
/// where the stream holds what it read as shared chunks, by taking those chunks whole.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// The next bytes as a chunk handed over without a copy (empty at the end of the
    /// stream), or `None` if this stream has no chunks to hand over.
    fn poll_chunk(&mut self, _cx: &mut Context<'_>) -> Option<Poll<io::Result<Bytes>>> {
        None
    }
}

impl Transport for TcpStream {}

impl Transport for LinkStream {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Option<Poll<io::Result<Bytes>>> {
        self.poll_next_chunk(cx)
    }
}

/// One HTTP/1.1 connection (see the module docs).
#[derive(Debug)]
pub(crate) struct Http1<T> {
    io: T,
    /// Bytes read and not yet consumed when they are not in `chunk`; the allocation is kept
    /// from response to response.
    buf: BytesMut,
    /// What is left of the chunk last taken from the stream. Unconsumed input is `buf` or
    /// `chunk`, never both: a chunk is only kept whole when `buf` is empty, and an empty
    /// chunk holds no allocation (the delay line reuses its read buffer once every chunk
    /// cut from it is dropped).
    chunk: Bytes,
    /// The request head being written (kept for its allocation).
    head: Vec<u8>,
    /// False once the connection cannot carry another request.
    reusable: bool,
}

impl<T: Transport> Http1<T> {
    /// A client over a connected stream.
    pub(crate) fn new(io: T) -> Http1<T> {
        Http1 {
            io,
            buf: BytesMut::new(),
            chunk: Bytes::new(),
            head: Vec::new(),
            reusable: true,
        }
    }

    /// Whether the connection can carry another request: no earlier response ended it, and
    /// the peer has not closed it (or sent bytes nobody asked for) since. Never waits.
    pub(crate) fn is_reusable(&mut self) -> bool {
        if !self.reusable || self.buffered() > 0 {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_fill(&mut cx) {
            Poll::Pending => true,
            // End of file, unasked bytes or an error: not for another request.
            Poll::Ready(_) => {
                self.reusable = false;
                false
            }
        }
    }

    /// Writes `GET path HTTP/1.1` with `host`, noting the moment the first byte went out in
    /// `stamp`, and reads the response head (skipping interim responses).
    pub(crate) async fn get(
        &mut self,
        path: &str,
        host: &HeaderValue,
        stamp: &SendStamp,
    ) -> Result<Head, ClientError> {
        self.head.clear();
        self.head.extend_from_slice(b"GET ");
        self.head.extend_from_slice(path.as_bytes());
        self.head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        self.head.extend_from_slice(host.as_bytes());
        self.head.extend_from_slice(b"\r\n\r\n");
        self.reusable = false;
        let failed = |error: std::io::Error| ClientError::Head(format!("write failed: {error}"));
        let n = self.io.write(&self.head).await.map_err(failed)?;
        if n == 0 {
            return Err(ClientError::Head("connection closed on write".into()));
        }
        stamp.wrote();
        if n < self.head.len() {
            self.io.write_all(&self.head[n..]).await.map_err(failed)?;
        }
        loop {
            let head = self.read_head().await?;
            if head.status.is_informational() {
                if head.status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(ClientError::Head(
                        "unexpected 101 Switching Protocols".into(),
                    ));
                }
                continue;
            }
            return Ok(head);
        }
    }

    /// Reads the body of `head`, handing its bytes to `data` as they come; returns how many
    /// there were. After it the connection is reusable if the response allowed it.
    pub(crate) async fn body(
        &mut self,
        head: &Head,
        mut data: impl FnMut(&[u8]),
    ) -> Result<u64, ClientError> {
        let mut bytes = 0u64;
        let fail = |bytes: u64, reason: &str| ClientError::Body {
            bytes,
            reason: reason.to_string(),
        };
        match head.framing {
            Framing::Empty => {}
            Framing::Length(mut left) => {
                while left > 0 {
                    if self.buffered() == 0 && self.fill().await.map_err(|e| fail(bytes, &e))? == 0
                    {
                        return Err(fail(bytes, "connection closed before the body's end"));
                    }
                    let take = self
                        .buffered()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    data(&self.input()[..take]);
                    self.consume(take);
                    left -= take as u64;
                    bytes += take as u64;
                }
            }
            Framing::UntilClose => loop {
                let n = self.buffered();
                if n > 0 {
                    data(self.input());
                    bytes += n as u64;
                    self.consume(n);
                }
                if self.fill().await.map_err(|e| fail(bytes, &e))? == 0 {
                    break;
                }
            },
            Framing::Chunked => loop {
                let size = loop {
                    match httparse::parse_chunk_size(self.input()) {
                        Ok(httparse::Status::Complete((used, size))) => {
                            self.consume(used);
                            break size;
                        }
                        Ok(httparse::Status::Partial) => self.more(bytes, MAX_HEAD_BYTES).await?,
                        Err(_) => return Err(fail(bytes, "invalid chunk size line")),
                    }
                };
                if size == 0 {
                    self.trailers(bytes).await?;
                    break;
                }
                let mut left = size;
                while left > 0 {
                    if self.buffered() == 0 {
                        self.more(bytes, usize::MAX).await?;
                    }
                    let take = self
                        .buffered()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    data(&self.input()[..take]);
                    self.consume(take);
                    left -= take as u64;
                    bytes += take as u64;
                }
                while self.buffered() < 2 {
                    self.more(bytes, usize::MAX).await?;
                }
                if &self.input()[..2] != b"\r\n" {
                    return Err(fail(bytes, "chunk not followed by CRLF"));
                }
                self.consume(2);
            },
        }
        self.reusable = head.keep_alive && head.framing != Framing::UntilClose;
        Ok(bytes)
    }

    /// The trailer section after a chunked body's last chunk, read and dropped.
    async fn trailers(&mut self, bytes: u64) -> Result<(), ClientError> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(self.input(), &mut fields) {
                Ok(httparse::Status::Complete((used, _))) => {
                    self.consume(used);
                    return Ok(());
                }
                Ok(httparse::Status::Partial) => self.more(bytes, MAX_TRAILER_BYTES).await?,
                Err(error) => {
                    return Err(ClientError::Body {
                        bytes,
                        reason: format!("invalid trailers: {error}"),
                    });
                }
            }
        }
    }

    /// Reads more of a chunked body into the buffer (holding at most `limit` bytes
    /// unconsumed); the end of the connection there is a body cut short.
    async fn more(&mut self, bytes: u64, limit: usize) -> Result<(), ClientError> {
        if self.buffered() >= limit {
            return Err(ClientError::Body {
                bytes,
                reason: "chunk framing line too long".into(),
            });
        }
        match self.fill().await {
            Ok(0) => Err(ClientError::Body {
                bytes,
                reason: "connection closed before the body's end".into(),
            }),
            Ok(_) => Ok(()),
            Err(reason) => Err(ClientError::Body { bytes, reason }),
        }
    }

    /// Unconsumed input, from the front.
    fn input(&self) -> &[u8] {
        if self.chunk.is_empty() {
            &self.buf
        } else {
            &self.chunk
        }
    }

    /// How many bytes of input are unconsumed.
    fn buffered(&self) -> usize {
        self.buf.len() + self.chunk.len()
    }

    /// Consumes the first `n` bytes of input (at most [`Http1::buffered`]).
    fn consume(&mut self, n: usize) {
        if self.chunk.is_empty() {
            self.buf.advance(n);
        } else {
            self.chunk.advance(n);
            if self.chunk.is_empty() {
                // Let go of the delay line's read buffer.
                self.chunk = Bytes::new();
            }
        }
    }

    /// One read from the socket; 0 at the end of the connection.
    async fn fill(&mut self) -> Result<usize, String> {
        std::future::poll_fn(|cx| self.poll_fill(cx))
            .await
            .map_err(|error| format!("read failed: {error}"))
    }

    /// One read from the socket: a chunk taken whole when nothing is left unconsumed, a
    /// chunk appended to what is (a head or framing line split across chunks), or a read
    /// into the buffer from a stream without chunks.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if let Some(polled) = self.io.poll_chunk(cx) {
            let chunk = ready!(polled)?;
            let n = chunk.len();
            if self.buffered() == 0 {
                self.chunk = chunk;
            } else {
                if !self.chunk.is_empty() {
                    self.buf.extend_from_slice(&self.chunk);
                    self.chunk = Bytes::new();
                }
                self.buf.extend_from_slice(&chunk);
            }
            return Poll::Ready(Ok(n));
        }
        self.buf.reserve(READ_CHUNK);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    /// Reads and parses one response head.
    async fn read_head(&mut self) -> Result<Head, ClientError> {
        loop {
            if self.buffered() > 0
                && let Some(head) = self.parse_head()?
            {
                return Ok(head);
            }
            if self.buffered() >= MAX_HEAD_BYTES {
                return Err(ClientError::Head(format!(
                    "response head over {MAX_HEAD_BYTES} bytes"
                )));
            }
            match self.fill().await {
                Ok(0) if self.buffered() == 0 => {
                    return Err(ClientError::Head(
                        "connection closed before a response".into(),
                    ));
                }
                Ok(0) => {
                    return Err(ClientError::Head(
                        "connection closed inside the response head".into(),
                    ));
                }
                Ok(_) => {}
                Err(reason) => return Err(ClientError::Head(reason)),
            }
        }
    }

    /// A complete head from the front of the buffer (consumed), `None` if more is needed.
    fn parse_head(&mut self) -> Result<Option<Head>, ClientError> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut fields);
        let used = match response.parse(self.input()) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(error) => return Err(ClientError::Head(format!("invalid response head: {error}"))),
        };
        let bad = |what: &str| ClientError::Head(format!("invalid response head: {what}"));
        let status = response
            .code
            .and_then(|code| StatusCode::from_u16(code).ok())
            .ok_or_else(|| bad("status code"))?;
        let http10 = response.version == Some(0);
        let mut headers = HeaderMap::with_capacity(response.headers.len());
        for field in response.headers.iter() {
            let name =
                HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| bad("field name"))?;
            let value = HeaderValue::from_bytes(field.value).map_err(|_| bad("field value"))?;
            headers.append(name, value);
        }
        self.consume(used);
        let framing = framing(status, &headers).ok_or_else(|| bad("Content-Length"))?;
        let keep_alive = keep_alive(http10, &headers);
        Ok(Some(Head {
            status,
            headers,
            framing,
            keep_alive,
        }))
    }
}

/// How the body of a response to a `GET` with `status` and `headers` is framed (RFC 9112
/// §6.3); `None` for an invalid `Content-Length`.
fn framing(status: StatusCode, headers: &HeaderMap) -> Option<Framing> {
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Some(Framing::Empty);
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        let last = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|coding| !coding.is_empty());
        return Some(match last {
            Some(coding) if coding.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::UntilClose,
        });
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let n = edgelab_common::serve::lane::content_length(value)?;
        if length.is_some_and(|l| l != n) {
            return None;
        }
        length = Some(n);
    }
    Some(match length {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// Whether the connection outlives the response: an HTTP/1.1 response unless it says
/// `Connection: close`. An HTTP/1.0 response never does, even with `keep-alive` (hyper would
/// go on in HTTP/1.0 with `connection: keep-alive` on every request; this client asks an
/// HTTP/1.0 server on a fresh connection each time instead, and no edgelab node is one).
fn keep_alive(http10: bool, headers: &HeaderMap) -> bool {
    !http10
        && !headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

/// Reads the body of `head` into memory (tests).
#[cfg(test)]
impl<T: Transport> Http1<T> {
    async fn body_bytes(&mut self, head: &Head) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        self.body(head, |data| out.extend_from_slice(data)).await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A server on loopback that reads one request head per answer, records it and writes
    /// the next canned answer (whole, or in the given pieces), then closes the connection
    /// after the last one.
    async fn server(
        answers: Vec<Vec<&'static [u8]>>,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut heads = Vec::new();
            for pieces in answers {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    if socket.read(&mut byte).await.unwrap() == 0 {
                        return heads;
                    }
                    head.push(byte[0]);
                }
                heads.push(head);
                for piece in pieces {
                    socket.write_all(piece).await.unwrap();
                    socket.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
            heads
        });
        (addr, task)
    }

    /// What a client made of one exchange: status, fields, body, and whether it kept the
    /// connection (or the error's kind).
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Response {
            status: u16,
            headers: Vec<(String, Vec<u8>)>,
            body: Vec<u8>,
        },
        HeadFailed,
        BodyFailed,
    }

    fn fields(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    /// The lean client over `answers`, one `GET` per answer on one connection while it
    /// stays reusable; returns what it saw and the request heads the server received. With
    /// `hop`, it reads through a delay line (taking its chunks), else from the socket.
    async fn lean(
        answers: Vec<Vec<&'static [u8]>>,
        hop: Option<edgelab_link::HopModel>,
    ) -> (Vec<Seen>, Vec<Vec<u8>>) {
        let (addr, server) = server(answers.clone()).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let seen = match hop {
            None => exchanges(Http1::new(stream), answers.len()).await,
            Some(hop) => {
                exchanges(Http1::new(LinkStream::new(stream, hop, 7)), answers.len()).await
            }
        };
        (seen, server.await.unwrap())
    }

    /// `count` exchanges on `client` while it stays reusable.
    async fn exchanges<T: Transport>(mut client: Http1<T>, count: usize) -> Vec<Seen> {
        let host = HeaderValue::from_static("cdn.example:8080");
        let stamp = SendStamp::new(tokio::time::Instant::now());
        let mut seen = Vec::new();
        for _ in 0..count {
            stamp.arm();
            let head = match client.get("/a/b?c=d", &host, &stamp).await {
                Ok(head) => head,
                Err(_) => {
                    seen.push(Seen::HeadFailed);
                    break;
                }
            };
            assert!(stamp.written_at().is_some(), "the write was stamped");
            match client.body_bytes(&head).await {
                Ok(body) => seen.push(Seen::Response {
                    status: head.status.as_u16(),
                    headers: fields(&head.headers),
                    body,
                }),
                Err(_) => {
                    seen.push(Seen::BodyFailed);
                    break;
                }
            }
            // Let a close by the server reach the socket before asking.
            tokio::task::yield_now().await;
            if !client.is_reusable() {
                break;
            }
        }
        seen
    }

    /// hyper's client over the same answers, as the load generator used it.
    async fn hyper(answers: Vec<Vec<&'static [u8]>>) -> (Vec<Seen>, Vec<Vec<u8>>) {
        use http_body_util::{BodyExt, Empty};
        let count = answers.len();
        let (addr, server) = server(answers).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        let driver = tokio::spawn(connection);
        let host = HeaderValue::from_static("cdn.example:8080");
        let mut seen = Vec::new();
        for _ in 0..count {
            if sender.ready().await.is_err() {
                break;
            }
            let mut request = http::Request::get("/a/b?c=d")
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            request
                .headers_mut()
                .insert(http::header::HOST, host.clone());
            let response = match sender.send_request(request).await {
                Ok(response) => response,
                Err(_) => {
                    seen.push(Seen::HeadFailed);
                    break;
                }
            };
            let (parts, body) = response.into_parts();
            match body.collect().await {
                Ok(body) => seen.push(Seen::Response {
                    status: parts.status.as_u16(),
                    headers: fields(&parts.headers),
                    body: body.to_bytes().to_vec(),
                }),
                Err(_) => {
                    seen.push(Seen::BodyFailed);
                    break;
                }
            }
            tokio::task::yield_now().await;
            if sender.is_closed() {
                break;
            }
        }
        drop(sender);
        let _ = driver.await;
        (seen, server.await.unwrap())
    }

    /// Every answer, given to both clients: the same request bytes on the wire, the same
    /// statuses, fields and bodies, the same failures and the same reuse of the connection.
    #[tokio::test]
    async fn against_hyper() {
        let cases: Vec<(&str, Vec<Vec<&'static [u8]>>)> = vec![
            (
                "two keep-alive responses with Content-Length",
                vec![
                    vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Cache: Hit from cloudfront\r\nVia: a\r\nvia: b\r\n\r\nhello"],
                    vec![b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n", b"a", b"bc"],
                ],
            ),
            (
                "a head and body in many pieces",
                vec![vec![b"HTTP/1.1 20", b"0 OK\r\nContent-Le", b"ngth: 4\r\n", b"\r\nab", b"cd"]],
            ),
            (
                "chunked with extensions and trailers, then a length",
                vec![
                    vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n", b"a\r\n0123456789\r\n0\r\nT: 1\r\n\r\n"],
                    vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
                ],
            ),
            (
                "interim responses are skipped",
                vec![vec![b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"]],
            ),
            (
                "304 and 204 have no body, whatever they say",
                vec![
                    vec![b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 10\r\n\r\n"],
                    vec![b"HTTP/1.1 204 No Content\r\n\r\n"],
                    vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
                ],
            ),
            (
                "Connection: close ends the connection after the body",
                vec![
                    vec![b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno"],
                    vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
                ],
            ),
            (
                "a body to the end of the connection",
                vec![vec![b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the end"]],
            ),
            (
                "an HTTP/1.0 response ends the connection",
                vec![
                    vec![b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb"],
                    vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc"],
                ],
            ),
            (
                "a body cut short",
                vec![vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]],
            ),
            (
                "a chunked body cut short",
                vec![vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"]],
            ),
            (
                "bad chunk framing",
                vec![vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]],
            ),
            (
                "an invalid Content-Length",
                vec![vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nx"]],
            ),
            (
                "differing Content-Lengths",
                vec![vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx"]],
            ),
            (
                "an invalid head",
                vec![vec![b"HTTP/1.1 2x0 OK\r\n\r\n"]],
            ),
            (
                "the connection closed before any response",
                vec![vec![]],
            ),
        ];
        let line = edgelab_link::HopModel::fixed(std::time::Duration::from_micros(200));
        for (name, answers) in cases {
            let (hyper_seen, hyper_heads) = hyper(answers.clone()).await;
            let (lean_seen, lean_heads) = lean(answers.clone(), None).await;
            assert_eq!(lean_seen, hyper_seen, "{name}: what each client saw");
            assert_eq!(lean_heads, hyper_heads, "{name}: the request bytes");
            let (chunk_seen, chunk_heads) = lean(answers, Some(line)).await;
            assert_eq!(
                chunk_seen, hyper_seen,
                "{name}: what the client saw in chunks"
            );
            assert_eq!(
                chunk_heads, hyper_heads,
                "{name}: the request bytes in chunks"
            );
        }
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let map = |fields: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (n, v) in fields {
                headers.append(*n, HeaderValue::from_static(v));
            }
            headers
        };
        let ok = StatusCode::OK;
        assert_eq!(
            framing(ok, &map(&[("content-length", "12")])),
            Some(Framing::Length(12))
        );
        assert_eq!(
            framing(ok, &map(&[("content-length", "7, 7")])),
            Some(Framing::Length(7))
        );
        assert_eq!(framing(ok, &map(&[("content-length", "7, 8")])), None);
        assert_eq!(framing(ok, &map(&[("content-length", "+7")])), None);
        assert_eq!(framing(ok, &map(&[])), Some(Framing::UntilClose));
        assert_eq!(
            framing(
                ok,
                &map(&[
                    ("transfer-encoding", "gzip, chunked"),
                    ("content-length", "3")
                ])
            ),
            Some(Framing::Chunked),
            "Transfer-Encoding wins over Content-Length"
        );
        assert_eq!(
            framing(ok, &map(&[("transfer-encoding", "chunked, gzip")])),
            Some(Framing::UntilClose)
        );
        assert_eq!(
            framing(StatusCode::NOT_MODIFIED, &map(&[("content-length", "9")])),
            Some(Framing::Empty)
        );
        assert!(keep_alive(false, &map(&[])));
        assert!(!keep_alive(
            false,
            &map(&[("connection", "Keep-Alive, Close")])
        ));
        assert!(!keep_alive(true, &map(&[])));
        assert!(!keep_alive(true, &map(&[("connection", "keep-alive")])));
    }
}
