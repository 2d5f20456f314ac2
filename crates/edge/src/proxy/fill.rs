//! Fill: whether a fetched response may be stored and for how long, then the answer. Most
//! responses stream to the viewer while a copy fills the store ([`FillBody`]); HEAD, range,
//! conditional and to-be-compressed requests buffer the whole body first. Only whole,
//! length-verified bodies are stored.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use edgelab_common::body::{self, BoxError};
use http::request::Parts;
use http::response::Parts as ResponseParts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, Limited};
use http_cache_semantics::{CacheOptions, CachePolicy};
use hyper::body::Incoming;

use super::outcome::{NotStored, UpstreamInfo};
use super::{Exchange, Node, OWN_HEADERS, Outcome, Refusal, Served, respond_from_object};
use crate::compress;
use crate::config::Tier;
use crate::lock::LeaderGuard;
use crate::metrics::{Metrics, UpstreamResult};
use crate::policy;
use crate::store::{CachedObject, Store, StoredHeaders};
use crate::upstream::{Fetched, strip_hop_by_hop};

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
        let needs_buffer = needs_buffer(&exchange.parts, &head.headers, &template, content_length);
        let vary = policy::vary_names(&head.headers);
        let variant = policy::variant_key(&exchange.key.primary, &vary, &exchange.parts.headers);
        let fill = Fill {
            template: Some(template),
            store: self.store.clone(),
            variant,
            vary,
            // Exact capacity when the length is known, so a stored body wastes nothing.
            buffer: BytesMut::with_capacity(
                content_length
                    .filter(|&l| !needs_buffer && l <= self.store.max_object_bytes())
                    .map_or(0, |l| l as usize),
            ),
            expected: content_length,
            max: self.store.max_object_bytes(),
            guard: exchange.guard.take(),
            metrics: self.metrics.clone(),
        };
        if needs_buffer {
            return match self.buffer(fill, incoming, content_length).await {
                Ok(object) => Outcome {
                    response: with_cookies_of(
                        respond_from_object(&exchange.parts, &object, now),
                        &head.headers,
                    ),
                    served,
                    upstream,
                },
                Err(outcome) => outcome,
            };
        }
        let body = FillBody {
            inner: incoming,
            fill: Some(fill),
        };
        Outcome {
            response: Response::from_parts(head, body.boxed()),
            served,
            upstream,
        }
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
            &exchange.behavior.cache_policy,
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
            path_range: CachedObject::path_range(&primary, parts.uri.path()),
            primary,
            status: head.status,
            headers,
            initial_age: cache_policy.age(now),
            lifetime,
            stored_at: now,
            upstream_hit_layer: upstream.tier_hit.map(|(_, layer)| layer),
            encoding: if exchange.behavior.cache_policy.compress {
                policy::normalised_encoding(&parts.headers)
            } else {
                "identity"
            },
        })
    }

    /// Reads the whole body, verifies its length and stores it.
    async fn buffer(
        &self,
        mut fill: Fill,
        incoming: Incoming,
        content_length: Option<u64>,
    ) -> Result<Arc<CachedObject>, Outcome> {
        let limit = usize::try_from(self.store.max_object_bytes()).unwrap_or(usize::MAX);
        let truncated = |message: String| {
            self.metrics.upstream(UpstreamResult::Truncated);
            Outcome::error(StatusCode::BAD_GATEWAY, message, Refusal::Truncated)
        };
        let bytes = match Limited::new(incoming, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => return Err(truncated(format!("upstream body failed: {error}"))),
        };
        if content_length.is_some_and(|l| l != bytes.len() as u64) {
            return Err(truncated(
                "upstream body shorter than its Content-Length".to_string(),
            ));
        }
        // A single small frame may be a slice of hyper's read buffer: own it instead.
        let bytes = if bytes.len() < 64 * 1024 {
            Bytes::copy_from_slice(&bytes)
        } else {
            bytes
        };
        // Invariant: the template is taken only here or when a streamed fill completes.
        let template = fill
            .template
            .take()
            .expect("an unused fill has its template");
        let object = Arc::new(template.build(bytes));
        self.store.insert_arc(
            std::mem::take(&mut fill.variant),
            std::mem::take(&mut fill.vary),
            object.clone(),
        );
        drop(fill.guard.take());
        Ok(object)
    }
}

