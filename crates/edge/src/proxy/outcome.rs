//! How a request was answered, as types: [`Served`] says which phase produced the response
//! and why; [`Outcome`] pairs it with the response and the upstream timings. `Node::finish`
//! renders them into `X-Cache`, `Cache-Status`, `Server-Timing` and the metrics, once, at
//! the end of the request.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use edgelab_common::body::{self, Body};
use edgelab_common::names::header_name as own;
use edgelab_wire::server_timing::{self, metric};
use edgelab_wire::{ServerTiming, Tier, XCache};
use http::{HeaderValue, Response, StatusCode, header};

use super::Node;
use crate::metrics::CacheStatus;
use crate::policy::NoCacheReason;

/// Why a request went upstream (RFC 9211 `fwd=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ForwardReason {
    /// Nothing stored under the URI's key.
    UriMiss,
    /// The URI is stored, but not the variant the request selects.
    VaryMiss,
    /// The stored copy was stale.
    Stale,
    /// The method is never answered from the cache.
    Method,
    /// The behaviour's policy does not cache.
    Bypass,
}

impl ForwardReason {
    /// The `fwd=` token.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ForwardReason::UriMiss => "uri-miss",
            ForwardReason::VaryMiss => "vary-miss",
            ForwardReason::Stale => "stale",
            ForwardReason::Method => "method",
            ForwardReason::Bypass => "bypass",
        }
    }
}

/// Why a fetched response was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotStored {
    /// RFC 9111 or the behaviour's cache policy says no.
    Policy(NoCacheReason),
    /// Its `Content-Length` is over the largest stored object.
    TooLarge,
}

impl NotStored {
    fn as_str(self) -> &'static str {
        match self {
            NotStored::Policy(reason) => reason.as_str(),
            NotStored::TooLarge => "too-large",
        }
    }
}

/// Why the node answered with an error of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Request line and headers over `MAX_HEAD_BYTES` (431).
    HeadTooLarge,
    /// Request target over `MAX_URL_BYTES` (414).
    UriTooLong,
    /// Declared request body over the configured limit (413).
    BodyTooLarge,
    /// The upstream body was cut short (502).
    Truncated,
    /// The upstream failed before a response head; the label is `UpstreamError::kind`.
    Upstream(&'static str),
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::HeadTooLarge => "head-too-large",
            Refusal::UriTooLong => "uri-too-long",
            Refusal::BodyTooLarge => "body-too-large",
            Refusal::Truncated => "truncated",
            Refusal::Upstream(kind) => kind,
        }
    }
}

/// Which phase produced the response, with what `Cache-Status` needs to describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// A fresh stored copy; `ttl` seconds of freshness left.
    Hit {
        /// Seconds of freshness left.
        ttl: u64,
        /// Found after waiting for another request's fetch.
        collapsed: bool,
    },
    /// A stale copy inside `stale-while-revalidate` (a background refresh runs).
    StaleWhileRevalidate {
        /// Freshness left, negative once stale.
        ttl: i128,
    },
    /// A stale copy because the upstream failed (a 5xx or no answer).
    StaleOnError {
        /// The upstream's status, when it answered.
        status: Option<StatusCode>,
        /// `stale-if-error` allowed it (else CloudFront's own rule did).
        directive: bool,
    },
    /// The stale copy, revalidated upstream with a 304.
    RefreshHit,
    /// The upstream's response, stored unless `stored` says why not.
    Fetched {
        /// Why it went upstream.
        reason: ForwardReason,
        /// The upstream status.
        status: StatusCode,
        /// Stored, or why not.
        stored: Result<(), NotStored>,
        /// Fetched after waiting for another request's fetch that was not stored.
        collapsed: bool,
    },
    /// Never cacheable here: passed through.
    Passed {
        /// Method or disabled policy.
        reason: ForwardReason,
        /// The upstream status.
        status: StatusCode,
    },
    /// The node's own error.
    Error(Refusal),
}

