//! Fill: whether a fetched response may be stored and for how long, then the answer. A
//! storable response is read by a fill task into the key's flight (`crate::lock`), which
//! the leader's viewer and every collapsed waiter read from; HEAD, range, conditional and
//! to-be-compressed requests wait for the whole stored object instead. Only whole,
//! length-verified bodies are stored; a response that is not storable is passed through to
//! its own viewer alone.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use edgelab_common::body::{self, BoxError};
use http::request::Parts;
use http::response::Parts as ResponseParts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::BodyExt;
use http_cache_semantics::{CacheOptions, CachePolicy};
use tracing::Instrument;

use super::outcome::{NotStored, UpstreamInfo};
use super::{Exchange, Node, OWN_HEADERS, Outcome, Refusal, Served, respond_from_object};
use crate::compress;
use crate::config::Tier;
use crate::lock::{self, BodyEnd, LeaderGuard, LeaderReader, SharedHead};
use crate::metrics::{Metrics, UpstreamResult};
use crate::policy;
use crate::store::{
    CachedObject, FileBodies, Lifespan, ObjectBody, SharedHeaders, Store, StoredHeaders,
};
use crate::upstream::{BodyError, Fetched, UpstreamBody, strip_hop_by_hop};
use edgelab_common::arena::ExtentWriter;

impl Node {
    /// Decides storability of a fetched response and answers the viewer: streamed with a
    /// fill, buffered (HEAD, ranges, conditionals, compression), or passed through.
    pub(super) async fn answer_fetched(
        &self,
        mut exchange: Exchange<'_>,
        fetched: Fetched,
    ) -> Outcome {
        let upstream = self.upstream_info(&fetched);
        let now = self.clock.now();
        let (mut head, incoming) = fetched.response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let content_length = head
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let served = |stored| Served::Fetched {
            reason: exchange.reason,
            status: head.status,
            stored,
            collapsed: exchange.collapsed,
        };
        let template = match self.template(&exchange, &head, content_length, now, &upstream) {
            Ok(template) => template,
            Err(why) => {
                exchange.guard.take();
                let served = served(Err(why));
                let body = if exchange.parts.method == Method::HEAD {
                    body::empty()
                } else {
                    incoming.map_err(BoxError::from).boxed()
                };
                let response = Response::from_parts(head, body);
                return Outcome {
                    response,
                    served,
                    upstream,
                };
            }
        };
        let served = served(Ok(()));
        let buffered = needs_buffer(&exchange.parts, &head.headers, &template, content_length);
        let guard = exchange.guard.take().unwrap_or_else(LeaderGuard::detached);
        let read = self
            .start_fill(&exchange, template, &head.headers, incoming, guard)
            .await;
        let response = if buffered {
            match lock::completed(read).await {
                BodyEnd::Complete { object, .. } => with_cookies_of(
                    respond_from_object(&exchange.parts, &object, now),
                    &head.headers,
                ),
                BodyEnd::Failed(why) => return truncated(why.to_string()),
                BodyEnd::Overflow => {
                    self.metrics.upstream(UpstreamResult::Truncated);
                    return truncated(format!(
                        "upstream body longer than {} bytes",
                        self.store.max_object_bytes()
                    ));
                }
            }
        } else {
            Response::from_parts(head, lock::leader_body(read))
        };
        Outcome {
            response,
            served,
            upstream,
        }
    }

    /// Publishes the head into the flight `guard` leads and spawns the fill task; returns the
    /// leader's reader of the flight. Every storable fill runs as its own tracked task, so
    /// the leader's viewer reads it like any waiter and leaving does not cut the others.
    ///
    /// The fill is polled once here before it is spawned: the body's first chunks (often the
    /// whole body) are usually in hyper's channel already, so they are in the flight before
    /// the viewer's head is written and go out with it in one write, rather than the head
    /// alone now and the body once the fill task has run (a second write and a second wake-up
    /// of the next hop down). A body that is all there is stored before the head is sent.
    async fn start_fill(
        &self,
        exchange: &Exchange<'_>,
        template: ObjectTemplate,
        headers: &HeaderMap,
        incoming: UpstreamBody,
        guard: LeaderGuard,
    ) -> LeaderReader {
        let content_length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let vary = policy::vary_names(headers);
        let variant = policy::variant_key(&exchange.key.primary, &vary, &exchange.parts.headers);
        let reencoded = template.may_reencode(headers, content_length);
        let shared = SharedHead {
            object: template.head_object(),
            variant: variant.clone(),
            vary: vary.clone(),
            streamable: content_length.is_some() && !reencoded,
        };
        let read = guard.publish(shared);
        let fill = Fill {
            template,
            store: self.store.clone(),
            variant,
            vary,
            expected: content_length,
            max: self.store.max_object_bytes(),
            // A body the node compresses is stored compressed, from the heap.
            arena: if reencoded {
                None
            } else {
                self.store.file_bodies().cloned()
            },
            metrics: self.metrics.clone(),
        };
        let mut run = Box::pin(fill.run(incoming, guard).in_current_span());
        let done =
            std::future::poll_fn(|cx| std::task::Poll::Ready(run.as_mut().poll(cx).is_ready()))
                .await;
        if !done {
            self.shutdown.spawn(run);
        }
        read
    }

