//! Forward: the one way a request goes upstream. [`Node::forward_parts`] applies the origin
//! request policy (plus the key parts) to every request a node sends: fills, revalidations,
//! background refreshes and pass-through alike. Also here: pass-through for requests that are
//! never cached, RFC 9111 §4.4 invalidation after unsafe methods, and what the upstream tier's
//! headers say about where it hit.

use edgelab_common::body::{Body, BoxError};
use edgelab_common::names::header as names;
use edgelab_wire::{Tier, XCache, server_timing};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use super::outcome::UpstreamInfo;
use super::{Exchange, ForwardReason, Node, Outcome, Refusal, Served};
use crate::config::{Behavior, Selection};
use crate::origin_request::CLOUDFRONT_USER_AGENT;
use crate::policy;
use crate::upstream::{Fetched, Route, ViewerHost, strip_hop_by_hop};

/// Request headers that make an upstream answer partial or conditional; a fill asks for the
/// whole object instead.
pub(super) const CONDITIONAL_AND_RANGE: [header::HeaderName; 6] = [
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    header::IF_UNMODIFIED_SINCE,
    header::IF_RANGE,
    header::RANGE,
];

impl Node {
    /// Fetches the whole object upstream and answers from it, filling the store when allowed.
    pub(super) async fn fetch(&self, exchange: Exchange<'_>) -> Outcome {
        let forwarded = self.forward_parts(&exchange.parts, exchange.behavior, true);
        match self.upstream.send(Route::Cacheable, &forwarded, None).await {
            Ok(fetched) => self.answer_fetched(exchange, fetched).await,
            Err(error) => Outcome::error(
                error.status(),
                error.to_string(),
                Refusal::Upstream(error.kind()),
            ),
        }
    }

    /// Requests that are never cached here: forwarded (to the origin group directly for unsafe
    /// methods), streamed back; a successful unsafe method invalidates the stored URI.
    pub(super) async fn pass(&self, parts: Parts, incoming: Body, behavior: &Behavior) -> Outcome {
        let unsafe_method = !matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        let route = if unsafe_method || parts.method == Method::OPTIONS {
            Route::Origin
        } else {
            Route::Cacheable
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let max_body = self.config.max_request_body_bytes;
        if declared.is_some_and(|l| l > max_body) {
            return Outcome::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {max_body} bytes"),
                Refusal::BodyTooLarge,
            );
        }
        let forwarded = self.forward_parts(&parts, behavior, false);
        let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
        // Safe methods carry no body worth forwarding and stay replayable (retries, failover).
        let request_body: Option<Body> =
            unsafe_method.then(|| Limited::new(incoming, limit).boxed());
        let fetched = match self.upstream.send(route, &forwarded, request_body).await {
            Ok(fetched) => fetched,
            Err(error) => {
                let why = Refusal::Upstream(error.kind());
                return Outcome::error(error.status(), error.to_string(), why);
            }
        };
        let upstream = self.upstream_info(&fetched);
        let status = fetched.response.status();
        if unsafe_method && (status.is_success() || status.is_redirection()) {
            self.invalidate_for_unsafe(&parts, fetched.response.headers());
        }
        let (mut head, incoming) = fetched.response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let reason = if unsafe_method {
            ForwardReason::Method
        } else {
            ForwardReason::Bypass
        };
        Outcome {
            response: Response::from_parts(head, incoming.map_err(BoxError::from).boxed()),
            served: Served::Passed { reason, status },
            upstream,
        }
    }

