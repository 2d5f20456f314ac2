//! CloudFront's error rules ("Control how long CloudFront caches errors", "HTTP 4xx and 5xx
//! status codes that CloudFront caches", "Create a custom error page for specific HTTP status
//! codes"): which error statuses are cached and for how long, and the custom error responses
//! of a distribution (`[[custom_error_responses]]`), raw and validated.
//!
//! CloudFront caches 400, 403, 404, 405, 414, 500, 501, 502, 503 and 504 for the *error
//! caching minimum TTL* (10 s unless a custom error response sets it), or for the origin's own
//! freshness when that is longer; other 4xx/5xx are not cached. 416 may carry a custom error
//! response but is never cached (the Guide's note), so its TTL is accepted and unused.

use std::time::Duration;

use edgelab_common::config::ConfigErrors;
use http::StatusCode;
use http::uri::PathAndQuery;
use serde::Deserialize;

/// How long an error is cached when no custom error response says otherwise (CloudFront: 10 s).
pub const DEFAULT_ERROR_CACHING_MIN_TTL: Duration = Duration::from_secs(10);

/// The longest error caching minimum TTL accepted (CloudFront's MaxTTL default, one year).
pub const MAX_ERROR_CACHING_MIN_TTL: Duration = Duration::from_secs(31_536_000);

/// Error statuses CloudFront caches.
pub const CACHED_ERRORS: [u16; 10] = [400, 403, 404, 405, 414, 500, 501, 502, 503, 504];

/// Error statuses a custom error response may name (`ErrorCode`).
pub const ERROR_CODES: [u16; 11] = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];

/// Statuses a custom error page may be returned with (`ResponseCode`).
pub const RESPONSE_CODES: [u16; 12] = [200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];

/// One custom error response as written (CloudFront's `CustomErrorResponse`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomErrorResponse {
    /// The status it applies to: 400, 403, 404, 405, 414, 416, 500, 501, 502, 503 or 504
    /// (required).
    pub error_code: Option<u16>,
    /// How long a response with this status is cached (default 10 s; the origin's
    /// `Cache-Control: max-age`/`s-maxage`/`Expires` wins when longer).
    #[serde(default, with = "humantime_serde")]
    pub error_caching_min_ttl: Option<Duration>,
    /// Path (and query) of the page served instead, fetched through the cache like any
    /// object (`/errors/404.html`). Needs `response_code`.
    pub response_page_path: Option<String>,
    /// Status the page is served with: 200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503
    /// or 504. Needs `response_page_path`.
    pub response_code: Option<u16>,
}

/// A custom error page: where it is and the status it is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    /// Path and query of the page.
    pub path: PathAndQuery,
    /// Status the viewer gets with it.
    pub status: StatusCode,
}

/// One validated custom error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomErrorResponse {
    /// The status it applies to.
    pub error_code: StatusCode,
    /// Error caching minimum TTL, when set.
    pub min_ttl: Option<Duration>,
    /// The page served instead, when set.
    pub page: Option<ErrorPage>,
}

/// A distribution's error rules: its custom error responses by status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorResponses {
    responses: Vec<CustomErrorResponse>,
}

impl ErrorResponses {
    /// How long a response with `status` is cached at least, or `None` when CloudFront does
    /// not cache that status.
    pub fn min_ttl(&self, status: StatusCode) -> Option<Duration> {
        if !CACHED_ERRORS.contains(&status.as_u16()) {
            return None;
        }
        let custom = self.find(status).and_then(|r| r.min_ttl);
        Some(custom.unwrap_or(DEFAULT_ERROR_CACHING_MIN_TTL))
    }

    /// The page served instead of a response with `status`, if one is configured.
    pub fn page(&self, status: StatusCode) -> Option<&ErrorPage> {
        self.find(status).and_then(|r| r.page.as_ref())
    }

    /// Whether any custom error page is configured (requests keep a copy of their head only
    /// then).
    pub fn has_pages(&self) -> bool {
        self.responses.iter().any(|r| r.page.is_some())
    }

    fn find(&self, status: StatusCode) -> Option<&CustomErrorResponse> {
        self.responses.iter().find(|r| r.error_code == status)
    }

    /// Validates `raw`, reporting every problem under `field[i].<name>`.
    pub fn from_raw(
        raw: &[RawCustomErrorResponse],
        field: &str,
        errors: &mut ConfigErrors,
    ) -> ErrorResponses {
        let mut responses: Vec<CustomErrorResponse> = Vec::new();
        for (i, raw) in raw.iter().enumerate() {
            let at = |name: &str| format!("{field}[{i}].{name}");
            let Some(error_code) = error_code(raw.error_code, &at("error_code"), errors) else {
                continue;
            };
            if responses.iter().any(|r| r.error_code == error_code) {
                errors.push(
                    at("error_code"),
                    format!(
                        "{} has more than one custom error response",
                        error_code.as_u16()
                    ),
                );
            }
            if raw
                .error_caching_min_ttl
                .is_some_and(|ttl| ttl > MAX_ERROR_CACHING_MIN_TTL)
            {
                errors.push(
                    at("error_caching_min_ttl"),
                    "must not exceed one year (31536000 s)",
                );
            }
            responses.push(CustomErrorResponse {
                error_code,
                min_ttl: raw.error_caching_min_ttl,
                page: page(raw, &at, errors),
            });
        }
        ErrorResponses { responses }
    }
}