    /// What would be stored, or why nothing is.
    fn template(
        &self,
        exchange: &Exchange<'_>,
        head: &ResponseParts,
        content_length: Option<u64>,
        now: SystemTime,
        upstream: &UpstreamInfo,
    ) -> Result<ObjectTemplate, NotStored> {
        let parts = &exchange.parts;
        let mut response_like = Response::new(());
        *response_like.status_mut() = head.status;
        *response_like.headers_mut() = policy::decision_headers(&head.headers);
        let mut request_like = parts.clone();
        request_like.method = Method::GET;
        let cache_policy =
            CachePolicy::new_options(&request_like, &response_like, now, CacheOptions::default());
        let lifetime = policy::storable(
            self.rules(exchange.behavior),
            &cache_policy,
            &Method::GET,
            &parts.headers,
            head.status,
            response_like.headers(),
            now,
        )
        .map_err(NotStored::Policy)?;
        if content_length.is_some_and(|l| l > self.store.max_object_bytes()) {
            return Err(NotStored::TooLarge);
        }
        let mut headers = head.headers.clone();
        for name in OWN_HEADERS {
            headers.remove(name);
        }
        // One viewer's cookie is never replayed to another: the object is stored without it
        // (the viewer whose request filled it still gets it, docs/cache-policy.md).
        headers.remove(header::SET_COOKIE);
        let primary = exchange.key.primary.clone();
        Ok(ObjectTemplate {
            path_len: CachedObject::path_len(&primary, parts.uri.path()),
            primary,
            status: head.status,
            headers,
            lifespan: Lifespan::new(now, cache_policy.age(now), &lifetime),
            upstream_hit_layer: upstream.tier_hit.map(|(_, layer)| layer),
            encoding: if exchange.behavior.cache_policy.compress {
                policy::normalised_encoding(&parts.headers)
            } else {
                "identity"
            },
        })
    }
}

