//! The lane: HTTP/1.1 requests a handler can answer at once, served without hyper.
//!
//! A connection starts here when [`ServeOptions::lane`](super::ServeOptions::lane) is on and
//! the handler [answers at once](Handler::answers_now). The lane reads the socket
//! itself, parses each request head with `httparse` (the parser hyper uses) and, for a request
//! it can take, asks [`Handler::answer_now`] for the response,
//! encodes it as hyper's HTTP/1.1 server would (status line, the fields in the map's order,
//! `content-length`, `connection: close`, `date`; no body after a HEAD) and writes the
//! answers of every request read so far in one vectored write, the bodies as their own
//! slices; a body kept in the stored-body arena ([`crate::arena`]) goes out with `sendfile`
//! from its pages, the text before it sent with `MSG_MORE` so the two leave in the same
//! segments. Then it goes on with the next request of the connection: keep-alive and pipelined
//! requests in order.
//!
//! The lane takes a GET or HEAD request of HTTP/1.1 without a body (`Content-Length: 0` at
//! most, no `Transfer-Encoding`), without `Expect` or `Upgrade`, with at most
//! [`MAX_FIELDS`] fields, that the head checks ([`super::head::check`]) let through. For
//! anything else (another method or version, the h2c preface, a head hyper would refuse, a
//! request the handler declines) the connection goes to hyper for the rest of its life,
//! with the bytes the lane read replayed first: hyper parses that request
//! again and serves it, and every later one, exactly as when the lane is off.
//!
//! What stays the accept loop's on both paths: the connection cap and counts, the first-byte,
//! header-read and idle timeouts (the lane reads through the same `Watched` socket and marks
//! each request in flight), and the graceful drain (the lane holds the connection's drain
//! watcher: on shutdown it closes an idle connection, and an answer it writes after the
//! shutdown carries `connection: close`, as hyper's do).

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header,
};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_util::sync::CancellationToken;

use super::{Connection, Handler};
use crate::arena::{FileBody, READ_FRAME};
use crate::body::Body;

/// Most header fields of a request the lane takes; a request with more goes to hyper (which
/// allows [`ServeOptions::max_headers`](super::ServeOptions::max_headers)).
pub const MAX_FIELDS: usize = 64;

/// Bytes the read buffer asks for at a time (hyper's first read buffer is as large).
const READ_CHUNK: usize = 8 * 1024;

/// Most answers gathered before they are written, so a long pipeline is written as it goes.
const MAX_BATCH: usize = 32;

/// What [`Handler::write_now`] answers.
pub enum Answer {
    /// A response, for the lane to encode as hyper's HTTP/1.1 server would.
    Response(Response<Body>),
    /// A response whose head the handler wrote into the [`WireHead`] it was given; the body
    /// that follows it (not sent after a HEAD request).
    Written(Bytes),
    /// [`Answer::Written`] with a body in the stored-body arena, sent from its pages with
    /// `sendfile` where the connection is a socket.
    WrittenFile(FileBody),
}

/// Most bytes one `sendfile` is asked for: one pass of the kernel's internal pipe (16 pages),
/// so each call's data is pushed at its end rather than held back as more to follow when the
/// socket fills mid-call (measured: 128 KiB and 256 KiB bodies at 16-256 connections went
/// from 14-16k to 28-51k req/s when calls of 1 MiB became calls of 64 KiB).
const SENDFILE_CHUNK: usize = 64 << 10;

/// A connection the lane writes to: a writer that may also send straight from a file, and
/// say that more bytes follow at once.
pub(crate) trait Sink: AsyncWrite + Unpin {
    /// Sends up to `count` bytes of `file` from `offset` on, as `sendfile(2)` does; `None`
    /// when this connection cannot (the lane then reads the file and writes the bytes).
    fn poll_send_file(
        &mut self,
        _cx: &mut Context<'_>,
        _file: BorrowedFd<'_>,
        _offset: u64,
        _count: usize,
    ) -> Option<Poll<io::Result<usize>>> {
        None
    }

    /// A vectored write followed at once by more bytes ([`Sink::poll_send_file`]'s): a socket
    /// holds the bytes back (`MSG_MORE`) so they leave with what follows, not in a segment
    /// of their own.
    fn poll_write_more(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_write_vectored(cx, bufs)
    }
}

