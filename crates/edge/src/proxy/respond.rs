//! Respond: the viewer's answer from a stored object (RFC 9110): `Age`, conditional requests
//! (304), ranges (206 single or multipart, 416) and HEAD.

use std::time::SystemTime;

use edgelab_common::body::{self, Body};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use crate::range::{self, RangeRequest};
use crate::store::CachedObject;

/// The stored validators, read once per answer.
struct Validators {
    etag: Option<String>,
    last_modified: Option<SystemTime>,
}

impl Validators {
    fn of(headers: &HeaderMap) -> Self {
        Validators {
            etag: headers
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            last_modified: headers
                .get(header::LAST_MODIFIED)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok()),
        }
    }

    /// RFC 9110 §13.2.2: If-None-Match first, If-Modified-Since only without it.
    fn not_modified(&self, request: &HeaderMap) -> bool {
        if let Some(inm) = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
        {
            return etag_matches(inm, self.etag.as_deref());
        }
        let ims = request
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        matches!((ims, self.last_modified), (Some(ims), Some(lm)) if lm <= ims)
    }

    /// RFC 9110 §13.1.5: a range applies only if `If-Range` (if any) matches strongly.
    fn if_range_holds(&self, request: &HeaderMap) -> bool {
        match request.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
            None => true,
            Some(value) if value.starts_with('"') => self
                .etag
                .as_deref()
                .is_some_and(|e| !e.starts_with("W/") && e == value),
            Some(value) => httpdate::parse_http_date(value)
                .ok()
                .zip(self.last_modified)
                .is_some_and(|(a, b)| a == b),
        }
    }
}

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
    let validators = Validators::of(&headers);
    if object.status == StatusCode::OK && validators.not_modified(&parts.headers) {
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
        .filter(|_| validators.if_range_holds(&parts.headers));
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

/// A 206 or 416 for `range_value`, or `None` when the header is to be ignored.
fn respond_with_range(
    object: &CachedObject,
    mut headers: HeaderMap,
    range_value: &str,
) -> Option<Response<Body>> {
    let length = object.body.len() as u64;
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    match range::parse(range_value, length) {
        RangeRequest::Ignore => None,
        RangeRequest::Unsatisfiable => {
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{length}"))
                    .unwrap_or(HeaderValue::from_static("bytes */0")),
            );
            headers.remove(header::CONTENT_LENGTH);
            Some(with_head(
                StatusCode::RANGE_NOT_SATISFIABLE,
                headers,
                body::empty(),
            ))
        }
        RangeRequest::Ranges(ranges) if ranges.len() == 1 => {
            let (first, last) = ranges[0];
            let slice = object.body.slice(first as usize..=last as usize);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{length}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(slice.len()));
            Some(with_head(
                StatusCode::PARTIAL_CONTENT,
                headers,
                body::full(slice),
            ))
        }
        RangeRequest::Ranges(ranges) => {
            let boundary = format!(
                "edgelab{:016x}",
                xxhash_rust::xxh3::xxh3_64(range_value.as_bytes())
            );
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let multipart =
                range::multipart(&object.body, &ranges, content_type.as_deref(), &boundary);
            if let Ok(v) =
                HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
            {
                headers.insert(header::CONTENT_TYPE, v);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(multipart.len()));
            Some(with_head(
                StatusCode::PARTIAL_CONTENT,
                headers,
                body::full(multipart),
            ))
        }
    }
}

fn etag_matches(list: &str, etag: Option<&str>) -> bool {
    let Some(etag) = etag else {
        return list.trim() == "*";
    };
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    list.split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == bare(etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_weakly_for_if_none_match() {
        assert!(etag_matches("\"a\", W/\"b\"", Some("\"b\"")));
        assert!(etag_matches("*", Some("\"x\"")));
        assert!(!etag_matches("\"a\"", Some("\"b\"")));
    }
}