/// `response` with the `Set-Cookie` headers of the upstream response it was built from.
fn with_cookies_of<B>(mut response: Response<B>, upstream: &HeaderMap) -> Response<B> {
    for cookie in upstream.get_all(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

/// The node's own 502 for an upstream body that failed or did not fit.
fn truncated(message: String) -> Outcome {
    Outcome::error(StatusCode::BAD_GATEWAY, message, Refusal::Truncated)
}

/// Whether `request` must be answered from the whole stored object rather than the stream:
/// HEAD, range and conditional requests (a collapsed waiter follows the same rule).
pub(super) fn wants_whole_object(request: &Parts) -> bool {
    request.method == Method::HEAD
        || request.headers.contains_key(header::RANGE)
        || request.headers.contains_key(header::IF_NONE_MATCH)
        || request.headers.contains_key(header::IF_MODIFIED_SINCE)
}

/// Whether the leader answers from the whole stored object: what the request asks for, or
/// a body the node compresses.
fn needs_buffer(
    request: &Parts,
    response: &HeaderMap,
    template: &ObjectTemplate,
    content_length: Option<u64>,
) -> bool {
    wants_whole_object(request) || template.may_reencode(response, content_length)
}

/// Everything of a stored object but its body.
struct ObjectTemplate {
    primary: Arc<str>,
    path_len: u32,
    status: StatusCode,
    headers: HeaderMap,
    lifespan: Lifespan,
    upstream_hit_layer: Option<Tier>,
    encoding: &'static str,
}

impl ObjectTemplate {
    /// Whether the stored body may be compressed (then it differs from the stream).
    fn may_reencode(&self, response: &HeaderMap, content_length: Option<u64>) -> bool {
        self.encoding != "identity"
            && compress::compressible(
                response,
                content_length.map_or(compress::MIN_BYTES, |l| l as usize),
            )
    }

    /// The object as it is before its body arrives: headers, lifetime, an empty body.
    fn head_object(&self) -> CachedObject {
        CachedObject {
            primary: self.primary.clone(),
            path_len: self.path_len,
            status: self.status,
            headers: StoredHeaders::from_map(&self.headers),
            body: ObjectBody::default(),
            lifespan: self.lifespan,
            upstream_hit_layer: self.upstream_hit_layer,
            shared_headers: SharedHeaders::Neither,
        }
    }

    /// The object with `body`, compressed when the key's encoding asks for it; and whether
    /// it was.
    fn build(self, body: ObjectBody) -> (CachedObject, bool) {
        let mut headers = self.headers;
        let mut body = body;
        let mut compressed = false;
        if self.encoding != "identity"
            && let ObjectBody::Memory(bytes) = &body
            && compress::compressible(&headers, bytes.len())
            && let Some(packed) = compress::compress(bytes, self.encoding)
        {
            body = ObjectBody::Memory(Bytes::from(packed));
            compressed = true;
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(self.encoding),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            headers.remove(header::ETAG); // a different representation; validators would lie
        }
        let object = CachedObject {
            primary: self.primary,
            path_len: self.path_len,
            status: self.status,
            headers: StoredHeaders::from_map(&headers),
            body,
            lifespan: self.lifespan,
            upstream_hit_layer: self.upstream_hit_layer,
            shared_headers: SharedHeaders::Neither,
        };
        (object, compressed)
    }
}

/// A store fill: reads the upstream body into the flight, then stores the whole,
/// length-verified object.
struct Fill {
    template: ObjectTemplate,
    store: Store,
    variant: String,
    vary: Vec<HeaderName>,
    expected: Option<u64>,
    max: u64,
    /// Where a body of the sizes the arena takes is written, if anywhere.
    arena: Option<FileBodies>,
    metrics: Metrics,
}

impl Fill {
    /// Reads `incoming` to its end, publishing every chunk. It stops early when nobody
    /// reads the flight any more (the viewers left), and hands an overflowing body to the
    /// leader's viewer. An upstream error fails every reader's body and stores nothing.
    async fn run(self, mut incoming: UpstreamBody, guard: LeaderGuard) {
        let mut received: u64 = 0;
        let mut stored = StoredBody::new(self.expected, self.arena.as_ref());
        // hyper may stop reading a body once Content-Length bytes were written (and drop
        // it), so a body of known length completes on its last byte, not on its end.
        while self.expected != Some(received) {
            let frame = tokio::select! {
                biased;
                frame = incoming.frame() => frame,
                () = guard.abandoned() => return,
            };
            let data = match frame {
                None => break,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers are not stored
                },
                Some(Err(error)) => {
                    self.metrics.upstream(match error {
                        BodyError::Stalled(_) => UpstreamResult::BodyTimeout,
                        BodyError::Upstream(_) => UpstreamResult::Truncated,
                    });
                    let why = format!("upstream body failed: {error}");
                    guard.end(BodyEnd::Failed(Arc::from(why)), None);
                    return;
                }
            };
            received += data.len() as u64;
            stored.take(&data);
            guard.push(data);
            if received > self.max {
                guard.end(BodyEnd::Overflow, Some(incoming));
                return;
            }
        }
        let end = self.complete(stored, &guard, received);
        guard.end(end, None);
    }

    /// Verifies the length, stores the object and says how the flight ended.
    fn complete(self, stored: StoredBody, guard: &LeaderGuard, received: u64) -> BodyEnd {
        if let Some(expected) = self.expected
            && expected != received
        {
            self.metrics.upstream(UpstreamResult::Truncated);
            let why = format!("upstream body has {received} bytes, Content-Length said {expected}");
            return BodyEnd::Failed(Arc::from(why));
        }
        let body = stored.finish(|| guard.chunks(), received);
        let (object, compressed) = self.template.build(body);
        let object = self.store.share(object);
        self.store
            .insert_arc(self.variant, self.vary, object.clone());
        BodyEnd::Complete {
            object,
            same_bytes: !compressed,
        }
    }
}

/// Frames at least this large are stored as they are when one makes the whole body; smaller
/// ones may be slices of hyper's read buffer (keeping one would pin the whole buffer), so
/// they are copied out.
const KEEP_FRAME_BYTES: usize = 64 * 1024;

/// The stored body as the fill gathers it.
///
/// With a Content-Length (already bounded by the store's object limit) each frame is copied
/// into one buffer of that size the moment it arrives, while it is still in the CPU's cache,
/// and that buffer becomes the stored body: no chunk list is cloned and walked again at the
/// end, and the buffer is never regrown. A length the arena takes ([`FileBodies::writer`])
/// goes into an extent of the store's body arena the same way, when there is one with room. Without a
/// length the flight's chunks are joined at the end (and so are they when an arena write
/// fails).
enum StoredBody {
    /// Length unknown: joined from the flight's chunks at the end.
    Chunks,
    /// Length known, nothing received yet.
    Sized(usize),
    /// The first frame, when it may turn out to be the whole body (kept uncopied).
    First(Bytes),
    /// Frames copied into the body's own buffer.
    Copied(BytesMut),
    /// Frames written into the body's extent of the arena.
    File(ExtentWriter),
}

impl StoredBody {
    fn new(expected: Option<u64>, arena: Option<&FileBodies>) -> Self {
        if let (Some(len), Some(arena)) = (expected, arena)
            && let Some(writer) = arena.writer(len)
        {
            return StoredBody::File(writer);
        }
        match expected.and_then(|len| usize::try_from(len).ok()) {
            Some(len) => StoredBody::Sized(len),
            None => StoredBody::Chunks,
        }
    }

    /// Takes in the next frame.
    fn take(&mut self, data: &Bytes) {
        match self {
            StoredBody::Chunks => {}
            StoredBody::File(writer) => {
                if let Err(error) = writer.write(data) {
                    // Longer than its length (the length check fails the fill), or the
                    // kernel out of memory: the body is joined from the flight instead.
                    tracing::debug!(%error, "body arena write failed");
                    *self = StoredBody::Chunks;
                }
            }
            StoredBody::Copied(buffer) => buffer.extend_from_slice(data),
            StoredBody::Sized(len) => {
                let len = *len;
                *self = if data.len() == len && len >= KEEP_FRAME_BYTES {
                    StoredBody::First(data.clone())
                } else {
                    let mut buffer = BytesMut::with_capacity(len.max(data.len()));
                    buffer.extend_from_slice(data);
                    StoredBody::Copied(buffer)
                };
            }
            StoredBody::First(first) => {
                let mut buffer = BytesMut::with_capacity(first.len() + data.len());
                buffer.extend_from_slice(first);
                buffer.extend_from_slice(data);
                *self = StoredBody::Copied(buffer);
            }
        }
    }

    /// The whole body; `chunks` gives the flight's chunks when they were not gathered here.
    fn finish(self, chunks: impl FnOnce() -> Vec<Bytes>, received: u64) -> ObjectBody {
        match self {
            StoredBody::Chunks => concat(chunks(), received).into(),
            StoredBody::Sized(_) => ObjectBody::default(),
            StoredBody::First(first) => first.into(),
            StoredBody::Copied(buffer) => buffer.freeze().into(),
            StoredBody::File(writer) => match writer.finish() {
                Some(file) => ObjectBody::File(file),
                None => concat(chunks(), received).into(),
            },
        }
    }
}

/// One `Bytes` of the whole body, owned by the store: a single large frame is kept as it
/// is; small frames are copied out ([`KEEP_FRAME_BYTES`]).
fn concat(chunks: Vec<Bytes>, len: u64) -> Bytes {
    if let [only] = chunks.as_slice()
        && only.len() >= KEEP_FRAME_BYTES
    {
        return only.clone();
    }
    let mut body = BytesMut::with_capacity(usize::try_from(len).unwrap_or(0));
    for chunk in &chunks {
        body.extend_from_slice(chunk);
    }
    body.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FILE_BODY_MAX, FILE_BODY_MIN};
    use edgelab_common::arena::BodyArena;

    /// An arena of `bytes` taking the default sizes.
    fn arena_of(bytes: u64) -> FileBodies {
        FileBodies::new(
            BodyArena::new("test", bytes).unwrap(),
            FILE_BODY_MIN..=FILE_BODY_MAX,
        )
    }

    fn gather_into(
        expected: Option<u64>,
        frames: &[Bytes],
        arena: Option<&FileBodies>,
    ) -> ObjectBody {
        let mut stored = StoredBody::new(expected, arena);
        let mut received = 0;
        for frame in frames {
            stored.take(frame);
            received += frame.len() as u64;
        }
        stored.finish(|| frames.to_vec(), received)
    }

    fn gather(expected: Option<u64>, frames: &[Bytes]) -> Bytes {
        match gather_into(expected, frames, None) {
            ObjectBody::Memory(bytes) => bytes,
            ObjectBody::File(_) => panic!("no arena, no file body"),
        }
    }

    #[test]
    fn a_body_of_known_length_in_the_arena_s_bounds_goes_there_and_others_do_not() {
        let arena = arena_of(1 << 20);
        let whole: Vec<u8> = (0..FILE_BODY_MIN as u32 + 5).map(|i| i as u8).collect();
        let frames: Vec<Bytes> = whole.chunks(5000).map(Bytes::copy_from_slice).collect();
        let body = gather_into(Some(whole.len() as u64), &frames, Some(&arena));
        assert!(matches!(body, ObjectBody::File(_)));
        assert_eq!(&body.to_bytes().unwrap()[..], &whole[..]);

        let small = [Bytes::from(vec![1u8; 100])];
        let body = gather_into(Some(100), &small, Some(&arena));
        assert!(matches!(body, ObjectBody::Memory(_)));
        let large = [Bytes::from(vec![1u8; FILE_BODY_MAX as usize + 1])];
        let body = gather_into(Some(FILE_BODY_MAX + 1), &large, Some(&arena));
        assert!(
            matches!(body, ObjectBody::Memory(_)),
            "over the arena's bound"
        );
        let at_bound = [Bytes::from(vec![1u8; FILE_BODY_MAX as usize])];
        let body = gather_into(Some(FILE_BODY_MAX), &at_bound, Some(&arena));
        assert!(matches!(body, ObjectBody::File(_)));
        // Unknown length: the flight's chunks, on the heap.
        let body = gather_into(None, &frames, Some(&arena));
        assert!(matches!(body, ObjectBody::Memory(_)));
        assert_eq!(&body.to_bytes().unwrap()[..], &whole[..]);
    }

    #[test]
    fn a_body_longer_than_its_extent_falls_back_to_the_flight_with_every_byte() {
        let arena = arena_of(1 << 20);
        let frames = [
            Bytes::from(vec![1u8; FILE_BODY_MIN as usize]),
            Bytes::from_static(b"more"),
        ];
        let body = gather_into(Some(FILE_BODY_MIN), &frames, Some(&arena));
        assert!(matches!(body, ObjectBody::Memory(_)));
        assert_eq!(body.len(), FILE_BODY_MIN as usize + 4);
        assert_eq!(arena.arena().free_bytes(), 1 << 20, "the extent went back");
    }

    #[test]
    fn a_full_arena_leaves_the_body_on_the_heap() {
        let arena = arena_of(FILE_BODY_MIN);
        let frames = [Bytes::from(vec![2u8; FILE_BODY_MIN as usize * 2])];
        let body = gather_into(Some(FILE_BODY_MIN * 2), &frames, Some(&arena));
        assert!(matches!(body, ObjectBody::Memory(_)));
    }

    #[test]
    fn a_body_of_known_length_is_copied_into_one_buffer_of_that_size() {
        let frames = [Bytes::from_static(b"hello "), Bytes::from_static(b"world")];
        let mut stored = StoredBody::new(Some(11), None);
        stored.take(&frames[0]);
        let StoredBody::Copied(buffer) = &stored else {
            panic!("the first frame of a known length is copied");
        };
        assert_eq!(buffer.capacity(), 11);
        let start = buffer.as_ptr();
        stored.take(&frames[1]);
        let ObjectBody::Memory(body) =
            stored.finish(|| panic!("the flight's chunks are not needed"), 11)
        else {
            panic!("a heap body");
        };
        assert_eq!(&body[..], b"hello world");
        assert_eq!(body.as_ptr(), start, "the buffer was never regrown");
    }

    #[test]
    fn a_large_single_frame_is_stored_as_it_is_and_a_small_one_is_copied() {
        let large = Bytes::from(vec![7u8; KEEP_FRAME_BYTES]);
        let body = gather(Some(large.len() as u64), std::slice::from_ref(&large));
        assert_eq!(body.as_ptr(), large.as_ptr());

        let small = Bytes::from(vec![7u8; 100]);
        let body = gather(Some(100), std::slice::from_ref(&small));
        assert_eq!(body, small);
        assert_ne!(body.as_ptr(), small.as_ptr());
    }

    #[test]
    fn a_body_of_unknown_length_is_joined_from_the_chunks() {
        let frames = [Bytes::from_static(b"ab"), Bytes::from_static(b"cd")];
        assert_eq!(&gather(None, &frames)[..], b"abcd");
        assert_eq!(gather(Some(0), &[]), Bytes::new());
    }

    #[test]
    fn a_body_longer_than_its_length_still_gathers_every_byte() {
        // The length check fails such a fill; the buffer must not lose bytes on the way.
        let frames = [Bytes::from_static(b"abc"), Bytes::from_static(b"def")];
        assert_eq!(&gather(Some(4), &frames)[..], b"abcdef");
    }
}