/// The head of an answer a handler writes itself as HTTP/1.1 text, straight into the
/// connection's reused output buffer (see [`Handler::write_now`]): a status line, then field
/// lines in the order hyper would write the response's map, which the lane ends as hyper
/// would (`connection: close` when the connection is not kept, `date` unless written, the
/// blank line).
///
/// What is written is trusted, not parsed again: names in lower case (a [`HeaderName`]'s
/// text), values valid field text (a [`HeaderValue`]'s bytes), exactly one
/// `content-length` ([`WireHead::content_length`]), at most one `date`
/// ([`WireHead::date`]), no `connection`, `transfer-encoding` or `trailer`, and a
/// non-empty body after a GET: the answers hyper frames by that length alone. Anything
/// else is answered as an [`Answer::Response`]; a head written then is dropped.
pub struct WireHead<'a> {
    text: &'a mut Vec<u8>,
    start: usize,
    began: bool,
    length: bool,
    date: bool,
    /// The request's field map, handed back to be reused by the next request.
    spare: Option<HeaderMap>,
}

/// What a handler declared of the head it wrote.
struct Written {
    began: bool,
    length: bool,
    date: bool,
}

impl<'a> WireHead<'a> {
    /// A head written at the end of `text`.
    pub fn new(text: &'a mut Vec<u8>) -> Self {
        let start = text.len();
        Self {
            text,
            start,
            began: false,
            length: false,
            date: false,
            spare: None,
        }
    }

    /// Starts (or starts again) with the status line, as hyper writes it. `false`, and
    /// nothing written, for a status hyper frames apart (1xx, 204, 304): answer those as an
    /// [`Answer::Response`].
    pub fn status(&mut self, status: StatusCode) -> bool {
        self.text.truncate(self.start);
        (self.began, self.length, self.date) = (false, false, false);
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return false;
        }
        if status == StatusCode::OK {
            self.text.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        } else {
            self.text.extend_from_slice(b"HTTP/1.1 ");
            self.text.extend_from_slice(status.as_str().as_bytes());
            self.text.push(b' ');
            self.text
                .extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
            self.text.extend_from_slice(b"\r\n");
        }
        self.began = true;
        true
    }

    /// Appends `name: value` (see the type's rules).
    pub fn field(&mut self, name: &str, value: &[u8]) {
        self.field_parts(name, &[value]);
    }

    /// Appends `name: ` and the value written in `parts`, one after the other.
    pub fn field_parts(&mut self, name: &str, parts: &[&[u8]]) {
        debug_assert!(
            !framing(name),
            "{name} is hyper's framing: answer with a Response"
        );
        self.put(name, parts);
    }

    fn put(&mut self, name: &str, parts: &[&[u8]]) {
        debug_assert!(self.began, "the status line comes first");
        let text = &mut *self.text;
        // The whole line at once: one capacity check, at most one growth.
        text.reserve(name.len() + 4 + parts.iter().map(|part| part.len()).sum::<usize>());
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(b": ");
        for part in parts {
            text.extend_from_slice(part);
        }
        text.extend_from_slice(b"\r\n");
    }

    /// Makes room for `additional` more bytes of head at once, so the fields that follow do
    /// not grow the buffer one by one (a handler that knows the head's size says it once).
    pub fn reserve(&mut self, additional: usize) {
        self.text.reserve(additional);
    }

    /// Appends fields already encoded as `name: value\r\n` lines, under the type's rules (or
    /// a piece of them: what a handler appends must be whole lines once it answers).
    pub fn lines(&mut self, lines: &[u8]) {
        debug_assert!(self.began, "the status line comes first");
        self.text.extend_from_slice(lines);
    }

    /// Appends the `content-length` of the body (its digits as the response's map would
    /// hold them: hyper writes the map's value as it is).
    pub fn content_length(&mut self, value: &[u8]) {
        debug_assert!(!self.length, "one content-length");
        self.put("content-length", &[value]);
        self.length = true;
    }

    /// Appends the `date` field (else the lane writes this second's, as hyper does).
    pub fn date(&mut self, value: &[u8]) {
        self.put("date", &[value]);
        self.date = true;
    }

    /// Hands the request's field map back, to be reused by the connection's next request.
    pub fn give_back(&mut self, headers: HeaderMap) {
        self.spare = Some(headers);
    }
}

/// Whether hyper's encoder reads `name` to frame the answer (so a [`WireHead`] may not
/// carry it as a plain field).
fn framing(name: &str) -> bool {
    matches!(
        name,
        "content-length" | "date" | "connection" | "transfer-encoding" | "trailer"
    )
}

/// Where a field's name and value lie in the head: `(name start, name end, value start,
/// value end)`.
type FieldAt = (u32, u32, u32, u32);

/// What the parser made of the start of the read buffer.
enum Parsed {
    /// A whole request head of `len` bytes the lane may take.
    Head {
        len: usize,
        head_method: bool,
        target: (usize, usize),
        fields: usize,
    },
    /// Not a whole head yet.
    Partial,
    /// Something the lane does not take: hyper's.
    Other,
}