impl Served {
    /// The metric label.
    pub(crate) fn cache_status(self) -> CacheStatus {
        match self {
            Served::Hit { .. } => CacheStatus::Hit,
            Served::StaleWhileRevalidate { .. } | Served::StaleOnError { .. } => CacheStatus::Stale,
            Served::RefreshHit => CacheStatus::RefreshHit,
            Served::Fetched { .. } => CacheStatus::Miss,
            Served::Passed { .. } => CacheStatus::Pass,
            Served::Error(_) => CacheStatus::Error,
        }
    }

    /// Appends the RFC 9211 parameters (what `Display` writes); a fresh hit's without the
    /// formatting machinery, as it is written on every hit.
    pub(super) fn write_params(self, text: &mut String) {
        match self {
            Served::Hit {
                ttl,
                collapsed: false,
            } => {
                text.push_str("hit; ttl=");
                text.push_str(itoa::Buffer::new().format(ttl));
            }
            // Writing to a String cannot fail.
            other => drop(write!(text, "{other}")),
        }
    }

    fn is_own_hit(self) -> bool {
        matches!(
            self,
            Served::Hit { .. }
                | Served::StaleWhileRevalidate { .. }
                | Served::StaleOnError { .. }
                | Served::RefreshHit
        )
    }
}

/// The RFC 9211 parameters after the cache name (`hit; ttl=5`, `fwd=uri-miss; stored`, ...),
/// written straight into the header value.
impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let collapsed_note = |collapsed: bool| if collapsed { "; collapsed" } else { "" };
        match *self {
            Served::Hit { ttl, collapsed } => {
                write!(f, "hit; ttl={ttl}{}", collapsed_note(collapsed))
            }
            Served::StaleWhileRevalidate { ttl } => {
                write!(f, "hit; ttl={ttl}; detail=stale-while-revalidate")
            }
            Served::StaleOnError { status, directive } => {
                f.write_str("fwd=stale; ")?;
                if let Some(status) = status {
                    write!(f, "fwd-status={}; ", status.as_u16())?;
                }
                let detail = if directive {
                    "stale-if-error"
                } else {
                    "stale-on-error"
                };
                write!(f, "detail={detail}")
            }
            Served::RefreshHit => f.write_str("fwd=stale; fwd-status=304; stored"),
            Served::Fetched {
                reason,
                status,
                stored,
                collapsed,
            } => {
                write!(
                    f,
                    "fwd={}; fwd-status={}; ",
                    reason.as_str(),
                    status.as_u16()
                )?;
                match stored {
                    Ok(()) => f.write_str("stored")?,
                    Err(why) => write!(f, "detail={}", why.as_str())?,
                }
                f.write_str(collapsed_note(collapsed))
            }
            Served::Passed { reason, status } => {
                write!(f, "fwd={}; fwd-status={}", reason.as_str(), status.as_u16())
            }
            Served::Error(refusal) => write!(f, "fwd=miss; detail={}", refusal.as_str()),
        }
    }
}

/// Upstream timings and layer for `Server-Timing`.
#[derive(Debug, Default, Clone)]
pub(crate) struct UpstreamInfo {
    /// `cdn-upstream-layer`: the layer that made the upstream request (this node's tier, or
    /// the tier below that went further upstream).
    pub(crate) layer: Option<Tier>,
    /// Connect time when a new connection was opened.
    pub(crate) connect: Option<Duration>,
    /// Time to the upstream's response head.
    pub(crate) first_byte: Option<Duration>,
    /// The upstream tier's `X-Cache` said hit / refresh hit, with the layer that hit.
    pub(crate) tier_hit: Option<(XCache, Tier)>,
    /// The upstream's own `Server-Timing` metrics (not CloudFront's `cdn-*`), passed through
    /// on a miss.
    pub(crate) origin_timing: Option<String>,
}

/// One answer before the common headers are added.
pub(crate) struct Outcome {
    pub(crate) response: Response<Body>,
    pub(crate) served: Served,
    pub(crate) upstream: UpstreamInfo,
}

impl Outcome {
    /// The node's own error response.
    pub(crate) fn error(status: StatusCode, message: impl Into<String>, why: Refusal) -> Self {
        Outcome {
            response: body::text(status, message),
            served: Served::Error(why),
            upstream: UpstreamInfo::default(),
        }
    }
}

