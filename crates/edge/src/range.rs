//! Byte ranges (RFC 9110 §14) served from a cached whole object: one range as a 206 with
//! `Content-Range`, several as `multipart/byteranges`, an unsatisfiable set as 416.
//!
//! Hand-written: no maintained crate in the workspace parses `Range` against a known length.

/// What a `Range` header asks of an object of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// Not a valid bytes range: serve the whole object.
    Ignore,
    /// Satisfiable ranges, inclusive `(first, last)`.
    Ranges(Vec<(u64, u64)>),
    /// No range overlaps the object: 416.
    Unsatisfiable,
}

/// Parses `value` for an object of `length` bytes.
pub fn parse(value: &str, length: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignore;
    };
    let mut ranges = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((first, last)) = part.split_once('-') else {
            return RangeRequest::Ignore;
        };
        let (first, last) = (first.trim(), last.trim());
        if first.is_empty() {
            let Ok(suffix) = last.parse::<u64>() else {
                return RangeRequest::Ignore;
            };
            if suffix > 0 && length > 0 {
                ranges.push((length.saturating_sub(suffix), length - 1));
            }
            continue;
        }
        let Ok(first) = first.parse::<u64>() else {
            return RangeRequest::Ignore;
        };
        let last = if last.is_empty() {
            u64::MAX
        } else {
            match last.parse::<u64>() {
                Ok(l) if l >= first => l,
                _ => return RangeRequest::Ignore,
            }
        };
        if first < length {
            ranges.push((first, last.min(length - 1)));
        }
    }
    if ranges.is_empty() {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Ranges(ranges)
    }
}

/// Builds a `multipart/byteranges` body; returns (body, boundary).
pub fn multipart(
    body: &[u8],
    ranges: &[(u64, u64)],
    content_type: Option<&str>,
    boundary: &str,
) -> Vec<u8> {
    let length = body.len();
    let mut out = Vec::new();
    for &(first, last) in ranges {
        out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        if let Some(ct) = content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!("Content-Range: bytes {first}-{last}/{length}\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(&body[first as usize..=last as usize]);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_forms() {
        assert_eq!(parse("bytes=0-9", 100), RangeRequest::Ranges(vec![(0, 9)]));
        assert_eq!(
            parse("bytes=90-", 100),
            RangeRequest::Ranges(vec![(90, 99)])
        );
        assert_eq!(
            parse("bytes=-10", 100),
            RangeRequest::Ranges(vec![(90, 99)])
        );
        assert_eq!(
            parse("bytes=95-200", 100),
            RangeRequest::Ranges(vec![(95, 99)])
        );
        assert_eq!(
            parse("bytes=0-0,5-6", 100),
            RangeRequest::Ranges(vec![(0, 0), (5, 6)])
        );
        assert_eq!(parse("bytes=200-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse("items=0-1", 100), RangeRequest::Ignore);
        assert_eq!(parse("bytes=5-1", 100), RangeRequest::Ignore);
    }

    proptest! {
        #[test]
        fn ranges_always_lie_inside_the_object(value in "bytes=[0-9,-]{0,20}", length in 0u64..1000) {
            if let RangeRequest::Ranges(ranges) = parse(&value, length) {
                for (first, last) in ranges {
                    prop_assert!(first <= last && last < length);
                }
            }
        }
    }
}