/// What became of one request.
enum Step {
    /// Answered; the connection goes on.
    Answered,
    /// Answered; the connection closes after it (`Connection: close`, drain).
    Last,
    /// hyper's, from the start of the read buffer (the buffer holds the request again).
    HandOver,
    /// The answer failed after it began (a body error): the connection is closed.
    Abort,
}

/// The answers waiting to be written: their heads in one buffer, bodies as their own slices.
#[derive(Default)]
struct Out {
    text: Vec<u8>,
    parts: Vec<Part>,
    answers: usize,
}

enum Part {
    /// A range of `Out::text`.
    Text(usize, usize),
    /// A body chunk.
    Body(Bytes),
    /// A whole body in the arena.
    File(FileBody),
}

impl Part {
    fn is_empty(&self) -> bool {
        match self {
            Part::Text(start, end) => start == end,
            Part::Body(bytes) => bytes.is_empty(),
            Part::File(file) => file.is_empty(),
        }
    }
}

impl Out {
    fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Marks `text[start..]` as the next part (joined to a text part just before it).
    fn close_text(&mut self, start: usize) {
        let end = self.text.len();
        if end == start {
            return;
        }
        if let Some(Part::Text(_, last_end)) = self.parts.last_mut()
            && *last_end == start
        {
            *last_end = end;
            return;
        }
        self.parts.push(Part::Text(start, end));
    }

    fn body(&mut self, bytes: Bytes) {
        self.push(Part::Body(bytes));
    }

    /// Adds a body part (empty ones are left out).
    fn push(&mut self, body: Part) {
        if !body.is_empty() {
            self.parts.push(body);
        }
    }

    fn truncate(&mut self, text: usize, parts: usize) {
        self.text.truncate(text);
        self.parts.truncate(parts);
    }

    fn clear(&mut self) {
        self.text.clear();
        self.parts.clear();
        self.answers = 0;
    }

    /// The bytes of a part in memory (none for a file part).
    fn bytes<'a>(&'a self, part: &'a Part) -> &'a [u8] {
        match part {
            Part::Text(start, end) => &self.text[*start..*end],
            Part::Body(bytes) => bytes,
            Part::File(_) => &[],
        }
    }

    /// Writes every part: the parts in memory in as few vectored writes as the socket takes,
    /// each file part with `sendfile` (the memory parts before one sent as more to follow).
    async fn write_to<W: Sink>(&mut self, io: &mut W) -> io::Result<()> {
        const SLICES: usize = 16;
        let (mut part, mut offset) = (0, 0);
        while part < self.parts.len() {
            if let Part::File(file) = &self.parts[part] {
                send_file(io, file).await?;
                part += 1;
                continue;
            }
            let mut slices = [IoSlice::new(&[]); SLICES];
            let mut count = 0;
            let mut file_next = false;
            for (i, p) in self.parts[part..].iter().take(SLICES).enumerate() {
                if matches!(p, Part::File(_)) {
                    file_next = true;
                    break;
                }
                let bytes = self.bytes(p);
                slices[i] = IoSlice::new(if i == 0 { &bytes[offset..] } else { bytes });
                count += 1;
            }
            let slices = &slices[..count];
            let mut written = if file_next {
                std::future::poll_fn(|cx| io.poll_write_more(cx, slices)).await?
            } else {
                io.write_vectored(slices).await?
            };
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            while written > 0 && part < self.parts.len() {
                let rest = self.bytes(&self.parts[part]).len() - offset;
                if written >= rest {
                    written -= rest;
                    part += 1;
                    offset = 0;
                } else {
                    offset += written;
                    written = 0;
                }
            }
        }
        self.clear();
        Ok(())
    }
}

/// Sends the whole of `file`: with `sendfile` where the connection can, else read in frames
/// of [`READ_FRAME`] and written.
async fn send_file<W: Sink>(io: &mut W, file: &FileBody) -> io::Result<()> {
    let len = file.len();
    let mut at = 0;
    while at < len {
        let count = usize::try_from(len - at).map_or(SENDFILE_CHUNK, |n| n.min(SENDFILE_CHUNK));
        let sent = std::future::poll_fn(|cx| {
            match io.poll_send_file(cx, file.file(), file.offset() + at, count) {
                Some(poll) => poll.map(|sent| sent.map(Some)),
                None => Poll::Ready(Ok(None)),
            }
        })
        .await?;
        match sent {
            Some(0) => return Err(io::ErrorKind::WriteZero.into()),
            Some(n) => at += n as u64,
            None => {
                let to = len.min(at + READ_FRAME as u64);
                let bytes = file.read(at..to)?;
                io.write_all(&bytes).await?;
                at = to;
            }
        }
    }
    Ok(())
}

