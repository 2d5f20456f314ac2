//! Checks on a parsed request head that hyper leaves to the server, answered before any
//! handler sees the request: RFC 9112 §3.2's `Host` rules for HTTP/1.1 (missing, repeated or
//! invalid → 400) and the exact head-size limit (hyper's read buffer can overshoot its
//! configured maximum by one read, so a head of up to ~32 KiB could get through a 20 KiB
//! limit).

use std::str::FromStr;

use http::uri::Authority;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version, header};

use crate::body::{self, Body};

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadProblem {
    /// HTTP/1.1 without `Host`.
    MissingHost,
    /// More than one `Host` field line.
    RepeatedHost,
    /// A `Host` value that is not `host[:port]`.
    InvalidHost,
    /// Request line and fields larger than the limit.
    TooLarge,
}

impl HeadProblem {
    /// The status the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::MissingHost => "an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)",
            Self::RepeatedHost => "more than one Host header (RFC 9112 §3.2)",
            Self::InvalidHost => "the Host header is not a valid host[:port] (RFC 9112 §3.2)",
            Self::TooLarge => "request line and header fields are too large",
        }
    }

    /// A short plain-text answer with `Connection: close` (the head cannot be trusted).
    pub fn response(self) -> Response<Body> {
        let mut response = Response::new(body::full(self.message()));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        response
    }
}

/// The size of the head as it was sent, give or take optional whitespace: request line,
/// `name: value\r\n` per field, the blank line.
pub fn head_bytes(method: &Method, uri: &Uri, headers: &HeaderMap) -> usize {
    // Measured from the URI's parts: formatting it would allocate on every request.
    let origin = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => scheme.len() + "://".len() + authority.as_str().len(),
        (None, Some(authority)) => authority.as_str().len(),
        _ => 0,
    };
    let target = origin + uri.path_and_query().map_or(0, |p| p.as_str().len());
    let line = method.as_str().len() + 1 + target + 1 + "HTTP/1.1\r\n".len();
    let fields: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    line + fields + 2
}

/// The first problem of `request`'s head, if any, given the head-size limit.
pub fn check<B>(request: &Request<B>, max_head_bytes: usize) -> Option<HeadProblem> {
    if head_bytes(request.method(), request.uri(), request.headers()) > max_head_bytes {
        return Some(HeadProblem::TooLarge);
    }
    if request.version() != Version::HTTP_11 {
        // HTTP/2 carries :authority; HTTP/1.0 may omit Host.
        return None;
    }
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let Some(host) = hosts.next() else {
        return Some(HeadProblem::MissingHost);
    };
    if hosts.next().is_some() {
        return Some(HeadProblem::RepeatedHost);
    }
    // An empty value is allowed when the target has no authority (RFC 9112 §3.2).
    let valid = host.is_empty() || plain_host(host.as_bytes()) || valid_authority(host);
    (!valid).then_some(HeadProblem::InvalidHost)
}

/// A `Host` of the usual shape, checked without parsing: a name of letters, digits and
/// `-._~` with an optional `:port` of one to five digits. Every such value is a valid
/// authority without userinfo; anything else goes to [`valid_authority`]. (Parsing copies the
/// value into a new buffer: about 900 instructions of every request.)
fn plain_host(host: &[u8]) -> bool {
    let (name, port) = match host.iter().position(|&b| b == b':') {
        Some(colon) => (&host[..colon], Some(&host[colon + 1..])),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.iter().all(u8::is_ascii_digit));
    name_ok && port_ok
}

/// `host[:port]` as RFC 3986 has it (an IP literal, percent-encoding, any port), without
/// userinfo.
fn valid_authority(host: &http::HeaderValue) -> bool {
    host.to_str()
        .ok()
        .and_then(|text| Authority::from_str(text).ok())
        .is_some_and(|authority| !authority.as_str().contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, hosts: &[&str]) -> Request<()> {
        let mut builder = Request::builder().uri("/a?b=c").version(version);
        for host in hosts {
            builder = builder.header(header::HOST, *host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn host_rules_of_rfc_9112() {
        let v11 = Version::HTTP_11;
        assert_eq!(check(&request(v11, &["a.example"]), 20_480), None);
        assert_eq!(check(&request(v11, &["a.example:8080"]), 20_480), None);
        assert_eq!(check(&request(v11, &[""]), 20_480), None);
        assert_eq!(
            check(&request(v11, &[]), 20_480),
            Some(HeadProblem::MissingHost)
        );
        assert_eq!(
            check(&request(v11, &["a", "b"]), 20_480),
            Some(HeadProblem::RepeatedHost)
        );
        assert_eq!(
            check(&request(v11, &["a b"]), 20_480),
            Some(HeadProblem::InvalidHost)
        );
        assert_eq!(
            check(&request(v11, &["u@a"]), 20_480),
            Some(HeadProblem::InvalidHost)
        );
        assert_eq!(check(&request(Version::HTTP_10, &[]), 20_480), None);
        assert_eq!(check(&request(Version::HTTP_2, &[]), 20_480), None);
    }

    #[test]
    fn unusual_hosts_are_still_parsed() {
        let v11 = Version::HTTP_11;
        // Accepted by parsing, as before the quick check.
        for host in ["[::1]:8080", "a.example:", "a.example:123456", "a!b", ":80"] {
            assert!(!plain_host(host.as_bytes()), "{host}");
            assert_eq!(check(&request(v11, &[host]), 20_480), None, "{host}");
        }
        for host in ["a:b:c", "a%41.example", "a/b", "a?b"] {
            assert!(!plain_host(host.as_bytes()), "{host}");
            assert_eq!(
                check(&request(v11, &[host]), 20_480),
                Some(HeadProblem::InvalidHost),
                "{host}"
            );
        }
    }

    proptest::proptest! {
        /// The quick check accepts only what parsing accepts.
        #[test]
        fn a_plain_host_is_a_valid_authority(host in "[a-zA-Z0-9._~:@-]{0,12}") {
            if plain_host(host.as_bytes()) {
                let value = http::HeaderValue::from_str(&host).unwrap();
                proptest::prop_assert!(valid_authority(&value), "{}", host);
            }
        }
    }

    #[test]
    fn head_size_counts_the_line_and_every_field() {
        let r = Request::builder()
            .uri("/abc")
            .version(Version::HTTP_2)
            .header("x-a", "12345")
            .body(())
            .unwrap();
        // "GET /abc HTTP/1.1\r\n" + "x-a: 12345\r\n" + "\r\n"
        assert_eq!(head_bytes(r.method(), r.uri(), r.headers()), 19 + 12 + 2);
        // The target counts as it was sent, absolute form included.
        let absolute: Uri = "http://a.example:8080/p?q=1".parse().unwrap();
        let line = "GET http://a.example:8080/p?q=1 HTTP/1.1\r\n\r\n".len();
        assert_eq!(head_bytes(&Method::GET, &absolute, &HeaderMap::new()), line);
        assert_eq!(check(&r, 33), None);
        assert_eq!(check(&r, 32), Some(HeadProblem::TooLarge));
    }
}
