//! Byte ranges (RFC 9110 §14) against a representation of known length, hardened as RFC 9110
//! §14.2 advises and as CloudFront documents ("How CloudFront processes partial requests
//! for an object (range GETs)": ranges must be ascending, must not overlap and must all be
//! valid, otherwise the whole object is sent with 200):
//!
//! - not a `bytes` range, bad syntax, more than [`MAX_RANGES`] ranges, ranges that overlap or
//!   come in descending order → [`RangeRequest::Ignore`] (200 with the whole object);
//! - adjacent ranges are coalesced (`0-9,10-19` is `0-19`);
//! - a multipart answer larger than [`MAX_RESPONSE_FACTOR`] × the object (counting
//!   [`PART_HEAD_ALLOWANCE`] bytes of framing per part) → `Ignore`;
//! - no range overlapping the representation → [`RangeRequest::Unsatisfiable`] (416).
//!
//! So a request can never make a response larger than a small multiple of the object, and
//! [`Multipart`] describes the `multipart/byteranges` body as framing plus slices of the
//! stored bytes, to be streamed, never assembled.

use bytes::Bytes;

/// Most ranges honoured in one request; more and the header is ignored (RFC 9110 §14.2
/// lets a server ignore a range set it finds excessive; 32 is what edgelab's origin always
/// allowed, and far above what players and download managers send).
pub const MAX_RANGES: usize = 32;

/// A multipart answer may be at most this many times the object's size.
pub const MAX_RESPONSE_FACTOR: u64 = 2;

/// Framing counted per part when bounding a multipart answer (boundary line, `Content-Type`
/// and `Content-Range` lines; the real framing of edgelab's boundaries and usual media types
/// is under 160 bytes).
pub const PART_HEAD_ALLOWANCE: u64 = 256;

/// What a `Range` header asks of a representation of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve the whole representation (no valid, acceptable range set).
    Ignore,
    /// Satisfiable, ascending, disjoint inclusive `(first, last)` ranges.
    Ranges(Vec<(u64, u64)>),
    /// No range overlaps the representation: 416.
    Unsatisfiable,
}

/// Digits only (no sign, no space): RFC 9110's `1*DIGIT`.
fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// One `range-spec` resolved against `length`: `Err` for bad syntax, `Ok(None)` when it
/// lies outside the representation.
fn resolve(spec: &str, length: u64) -> Result<Option<(u64, u64)>, ()> {
    let (first, last) = spec.split_once('-').ok_or(())?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix range: the last N bytes.
        let suffix = parse_digits(last).ok_or(())?;
        return Ok((suffix > 0 && length > 0).then(|| (length.saturating_sub(suffix), length - 1)));
    }
    let first = parse_digits(first).ok_or(())?;
    let last = if last.is_empty() {
        None
    } else {
        Some(parse_digits(last).filter(|&l| l >= first).ok_or(())?)
    };
    Ok((first < length).then(|| (first, last.map_or(length - 1, |l| l.min(length - 1)))))
}

/// Interprets a `Range` header value against a representation of `length` bytes.
pub fn parse(value: &str, length: u64) -> RangeRequest {
    let Some((unit, set)) = value.split_once('=') else {
        return RangeRequest::Ignore;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Ignore;
    }
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    let mut specs = 0;
    // The list syntax allows empty elements.
    for spec in set.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        specs += 1;
        if specs > MAX_RANGES {
            return RangeRequest::Ignore;
        }
        let Ok(resolved) = resolve(spec, length) else {
            return RangeRequest::Ignore;
        };
        let Some((first, last)) = resolved else {
            continue;
        };
        match ranges.last_mut() {
            // Overlapping or descending: CloudFront sends the whole object.
            Some(previous) if first <= previous.1 => return RangeRequest::Ignore,
            Some(previous) if first == previous.1 + 1 => previous.1 = last,
            _ => ranges.push((first, last)),
        }
    }
    if specs == 0 {
        RangeRequest::Ignore
    } else if ranges.is_empty() {
        RangeRequest::Unsatisfiable
    } else if ranges.len() > 1 && !within_bound(&ranges, length) {
        RangeRequest::Ignore
    } else {
        RangeRequest::Ranges(ranges)
    }
}

/// Whether a multipart answer for `ranges` stays within [`MAX_RESPONSE_FACTOR`] × `length`.
fn within_bound(ranges: &[(u64, u64)], length: u64) -> bool {
    let payload: u64 = ranges.iter().map(|(first, last)| last - first + 1).sum();
    let framing = (ranges.len() as u64 + 1) * PART_HEAD_ALLOWANCE;
    payload.saturating_add(framing) <= length.saturating_mul(MAX_RESPONSE_FACTOR)
}