/// A connection's lane state, kept for its whole life (the field positions are parsed into
/// it without being cleared per request).
struct Lane {
    buf: BytesMut,
    out: Out,
    fields: [FieldAt; MAX_FIELDS],
    /// The last answer's field map, cleared: the next request's fields go into it (hyper
    /// recycles its maps the same way).
    spare: Option<HeaderMap>,
}

/// Serves `io` through the lane until it closes, or hands it to hyper.
pub(super) async fn serve<H: Handler, S>(
    connection: Connection<H>,
    mut io: S,
    stop: CancellationToken,
) where
    S: AsyncRead + Sink + Send + 'static,
{
    let mut lane = Lane {
        buf: BytesMut::with_capacity(READ_CHUNK),
        out: Out::default(),
        fields: [(0, 0, 0, 0); MAX_FIELDS],
        spare: None,
    };
    let stopped = stop.clone().cancelled_owned();
    tokio::pin!(stopped);
    loop {
        // `None`: the buffer needs more bytes.
        let mut step = None;
        let mut full = false;
        while !lane.buf.is_empty() {
            if lane.out.answers == MAX_BATCH {
                full = true;
                break;
            }
            match lane.next(&connection, stop.is_cancelled()).await {
                Some(Step::Answered) => {}
                other => {
                    step = other;
                    break;
                }
            }
        }
        if !lane.out.is_empty() && lane.out.write_to(&mut io).await.is_err() {
            return;
        }
        lane.out.answers = 0;
        match step {
            Some(Step::Last) => {
                let _ = io.shutdown().await;
                return;
            }
            Some(Step::Abort) => return,
            Some(Step::HandOver) => {
                connection.lane_handovers.inc();
                let prefix = lane.buf.freeze();
                return connection.hyper(Replayed::new(prefix, io)).await;
            }
            Some(Step::Answered) | None => {}
        }
        if full {
            // Written; the rest of the buffer comes before the next read.
            continue;
        }
        if lane.buf.len() >= connection.max_head_bytes {
            // A partial head larger than hyper's buffer: hyper's to refuse (431).
            connection.lane_handovers.inc();
            let prefix = lane.buf.freeze();
            return connection.hyper(Replayed::new(prefix, io)).await;
        }
        if lane.buf.capacity() - lane.buf.len() < READ_CHUNK / 8 {
            lane.buf.reserve(READ_CHUNK);
        }
        let read = tokio::select! {
            biased;
            read = io.read_buf(&mut lane.buf) => read,
            // Draining: an idle connection (or one with part of a head) closes, as hyper's.
            () = &mut stopped => return,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

impl Lane {
    /// Takes the request at the start of the buffer: answers it into `out`, or says why not.
    async fn next<H: Handler>(
        &mut self,
        connection: &Connection<H>,
        draining: bool,
    ) -> Option<Step> {
        let (len, head_method, target, fields) = match parse(&self.buf, &mut self.fields) {
            Parsed::Head {
                len,
                head_method,
                target,
                fields,
            } => (len, head_method, target, fields),
            Parsed::Partial => return None,
            Parsed::Other => return Some(Step::HandOver),
        };
        if len > connection.max_head_bytes {
            return Some(Step::HandOver);
        }
        let head = self.buf.split_to(len).freeze();
        let Some((request, close)) = self.request(&head, head_method, target, fields) else {
            return Some(self.put_back(head));
        };
        if super::head::check(&request, connection.max_head_bytes).is_some() {
            return Some(self.put_back(head));
        }
        let in_flight = connection.activity.begin();
        let mark = self.out.text.len();
        let mut wire = WireHead::new(&mut self.out.text);
        let answer = connection
            .handler
            .write_now(request, connection.peer, &mut wire);
        let WireHead {
            began,
            length,
            date,
            spare,
            ..
        } = wire;
        if let Some(mut spare) = spare {
            spare.clear();
            self.spare = Some(spare);
        }
        let keep_alive = !close && !draining;
        let written = Written {
            began,
            length,
            date,
        };
        let step = match answer {
            None => {
                self.out.text.truncate(mark);
                return Some(self.put_back(head));
            }
            Some(Answer::Response(response)) => {
                self.out.text.truncate(mark);
                self.encode(response, head_method, keep_alive).await
            }
            Some(Answer::Written(bytes)) => {
                connection.lane_written.inc();
                self.written(mark, written, Part::Body(bytes), head_method, keep_alive)
            }
            Some(Answer::WrittenFile(file)) => {
                connection.lane_written.inc();
                self.written(mark, written, Part::File(file), head_method, keep_alive)
            }
        };
        drop(in_flight);
        connection.lane_answers.inc();
        self.out.answers += 1;
        Some(step)
    }

    /// Ends a head the handler wrote itself (from `mark` in the text) as hyper ends one:
    /// `connection: close` when the connection is not kept, `date` unless written, the blank
    /// line; then the body (a [`Part::Body`] or a [`Part::File`]) unless the request was HEAD.
    fn written(
        &mut self,
        mark: usize,
        head: Written,
        body: Part,
        head_method: bool,
        keep_alive: bool,
    ) -> Step {
        // The handler's side of the contract (`WireHead`): a status line, one
        // `content-length`, a body hyper would frame by that length.
        if !head.began || !head.length || (body.is_empty() && !head_method) {
            debug_assert!(false, "a written head breaks WireHead's rules");
            self.out.text.truncate(mark);
            return Step::Abort;
        }
        let text = &mut self.out.text;
        if !keep_alive {
            text.extend_from_slice(b"connection: close\r\n");
        }
        if !head.date {
            text.extend_from_slice(b"date: ");
            with_date(|date| text.extend_from_slice(date));
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(b"\r\n");
        self.out.close_text(mark);
        if !head_method {
            self.out.push(body);
        }
        if keep_alive {
            Step::Answered
        } else {
            Step::Last
        }
    }

    /// Puts a taken head back in front of the buffer (for hyper): a copy, on the rare path.
    fn put_back(&mut self, head: Bytes) -> Step {
        let mut whole = BytesMut::with_capacity(head.len() + self.buf.len());
        whole.extend_from_slice(&head);
        whole.extend_from_slice(&self.buf);
        self.buf = whole;
        Step::HandOver
    }

    /// The request of a parsed head, and whether it asks to close, or `None` when the lane
    /// does not take it.
    fn request(
        &mut self,
        head: &Bytes,
        head_method: bool,
        target: (usize, usize),
        fields: usize,
    ) -> Option<(Request<()>, bool)> {
        let uri = Uri::from_maybe_shared(head.slice(target.0..target.1)).ok()?;
        let mut headers = self.spare.take().unwrap_or_default();
        headers.reserve(fields);
        let mut close = false;
        let mut length_seen = false;
        for &(name_start, name_end, value_start, value_end) in &self.fields[..fields] {
            let name =
                HeaderName::from_bytes(&head[name_start as usize..name_end as usize]).ok()?;
            let value = HeaderValue::from_maybe_shared(
                head.slice(value_start as usize..value_end as usize),
            )
            .ok()?;
            match name {
                header::CONTENT_LENGTH => {
                    // No body, said once: hyper would drop a repeated value.
                    if length_seen || value.as_bytes() != b"0" {
                        return None;
                    }
                    length_seen = true;
                }
                header::TRANSFER_ENCODING | header::EXPECT | header::UPGRADE => return None,
                header::CONNECTION => close |= has_token(&value, "close"),
                _ => {}
            }
            headers.append(name, value);
        }
        let mut request = Request::new(());
        *request.method_mut() = if head_method {
            Method::HEAD
        } else {
            Method::GET
        };
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Some((request, close))
    }

    /// Encodes `response` after the answers already in `out`, as hyper's HTTP/1.1 server
    /// encodes it (`hyper::proto::h1::role::Server::encode`, for the bodies a handler gives).
    async fn encode(
        &mut self,
        response: Response<Body>,
        head_method: bool,
        keep_alive: bool,
    ) -> Step {
        let (parts, mut body) = response.into_parts();
        let length = if body.is_end_stream() {
            Length::None
        } else {
            match body.size_hint().exact() {
                Some(n) => Length::Known(n),
                None => Length::Unknown,
            }
        };
        let (text_mark, parts_mark) = (self.out.text.len(), self.out.parts.len());
        let Some(head) = encode_head(
            &mut self.out.text,
            parts.status,
            &parts.headers,
            length,
            head_method,
            keep_alive,
        ) else {
            self.out.truncate(text_mark, parts_mark);
            return Step::Abort;
        };
        self.out.close_text(text_mark);
        let mut headers = parts.headers;
        headers.clear();
        self.spare = Some(headers);
        if head.chunked {
            // One chunk per data frame, as hyper writes them (empty frames are skipped).
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    self.out.truncate(text_mark, parts_mark);
                    return Step::Abort;
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if data.is_empty() {
                    continue;
                }
                let start = self.out.text.len();
                self.out
                    .text
                    .extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                self.out.close_text(start);
                self.out.body(data);
                let start = self.out.text.len();
                self.out.text.extend_from_slice(b"\r\n");
                self.out.close_text(start);
            }
            let start = self.out.text.len();
            self.out.text.extend_from_slice(b"0\r\n\r\n");
            self.out.close_text(start);
        } else if head.body && length != Length::None {
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data() {
                            self.out.body(data);
                        }
                    }
                    Err(_) => {
                        self.out.truncate(text_mark, parts_mark);
                        return Step::Abort;
                    }
                }
            }
        }
        if head.last {
            Step::Last
        } else {
            Step::Answered
        }
    }
}

