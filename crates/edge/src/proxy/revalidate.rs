//! Revalidate: a stale copy with validators is checked upstream with a conditional request
//! built by the same forward path as a fill. A 304 refreshes the stored headers (RFC 9111
//! §4.3.4) and answers `RefreshHit`; an upstream failure (500/502/503/504, no connection, no
//! answer in time) serves the stale copy inside `stale-if-error`, and under CloudFront's
//! presets whatever its directives; a full response replaces it through the fill phase.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, Method, Response, StatusCode, header};
use http_cache_semantics::{CacheOptions, CachePolicy};

use super::outcome::UpstreamInfo;
use super::{Exchange, Node, OWN_HEADERS, Outcome, Refusal, Served};
use crate::metrics::StaleCause;
use crate::policy::{self, Lifetime};
use crate::store::{CachedObject, Lifespan, SharedHeaders, StoredHeaders};
use crate::upstream::{Fetched, Route, UpstreamError};

impl Node {
    /// Revalidates `object` for `exchange`; `serve_on_error` when `stale-if-error` allows
    /// serving it if the upstream fails. Under CloudFront's presets an expired object is
    /// served on upstream failure anyway (`policy::serves_expired_on_error`).
    pub(super) async fn revalidate(
        &self,
        exchange: Exchange<'_>,
        object: Arc<CachedObject>,
        serve_on_error: bool,
    ) -> Outcome {
        let mut forwarded = self.forward_parts(&exchange.parts, exchange.behavior, true);
        if let Some(etag) = object.headers.get(&header::ETAG) {
            forwarded.headers.insert(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = object.headers.get(&header::LAST_MODIFIED) {
            forwarded.headers.insert(header::IF_MODIFIED_SINCE, lm);
        }
        let usable = serve_on_error
            || policy::serves_expired_on_error(
                &exchange.behavior.cache_policy,
                object.status,
                &object.lifetime(),
            );
        let stale = |upstream: UpstreamInfo, status: Option<StatusCode>, cause: StaleCause| {
            self.metrics.stale_on_error(cause);
            let served = Served::StaleOnError {
                status,
                directive: serve_on_error,
            };
            Outcome {
                upstream,
                ..self.answer_stored(&exchange.parts, &object, served)
            }
        };
        let fetched = match self.upstream.send(Route::Cacheable, &forwarded, None).await {
            Ok(fetched) => fetched,
            Err(error) if usable => {
                return stale(UpstreamInfo::default(), None, stale_cause(&error));
            }
            Err(error) => {
                let why = Refusal::Upstream(error.kind());
                return Outcome::error(error.status(), error.to_string(), why);
            }
        };
        let upstream = self.upstream_info(&fetched);
        let status = fetched.response.status();
        if usable && policy::serves_stale_on(status) {
            return stale(upstream, Some(status), StaleCause::ServerError);
        }
        if status == StatusCode::NOT_MODIFIED {
            let refreshed = self.refresh_stored(&exchange, &object, &fetched);
            return Outcome {
                upstream,
                ..self.answer_stored(&exchange.parts, &refreshed, Served::RefreshHit)
            };
        }
        // A full response replaces the stale copy (only once its whole body has arrived).
        self.answer_fetched(exchange, fetched).await
    }

    /// Merges a 304's headers into the stored object, recomputes its lifetime and stores it.
    fn refresh_stored(
        &self,
        exchange: &Exchange<'_>,
        object: &CachedObject,
        fetched: &Fetched,
    ) -> Arc<CachedObject> {
        let now = self.clock.now();
        let parts = &exchange.parts;
        let merged = merge_not_modified(object.headers.to_map(), fetched.response.headers());
        let mut response_like = Response::new(());
        *response_like.status_mut() = object.status;
        *response_like.headers_mut() = policy::decision_headers(&merged);
        let cache_policy =
            CachePolicy::new_options(parts, &response_like, now, CacheOptions::default());
        let lifetime = policy::storable(
            self.rules(exchange.behavior),
            &cache_policy,
            &Method::GET,
            &parts.headers,
            object.status,
            response_like.headers(),
            now,
        )
        .unwrap_or(Lifetime {
            lifetime: Duration::ZERO,
            swr: Duration::ZERO,
            sie: Duration::ZERO,
            must_revalidate: true,
        });
        let refreshed = self.store.share(CachedObject {
            primary: object.primary.clone(),
            path_len: object.path_len,
            status: object.status,
            headers: StoredHeaders::from_map(&merged),
            body: object.body.clone(),
            lifespan: Lifespan::new(now, cache_policy.age(now), &lifetime),
            upstream_hit_layer: object.upstream_hit_layer,
            shared_headers: SharedHeaders::Neither,
        });
        let vary = policy::vary_names(&refreshed.headers.to_map());
        let variant = policy::variant_key(&exchange.key.primary, &vary, &parts.headers);
        self.store.insert_arc(variant, vary, refreshed.clone());
        refreshed
    }
}

/// The stale-on-error counter's cause for an upstream failure.
fn stale_cause(error: &UpstreamError) -> StaleCause {
    match error {
        UpstreamError::Connect(_) => StaleCause::Connect,
        UpstreamError::Timeout(_) => StaleCause::Timeout,
        _ => StaleCause::Other,
    }
}

/// The stored headers with a 304's headers replacing theirs, except framing and the node's
/// own headers.
fn merge_not_modified(mut stored: HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    for name in not_modified.keys() {
        if !excluded_from_merge(name) {
            stored.remove(name);
        }
    }
    for (name, value) in not_modified {
        if !excluded_from_merge(name) {
            stored.append(name.clone(), value.clone());
        }
    }
    stored
}

/// Headers a 304 does not replace in the stored response (RFC 9111 §3.2: framing, plus the
/// headers each node sets itself, plus `Set-Cookie`, which is never stored).
fn excluded_from_merge(name: &HeaderName) -> bool {
    OWN_HEADERS.contains(&name.as_str())
        || crate::upstream::HOP_BY_HOP.contains(&name.as_str())
        || matches!(
            name.as_str(),
            "content-length" | "content-encoding" | "content-range" | "age" | "set-cookie"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn a_304_replaces_headers_but_not_framing() {
        let mut stored = HeaderMap::new();
        stored.insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
        stored.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=1"));
        stored.insert("x-kept", HeaderValue::from_static("yes"));
        let mut not_modified = HeaderMap::new();
        not_modified.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        not_modified.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        not_modified.insert("x-cache", HeaderValue::from_static("Hit from cloudfront"));
        let merged = merge_not_modified(stored, &not_modified);
        assert_eq!(merged.get(header::CONTENT_LENGTH).unwrap(), "10");
        assert_eq!(merged.get(header::CACHE_CONTROL).unwrap(), "max-age=60");
        assert_eq!(merged.get("x-kept").unwrap(), "yes");
        assert!(!merged.contains_key("x-cache"));
    }
}
