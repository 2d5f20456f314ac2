//! Storability, TTL and freshness: RFC 9111 via `http-cache-semantics`, then CloudFront's
//! MinTTL / DefaultTTL / MaxTTL clamps, the error caching minimum TTL, and the RFC 5861 stale
//! extensions the crate lacks. Everything here takes `now` and does no I/O.

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode, header};
use http_cache_semantics::CachePolicy;

use crate::preset::CachePolicyConfig;

/// Non-error statuses a CloudFront-style policy stores (RFC 9110 §15.1 heuristically
/// cacheable codes below 400); errors follow [`ErrorTtl`].
const CACHEABLE_STATUSES: [u16; 6] = [200, 203, 204, 206, 300, 301];

/// The error caching minimum TTL of each error status (CloudFront's custom error responses,
/// `edgelab_edge::error_responses`): `None` for a status CloudFront does not cache.
pub trait ErrorTtl: Debug {
    /// How long a response with `status` is cached at least, or `None` when it is not cached.
    fn min_ttl(&self, status: StatusCode) -> Option<Duration>;
}

/// What decides storability: the behaviour's cache policy and the distribution's error rules.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The behaviour's cache policy.
    pub cache: &'a CachePolicyConfig,
    /// Error caching minimum TTLs (custom error responses).
    pub errors: &'a dyn ErrorTtl,
}

/// Cache-Control directives as `(name, value)` pairs, names lower-cased.
///
/// Hand-written because `http-cache-semantics` keeps its parsed directives private and we need
/// `stale-while-revalidate`, `stale-if-error` and the request directives.
pub fn directives(headers: &HeaderMap) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"').to_string())),
                None => (part, None),
            };
            out.push((name.to_ascii_lowercase(), value));
        }
    }
    out
}

fn has(dirs: &[(String, Option<String>)], name: &str) -> bool {
    dirs.iter().any(|(n, _)| n == name)
}

fn seconds(dirs: &[(String, Option<String>)], name: &str) -> Option<Duration> {
    dirs.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.as_deref())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// What a stored object keeps about its freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Freshness lifetime after the clamps (compared with the object's current age).
    pub lifetime: Duration,
    /// `stale-while-revalidate` window.
    pub swr: Duration,
    /// `stale-if-error` window.
    pub sie: Duration,
    /// `must-revalidate` / `proxy-revalidate`: never served stale.
    pub must_revalidate: bool,
}

/// Why a response is not stored (for `Cache-Status` detail and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCacheReason {
    /// The behaviour's policy disables caching.
    Disabled,
    /// Method is not GET/HEAD.
    Method,
    /// Status is not cacheable.
    Status,
    /// `no-store`, `private`, `no-cache` (CloudFront presets with MinTTL 0), or request
    /// `no-store`.
    Directive,
    /// `Authorization` in the request without `public`/`s-maxage`/`must-revalidate`.
    Authorization,
    /// `Set-Cookie` without `public`.
    SetCookie,
    /// `Vary: *`.
    VaryStar,
    /// No freshness and no validator: nothing to reuse.
    NoFreshness,
}

impl NoCacheReason {
    /// Short token for `Cache-Status: detail=`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoCacheReason::Disabled => "disabled",
            NoCacheReason::Method => "method",
            NoCacheReason::Status => "status",
            NoCacheReason::Directive => "directive",
            NoCacheReason::Authorization => "authorization",
            NoCacheReason::SetCookie => "set-cookie",
            NoCacheReason::VaryStar => "vary-star",
            NoCacheReason::NoFreshness => "no-freshness",
        }
    }
}