/// Parses the head at the start of `buf`, its fields' positions into `fields`.
fn parse(buf: &[u8], fields: &mut [FieldAt; MAX_FIELDS]) -> Parsed {
    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_FIELDS];
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        // Too many fields, a bad token, HTTP/2's preface: hyper's to answer.
        Err(_) => return Parsed::Other,
    };
    if request.version != Some(1) {
        return Parsed::Other;
    }
    let head_method = match request.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Parsed::Other,
    };
    // Where each part lies in `buf` (httparse hands out slices of it); an empty part may
    // point anywhere and is placed at 0.
    let base = buf.as_ptr() as usize;
    let at = |part: &[u8]| -> Option<(u32, u32)> {
        if part.is_empty() {
            return Some((0, 0));
        }
        let start = (part.as_ptr() as usize).checked_sub(base)?;
        let end = start + part.len();
        (end <= buf.len()).then_some((start as u32, end as u32))
    };
    let Some(target) = request.path.and_then(|path| at(path.as_bytes())) else {
        return Parsed::Other;
    };
    let target = (target.0 as usize, target.1 as usize);
    for (slot, field) in fields.iter_mut().zip(request.headers.iter()) {
        let (Some(name), Some(value)) = (at(field.name.as_bytes()), at(field.value)) else {
            return Parsed::Other;
        };
        *slot = (name.0, name.1, value.0, value.1);
    }
    Parsed::Head {
        len,
        head_method,
        target,
        fields: request.headers.len(),
    }
}

