//! The pure caching rules: storability and TTL (RFC 9111 via `http-cache-semantics`, then the
//! CloudFront MinTTL / DefaultTTL / MaxTTL clamps), freshness of a stored object for a request
//! (including the request directives and the RFC 5861 stale extensions the crate lacks), and
//! the cache key. Everything here takes `now` and does no I/O.
//!
//! The rules live in `edgelab-policy`, shared with the offline replay (`edgelab replay`), so a
//! replay of a log and a live run of it decide alike; this module re-exports them and adds
//! what is the edge's own: the distribution's error rules as the error TTLs, and the key of a
//! behaviour.

use http::{HeaderMap, StatusCode};

use crate::config::Behavior;
use crate::error_responses::ErrorResponses;

pub use edgelab_policy::{
    ErrorTtl, Freshness, Lifetime, NoCacheReason, Rules, STALE_IF_ERROR_STATUSES, cdn_field_valid,
    decision_headers, directives, freshness, normalised_encoding, select_cookies, select_query,
    serves_expired_on_error, serves_stale_on, storable, variant_key, vary_names,
};

// What the tests below name through `super::*`, as when the rules were written here.
#[cfg(test)]
use {
    crate::config::{CachePolicyConfig, Selection},
    http::Method,
    http_cache_semantics::CachePolicy,
    std::time::{Duration, SystemTime},
};

impl ErrorTtl for ErrorResponses {
    fn min_ttl(&self, status: StatusCode) -> Option<std::time::Duration> {
        ErrorResponses::min_ttl(self, status)
    }
}

/// The primary cache key of `behavior`'s cache policy (`edgelab_policy::cache_key`).
pub fn cache_key(
    behavior: &Behavior,
    host: &str,
    path: &str,
    query: Option<&str>,
    request: &HeaderMap,
) -> String {
    edgelab_policy::cache_key(&behavior.cache_policy, host, path, query, request)
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