/// Decides whether `response` to `request` may be stored under `rules`, and for how long.
///
/// rfc9111 mode: `http-cache-semantics` storability and lifetime (heuristics included).
/// CloudFront mode: origin freshness (`s-maxage` > `max-age` > `Expires`, minus `Age`)
/// clamped to `[min_ttl, max_ttl]`, `default_ttl` when the origin gives none, and MinTTL > 0
/// overriding `no-store`/`no-cache`/`private`; an error status CloudFront caches is kept for
/// its error caching minimum TTL, or the origin's freshness when longer (`error_lifetime`).
/// Either way a response with neither freshness nor a validator is not stored, and
/// `Set-Cookie` needs `public`.
pub fn storable(
    rules: Rules<'_>,
    cache_policy: &CachePolicy,
    method: &Method,
    request: &HeaderMap,
    status: StatusCode,
    response: &HeaderMap,
    now: SystemTime,
) -> Result<Lifetime, NoCacheReason> {
    let policy = rules.cache;
    if policy.disabled() {
        return Err(NoCacheReason::Disabled);
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(NoCacheReason::Method);
    }
    let res = directives(response);
    let req = directives(request);
    if response
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim() == "*"))
    {
        return Err(NoCacheReason::VaryStar);
    }
    let public = has(&res, "public");
    if response.contains_key(header::SET_COOKIE) && !public {
        return Err(NoCacheReason::SetCookie);
    }
    let must_revalidate = has(&res, "must-revalidate") || has(&res, "proxy-revalidate");
    if request.contains_key(header::AUTHORIZATION)
        && !(public || has(&res, "s-maxage") || has(&res, "must-revalidate"))
    {
        return Err(NoCacheReason::Authorization);
    }
    let has_validator =
        response.contains_key(header::ETAG) || response.contains_key(header::LAST_MODIFIED);
    let age = cache_policy.age(now);
    let origin_lifetime = cache_policy.time_to_live(now) + age;
    let lifetime = if policy.rfc {
        if !cache_policy.is_storable() {
            return Err(
                if has(&req, "no-store") || has(&res, "no-store") || has(&res, "private") {
                    NoCacheReason::Directive
                } else {
                    NoCacheReason::Status
                },
            );
        }
        origin_lifetime
    } else if status.as_u16() >= 400 {
        let error_ttl = rules.errors.min_ttl(status).ok_or(NoCacheReason::Status)?;
        error_lifetime(policy, &res, response, error_ttl, (age, now))?
    } else {
        if !CACHEABLE_STATUSES.contains(&status.as_u16()) {
            return Err(NoCacheReason::Status);
        }
        let forbidden = has(&res, "no-store") || has(&res, "no-cache") || has(&res, "private");
        if forbidden {
            if policy.min_ttl.is_zero() {
                return Err(NoCacheReason::Directive);
            }
            policy.min_ttl + age
        } else if explicit_freshness(&res, response) {
            origin_lifetime.clamp(policy.min_ttl, policy.max_ttl)
        } else {
            policy.default_ttl + age
        }
    };
    if lifetime <= age && !has_validator {
        return Err(NoCacheReason::NoFreshness);
    }
    Ok(Lifetime {
        lifetime,
        swr: seconds(&res, "stale-while-revalidate").unwrap_or_default(),
        sie: seconds(&res, "stale-if-error").unwrap_or_default(),
        must_revalidate,
    })
}

/// The freshness lifetime the origin stated (RFC 9111 §4.2.1: `s-maxage`, then `max-age`,
/// then `Expires` minus `Date`), read here because `http-cache-semantics` gives none for the
/// error statuses it does not store.
fn stated_freshness(
    res: &[(String, Option<String>)],
    response: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(lifetime) = seconds(res, "s-maxage").or_else(|| seconds(res, "max-age")) {
        return Some(lifetime);
    }
    let date = |name| {
        response
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
    };
    let expires = date(header::EXPIRES)?;
    let base = date(header::DATE).unwrap_or(now);
    Some(expires.duration_since(base).unwrap_or_default())
}

/// Whether the origin stated a freshness lifetime (`s-maxage`, `max-age` or `Expires`).
fn explicit_freshness(res: &[(String, Option<String>)], response: &HeaderMap) -> bool {
    has(res, "s-maxage") || has(res, "max-age") || response.contains_key(header::EXPIRES)
}

/// The lifetime of an error response CloudFront caches: `error_ttl` from now, or the origin's
/// freshness (capped by MaxTTL) when that is longer; `no-store`/`no-cache`/`private` do not
/// shorten it (CloudFront caches the error for the minimum anyway). A zero TTL with no
/// origin freshness is not stored.
fn error_lifetime(
    policy: &CachePolicyConfig,
    res: &[(String, Option<String>)],
    response: &HeaderMap,
    error_ttl: Duration,
    (age, now): (Duration, SystemTime),
) -> Result<Duration, NoCacheReason> {
    let forbidden = has(res, "no-store") || has(res, "no-cache") || has(res, "private");
    let minimum = error_ttl + age;
    let lifetime = match stated_freshness(res, response, now) {
        Some(stated) if !forbidden => stated.min(policy.max_ttl).max(minimum),
        _ => minimum,
    };
    if lifetime <= age {
        return Err(NoCacheReason::NoFreshness);
    }
    Ok(lifetime)
}