/// Whether a comma-separated field value lists `token` (any case), as hyper reads
/// `Connection`.
fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// What hyper knows of a body before it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Length {
    /// Already at its end (`is_end_stream`).
    None,
    /// An exact size.
    Known(u64),
    /// Unknown.
    Unknown,
}

/// How the encoded head frames what follows.
#[derive(Debug, PartialEq, Eq)]
struct Framing {
    /// The body is sent (not after HEAD, 204 or 304).
    body: bool,
    /// The body is sent chunked.
    chunked: bool,
    /// The connection closes after this answer.
    last: bool,
}

/// Writes the status line and fields of a response into `dst`, with hyper's rules: the
/// fields in the map's order (lower case), one `content-length` (the map's, or the body's
/// size appended), `connection` values joined on one line (`close` added when the
/// connection is not kept), `date` at the end unless the map has one. `None` where hyper
/// refuses the response (a `content-length` and `transfer-encoding` together, lengths that
/// disagree on a body of unknown size): it sends nothing and closes.
fn encode_head(
    dst: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    length: Length,
    head_method: bool,
    keep_alive: bool,
) -> Option<Framing> {
    if status == StatusCode::OK {
        dst.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        dst.extend_from_slice(b"HTTP/1.1 ");
        dst.extend_from_slice(status.as_str().as_bytes());
        dst.push(b' ');
        dst.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
    if status.is_informational() {
        // hyper refuses to send a 1xx as the final answer.
        return None;
    }
    let no_content = matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    let can_chunk = !head_method && !no_content;
    let mut last = !keep_alive;
    let mut wrote_len = false;
    let mut wrote_date = false;
    let mut chunked = false;
    let mut connection_seen = false;
    let mut unknown_len: Option<u64> = None;
    // Room for the usual head at once (each field then copies without growing).
    dst.reserve(64 + headers.len() * 40);
    // The fields joined on one line (`connection`, `transfer-encoding`, `trailer`) are
    // written whole at their first value; `previous` skips the rest of them.
    let mut previous: Option<&HeaderName> = None;
    for (name, value) in headers {
        let again = previous == Some(name);
        previous = Some(name);
        match *name {
            header::CONTENT_LENGTH => {
                if chunked {
                    return None;
                }
                match length {
                    Length::Known(_) => {
                        // The first value only; the body's own size frames it.
                        if !wrote_len {
                            line(dst, name, value);
                            wrote_len = true;
                        }
                    }
                    Length::Unknown => {
                        let parsed = content_length(value)?;
                        match unknown_len {
                            Some(earlier) if earlier != parsed => return None,
                            Some(_) => {}
                            None => {
                                line(dst, name, value);
                                unknown_len = Some(parsed);
                                wrote_len = true;
                            }
                        }
                    }
                    Length::None if head_method => {
                        if wrote_len {
                            // hyper takes a second length after HEAD as a mistake.
                            return None;
                        }
                        line(dst, name, value);
                        wrote_len = true;
                    }
                    Length::None => {}
                }
            }
            header::TRANSFER_ENCODING if !again => {
                if wrote_len {
                    return None;
                }
                if !can_chunk {
                    continue;
                }
                let values = joined(dst, name, headers);
                if !values.last().is_some_and(|v| is_chunked(v)) {
                    dst.extend_from_slice(b", chunked");
                }
                dst.extend_from_slice(b"\r\n");
                wrote_len = true;
                chunked = true;
            }
            header::CONNECTION if !again => {
                let values = joined(dst, name, headers);
                let closes = values.iter().any(|v| has_token(v, "close"));
                // hyper appends `close` to the map's values when it will not keep the
                // connection (a request's `Connection: close`, a drain).
                if !keep_alive && !closes {
                    dst.extend_from_slice(b", close");
                }
                dst.extend_from_slice(b"\r\n");
                last |= closes;
                connection_seen = true;
            }
            header::TRAILER if !again => {
                if !can_chunk {
                    continue;
                }
                // The field is sent; trailer fields themselves never are (a handler's
                // answers at once have none).
                joined(dst, name, headers);
                dst.extend_from_slice(b"\r\n");
            }
            header::TRANSFER_ENCODING | header::CONNECTION | header::TRAILER => {}
            header::DATE => {
                wrote_date = true;
                line(dst, name, value);
            }
            _ => line(dst, name, value),
        }
    }
    if !keep_alive && !connection_seen {
        dst.extend_from_slice(b"connection: close\r\n");
    }
    if !wrote_len {
        match length {
            Length::Unknown => {
                if can_chunk {
                    dst.extend_from_slice(b"transfer-encoding: chunked\r\n");
                    chunked = true;
                }
            }
            Length::None | Length::Known(0) => {
                if !no_content && !head_method {
                    dst.extend_from_slice(b"content-length: 0\r\n");
                }
            }
            Length::Known(len) => {
                if !no_content {
                    dst.extend_from_slice(b"content-length: ");
                    let mut digits = itoa_buffer();
                    dst.extend_from_slice(decimal(len, &mut digits));
                    dst.extend_from_slice(b"\r\n");
                }
            }
        }
    }
    let body = can_chunk;
    if !wrote_date {
        dst.extend_from_slice(b"date: ");
        with_date(|date| dst.extend_from_slice(date));
        dst.extend_from_slice(b"\r\n");
    }
    dst.extend_from_slice(b"\r\n");
    Some(Framing {
        body,
        chunked: chunked && body,
        last,
    })
}

/// Writes `name: v1, v2, ...` (without the line end) from every value of `name`; returns them.
fn joined<'a>(
    dst: &mut Vec<u8>,
    name: &HeaderName,
    headers: &'a HeaderMap,
) -> Vec<&'a HeaderValue> {
    let values: Vec<&HeaderValue> = headers.get_all(name).iter().collect();
    dst.extend_from_slice(name.as_str().as_bytes());
    dst.extend_from_slice(b": ");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            dst.extend_from_slice(b", ");
        }
        dst.extend_from_slice(value.as_bytes());
    }
    values
}