/// A `Range` request header value for inclusive `(first, last)` ranges, in the given order
/// (what a client sends; [`parse`] reads it back).
pub fn render(ranges: &[(u64, u64)]) -> String {
    let specs: Vec<String> = ranges
        .iter()
        .map(|(first, last)| format!("{first}-{last}"))
        .collect();
    format!("bytes={}", specs.join(","))
}

/// The `Content-Range` value of a 206 for one range.
pub fn content_range(first: u64, last: u64, length: u64) -> String {
    format!("bytes {first}-{last}/{length}")
}

/// The `Content-Range` value of a 416.
pub fn unsatisfied_range(length: u64) -> String {
    format!("bytes */{length}")
}

/// One piece of a multipart body: framing text, or an inclusive range of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Boundary and part headers (or the closing boundary).
    Framing(Bytes),
    /// Bytes `first..=last` of the object.
    Data {
        /// First byte.
        first: u64,
        /// Last byte (inclusive).
        last: u64,
    },
}

impl Piece {
    /// Bytes this piece adds to the body.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Framing(bytes) => bytes.len() as u64,
            Piece::Data { first, last } => last - first + 1,
        }
    }

    /// Whether the piece adds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A `multipart/byteranges` body (RFC 9110 §14.6) as framing and object ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    boundary: String,
    pieces: Vec<Piece>,
    length: u64,
}

