//! Respond: the viewer's answer from a stored object (RFC 9110): `Age`, conditional requests
//! (304, evaluated by `edgelab_wire::conditional`), ranges (`edgelab_wire::range`, shared with
//! the origin: 206 single or streamed multipart, 416, or the whole object for a range set it
//! refuses) and HEAD.

use std::time::SystemTime;

use edgelab_common::body::{self, Body};
use edgelab_wire::conditional::{self, Conditions, Precondition, Validators};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};

use crate::range::{self, Multipart, RangeRequest};
use crate::store::CachedObject;

fn with_head(status: StatusCode, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Fields a node may add to a stored object's headers on the way out (`Age`,
/// `Content-Length`, the CloudFront and RFC 9211 headers, range fields): the map is made with
/// room for them, so it never grows.
const ADDED_FIELDS: usize = 12;

/// Builds the viewer's response from a stored object at `now`.
pub fn respond_from_object(
    parts: &Parts,
    object: &CachedObject,
    now: SystemTime,
) -> Response<Body> {
    let mut headers = object.headers.to_map_with_room(ADDED_FIELDS);
    headers.insert(header::AGE, decimal(object.age(now).as_secs()));
    // From its store a node answers the cache validators (If-None-Match, then
    // If-Modified-Since); If-Match and If-Unmodified-Since are left to the origin. Most
    // requests carry none of them and no Range: one pass over their few fields says so.
    let asks = parts.headers.keys().any(is_conditional_or_range);
    let conditions = if asks {
        Conditions {
            if_match: None,
            if_unmodified_since: None,
            ..Conditions::from_headers(&parts.headers)
        }
    } else {
        Conditions::default()
    };
    // The validators are read only for a request that compares them.
    let compares = conditions.if_none_match.is_some()
        || conditions.if_modified_since.is_some()
        || conditions.if_range.is_some();
    let validators = if compares {
        Validators {
            etag: object.headers.get_str(&header::ETAG),
            last_modified: object
                .headers
                .get_str(&header::LAST_MODIFIED)
                .and_then(|v| httpdate::parse_http_date(v).ok()),
        }
    } else {
        Validators::default()
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
    let range = asks
        .then(|| parts.headers.get(header::RANGE))
        .flatten()
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
    set_content_length(&mut headers, object.body.len());
    let body = if parts.method == Method::HEAD {
        body::empty()
    } else {
        object.body.response_body(0..object.body.len())
    };
    with_head(object.status, headers, body)
}

/// Whether `name` is a request field [`respond_from_object`] looks at: a cache validator it
/// answers, `If-Range` or `Range`.
pub(super) fn is_conditional_or_range(name: &HeaderName) -> bool {
    *name == header::IF_NONE_MATCH
        || *name == header::IF_MODIFIED_SINCE
        || *name == header::IF_RANGE
        || *name == header::RANGE
}

/// The response a collapsed waiter follows while the leader's fill streams: the stored
/// head (`object` has no body yet) with its `Age` at `now`, and `body`.
pub(super) fn respond_streaming(
    object: &CachedObject,
    now: SystemTime,
    body: Body,
) -> Response<Body> {
    let mut headers = object.headers.to_map_with_room(ADDED_FIELDS);
    headers.insert(header::AGE, decimal(object.age(now).as_secs()));
    with_head(object.status, headers, body)
}

/// `n` as a header value in one allocation of its exact size (`HeaderValue::from(u64)`
/// takes two: a 20-byte buffer, then the shared header a partly filled buffer needs).
fn decimal(n: u64) -> HeaderValue {
    // Invariant: ASCII digits are valid header text.
    HeaderValue::from_str(itoa::Buffer::new().format(n)).expect("digits are header text")
}

/// Sets `Content-Length` to `length`, keeping the stored value when it already says so (the
/// usual case: no number is rendered on a hit).
fn set_content_length(headers: &mut HeaderMap, length: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(length).as_bytes();
    let mut stored = headers.get_all(header::CONTENT_LENGTH).iter();
    let agrees = stored.next().is_some_and(|v| v.as_bytes() == digits);
    if !(agrees && stored.next().is_none()) {
        headers.insert(header::CONTENT_LENGTH, decimal(length as u64));
    }
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
            let slice = first as usize..last as usize + 1;
            if let Some(v) = text(range::content_range(first, last, length)) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(slice.len()));
            let status = StatusCode::PARTIAL_CONTENT;
            let body = object.body.response_body(slice);
            Some(with_head(status, headers, body))
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
            let body = match object.body.to_bytes() {
                Ok(whole) => range::multipart_body(multipart, whole),
                Err(error) => body::failed(error.into()),
            };
            Some(with_head(StatusCode::PARTIAL_CONTENT, headers, body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_values_are_the_numbers_digits() {
        for n in [0, 7, 10, 3_600, 86_400, u64::MAX] {
            assert_eq!(decimal(n), n.to_string().as_str());
        }
    }

    #[test]
    fn content_length_is_kept_only_when_it_is_the_one_right_value() {
        let length = |values: &[&'static str], body: usize| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(header::CONTENT_LENGTH, HeaderValue::from_static(v));
            }
            set_content_length(&mut headers, body);
            let all: Vec<_> = headers
                .get_all(header::CONTENT_LENGTH)
                .iter()
                .cloned()
                .collect();
            all
        };
        assert_eq!(length(&["1024"], 1024), ["1024"]);
        assert_eq!(length(&[], 0), ["0"]);
        assert_eq!(length(&["10"], 1024), ["1024"]);
        assert_eq!(length(&["1024", "1024"], 1024), ["1024"]);
        assert_eq!(length(&["01024"], 1024), ["1024"]);
        assert_eq!(
            length(&["18446744073709551615"], usize::MAX),
            ["18446744073709551615"]
        );
    }
}