#[inline]
fn line(dst: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue) {
    dst.extend_from_slice(name.as_str().as_bytes());
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value.as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// A `Content-Length` value as hyper reads it: digits, or equal comma-separated digits
/// (RFC 9110 §8.6); `None` for anything else. Also the load generator's client's reading.
pub fn content_length(value: &HeaderValue) -> Option<u64> {
    let mut length = None;
    for item in value.as_bytes().split(|&b| b == b',') {
        let item = item.trim_ascii();
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: u64 = std::str::from_utf8(item).ok()?.parse().ok()?;
        if length.is_some_and(|l| l != n) {
            return None;
        }
        length = Some(n);
    }
    length
}

/// Whether the last `Transfer-Encoding` coding is `chunked`.
fn is_chunked(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

fn itoa_buffer() -> [u8; 20] {
    [0; 20]
}

/// The decimal digits of `n`, written at the end of `digits` (no allocation; the origin's
/// written answers use it too).
pub fn decimal(n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    &digits[at..]
}

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
const DATE_LEN: usize = 29;

thread_local! {
    /// This second's `Date` value, formatted once per second per thread (as hyper does).
    static DATE: RefCell<(u64, [u8; DATE_LEN])> = const { RefCell::new((u64::MAX, [0; DATE_LEN])) };
}

fn with_date<T>(use_date: impl FnOnce(&[u8]) -> T) -> T {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(cached, text)| {
        if *cached != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == DATE_LEN {
                text.copy_from_slice(formatted.as_bytes());
                *cached = second;
            }
        }
        use_date(text)
    })
}

