//! The pure caching rules: storability and TTL (RFC 9111 via `http-cache-semantics`, then the
//! CloudFront MinTTL / DefaultTTL / MaxTTL clamps), freshness of a stored object for a request
//! (including the request directives and the RFC 5861 stale extensions the crate lacks), and
//! the cache key. Everything here takes `now` and does no I/O.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode, header};
use http_cache_semantics::CachePolicy;

use crate::config::{Behavior, CachePolicyConfig, Selection};
use crate::error_responses::ErrorResponses;

/// Non-error statuses a CloudFront-style policy stores (RFC 9110 §15.1 heuristically
/// cacheable codes below 400); errors follow `crate::error_responses`.
const CACHEABLE_STATUSES: [u16; 6] = [200, 203, 204, 206, 300, 301];

/// What decides storability: the behaviour's cache policy and the distribution's error rules.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The behaviour's cache policy.
    pub cache: &'a CachePolicyConfig,
    /// Error caching minimum TTLs (custom error responses).
    pub errors: &'a ErrorResponses,
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

/// The encoding a compressing behaviour asks the upstream for and keys on: `br`, `gzip` or
/// `identity`, from the viewer's `Accept-Encoding` (q=0 excluded).
pub fn normalised_encoding(request: &HeaderMap) -> &'static str {
    let mut gzip = false;
    let mut br = false;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            if coding.eq_ignore_ascii_case("br") {
                br = true;
            } else if coding.eq_ignore_ascii_case("gzip") {
                gzip = true;
            }
        }
    }
    if br {
        "br"
    } else if gzip {
        "gzip"
    } else {
        "identity"
    }
}

/// Keeps the query pairs `selection` picks, sorted for a stable key when not `All`.
pub fn select_query(query: Option<&str>, selection: &Selection) -> String {
    let Some(query) = query else {
        return String::new();
    };
    match selection {
        Selection::None => String::new(),
        Selection::All => query.to_string(),
        Selection::Only(_) => {
            let mut pairs: Vec<&str> = query
                .split('&')
                .filter(|pair| {
                    let name = pair.split('=').next().unwrap_or("");
                    selection.selects(name)
                })
                .collect();
            pairs.sort_unstable();
            pairs.join("&")
        }
    }
}

/// Keeps the cookies `selection` picks from the `Cookie` headers, sorted.
pub fn select_cookies(request: &HeaderMap, selection: &Selection) -> String {
    if *selection == Selection::None {
        return String::new();
    }
    let mut cookies: Vec<&str> = request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| selection.selects(c.split('=').next().unwrap_or("")))
        .collect();
    cookies.sort_unstable();
    cookies.join("; ")
}

/// The primary cache key: host, path, chosen query strings, headers and cookies, and the
/// normalised encoding when compression is on. Parts are separated by bytes that cannot occur
/// in a request line.
pub fn cache_key(
    behavior: &Behavior,
    host: &str,
    path: &str,
    query: Option<&str>,
    request: &HeaderMap,
) -> String {
    let policy = &behavior.cache_policy;
    // Room for the usual parts (the encoding's among them), so the key is one allocation.
    let mut key = String::with_capacity(host.len() + path.len() + query.map_or(0, str::len) + 32);
    key.extend(host.chars().map(|c| c.to_ascii_lowercase()));
    key.push_str(path);
    let query = select_query(query, &policy.query_strings);
    if !query.is_empty() {
        key.push('?');
        key.push_str(&query);
    }
    for name in &policy.headers {
        if *name == header::HOST {
            continue; // already the first part
        }
        key.push('\n');
        key.push_str(name.as_str());
        key.push(':');
        for value in request.get_all(name) {
            key.push_str(&String::from_utf8_lossy(value.as_bytes()));
            key.push(',');
        }
    }
    let cookies = select_cookies(request, &policy.cookies);
    if !cookies.is_empty() {
        key.push_str("\ncookie:");
        key.push_str(&cookies);
    }
    if policy.compress {
        key.push_str("\nae:");
        key.push_str(normalised_encoding(request));
    }
    key
}

/// The variant key: the primary key plus the request's values of the `Vary` headers of the
/// stored response (RFC 9111 §4.1). Values are whitespace-normalised.
pub fn variant_key(primary: &str, vary: &[http::HeaderName], request: &HeaderMap) -> String {
    let mut key = primary.to_string();
    for name in vary {
        key.push('\u{1}');
        key.push_str(name.as_str());
        key.push('=');
        let values: Vec<String> = request
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split(',')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        key.push_str(&values.join(","));
    }
    key
}

