//! Respond: the viewer's answer from a stored object (RFC 9110): `Age`, conditional requests
//! (304, evaluated by `edgelab_wire::conditional`), ranges (`edgelab_wire::range`, shared with
//! the origin: 206 single or streamed multipart, 416, or the whole object for a range set it
//! refuses) and HEAD.

use std::time::SystemTime;

use edgelab_common::body::{self, Body};
use edgelab_wire::conditional::{self, Conditions, Precondition, Validators};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use crate::range::{self, Multipart, RangeRequest};
use crate::store::CachedObject;

fn with_head(status: StatusCode, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Builds the viewer's response from a stored object at `now`.
pub fn respond_from_object(
    parts: &Parts,
    object: &CachedObject,
    now: SystemTime,
) -> Response<Body> {
    let mut headers = object.headers.to_map();
    headers.insert(header::AGE, HeaderValue::from(object.age(now).as_secs()));
    let etag = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let validators = Validators {
        etag: etag.as_deref(),
        last_modified: headers
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok()),
    };
    // From its store a node answers the cache validators (If-None-Match, then
    // If-Modified-Since); If-Match and If-Unmodified-Since are left to the origin.
    let conditions = Conditions {
        if_match: None,
        if_unmodified_since: None,
        ..Conditions::from_headers(&parts.headers)
    };
    let precondition = conditional::evaluate(&parts.method, &conditions, &validators);
    if object.status == StatusCode::OK && precondition == Precondition::NotModified {
        for name in [
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ] {
            headers.remove(name);
        }
        return with_head(StatusCode::NOT_MODIFIED, headers, body::empty());
    }
    let range = parts
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| object.status == StatusCode::OK && parts.method == Method::GET)
        .filter(|_| conditional::if_range_holds(&conditions, &validators));
    if let Some(range_value) = range
        && let Some(response) = respond_with_range(object, headers.clone(), range_value)
    {
        return response;
    }
    if range.is_some() {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(object.body.len()));
    let body = if parts.method == Method::HEAD {
        body::empty()
    } else {
        body::full(object.body.clone())
    };
    with_head(object.status, headers, body)
}

/// The response a collapsed waiter follows while the leader's fill streams: the stored
/// head (`object` has no body yet) with its `Age` at `now`, and `body`.
pub(super) fn respond_streaming(
    object: &CachedObject,
    now: SystemTime,
    body: Body,
) -> Response<Body> {
    let mut headers = object.headers.to_map();
    headers.insert(header::AGE, HeaderValue::from(object.age(now).as_secs()));
    with_head(object.status, headers, body)
}

/// A 206 or 416 for `range_value`, or `None` when the header is to be ignored (the whole
/// object is sent).
fn respond_with_range(
    object: &CachedObject,
    mut headers: HeaderMap,
    range_value: &str,
) -> Option<Response<Body>> {
    let length = object.body.len() as u64;
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let text = |value: String| HeaderValue::from_str(&value).ok();
    match range::parse(range_value, length) {
        RangeRequest::Ignore => None,
        RangeRequest::Unsatisfiable => {
            if let Some(v) = text(range::unsatisfied_range(length)) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            headers.remove(header::CONTENT_LENGTH);
            let status = StatusCode::RANGE_NOT_SATISFIABLE;
            Some(with_head(status, headers, body::empty()))
        }
        RangeRequest::Ranges(ranges) if ranges.len() == 1 => {
            let (first, last) = ranges[0];
            let slice = object.body.slice(first as usize..=last as usize);
            if let Some(v) = text(range::content_range(first, last, length)) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(slice.len()));
            let status = StatusCode::PARTIAL_CONTENT;
            Some(with_head(status, headers, body::full(slice)))
        }
        RangeRequest::Ranges(ranges) => {
            let boundary = format!(
                "edgelab{:016x}",
                xxhash_rust::xxh3::xxh3_64(range_value.as_bytes())
            );
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let multipart = Multipart::new(&ranges, length, content_type, &boundary);
            if let Some(v) = text(multipart.content_type()) {
                headers.insert(header::CONTENT_TYPE, v);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(multipart.len()));
            let body = range::multipart_body(multipart, object.body.clone());
            Some(with_head(StatusCode::PARTIAL_CONTENT, headers, body))
        }
    }
}