/// A connection whose first reads return bytes already read from it: how the lane hands a
/// connection to hyper. (tokio's `AsyncReadExt::chain` replays too, but gives no writer.)
pub(super) struct Replayed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Replayed<S> {
    pub(super) fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix[..n]);
        self.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replayed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
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

    #[tokio::test]
    async fn short_writes_resume_where_they_stopped() {
        let mut out = Out::default();
        let mut expected = Vec::new();
        for i in 0..40 {
            let start = out.text.len();
            let head = format!("head {i}\r\n");
            out.text.extend_from_slice(head.as_bytes());
            out.close_text(start);
            let body = Bytes::from(format!("body {i};"));
            expected.extend_from_slice(head.as_bytes());
            expected.extend_from_slice(&body);
            out.body(body);
            out.body(Bytes::new());
        }
        for step in [1, 3, 7, 1000] {
            let mut copy = Out {
                text: out.text.clone(),
                parts: out
                    .parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(a, b) => Part::Text(*a, *b),
                        Part::Body(b) => Part::Body(b.clone()),
                        Part::File(f) => Part::File(f.clone()),
                    })
                    .collect(),
                answers: 0,
            };
            let mut writer = Trickle {
                got: Vec::new(),
                step,
            };
            copy.write_to(&mut writer).await.unwrap();
            assert_eq!(writer.got, expected, "{step} bytes a write");
            assert!(copy.is_empty());
        }
    }

    #[test]
    fn adjacent_text_parts_are_one_slice() {
        let mut out = Out::default();
        out.text.extend_from_slice(b"ab");
        out.close_text(0);
        out.text.extend_from_slice(b"cd");
        out.close_text(2);
        out.close_text(4);
        assert!(matches!(out.parts[..], [Part::Text(0, 4)]));
    }

    #[tokio::test]
    async fn a_replayed_connection_reads_its_prefix_first() {
        let inner: &[u8] = b" world";
        let mut replayed = Replayed::new(Bytes::from_static(b"hello"), inner);
        let mut small = [0u8; 3];
        assert_eq!(replayed.read(&mut small).await.unwrap(), 3);
        assert_eq!(&small, b"hel");
        let mut rest = Vec::new();
        replayed.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"lo world");
    }

    #[test]
    fn field_values_are_read_as_hyper_reads_them() {
        let v = HeaderValue::from_static;
        assert!(has_token(&v("keep-alive, Close"), "close"));
        assert!(!has_token(&v("closed"), "close"));
        assert_eq!(content_length(&v("12")), Some(12));
        assert_eq!(content_length(&v("12, 12")), Some(12));
        assert_eq!(content_length(&v("12, 13")), None);
        assert_eq!(content_length(&v("+12")), None);
        assert!(is_chunked(&v("gzip, chunked")));
        assert!(!is_chunked(&v("chunked, gzip")));
        let mut digits = [0u8; 20];
        assert_eq!(decimal(0, &mut digits), b"0");
        assert_eq!(
            decimal(u64::MAX, &mut digits),
            u64::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn heads_the_lane_does_not_take_are_hyper_s() {
        let mut fields = [(0, 0, 0, 0); MAX_FIELDS];
        let mut parse_of = |bytes: &[u8]| match parse(bytes, &mut fields) {
            Parsed::Head { len, .. } => format!("head {len}"),
            Parsed::Partial => "partial".to_owned(),
            Parsed::Other => "other".to_owned(),
        };
        assert_eq!(parse_of(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "head 27");
        assert_eq!(parse_of(b"GET / HTTP/1.1\r\nHost: a\r\n"), "partial");
        assert_eq!(parse_of(b"GET / HTTP/1.0\r\n\r\n"), "other");
        assert_eq!(parse_of(b"POST / HTTP/1.1\r\nHost: a\r\n\r\n"), "other");
        assert_eq!(parse_of(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "other");
        let many: String = (0..=MAX_FIELDS).map(|i| format!("x-{i}: v\r\n")).collect();
        assert_eq!(
            parse_of(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            "other"
        );
    }
}