    /// RFC 9111 §4.4: the target URI, and `Location`/`Content-Location` on the same host.
    fn invalidate_for_unsafe(&self, parts: &Parts, response: &HeaderMap) {
        let mut paths = vec![parts.uri.path().to_string()];
        let host = host_of(parts);
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            let Some(value) = response.get(&name).and_then(|v| v.to_str().ok()) else {
                continue;
            };
            let Ok(uri) = value.parse::<http::Uri>() else {
                continue;
            };
            let same_host = uri.host().is_none_or(|h| host.split(':').next() == Some(h));
            if same_host && uri.path().starts_with('/') {
                paths.push(uri.path().to_string());
            }
        }
        self.store.invalidate_paths(&paths);
    }

    /// Who made the upstream request (this node, or the tier below that went further), the
    /// timings, the origin's own `Server-Timing` metrics, and whether an upstream tier hit.
    pub(super) fn upstream_info(&self, fetched: &Fetched) -> UpstreamInfo {
        let headers = fetched.response.headers();
        let timings = || {
            headers
                .get_all(names::SERVER_TIMING)
                .iter()
                .filter_map(|v| v.to_str().ok())
        };
        let (layer, tier_hit) = if fetched.from_tier {
            // A tier that went upstream itself names the layer that did; one that hit made
            // no upstream request, so this node's is the one that did.
            let deeper = server_timing::upstream_layer(timings());
            (deeper.unwrap_or(self.config.tier), tier_hit_of(headers))
        } else {
            (self.config.tier, None)
        };
        let foreign = server_timing::foreign_members(timings());
        UpstreamInfo {
            layer: Some(layer),
            connect: fetched.connect,
            first_byte: Some(fetched.first_byte),
            tier_hit,
            origin_timing: (!foreign.is_empty()).then(|| foreign.join(",")),
        }
    }

    /// The request sent upstream: the origin request policy's query strings, headers and
    /// cookies, plus everything in the cache key. `for_fill` strips the viewer's conditional
    /// and range headers (the node wants the whole object) and asks for the normalised
    /// encoding.
    pub(super) fn forward_parts(
        &self,
        parts: &Parts,
        behavior: &Behavior,
        for_fill: bool,
    ) -> Parts {
        let key = &behavior.cache_policy;
        let mut forwarded = Request::new(());
        *forwarded.method_mut() = parts.method.clone();
        if for_fill && parts.method == Method::HEAD {
            *forwarded.method_mut() = Method::GET;
        }
        let path_and_query = match forwarded_query(parts, behavior) {
            Some(q) if !q.is_empty() => format!("{}?{q}", parts.uri.path()),
            _ => parts.uri.path().to_string(),
        };
        *forwarded.uri_mut() = path_and_query.parse().unwrap_or_else(|_| parts.uri.clone());
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD);
        let forwards = |name: &header::HeaderName| {
            behavior
                .origin_request
                .forwards_header(name.as_str(), unsafe_method)
                || key.headers.contains(name)
        };
        if forwards(&header::HOST) {
            forwarded.extensions_mut().insert(ViewerHost);
        }
        let headers = forwarded.headers_mut();
        for (name, value) in &parts.headers {
            let keep =
                *name == header::HOST || name.as_str() == names::X_AMZ_CF_ID || forwards(name);
            if keep && *name != header::COOKIE {
                headers.append(name.clone(), value.clone());
            }
        }
        if !forwards(&header::USER_AGENT) {
            headers.insert(
                header::USER_AGENT,
                HeaderValue::from_static(CLOUDFRONT_USER_AGENT),
            );
        }
        if let Some(cookies) = forwarded_cookies(parts, behavior) {
            headers.insert(header::COOKIE, cookies);
        }
        if for_fill {
            for name in CONDITIONAL_AND_RANGE {
                headers.remove(name);
            }
            if key.compress {
                headers.insert(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_static(policy::normalised_encoding(&parts.headers)),
                );
            }
        }
        // The forwarded hop is marked so the next tier keeps the request id.
        headers.insert(
            names::X_EDGELAB_TIER,
            HeaderValue::from_static(self.config.tier.layer()),
        );
        forwarded.into_parts().0
    }
}

/// The query string forwarded: the pairs the origin request policy or the key selects.
fn forwarded_query(parts: &Parts, behavior: &Behavior) -> Option<String> {
    let orp = &behavior.origin_request.query_strings;
    let key = &behavior.cache_policy.query_strings;
    parts.uri.query().map(|q| {
        if *orp == Selection::All || *key == Selection::All {
            q.to_string()
        } else {
            q.split('&')
                .filter(|pair| {
                    let name = pair.split('=').next().unwrap_or("");
                    orp.selects(name) || key.selects(name)
                })
                .collect::<Vec<_>>()
                .join("&")
        }
    })
}

/// The `Cookie` header forwarded: the cookies the origin request policy or the key selects.
fn forwarded_cookies(parts: &Parts, behavior: &Behavior) -> Option<HeaderValue> {
    let orp = &behavior.origin_request.cookies;
    let key = &behavior.cache_policy.cookies;
    let cookies: Vec<&str> = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| {
            let name = c.split('=').next().unwrap_or("");
            orp.selects(name) || key.selects(name)
        })
        .collect();
    if cookies.is_empty() {
        return None;
    }
    HeaderValue::from_str(&cookies.join("; ")).ok()
}

/// An upstream tier's hit (its `X-Cache`) and the layer that hit (its `cdn-hit-layer`; a
/// tier that names none is taken for a REC).
fn tier_hit_of(headers: &HeaderMap) -> Option<(XCache, Tier)> {
    let x_cache = headers
        .get(names::X_CACHE)
        .and_then(|v| v.to_str().ok())
        .and_then(XCache::parse)
        .filter(|x| x.is_hit())?;
    let timings = headers
        .get_all(names::SERVER_TIMING)
        .iter()
        .filter_map(|v| v.to_str().ok());
    Some((
        x_cache,
        server_timing::hit_layer(timings).unwrap_or(Tier::Rec),
    ))
}

/// The viewer's host (Host header, else the URI authority).
pub(super) fn host_of(parts: &Parts) -> String {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}
