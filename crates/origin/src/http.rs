//! Pure HTTP semantics of the origin (RFC 9110): conditional requests (§13) and byte ranges
//! (§14). No I/O; the handler feeds header values in and acts on the answers.

use std::time::SystemTime;

/// Most ranges honoured in one request; beyond that the `Range` header is ignored (RFC 9110
/// §14.2 allows ignoring a range set a server finds excessive) and the full object is sent.
pub const MAX_RANGES: usize = 32;

/// What to do with a `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Send the whole representation (no header, not `bytes=`, bad syntax or too many).
    Full,
    /// Send these inclusive `(first, last)` byte ranges, in request order.
    Partial(Vec<(u64, u64)>),
    /// No range overlaps the representation: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header value against a representation of `len` bytes.
pub fn parse_range(value: &str, len: u64) -> RangeOutcome {
    let Some((unit, set)) = value.split_once('=') else {
        return RangeOutcome::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeOutcome::Full;
    }
    let mut ranges = Vec::new();
    let mut specs = 0;
    for spec in set.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            continue; // the list syntax allows empty elements
        }
        specs += 1;
        if specs > MAX_RANGES {
            return RangeOutcome::Full;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return RangeOutcome::Full;
        };
        let (first, last) = (first.trim(), last.trim());
        if first.is_empty() {
            // Suffix range: the last N bytes.
            let Some(suffix) = parse_digits(last) else {
                return RangeOutcome::Full;
            };
            if suffix > 0 && len > 0 {
                ranges.push((len.saturating_sub(suffix), len - 1));
            }
            continue;
        }
        let Some(first) = parse_digits(first) else {
            return RangeOutcome::Full;
        };
        let last = if last.is_empty() {
            None
        } else {
            match parse_digits(last) {
                Some(last) if last >= first => Some(last),
                _ => return RangeOutcome::Full, // invalid range-spec: ignore the header
            }
        };
        if first < len {
            ranges.push((first, last.map_or(len - 1, |l| l.min(len - 1))));
        }
    }
    if specs == 0 {
        RangeOutcome::Full
    } else if ranges.is_empty() {
        RangeOutcome::Unsatisfiable
    } else {
        RangeOutcome::Partial(ranges)
    }
}

fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Strips an optional weak prefix: `W/"x"` → `"x"`.
fn opaque(tag: &str) -> &str {
    tag.trim().strip_prefix("W/").unwrap_or(tag.trim())
}

/// `If-None-Match` against our strong `etag` (quoted), with the weak comparison RFC 9110
/// §13.1.2 requires: `*` or any listed tag whose opaque part equals ours.
pub fn none_match_matches(value: &str, etag: &str) -> bool {
    value.trim() == "*" || value.split(',').any(|tag| opaque(tag) == etag)
}

/// `If-Modified-Since`: true when the object was not modified after the given date (so the
/// answer is 304). An unparsable date is ignored (false), per RFC 9110 §13.1.3.
pub fn not_modified_since(value: &str, modified: SystemTime) -> bool {
    httpdate::parse_http_date(value.trim()).is_ok_and(|since| modified <= since)
}

/// `If-Range` (RFC 9110 §13.1.5): whether the range may be applied. A strong entity tag must
/// equal ours; a date must equal Last-Modified exactly.
pub fn if_range_holds(value: &str, etag: &str, modified: SystemTime) -> bool {
    let value = value.trim();
    if value.starts_with('"') {
        value == etag
    } else if value.starts_with("W/") {
        false
    } else {
        httpdate::parse_http_date(value).is_ok_and(|date| date == modified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn range_forms() {
        use RangeOutcome::*;
        assert_eq!(parse_range("bytes=0-99", 1000), Partial(vec![(0, 99)]));
        assert_eq!(parse_range("bytes=900-", 1000), Partial(vec![(900, 999)]));
        assert_eq!(parse_range("bytes=-100", 1000), Partial(vec![(900, 999)]));
        assert_eq!(parse_range("bytes=-5000", 1000), Partial(vec![(0, 999)]));
        assert_eq!(
            parse_range("bytes=990-2000", 1000),
            Partial(vec![(990, 999)])
        );
        assert_eq!(
            parse_range("bytes=0-0, 10-19 ,-1", 1000),
            Partial(vec![(0, 0), (10, 19), (999, 999)])
        );
        assert_eq!(parse_range("BYTES=0-1", 10), Partial(vec![(0, 1)]));
        assert_eq!(parse_range("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=2000-3000, 5000-", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 1000), Full);
        assert_eq!(parse_range("bytes=a-b", 1000), Full);
        assert_eq!(parse_range("items=0-1", 1000), Full);
        assert_eq!(parse_range("bytes=", 1000), Full);
        assert_eq!(parse_range("bytes=+1-2", 1000), Full);
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(parse_range(&many, 1000), Full);
    }

    #[test]
    fn conditionals() {
        let etag = "\"00000000000000ab\"";
        assert!(none_match_matches(etag, etag));
        assert!(none_match_matches("W/\"00000000000000ab\"", etag));
        assert!(none_match_matches("\"x\", \"00000000000000ab\"", etag));
        assert!(none_match_matches("*", etag));
        assert!(!none_match_matches("\"x\"", etag));
        let modified = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        assert!(not_modified_since(
            "Mon, 01 Jan 2024 00:00:00 GMT",
            modified
        ));
        assert!(!not_modified_since(
            "Sun, 31 Dec 2023 23:59:59 GMT",
            modified
        ));
        assert!(!not_modified_since("yesterday", modified));
        assert!(if_range_holds(etag, etag, modified));
        assert!(!if_range_holds("W/\"00000000000000ab\"", etag, modified));
        assert!(if_range_holds(
            "Mon, 01 Jan 2024 00:00:00 GMT",
            etag,
            modified
        ));
        assert!(!if_range_holds(
            "Mon, 01 Jan 2024 00:00:01 GMT",
            etag,
            modified
        ));
    }

    proptest! {
        #[test]
        fn parse_range_never_panics_and_stays_in_bounds(value in "\\PC{0,40}", len in 0u64..5000) {
            if let RangeOutcome::Partial(ranges) = parse_range(&value, len) {
                for (first, last) in ranges {
                    prop_assert!(first <= last && last < len);
                }
            }
        }

        #[test]
        fn well_formed_ranges_are_satisfied(first in 0u64..2000, span in 0u64..2000, len in 1u64..3000) {
            let outcome = parse_range(&format!("bytes={first}-{}", first + span), len);
            if first < len {
                prop_assert_eq!(outcome, RangeOutcome::Partial(vec![(first, (first + span).min(len - 1))]));
            } else {
                prop_assert_eq!(outcome, RangeOutcome::Unsatisfiable);
            }
        }
    }
}