impl Multipart {
    /// The body for `ranges` of an object of `length` bytes with `content_type`.
    pub fn new(
        ranges: &[(u64, u64)],
        length: u64,
        content_type: Option<&str>,
        boundary: &str,
    ) -> Multipart {
        let mut pieces = Vec::with_capacity(ranges.len() * 2 + 1);
        for &(first, last) in ranges {
            let mut head = format!("\r\n--{boundary}\r\n");
            if let Some(content_type) = content_type {
                head.push_str("Content-Type: ");
                head.push_str(content_type);
                head.push_str("\r\n");
            }
            head.push_str("Content-Range: ");
            head.push_str(&content_range(first, last, length));
            head.push_str("\r\n\r\n");
            pieces.push(Piece::Framing(Bytes::from(head)));
            pieces.push(Piece::Data { first, last });
        }
        pieces.push(Piece::Framing(Bytes::from(format!(
            "\r\n--{boundary}--\r\n"
        ))));
        let body_length = pieces.iter().map(Piece::len).sum();
        Multipart {
            boundary: boundary.to_string(),
            pieces,
            length: body_length,
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }

    /// Body length in bytes (the response's `Content-Length`).
    pub fn len(&self) -> u64 {
        self.length
    }

    /// Whether the body is empty (never: there is always a closing boundary).
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The pieces, in body order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The body as zero-copy slices of the stored `object` (which holds the whole
    /// representation the ranges were resolved against).
    pub fn slices(self, object: Bytes) -> impl Iterator<Item = Bytes> + Send + Sync + 'static {
        self.pieces.into_iter().map(move |piece| match piece {
            Piece::Framing(bytes) => bytes,
            Piece::Data { first, last } => object.slice(first as usize..=last as usize),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;
    use proptest::prelude::*;

    #[test]
    fn range_forms() {
        assert_eq!(parse("bytes=0-99", 1000), Ranges(vec![(0, 99)]));
        assert_eq!(parse("bytes=900-", 1000), Ranges(vec![(900, 999)]));
        assert_eq!(parse("bytes=-100", 1000), Ranges(vec![(900, 999)]));
        assert_eq!(parse("bytes=-5000", 1000), Ranges(vec![(0, 999)]));
        assert_eq!(parse("bytes=990-2000", 1000), Ranges(vec![(990, 999)]));
        assert_eq!(
            parse("bytes=0-0, 10-19 ,-1", 1000),
            Ranges(vec![(0, 0), (10, 19), (999, 999)])
        );
        assert_eq!(parse(" BYTES = 0-1", 10), Ranges(vec![(0, 1)]));
        assert_eq!(parse("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse("bytes=2000-3000, 5000-", 1000), Unsatisfiable);
        assert_eq!(parse("bytes=0-9, 5000-", 1000), Ranges(vec![(0, 9)]));
        for ignored in [
            "bytes=5-1",
            "bytes=a-b",
            "items=0-1",
            "bytes=",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes 0-1",
            "bytes=0-1-2",
        ] {
            assert_eq!(parse(ignored, 1000), Ignore, "{ignored}");
        }
    }

    #[test]
    fn range_dos_many_ranges_are_ignored() {
        let points: Vec<(u64, u64)> = (0..MAX_RANGES as u64).map(|i| (i * 10, i * 10)).collect();
        let at_cap = render(&points);
        assert!(matches!(parse(&at_cap, 100_000), Ranges(r) if r.len() == MAX_RANGES));
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(parse(&many, 1000), Ignore);
        let bomb = format!("bytes={}", vec!["0-"; 2000].join(","));
        assert_eq!(parse(&bomb, 3_600_000), Ignore);
    }

    #[test]
    fn range_dos_overlapping_and_descending_ranges_get_the_whole_object() {
        let origin_bomb = format!("bytes={}", vec!["0-"; 32].join(","));
        assert_eq!(parse(&origin_bomb, 3_600_000), Ignore);
        assert_eq!(parse("bytes=100-200,150-250", 1000), Ignore);
        assert_eq!(parse("bytes=300-400,100-200", 1000), Ignore);
        assert_eq!(parse("bytes=-2,0-1", 1000), Ignore);
        assert_eq!(parse("bytes=0-99999,500-600", 1000), Ignore);
    }

    #[test]
    fn range_dos_adjacent_ranges_are_coalesced() {
        assert_eq!(parse("bytes=0-9,10-19,20-", 100), Ranges(vec![(0, 99)]));
        assert_eq!(
            parse("bytes=0-9,10-19,30-39", 10_000),
            Ranges(vec![(0, 19), (30, 39)])
        );
    }

    #[test]
    fn range_dos_multipart_is_bounded_by_the_object_size() {
        // Ten one-byte parts of a 100-byte object would be ~15x its size in framing.
        let tiny = render(&(0..10).map(|i| (i * 2, i * 2)).collect::<Vec<_>>());
        assert_eq!(parse(&tiny, 100), Ignore);
        assert!(matches!(parse(&tiny, 100_000), Ranges(r) if r.len() == 10));
        // A single range is never framed, whatever the size.
        assert_eq!(parse("bytes=0-0", 1), Ranges(vec![(0, 0)]));
    }

    #[test]
    fn multipart_frames_the_ranges() {
        let object = Bytes::from_static(b"0123456789abcdefghij");
        let multipart = Multipart::new(&[(0, 1), (18, 19)], 20, Some("text/plain"), "B");
        assert_eq!(multipart.content_type(), "multipart/byteranges; boundary=B");
        let body: Vec<u8> = multipart
            .clone()
            .slices(object)
            .flat_map(|b| b.to_vec())
            .collect();
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            "\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/20\r\n\r\n01\
             \r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 18-19/20\r\n\r\nij\
             \r\n--B--\r\n"
        );
        assert_eq!(multipart.len(), text.len() as u64);
        assert!(multipart.pieces().iter().map(Piece::len).sum::<u64>() == multipart.len());
    }

    proptest! {
        #[test]
        fn ranges_are_inside_ascending_disjoint_and_bounded(value in "(bytes|BYTES|items)=[0-9,\\- ]{0,40}", length in 0u64..5000) {
            if let Ranges(ranges) = parse(&value, length) {
                prop_assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
                for window in ranges.windows(2) {
                    prop_assert!(window[0].1 + 1 < window[1].0);
                }
                for &(first, last) in &ranges {
                    prop_assert!(first <= last && last < length);
                }
                if ranges.len() > 1 {
                    let multipart = Multipart::new(&ranges, length, Some("application/octet-stream"), "edgelab0123456789abcdef");
                    prop_assert!(multipart.len() <= length * MAX_RESPONSE_FACTOR);
                }
            }
        }

        #[test]
        fn rendered_ranges_parse_back(starts in proptest::collection::btree_set(0u64..10_000, 1..8), length in 20_000u64..50_000) {
            // Ascending, disjoint and never adjacent: parsed back as they are.
            let ranges: Vec<(u64, u64)> = starts.into_iter().map(|s| (s * 2, s * 2)).collect();
            prop_assert_eq!(parse(&render(&ranges), length), Ranges(ranges));
        }

        #[test]
        fn parsing_never_panics(value in "\\PC{0,60}", length: u64) {
            let _ = parse(&value, length);
        }

        #[test]
        fn well_formed_ranges_are_satisfied(first in 0u64..2000, span in 0u64..2000, length in 1u64..3000) {
            let outcome = parse(&format!("bytes={first}-{}", first + span), length);
            if first < length {
                prop_assert_eq!(outcome, Ranges(vec![(first, (first + span).min(length - 1))]));
            } else {
                prop_assert_eq!(outcome, Unsatisfiable);
            }
        }
    }
}