/// Whether the answer must come from the whole stored object rather than the stream: HEAD,
/// range and conditional requests, and bodies the node compresses.
/// `response` with the `Set-Cookie` headers of the upstream response it was built from.
fn with_cookies_of<B>(mut response: Response<B>, upstream: &HeaderMap) -> Response<B> {
    for cookie in upstream.get_all(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

fn needs_buffer(
    request: &Parts,
    response: &HeaderMap,
    template: &ObjectTemplate,
    content_length: Option<u64>,
) -> bool {
    request.method == Method::HEAD
        || request.headers.contains_key(header::RANGE)
        || request.headers.contains_key(header::IF_NONE_MATCH)
        || request.headers.contains_key(header::IF_MODIFIED_SINCE)
        || (template.encoding != "identity"
            && compress::compressible(
                response,
                content_length.map_or(compress::MIN_BYTES, |l| l as usize),
            ))
}

/// Everything of a stored object but its body.
struct ObjectTemplate {
    primary: Arc<str>,
    path_range: (u32, u32),
    status: StatusCode,
    headers: HeaderMap,
    initial_age: Duration,
    lifetime: policy::Lifetime,
    stored_at: SystemTime,
    upstream_hit_layer: Option<Tier>,
    encoding: &'static str,
}

impl ObjectTemplate {
    /// The object with `body`, compressed when the key's encoding asks for it.
    fn build(self, body: Bytes) -> CachedObject {
        let mut headers = self.headers;
        let mut body = body;
        if self.encoding != "identity"
            && compress::compressible(&headers, body.len())
            && let Some(packed) = compress::compress(&body, self.encoding)
        {
            body = Bytes::from(packed);
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(self.encoding),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            headers.remove(header::ETAG); // a different representation; validators would lie
        }
        CachedObject {
            primary: self.primary,
            path_range: self.path_range,
            status: self.status,
            headers: StoredHeaders::from_map(&headers),
            body,
            initial_age: self.initial_age,
            lifetime: self.lifetime,
            stored_at: self.stored_at,
            upstream_hit_layer: self.upstream_hit_layer,
        }
    }
}

/// A store fill riding along a streamed response.
struct Fill {
    template: Option<ObjectTemplate>,
    store: Store,
    variant: String,
    vary: Vec<HeaderName>,
    buffer: BytesMut,
    expected: Option<u64>,
    max: u64,
    guard: Option<LeaderGuard>,
    metrics: Metrics,
}

impl Fill {
    fn complete(&mut self) -> Result<(), BoxError> {
        if let Some(expected) = self.expected
            && expected != self.buffer.len() as u64
        {
            self.metrics.upstream(UpstreamResult::Truncated);
            return Err(format!(
                "upstream body has {} bytes, Content-Length said {expected}",
                self.buffer.len()
            )
            .into());
        }
        if let Some(template) = self.template.take() {
            let body = std::mem::take(&mut self.buffer).freeze();
            self.store.insert_arc(
                std::mem::take(&mut self.variant),
                std::mem::take(&mut self.vary),
                Arc::new(template.build(body)),
            );
        }
        self.guard.take();
        Ok(())
    }
}

/// The upstream body, passed through to the viewer frame by frame while a copy fills the
/// store. An upstream error ends the viewer's body with an error (hyper then aborts the
/// response, so the viewer sees a failure, never a short 200) and nothing is stored.
struct FillBody {
    inner: Incoming,
    fill: Option<Fill>,
}

impl http_body::Body for FillBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Some(fill) = &mut this.fill
                {
                    if (fill.buffer.len() + data.len()) as u64 > fill.max {
                        this.fill = None; // too big: stop filling, keep streaming
                    } else {
                        fill.buffer.extend_from_slice(data);
                        // hyper may stop polling once Content-Length bytes were written, so
                        // a complete body is stored as soon as its last byte passes.
                        if fill.expected == Some(fill.buffer.len() as u64)
                            && let Some(mut fill) = this.fill.take()
                        {
                            let _ = fill.complete();
                        }
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                if let Some(fill) = this.fill.take() {
                    fill.metrics.upstream(UpstreamResult::Truncated);
                }
                Poll::Ready(Some(Err(Box::new(error))))
            }
            Poll::Ready(None) => {
                if let Some(mut fill) = this.fill.take()
                    && let Err(error) = fill.complete()
                {
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.fill.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