/// Removes the headers [`Node::finish`] sets for this node from an upstream's answer.
pub(super) fn strip_upstream_identity(headers: &mut http::HeaderMap) {
    for name in [
        &own::X_CACHE,
        &own::X_AMZ_CF_POP,
        &own::X_AMZ_CF_ID,
        &own::SERVER_TIMING,
        &own::X_EDGELAB_TIER,
    ] {
        headers.remove(name);
    }
}

thread_local! {
    /// The text of a response's own header values, reused by every response of a thread:
    /// each value then costs one allocation of its exact size.
    static SCRATCH: RefCell<String> = RefCell::new(String::with_capacity(256));
}

/// Runs `write` on the thread's cleared scratch text (`write` must not call this again).
pub(super) fn with_scratch<T>(write: impl FnOnce(&mut String) -> T) -> T {
    SCRATCH.with_borrow_mut(|text| {
        text.clear();
        write(text)
    })
}

impl Node {
    /// Adds the CloudFront, RFC 9211 and Server-Timing headers; counts the request and
    /// records its cache status in the request's span.
    pub(super) fn finish(
        &self,
        outcome: Outcome,
        rid: &HeaderValue,
        started: Instant,
    ) -> Response<Body> {
        let Outcome {
            mut response,
            served,
            upstream,
        } = outcome;
        let status = served.cache_status();
        let (shown, hit_layer) = self.shown_status(served, &upstream, response.status());
        let headers = response.headers_mut();
        // An upstream's own headers go; lower tiers' Cache-Status entries stay (RFC 9211: one
        // entry per cache). A stored object never has them (the fill strips them, and an
        // error page that replaces an answer is stripped where it replaces it), so an answer
        // from the store skips the five lookups.
        if !served.is_own_hit() {
            strip_upstream_identity(headers);
        }
        headers.insert(
            own::X_CACHE.clone(),
            HeaderValue::from_static(shown.as_str()),
        );
        headers.append(header::VIA, self.identity.via.clone());
        headers.insert(own::X_AMZ_CF_POP.clone(), self.identity.pop_value.clone());
        headers.insert(own::X_AMZ_CF_ID.clone(), rid.clone());
        headers.insert(
            own::X_EDGELAB_TIER.clone(),
            HeaderValue::from_static(self.config.tier.layer()),
        );
        let entry = with_scratch(|text| {
            text.push_str(&self.identity.cache_name);
            text.push_str("; ");
            served.write_params(text);
            HeaderValue::from_str(text).ok()
        });
        if let Some(v) = entry {
            headers.append(own::CACHE_STATUS.clone(), v);
        }
        let elapsed = started.elapsed();
        let rid = rid.to_str().unwrap_or_default();
        let timing = with_scratch(|text| {
            let buffer = std::mem::take(text);
            *text = self.server_timing(buffer, shown, hit_layer, &upstream, rid, elapsed);
            HeaderValue::from_str(text).ok()
        });
        if let Some(v) = timing {
            headers.insert(own::SERVER_TIMING.clone(), v);
        }
        self.count(status, elapsed, response.status());
        response
    }

    /// Counts a request answered with `http_status` after `elapsed` and records its cache
    /// status in the request's span.
    pub(super) fn count(&self, status: CacheStatus, elapsed: Duration, http_status: StatusCode) {
        self.metrics.request(status, elapsed);
        tracing::Span::current().record("cache_status", tracing::field::display(status.as_str()));
        tracing::debug!(http_status = http_status.as_u16(), "request served");
    }

    /// What `X-Cache` shows and the layer that hit: an upstream tier's hit shows through this
    /// node's miss; an error status not served from a cache is CloudFront's `Error from
    /// cloudfront` (the origin's 4xx/5xx passed through, or the node's own).
    fn shown_status(
        &self,
        served: Served,
        upstream: &UpstreamInfo,
        http_status: StatusCode,
    ) -> (XCache, Option<Tier>) {
        let own = served.cache_status().as_x_cache();
        let (shown, hit_layer) = match (served, upstream.tier_hit) {
            (Served::Fetched { .. }, Some((upstream_hit, layer))) => (upstream_hit, Some(layer)),
            _ if served.is_own_hit() => (own, Some(self.config.tier)),
            _ => (own, None),
        };
        if http_status.as_u16() >= 400 && hit_layer.is_none() {
            return (XCache::Error, None);
        }
        (shown, hit_layer)
    }