fn error_code(code: Option<u16>, field: &str, errors: &mut ConfigErrors) -> Option<StatusCode> {
    match code {
        None => errors.push(field, "is required"),
        Some(code) if ERROR_CODES.contains(&code) => return StatusCode::from_u16(code).ok(),
        Some(code) => errors.push(
            field,
            format!("{code} cannot have a custom error response (expected one of {ERROR_CODES:?})"),
        ),
    }
    None
}

fn page(
    raw: &RawCustomErrorResponse,
    at: &impl Fn(&str) -> String,
    errors: &mut ConfigErrors,
) -> Option<ErrorPage> {
    let path = match raw.response_page_path.as_deref() {
        None => None,
        Some(text) if !text.starts_with('/') => {
            errors.push(
                at("response_page_path"),
                format!("{text:?} must start with /"),
            );
            None
        }
        Some(text) => errors.check(
            &at("response_page_path"),
            text.parse::<PathAndQuery>()
                .map_err(|e| format!("{text:?} is not a path: {e}")),
        ),
    };
    let status = match raw.response_code {
        Some(code) if RESPONSE_CODES.contains(&code) => StatusCode::from_u16(code).ok(),
        Some(code) => {
            errors.push(
                at("response_code"),
                format!("{code} is not one of {RESPONSE_CODES:?}"),
            );
            None
        }
        None => None,
    };
    match (&raw.response_page_path, raw.response_code) {
        (Some(_), None) => errors.push(at("response_code"), "is required with response_page_path"),
        (None, Some(_)) => errors.push(at("response_page_path"), "is required with response_code"),
        _ => {}
    }
    Some(ErrorPage {
        path: path?,
        status: status?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(code: u16) -> RawCustomErrorResponse {
        RawCustomErrorResponse {
            error_code: Some(code),
            ..RawCustomErrorResponse::default()
        }
    }

    #[test]
    fn cloudfront_caches_its_ten_error_statuses_for_ten_seconds_by_default() {
        let rules = ErrorResponses::default();
        for code in CACHED_ERRORS {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                rules.min_ttl(status),
                Some(Duration::from_secs(10)),
                "{code}"
            );
        }
        for code in [401, 410, 416, 429, 505, 200] {
            assert_eq!(
                rules.min_ttl(StatusCode::from_u16(code).unwrap()),
                None,
                "{code}"
            );
        }
    }

    #[test]
    fn a_custom_error_response_sets_the_ttl_and_the_page_of_its_status() {
        let mut errors = ConfigErrors::new();
        let rules = ErrorResponses::from_raw(
            &[
                RawCustomErrorResponse {
                    error_caching_min_ttl: Some(Duration::from_secs(2)),
                    response_page_path: Some("/errors/404.html?v=1".into()),
                    response_code: Some(200),
                    ..raw(404)
                },
                RawCustomErrorResponse {
                    error_caching_min_ttl: Some(Duration::ZERO),
                    ..raw(416)
                },
            ],
            "custom_error_responses",
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(
            rules.min_ttl(StatusCode::NOT_FOUND),
            Some(Duration::from_secs(2))
        );
        assert_eq!(rules.min_ttl(StatusCode::RANGE_NOT_SATISFIABLE), None);
        let page = rules.page(StatusCode::NOT_FOUND).unwrap();
        assert_eq!(page.path.as_str(), "/errors/404.html?v=1");
        assert_eq!(page.status, StatusCode::OK);
        assert!(rules.has_pages());
        assert!(rules.page(StatusCode::FORBIDDEN).is_none());
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let mut errors = ConfigErrors::new();
        ErrorResponses::from_raw(
            &[
                RawCustomErrorResponse {
                    response_page_path: Some("errors.html".into()),
                    response_code: Some(302),
                    ..raw(404)
                },
                raw(404),
                raw(418),
                RawCustomErrorResponse::default(),
                RawCustomErrorResponse {
                    response_page_path: Some("/e.html".into()),
                    error_caching_min_ttl: Some(Duration::from_secs(40_000_000)),
                    ..raw(503)
                },
                RawCustomErrorResponse {
                    response_code: Some(200),
                    ..raw(500)
                },
            ],
            "edge.custom_error_responses",
            &mut errors,
        );
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "edge.custom_error_responses[0].response_page_path",
                "edge.custom_error_responses[0].response_code",
                "edge.custom_error_responses[1].error_code",
                "edge.custom_error_responses[2].error_code",
                "edge.custom_error_responses[3].error_code",
                "edge.custom_error_responses[4].error_caching_min_ttl",
                "edge.custom_error_responses[4].response_code",
                "edge.custom_error_responses[5].response_page_path",
            ],
            "{errors}"
        );
    }
}
