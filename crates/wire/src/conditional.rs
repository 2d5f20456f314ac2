//! Conditional requests (RFC 9110 §13) against a representation's validators: entity-tag
//! comparison (§8.8.3.2), the precondition order of §13.2.2, and `If-Range` (§13.1.5).
//! The origin answers with it and every cache tier answers from its store with it.

use std::time::SystemTime;

use http::{HeaderMap, Method, header};

/// The validators of the selected representation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validators<'a> {
    /// `ETag`, quoted, with `W/` when weak.
    pub etag: Option<&'a str>,
    /// `Last-Modified`.
    pub last_modified: Option<SystemTime>,
}

/// The conditional request header values (`None` when absent or not text).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a str>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a str>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a str>,
    /// `If-Range`.
    pub if_range: Option<&'a str>,
}

impl<'a> Conditions<'a> {
    /// Reads the five headers from a request.
    pub fn from_headers(headers: &'a HeaderMap) -> Conditions<'a> {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        Conditions {
            if_match: text(header::IF_MATCH),
            if_none_match: text(header::IF_NONE_MATCH),
            if_modified_since: text(header::IF_MODIFIED_SINCE),
            if_unmodified_since: text(header::IF_UNMODIFIED_SINCE),
            if_range: text(header::IF_RANGE),
        }
    }
}

/// The outcome of evaluating the preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Perform the method (then consider `Range` and [`if_range_holds`]).
    Proceed,
    /// 304 Not Modified (GET/HEAD whose `If-None-Match` or `If-Modified-Since` failed).
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Strips a weak prefix: `W/"x"` → `"x"`.
fn opaque(tag: &str) -> &str {
    let tag = tag.trim();
    tag.strip_prefix("W/").unwrap_or(tag)
}

fn is_weak(tag: &str) -> bool {
    tag.trim().starts_with("W/")
}

/// Weak comparison (§8.8.3.2): the opaque tags are equal, weak or not.
pub fn weak_match(a: &str, b: &str) -> bool {
    opaque(a) == opaque(b)
}

/// Strong comparison (§8.8.3.2): neither is weak and the opaque tags are equal.
pub fn strong_match(a: &str, b: &str) -> bool {
    !is_weak(a) && !is_weak(b) && opaque(a) == opaque(b)
}

/// Whether an `If-Match`/`If-None-Match` list (`*` or tags) matches `etag` with `compare`.
/// `*` matches any current representation; a list never matches a missing tag.
fn list_matches(list: &str, etag: Option<&str>, compare: fn(&str, &str) -> bool) -> bool {
    if list.trim() == "*" {
        return true;
    }
    etag.is_some_and(|etag| list.split(',').any(|candidate| compare(candidate, etag)))
}

fn http_date(text: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(text.trim()).ok()
}

/// Evaluates the preconditions in RFC 9110 §13.2.2 order for `method` (dates that do not
/// parse, and date conditions on a representation without `Last-Modified`, are ignored).
pub fn evaluate(method: &Method, conditions: &Conditions, validators: &Validators) -> Precondition {
    let get_or_head = method == Method::GET || method == Method::HEAD;
    // Steps 1 and 2: If-Match, else If-Unmodified-Since.
    if let Some(list) = conditions.if_match {
        if !list_matches(list, validators.etag, strong_match) {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(modified)) = (
        conditions.if_unmodified_since.and_then(http_date),
        validators.last_modified,
    ) && modified > since
    {
        return Precondition::Failed;
    }
    // Steps 3 and 4: If-None-Match, else If-Modified-Since (GET/HEAD only).
    if let Some(list) = conditions.if_none_match {
        if list_matches(list, validators.etag, weak_match) {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head
        && let (Some(since), Some(modified)) = (
            conditions.if_modified_since.and_then(http_date),
            validators.last_modified,
        )
        && modified <= since
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

/// `If-Range` (§13.1.5): whether a `Range` may be applied. An entity tag must match ours
/// strongly; a date must equal `Last-Modified` exactly. Absent, it holds.
pub fn if_range_holds(conditions: &Conditions, validators: &Validators) -> bool {
    let Some(value) = conditions.if_range.map(str::trim) else {
        return true;
    };
    if value.starts_with('"') || value.starts_with("W/") {
        validators
            .etag
            .is_some_and(|etag| strong_match(value, etag))
    } else {
        http_date(value)
            .zip(validators.last_modified)
            .is_some_and(|(date, modified)| date == modified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    const ETAG: &str = "\"00000000000000ab\"";
    const DATE: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

    fn validators() -> Validators<'static> {
        Validators {
            etag: Some(ETAG),
            last_modified: Some(UNIX_EPOCH + Duration::from_secs(1_704_067_200)),
        }
    }

    fn get(conditions: Conditions) -> Precondition {
        evaluate(&Method::GET, &conditions, &validators())
    }

    #[test]
    fn entity_tags_compare_weakly_and_strongly() {
        assert!(weak_match("W/\"a\"", "\"a\"") && !strong_match("W/\"a\"", "\"a\""));
        assert!(strong_match(" \"a\"", "\"a\""));
        assert!(list_matches(
            "\"x\", W/\"00000000000000ab\"",
            Some(ETAG),
            weak_match
        ));
        assert!(!list_matches("\"x\"", Some(ETAG), weak_match));
        assert!(list_matches("*", None, weak_match));
        assert!(!list_matches("\"x\"", None, weak_match));
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        use Precondition::*;
        assert_eq!(
            get(Conditions {
                if_none_match: Some(ETAG),
                ..Default::default()
            }),
            NotModified
        );
        assert_eq!(
            get(Conditions {
                if_none_match: Some("*"),
                ..Default::default()
            }),
            NotModified
        );
        let stale_tag = Conditions {
            if_none_match: Some("\"x\""),
            if_modified_since: Some(DATE),
            ..Default::default()
        };
        assert_eq!(get(stale_tag), Proceed);
        assert_eq!(
            get(Conditions {
                if_modified_since: Some(DATE),
                ..Default::default()
            }),
            NotModified
        );
        let earlier = Conditions {
            if_modified_since: Some("Sun, 31 Dec 2023 23:59:59 GMT"),
            ..Default::default()
        };
        assert_eq!(get(earlier), Proceed);
        assert_eq!(
            get(Conditions {
                if_modified_since: Some("yesterday"),
                ..Default::default()
            }),
            Proceed
        );
        let inm = Conditions {
            if_none_match: Some(ETAG),
            ..Default::default()
        };
        assert_eq!(evaluate(&Method::PUT, &inm, &validators()), Failed);
        let ims = Conditions {
            if_modified_since: Some(DATE),
            ..Default::default()
        };
        assert_eq!(evaluate(&Method::POST, &ims, &validators()), Proceed);
    }

    #[test]
    fn if_match_and_if_unmodified_since_fail_with_412() {
        use Precondition::*;
        assert_eq!(
            get(Conditions {
                if_match: Some(ETAG),
                ..Default::default()
            }),
            Proceed
        );
        assert_eq!(
            get(Conditions {
                if_match: Some("\"x\""),
                ..Default::default()
            }),
            Failed
        );
        assert_eq!(
            get(Conditions {
                if_match: Some("W/\"00000000000000ab\""),
                ..Default::default()
            }),
            Failed
        );
        let unmodified = Conditions {
            if_unmodified_since: Some(DATE),
            ..Default::default()
        };
        assert_eq!(get(unmodified), Proceed);
        let earlier = Conditions {
            if_unmodified_since: Some("Sun, 31 Dec 2023 23:59:59 GMT"),
            ..Default::default()
        };
        assert_eq!(get(earlier), Failed);
        // If-Match present: If-Unmodified-Since is not evaluated.
        let both = Conditions {
            if_match: Some("*"),
            ..earlier
        };
        assert_eq!(get(both), Proceed);
        let no_tag = Validators {
            etag: None,
            ..validators()
        };
        let any = Conditions {
            if_match: Some("\"x\""),
            ..Default::default()
        };
        assert_eq!(evaluate(&Method::GET, &any, &no_tag), Failed);
    }

    #[test]
    fn if_range_needs_a_strong_tag_or_the_exact_date() {
        let holds = |value| {
            if_range_holds(
                &Conditions {
                    if_range: Some(value),
                    ..Default::default()
                },
                &validators(),
            )
        };
        assert!(if_range_holds(&Conditions::default(), &validators()));
        assert!(holds(ETAG));
        assert!(!holds("W/\"00000000000000ab\""));
        assert!(!holds("\"stale\""));
        assert!(holds(DATE));
        assert!(!holds("Mon, 01 Jan 2024 00:00:01 GMT"));
        assert!(!holds("not a date"));
        let weak = Validators {
            etag: Some("W/\"00000000000000ab\""),
            ..validators()
        };
        assert!(!if_range_holds(
            &Conditions {
                if_range: Some(ETAG),
                ..Default::default()
            },
            &weak
        ));
    }

    proptest! {
        #[test]
        fn evaluation_never_panics(a in "\\PC{0,30}", b in "\\PC{0,30}", c in "\\PC{0,30}") {
            let conditions = Conditions { if_match: Some(&a), if_none_match: Some(&b), if_modified_since: Some(&c), if_unmodified_since: Some(&c), if_range: Some(&a) };
            let _ = evaluate(&Method::GET, &conditions, &validators());
            let _ = if_range_holds(&conditions, &validators());
        }
    }
}