    /// The `Server-Timing` value, written into `buffer` (this runs on every hit).
    pub(super) fn server_timing(
        &self,
        buffer: String,
        shown: XCache,
        hit_layer: Option<Tier>,
        upstream: &UpstreamInfo,
        rid: &str,
        elapsed: Duration,
    ) -> String {
        let mut timing = ServerTiming::in_buffer(buffer);
        if let Some(layer) = upstream.layer {
            timing.desc(metric::UPSTREAM_LAYER, layer.layer());
        }
        match (upstream.connect, upstream.first_byte) {
            (Some(connect), _) => timing.dur(metric::UPSTREAM_CONNECT, connect),
            // A reused connection costs no connect time.
            (None, Some(_)) => timing.dur(metric::UPSTREAM_CONNECT, Duration::ZERO),
            (None, None) => &mut timing,
        };
        if let Some(fbl) = upstream.first_byte {
            timing.dur(metric::UPSTREAM_FBL, fbl);
        }
        // The node's own members are written once, in `Identity`.
        timing
            .flag(server_timing::cache_metric(shown))
            .member(&self.identity.pop_timing)
            .desc(metric::RID, rid);
        match hit_layer {
            Some(layer) if layer == self.config.tier => {
                timing.member(&self.identity.hit_layer_timing)
            }
            Some(layer) => timing.desc(metric::HIT_LAYER, layer.layer()),
            None => &mut timing,
        };
        timing.dur(metric::DOWNSTREAM_FBL, elapsed);
        if let Some(origin) = &upstream.origin_timing {
            timing.member(origin);
        }
        timing.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_status_parameters_render_from_the_outcome() {
        let fetched = |stored, collapsed| Served::Fetched {
            reason: ForwardReason::UriMiss,
            status: StatusCode::OK,
            stored,
            collapsed,
        };
        assert_eq!(
            fetched(Ok(()), false).to_string(),
            "fwd=uri-miss; fwd-status=200; stored"
        );
        assert_eq!(
            fetched(Err(NotStored::TooLarge), true).to_string(),
            "fwd=uri-miss; fwd-status=200; detail=too-large; collapsed"
        );
        assert_eq!(
            Served::Hit {
                ttl: 5,
                collapsed: true
            }
            .to_string(),
            "hit; ttl=5; collapsed"
        );
        for served in [
            Served::Hit {
                ttl: 0,
                collapsed: false,
            },
            Served::Hit {
                ttl: 31_536_000,
                collapsed: false,
            },
            Served::Hit {
                ttl: 5,
                collapsed: true,
            },
            fetched(Ok(()), false),
        ] {
            let mut text = String::new();
            served.write_params(&mut text);
            assert_eq!(text, served.to_string());
        }
        assert_eq!(
            Served::StaleWhileRevalidate { ttl: -4 }.to_string(),
            "hit; ttl=-4; detail=stale-while-revalidate"
        );
        assert_eq!(
            Served::Error(Refusal::Upstream("connect")).to_string(),
            "fwd=miss; detail=connect"
        );
        assert_eq!(
            Served::Passed {
                reason: ForwardReason::Method,
                status: StatusCode::CREATED
            }
            .to_string(),
            "fwd=method; fwd-status=201"
        );
    }

    #[test]
    fn stale_answers_count_as_stale_and_errors_as_errors() {
        let stale = Served::StaleOnError {
            status: Some(StatusCode::SERVICE_UNAVAILABLE),
            directive: false,
        };
        assert_eq!(stale.cache_status(), CacheStatus::Stale);
        assert_eq!(
            stale.to_string(),
            "fwd=stale; fwd-status=503; detail=stale-on-error"
        );
        let allowed = Served::StaleOnError {
            status: None,
            directive: true,
        };
        assert_eq!(allowed.to_string(), "fwd=stale; detail=stale-if-error");
        assert_eq!(
            Served::StaleWhileRevalidate { ttl: 0 }.cache_status(),
            CacheStatus::Stale
        );
        assert_eq!(
            Served::Error(Refusal::Truncated).cache_status(),
            CacheStatus::Error
        );
    }
}
