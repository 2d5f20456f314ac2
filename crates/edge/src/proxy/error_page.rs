//! Custom error pages (CloudFront's `ResponsePagePath` / `ResponseCode`): when a GET or HEAD
//! ends in a status with a configured page, whether the origin's error (fresh or cached) or
//! the node's own (502, 504), the viewer gets the page instead, with the configured status.
//! The page is fetched through the cache phases like any object, under the behaviour of its
//! own path, so it is stored and shared; the error itself is still stored for its error
//! caching minimum TTL. When the page cannot be had (not a 2xx), the original error stands.

use bytes::{Bytes, BytesMut};
use edgelab_common::body::{self, Body};
use http::request::Parts;
use http::{Response, StatusCode, Uri, header};
use http_body_util::BodyExt;

use super::forward::CONDITIONAL_AND_RANGE;
use super::{Node, Outcome, Refusal};

impl Node {
    /// `outcome`, or the custom error page for its status (`parts` is the viewer's request).
    pub(super) async fn with_error_page(&self, parts: Parts, outcome: Outcome) -> Outcome {
        let Some(page) = self.config.error_responses.page(outcome.response.status()) else {
            return outcome;
        };
        if parts.uri.path() == page.path.path() {
            return outcome; // the page itself failed: no second level
        }
        // Reading the error to its end completes its fill, so it is stored like any error.
        let (head, error_body) = outcome.response.into_parts();
        let limit = usize::try_from(self.store.max_object_bytes()).unwrap_or(usize::MAX);
        let error_bytes = match read_bounded(error_body, limit).await {
            Ok(bytes) => bytes,
            Err(message) => {
                return Outcome::error(StatusCode::BAD_GATEWAY, message, Refusal::Truncated);
            }
        };
        let mut page_parts = parts;
        page_parts.uri = Uri::from(page.path.clone());
        for name in CONDITIONAL_AND_RANGE {
            page_parts.headers.remove(name);
        }
        let behavior = self.config.behavior(page.path.path());
        let fetched = Box::pin(self.cacheable(page_parts, behavior)).await;
        if !fetched.response.status().is_success() {
            return Outcome {
                response: Response::from_parts(head, body::full(error_bytes)),
                ..outcome
            };
        }
        let mut response = fetched.response;
        *response.status_mut() = page.status;
        // The page's own validators and ranges do not describe the error's URL.
        for name in [header::ETAG, header::LAST_MODIFIED, header::ACCEPT_RANGES] {
            response.headers_mut().remove(name);
        }
        // The page may come from upstream; `finish` skips this for an answer from the store.
        super::outcome::strip_upstream_identity(response.headers_mut());
        Outcome {
            response,
            ..outcome
        }
    }
}

/// The whole of `body`, at most `limit` bytes.
async fn read_bounded(mut body: Body, limit: usize) -> Result<Bytes, String> {
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| format!("upstream error body failed: {error}"))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(format!("upstream error body over {limit} bytes"));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes.freeze())
}