/// The response headers the caching decisions read (the viewer still gets the originals):
/// - `CDN-Cache-Control` (RFC 9213), when present, replaces `Cache-Control` and `Expires`;
/// - `Cache-Control` directive names are lower-cased (they are case-insensitive, and
///   `http-cache-semantics` compares them as written);
/// - `Expires` is re-written as an IMF-fixdate when it parses as any HTTP date format, and as
///   `0` (already expired, RFC 9111 §5.3) when it does not.
pub fn decision_headers(response: &HeaderMap) -> HeaderMap {
    let mut headers = response.clone();
    let cdn = http::HeaderName::from_static("cdn-cache-control");
    let cdn_valid = headers
        .get_all(&cdn)
        .iter()
        .all(|v| v.to_str().is_ok_and(cdn_field_valid));
    if headers.contains_key(&cdn) && cdn_valid {
        let values: Vec<http::HeaderValue> = headers.get_all(&cdn).iter().cloned().collect();
        headers.remove(header::CACHE_CONTROL);
        headers.remove(header::EXPIRES);
        for value in values {
            headers.append(header::CACHE_CONTROL, value);
        }
    }
    let directives = directives(&headers);
    if !directives.is_empty() {
        let text = directives
            .iter()
            .map(|(n, v)| match v {
                Some(v) => format!("{n}={v}"),
                None => n.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(value) = http::HeaderValue::from_str(&text) {
            headers.insert(header::CACHE_CONTROL, value);
        }
    }
    // A list-valued Age (a broken upstream) counts by its first member.
    if let Some(age) = headers.get(header::AGE).and_then(|v| v.to_str().ok())
        && let Some(first) = age.split(',').next().map(str::trim)
        && first.len() != age.len()
        && first.bytes().all(|b| b.is_ascii_digit())
        && let Ok(value) = http::HeaderValue::from_str(first)
    {
        headers.insert(header::AGE, value);
    }
    if let Some(expires) = headers.get(header::EXPIRES) {
        let parsed = expires
            .to_str()
            .ok()
            .and_then(|v| httpdate::parse_http_date(v).ok());
        let value = match parsed {
            Some(time) => http::HeaderValue::from_str(&httpdate::fmt_http_date(time)).ok(),
            None => Some(http::HeaderValue::from_static("0")),
        };
        if let Some(value) = value {
            headers.insert(header::EXPIRES, value);
        }
    }
    headers
}

/// Whether a `CDN-Cache-Control` value is a valid RFC 8941 dictionary whose time directives are
/// integers (RFC 9213 §2.1: an invalid field is ignored as a whole). A small hand-written
/// check: no structured-field crate is in the workspace and only this one field needs it.
pub fn cdn_field_valid(text: &str) -> bool {
    const INTEGERS: [&str; 4] = [
        "max-age",
        "s-maxage",
        "stale-while-revalidate",
        "stale-if-error",
    ];
    text.split(',').all(|member| {
        let member = member.trim();
        let (key, value) = match member.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (member, None),
        };
        let key_ok = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
            && key.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'-' | b'.' | b'*')
            });
        let value_ok = match value {
            None => true,
            Some(v) if INTEGERS.contains(&key) => {
                !v.is_empty()
                    && v.len() <= 15
                    && v.trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit())
            }
            Some(v) => {
                (v.starts_with('"') && v.ends_with('"') && v.len() >= 2)
                    || v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:%*/_".contains(&b))
            }
        };
        !member.is_empty() && key_ok && value_ok
    })
}

/// Upstream statuses on which `stale-if-error` serves the stale copy (RFC 5861 §4 names 500,
/// 502, 503 and 504; CloudFront uses the same set). A connection failure serves it too.
pub const STALE_IF_ERROR_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// Whether an upstream answering `status` lets `stale-if-error` serve the stale copy.
pub fn serves_stale_on(status: StatusCode) -> bool {
    STALE_IF_ERROR_STATUSES.contains(&status.as_u16())
}

/// Whether an expired object with `status` may be served when the upstream fails although no
/// `stale-if-error` allows it: CloudFront does ("How CloudFront processes HTTP 4xx and 5xx
/// status codes from your origin") for an object that is not itself an error, unless the
/// origin said `must-revalidate`/`proxy-revalidate`; the `rfc9111` preset keeps RFC 9111
/// §4.2.4 (stale only when a directive allows it).
pub fn serves_expired_on_error(
    policy: &CachePolicyConfig,
    status: StatusCode,
    lifetime: &Lifetime,
) -> bool {
    !policy.rfc && !policy.disabled() && status.as_u16() < 400 && !lifetime.must_revalidate
}

/// How a stored object may be used for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it.
    Fresh,
    /// Stale, but inside `stale-while-revalidate`: serve and refresh in the background.
    StaleWhileRevalidate,
    /// Must be revalidated (or refetched) first; `serve_on_error` says whether
    /// `stale-if-error` allows it if the upstream fails.
    Stale {
        /// Inside `stale-if-error`.
        serve_on_error: bool,
    },
}