/// The header names a response varies on (lower case, `*` excluded: never stored).
pub fn vary_names(response: &HeaderMap) -> Vec<http::HeaderName> {
    let mut names: Vec<http::HeaderName> = response
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && n != "*")
        .filter_map(|n| http::HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, Request, Response};
    use http_cache_semantics::CacheOptions;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn decide(
        preset: &str,
        res: &[(&str, &str)],
        now: SystemTime,
    ) -> Result<Lifetime, NoCacheReason> {
        decide_status(preset, StatusCode::OK, res, now)
    }

    fn decide_status(
        preset: &str,
        status: StatusCode,
        res: &[(&str, &str)],
        now: SystemTime,
    ) -> Result<Lifetime, NoCacheReason> {
        let policy = CachePolicyConfig::preset(preset).unwrap();
        let request = Request::get("http://h/x").body(()).unwrap();
        let mut response = Response::builder().status(status);
        for (n, v) in res {
            response = response.header(*n, *v);
        }
        let response = response.body(()).unwrap();
        let cp = CachePolicy::new_options(&request, &response, now, CacheOptions::default());
        let errors = ErrorResponses::default();
        let rules = Rules {
            cache: &policy,
            errors: &errors,
        };
        storable(
            rules,
            &cp,
            &Method::GET,
            request.headers(),
            status,
            response.headers(),
            now,
        )
    }

    #[test]
    fn errors_are_cached_for_the_error_ttl_or_the_longer_origin_freshness() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(now);
        let status = |code| StatusCode::from_u16(code).unwrap();
        let lifetime = |code, res: &[(&str, &str)]| {
            decide_status("CachingOptimized", status(code), res, now).map(|l| l.lifetime)
        };
        let secs = Duration::from_secs;
        assert_eq!(
            lifetime(404, &[("date", &date)]),
            Ok(secs(10)),
            "not DefaultTTL"
        );
        assert_eq!(
            lifetime(503, &[("cache-control", "no-store")]),
            Ok(secs(10))
        );
        let long = [("date", date.as_str()), ("cache-control", "max-age=60")];
        assert_eq!(lifetime(403, &long), Ok(secs(60)));
        let short = [("date", date.as_str()), ("cache-control", "max-age=2")];
        assert_eq!(lifetime(500, &short), Ok(secs(10)));
        for code in [401, 410, 416, 429] {
            assert_eq!(lifetime(code, &long), Err(NoCacheReason::Status), "{code}");
        }
        // rfc9111 keeps the RFC: an error with no freshness and no validator is not stored.
        assert!(decide_status("rfc9111", status(503), &[], now).is_err());
    }

    const DAY: u64 = 86_400;

    #[test]
    fn caching_optimized_clamps_like_cloudfront() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(now);
        // No freshness from origin → DefaultTTL (1 day).
        let l = decide("CachingOptimized", &[("date", &date)], now).unwrap();
        assert_eq!(l.lifetime, Duration::from_secs(DAY));
        // max-age=0 → MinTTL 1 s.
        let l = decide(
            "CachingOptimized",
            &[("date", &date), ("cache-control", "max-age=0")],
            now,
        )
        .unwrap();
        assert_eq!(l.lifetime, Duration::from_secs(1));
        // Ten years → MaxTTL one year.
        let l = decide(
            "CachingOptimized",
            &[("date", &date), ("cache-control", "max-age=315360000")],
            now,
        )
        .unwrap();
        assert_eq!(l.lifetime, Duration::from_secs(31_536_000));
        // no-store with MinTTL 1 s is still cached for 1 s.
        let l = decide("CachingOptimized", &[("cache-control", "no-store")], now).unwrap();
        assert_eq!(l.lifetime, Duration::from_secs(1));
    }

    #[test]
    fn use_origin_headers_and_rfc_do_not_cache_without_freshness() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for preset in ["UseOriginCacheControlHeaders", "rfc9111"] {
            assert_eq!(
                decide(preset, &[], now),
                Err(NoCacheReason::NoFreshness),
                "{preset}"
            );
            assert!(decide(preset, &[("cache-control", "private, max-age=60")], now).is_err());
            let l = decide(preset, &[("cache-control", "s-maxage=30, max-age=60")], now).unwrap();
            assert_eq!(l.lifetime, Duration::from_secs(30), "{preset}");
        }
        assert_eq!(
            decide("CachingDisabled", &[("cache-control", "max-age=60")], now),
            Err(NoCacheReason::Disabled)
        );
        // rfc9111 stores no-cache with a validator (always revalidated).
        let l = decide(
            "rfc9111",
            &[("cache-control", "no-cache"), ("etag", "\"a\"")],
            now,
        )
        .unwrap();
        assert_eq!(l.lifetime, Duration::ZERO);
    }

    #[test]
    fn set_cookie_needs_public() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            decide(
                "CachingOptimized",
                &[("cache-control", "max-age=60"), ("set-cookie", "a=b")],
                now
            ),
            Err(NoCacheReason::SetCookie)
        );
        assert!(
            decide(
                "CachingOptimized",
                &[
                    ("cache-control", "public, max-age=60"),
                    ("set-cookie", "a=b")
                ],
                now
            )
            .is_ok()
        );
    }

    #[test]
    fn stale_extensions_and_request_directives() {
        let lifetime = Lifetime {
            lifetime: Duration::from_secs(10),
            swr: Duration::from_secs(5),
            sie: Duration::from_secs(100),
            must_revalidate: false,
        };
        let none = HeaderMap::new();
        let secs = Duration::from_secs;
        assert_eq!(freshness(&lifetime, secs(9), &none, true), Freshness::Fresh);
        assert_eq!(
            freshness(&lifetime, secs(12), &none, true),
            Freshness::StaleWhileRevalidate
        );
        assert_eq!(
            freshness(&lifetime, secs(20), &none, true),
            Freshness::Stale {
                serve_on_error: true
            }
        );
        assert_eq!(
            freshness(&lifetime, secs(200), &none, true),
            Freshness::Stale {
                serve_on_error: false
            }
        );
        let no_cache = headers(&[("cache-control", "no-cache")]);
        assert!(matches!(
            freshness(&lifetime, secs(1), &no_cache, true),
            Freshness::Stale { .. }
        ));
        assert_eq!(
            freshness(&lifetime, secs(1), &no_cache, false),
            Freshness::Fresh
        );
        let max_stale = headers(&[("cache-control", "max-stale=60")]);
        assert_eq!(
            freshness(&lifetime, secs(30), &max_stale, true),
            Freshness::Fresh
        );
        let strict = Lifetime {
            must_revalidate: true,
            ..lifetime
        };
        assert_eq!(
            freshness(&strict, secs(12), &none, true),
            Freshness::Stale {
                serve_on_error: false
            }
        );
    }

    #[test]
    fn cdn_cache_control_replaces_cache_control_only_when_valid() {
        let h = decision_headers(&headers(&[
            ("cdn-cache-control", "max-age=60"),
            ("cache-control", "no-store"),
        ]));
        assert_eq!(h.get("cache-control").unwrap(), "max-age=60");
        for bad in ["max-age=10000, &&&&&", "max-age=\"10000\""] {
            let h = decision_headers(&headers(&[
                ("cdn-cache-control", bad),
                ("cache-control", "no-store"),
            ]));
            assert_eq!(h.get("cache-control").unwrap(), "no-store", "{bad}");
        }
        let h = decision_headers(&headers(&[
            ("cache-control", "MAX-AGE=5"),
            ("expires", "nonsense"),
        ]));
        assert_eq!(h.get("cache-control").unwrap(), "max-age=5");
        assert_eq!(h.get("expires").unwrap(), "0");
    }

    #[test]
    fn encoding_is_normalised() {
        assert_eq!(
            normalised_encoding(&headers(&[("accept-encoding", "gzip, deflate, br")])),
            "br"
        );
        assert_eq!(
            normalised_encoding(&headers(&[("accept-encoding", "br;q=0, gzip")])),
            "gzip"
        );
        assert_eq!(normalised_encoding(&HeaderMap::new()), "identity");
    }

    #[test]
    fn key_takes_only_selected_parts() {
        let mut policy = CachePolicyConfig::preset("CachingOptimized").unwrap();
        policy.query_strings = Selection::Only(vec!["v".into()]);
        policy.compress = false;
        let behavior = Behavior {
            path_pattern: "*".into(),
            cache_policy: policy,
            origin_request: Default::default(),
            collapse: true,
        };
        let a = cache_key(
            &behavior,
            "Example.com",
            "/a",
            Some("x=1&v=2"),
            &HeaderMap::new(),
        );
        let b = cache_key(
            &behavior,
            "example.com",
            "/a",
            Some("v=2&x=9"),
            &HeaderMap::new(),
        );
        assert_eq!(a, b);
        assert_eq!(a, "example.com/a?v=2");
    }

    #[test]
    fn stale_if_error_serves_on_the_four_server_errors_only() {
        for code in [500, 502, 503, 504] {
            assert!(
                serves_stale_on(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [200, 304, 404, 501, 505] {
            assert!(
                !serves_stale_on(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }
}