/// Freshness of an object whose current age is `age`, for a request with `request` headers.
/// Request directives (`no-cache`, `max-age`, `min-fresh`, `max-stale`, `Pragma: no-cache`) are
/// honoured only when `honour_request` (the rfc9111 preset; CloudFront ignores them).
pub fn freshness(
    lifetime: &Lifetime,
    age: Duration,
    request: &HeaderMap,
    honour_request: bool,
) -> Freshness {
    let staleness = age.saturating_sub(lifetime.lifetime);
    let fresh = age < lifetime.lifetime;
    let serve_on_error = !fresh && !lifetime.must_revalidate && staleness <= lifetime.sie;
    let stale = Freshness::Stale { serve_on_error };
    if honour_request {
        let req = directives(request);
        let pragma_no_cache = !request.contains_key(header::CACHE_CONTROL)
            && request
                .get(header::PRAGMA)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("no-cache"));
        if has(&req, "no-cache") || pragma_no_cache {
            return stale;
        }
        if seconds(&req, "max-age").is_some_and(|max| age > max) {
            return stale;
        }
        if seconds(&req, "min-fresh").is_some_and(|min| lifetime.lifetime.saturating_sub(age) < min)
        {
            return stale;
        }
        if !fresh && !lifetime.must_revalidate && has(&req, "max-stale") {
            let allowed = seconds(&req, "max-stale").is_none_or(|max| staleness <= max);
            if allowed {
                return Freshness::Fresh;
            }
        }
    }
    if fresh {
        Freshness::Fresh
    } else if !lifetime.must_revalidate && staleness < lifetime.swr {
        Freshness::StaleWhileRevalidate
    } else {
        stale
    }
}

/// What [`storable`] decides for a plain `GET` (no request headers) answered with `status`
/// and `response`, the way the edge reads a response when it fills: the decision headers
/// ([`decision_headers`]), `http-cache-semantics`' view of the exchange at `now`, then the
/// clamps. The offline replay's entry point: it asks once per kind of response the origin
/// sends, not per request.
pub fn storable_response(
    rules: Rules<'_>,
    status: StatusCode,
    response: &HeaderMap,
    now: SystemTime,
) -> Result<Lifetime, NoCacheReason> {
    let request = http::Request::get("/").body(()).map(|r| r.into_parts().0);
    // A bare GET of `/` always builds.
    let request = request.expect("a GET of / is a valid request");
    let mut response_like = http::Response::new(());
    *response_like.status_mut() = status;
    *response_like.headers_mut() = decision_headers(response);
    let cache_policy = CachePolicy::new_options(
        &request,
        &response_like,
        now,
        http_cache_semantics::CacheOptions::default(),
    );
    storable(
        rules,
        &cache_policy,
        &Method::GET,
        &request.headers,
        status,
        response_like.headers(),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No error status is cached.
    #[derive(Debug)]
    struct NoErrors;

    impl ErrorTtl for NoErrors {
        fn min_ttl(&self, _status: StatusCode) -> Option<Duration> {
            None
        }
    }

    fn decide(preset: &str, cache_control: Option<&str>) -> Result<Lifetime, NoCacheReason> {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut response = HeaderMap::new();
        response.insert(header::ETAG, http::HeaderValue::from_static("\"a\""));
        if let Some(value) = cache_control {
            let value = http::HeaderValue::from_str(value).unwrap();
            response.insert(header::CACHE_CONTROL, value);
        }
        let policy = CachePolicyConfig::preset(preset).unwrap();
        let rules = Rules {
            cache: &policy,
            errors: &NoErrors,
        };
        storable_response(rules, StatusCode::OK, &response, now)
    }

    #[test]
    fn a_bare_response_is_decided_by_the_clamps() {
        let secs = |s| Ok(Duration::from_secs(s));
        let lifetime = |preset, cc| decide(preset, cc).map(|l| l.lifetime);
        assert_eq!(lifetime("CachingOptimized", Some("no-store")), secs(1));
        assert_eq!(lifetime("CachingOptimized", None), secs(86_400));
        assert_eq!(
            lifetime("CachingOptimized", Some("public, max-age=14400")),
            secs(14_400)
        );
        assert_eq!(
            lifetime("UseOriginCacheControlHeaders", Some("no-store")),
            Err(NoCacheReason::Directive)
        );
        // No freshness but a validator: stored, revalidated on every request.
        assert_eq!(lifetime("UseOriginCacheControlHeaders", None), secs(0));
        assert_eq!(
            lifetime("CachingDisabled", Some("max-age=60")),
            Err(NoCacheReason::Disabled)
        );
    }
}
