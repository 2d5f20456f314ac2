//! Stored response headers, in two compact blocks split by name: the fields whose values are
//! usually an object's own (validators, dates, length, an origin's per-response ids) in a
//! block of its own, and every other field in a [`Common`] part that objects with the same
//! fields share (`Store::share`). Once a common part is shared it also keeps the
//! `HeaderMap` of its fields, built once and validated once: a hit clones that map (two
//! copies and a reference count per value, no name parsed, no byte checked, no name hashed)
//! and appends the object's own few fields.
//!
//! Block format: a field count, then per field a name (one byte indexing [`KNOWN_NAMES`], or
//! a 255 and the name as text) and the value's length and bytes; lengths are
//! LEB128.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use edgelab_common::names::header as names;
use http::{HeaderMap, HeaderName, HeaderValue, header};

/// Amazon S3's per-response request ids and an object's version: an origin's own per
/// response (or per object), so they go with the object's own fields.
const X_AMZ_REQUEST_ID: &str = "x-amz-request-id";
const X_AMZ_ID_2: &str = "x-amz-id-2";
const X_AMZ_VERSION_ID: &str = "x-amz-version-id";

/// Response headers of a stored object: its own fields in a block of its own, the rest in a
/// part shared with the objects that have the same (see the module's text).
#[derive(Debug, Clone, Default)]
pub struct StoredHeaders {
    /// Fields named in [`OWN_NAMES`].
    own: Block,
    /// Every other field.
    common: Arc<Common>,
}

/// The fields of a stored response that are not its own, shared by every object whose
/// other fields are the same bytes.
#[derive(Debug, Default)]
pub(crate) struct Common {
    block: Block,
    /// The fields as the map a hit clones, with room for the rest of a response; made once
    /// a second object shares this part (`Store::share`), so an object whose other fields
    /// are unique costs no map.
    ready: OnceLock<Box<HeaderMap>>,
    /// The fields as HTTP/1.1 lines, made once, the first time a hit is written from them
    /// (or when the part is first shared).
    lines: OnceLock<Box<CommonLines>>,
}

/// A common part's fields encoded once as the lines hyper writes for them (`name:
/// value\r\n` per value, in the map's order), for a fresh hit's head written without a map.
#[derive(Debug)]
pub struct CommonLines {
    /// The lines.
    pub text: Box<[u8]>,
    /// Where the node's own `Via` goes (after the stored `Via` values, as appending it to
    /// the map puts it), when the part has one.
    pub via_end: Option<usize>,
    /// Whether a hit may be written from these lines: false when the part holds a field
    /// the node sets itself or hyper frames by (then hits go through a map, which handles
    /// every case).
    pub usable: bool,
}

/// Names a common part may not hold for its lines to be usable: hyper's framing fields and
/// the ones a node sets itself on a hit (stripped before storing, so only an odd origin's
/// stored head could have them). `Age`, `Content-Length` and `Date` are own names.
static NOT_IN_WIRE: [&str; 12] = [
    "age",
    "content-length",
    "date",
    "connection",
    "transfer-encoding",
    "trailer",
    names::X_CACHE,
    names::X_AMZ_CF_POP,
    names::X_AMZ_CF_ID,
    names::X_EDGELAB_TIER,
    names::CACHE_STATUS,
    names::SERVER_TIMING,
];

impl CommonLines {
    /// The lines of `block`, with the same fields [`Block::append_to`] puts in a map (a name
    /// or value that is not valid header text is left out there, so here too).
    fn of(block: &Block) -> Self {
        let mut text = Vec::with_capacity(block.as_bytes().len() + 4 * block.len());
        let mut via_end = None;
        let mut usable = true;
        let mut seen: Vec<HeaderName> = Vec::new();
        for field in block.fields() {
            let value = HeaderValue::from_maybe_shared(block.0.slice(field.value.clone()));
            let (Some(name), Ok(value)) = (field.name(), value) else {
                continue;
            };
            // A map groups a name's values at its first: so must the lines (a block packed
            // from a map always does).
            if seen.last() != Some(&name) {
                if seen.contains(&name) {
                    usable = false;
                }
                seen.push(name.clone());
            }
            if NOT_IN_WIRE.contains(&name.as_str()) {
                usable = false;
            }
            text.extend_from_slice(name.as_str().as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(value.as_bytes());
            text.extend_from_slice(b"\r\n");
            if name == header::VIA {
                via_end = Some(text.len());
            }
        }
        Self {
            text: text.into_boxed_slice(),
            via_end,
            usable,
        }
    }
}

/// One of an object's own fields, for a head written without a map.
pub enum OwnField<'a> {
    /// `Age` (a hit replaces the first and drops the rest, as the map's insert does).
    Age,
    /// `Content-Length`, its value.
    ContentLength(&'a [u8]),
    /// `Date`, its value.
    Date(&'a [u8]),
    /// Any other own field: name and value.
    Other(&'static str, &'a [u8]),
}

/// Fields a response adds to a ready map's: the object's own (`Date`, `Content-Length`, the
/// validators) and the node's (`Age`, `Via`, the CloudFront and RFC 9211 fields, range
/// fields). The ready map's index is sized for them, so adding them never rebuilds it.
const READY_ROOM: usize = 20;

/// One block of fields (see the module's text); empty when there are none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Block(Bytes);

/// Header names a stored response carries, in the form a hit clones them: each costs one
/// byte per object. Any other name is stored as text and parsed on each hit.
pub static KNOWN_NAMES: [HeaderName; 50] = [
    header::ACCEPT_RANGES,
    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
    header::ACCESS_CONTROL_ALLOW_HEADERS,
    header::ACCESS_CONTROL_ALLOW_METHODS,
    header::ACCESS_CONTROL_ALLOW_ORIGIN,
    header::ACCESS_CONTROL_EXPOSE_HEADERS,
    header::ACCESS_CONTROL_MAX_AGE,
    header::AGE,
    header::ALT_SVC,
    header::CACHE_CONTROL,
    header::CONTENT_DISPOSITION,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LENGTH,
    header::CONTENT_LOCATION,
    header::CONTENT_RANGE,
    header::CONTENT_SECURITY_POLICY,
    header::CONTENT_TYPE,
    header::DATE,
    header::ETAG,
    header::EXPIRES,
    header::LAST_MODIFIED,
    header::LINK,
    header::LOCATION,
    header::PRAGMA,
    header::REFERRER_POLICY,
    header::RETRY_AFTER,
    header::SERVER,
    header::SET_COOKIE,
    header::STRICT_TRANSPORT_SECURITY,
    header::VARY,
    header::VIA,
    header::WARNING,
    header::X_CONTENT_TYPE_OPTIONS,
    header::X_FRAME_OPTIONS,
    header::X_XSS_PROTECTION,
    header::CONTENT_SECURITY_POLICY_REPORT_ONLY,
    HeaderName::from_static("timing-allow-origin"),
    header::TRANSFER_ENCODING,
    header::WWW_AUTHENTICATE,
    HeaderName::from_static(names::X_EDGELAB_DIGEST),
    HeaderName::from_static(names::X_EDGELAB_CLASS),
    HeaderName::from_static(names::X_EDGELAB_ORIGIN),
    HeaderName::from_static(names::X_EDGELAB_TIER),
    HeaderName::from_static(names::CACHE_STATUS),
    HeaderName::from_static(names::SERVER_TIMING),
    HeaderName::from_static("cdn-cache-control"),
    HeaderName::from_static(X_AMZ_REQUEST_ID),
    HeaderName::from_static(X_AMZ_ID_2),
    HeaderName::from_static(X_AMZ_VERSION_ID),
];

/// Names whose values are usually an object's own: they are kept apart from the fields
/// objects share. Each must be in [`KNOWN_NAMES`].
static OWN_NAMES: [HeaderName; 12] = [
    header::AGE,
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    header::DATE,
    header::ETAG,
    header::EXPIRES,
    header::LAST_MODIFIED,
    header::SET_COOKIE,
    HeaderName::from_static(names::X_EDGELAB_DIGEST),
    HeaderName::from_static(X_AMZ_REQUEST_ID),
    HeaderName::from_static(X_AMZ_ID_2),
    HeaderName::from_static(X_AMZ_VERSION_ID),
];

/// What a listed own name adds at most when a field is written as a line: the longest
/// name in [`OWN_NAMES`] (16 bytes), `: ` and CRLF, rounded up.
const OWN_LINE_EXTRA: usize = 24;

/// The name byte of a field whose name follows as text.
const OTHER_NAME: u8 = u8::MAX;

/// One decoded field: the name (an index into [`KNOWN_NAMES`], or the text of another), and
/// where its value lies in the block.
struct Field<'a> {
    known: Option<&'static HeaderName>,
    text: &'a [u8],
    value: std::ops::Range<usize>,
}

impl Field<'_> {
    fn name(&self) -> Option<HeaderName> {
        match self.known {
            Some(name) => Some(name.clone()),
            None => HeaderName::from_bytes(self.text).ok(),
        }
    }

    fn is(&self, name: &HeaderName) -> bool {
        match self.known {
            Some(known) => known == name,
            None => self.text == name.as_str().as_bytes(),
        }
    }
}

/// Appends `n` as LEB128 (seven bits a byte, low first).
fn put_length(block: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        block.push((n as u8) | 0x80);
        n >>= 7;
    }
    block.push(n as u8);
}

/// Reads a LEB128 length at `*at`, moving past it; `None` when the block ends first.
fn take_length(block: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for shift in (0..usize::BITS).step_by(7) {
        let byte = *block.get(*at)?;
        *at += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(n);
        }
    }
    None
}

/// What a block costs beyond its bytes: its allocation and share count.
pub(super) const BLOCK_BYTES: usize = 48;

impl Block {
    /// Packs `fields` (values are `HeaderValue`s, so every byte is already valid header
    /// text); no fields make an empty block, which allocates nothing.
    fn pack(fields: &[(&HeaderName, &HeaderValue)]) -> Self {
        if fields.is_empty() {
            return Self::default();
        }
        let size: usize = fields
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let mut block = Vec::with_capacity(size + 2);
        put_length(&mut block, fields.len());
        for (name, value) in fields {
            match KNOWN_NAMES.iter().position(|known| known == *name) {
                // Invariant: the table has fewer than 255 names.
                Some(index) => block.push(u8::try_from(index).expect("small table")),
                None => {
                    block.push(OTHER_NAME);
                    put_length(&mut block, name.as_str().len());
                    block.extend_from_slice(name.as_str().as_bytes());
                }
            }
            put_length(&mut block, value.len());
            block.extend_from_slice(value.as_bytes());
        }
        // Exactly sized: the stored block wastes nothing.
        block.shrink_to_fit();
        Self(Bytes::from(block))
    }

    /// The block's bytes (what objects compare to share it).
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// What the block costs in memory: nothing when empty, else its bytes and allocation.
    pub(super) fn cost(&self) -> usize {
        if self.0.is_empty() {
            0
        } else {
            self.0.len() + BLOCK_BYTES
        }
    }

    /// Number of fields.
    fn len(&self) -> usize {
        take_length(&self.0, &mut 0).unwrap_or(0)
    }

    fn fields(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        let block = &self.0[..];
        let mut at = 0;
        let count = take_length(block, &mut at).unwrap_or(0);
        (0..count).map_while(move |_| {
            let tag = *block.get(at)?;
            at += 1;
            let (known, text) = if tag == OTHER_NAME {
                let len = take_length(block, &mut at)?;
                let text = block.get(at..at + len)?;
                at += len;
                (None, text)
            } else {
                (Some(KNOWN_NAMES.get(usize::from(tag))?), &[][..])
            };
            let len = take_length(block, &mut at)?;
            let value = at..at + len;
            at += len;
            (at <= block.len()).then_some(Field { known, text, value })
        })
    }

    /// Appends every field to `map` (values share the block).
    fn append_to(&self, map: &mut HeaderMap) {
        for field in self.fields() {
            let value = HeaderValue::from_maybe_shared(self.0.slice(field.value.clone()));
            if let (Some(name), Ok(value)) = (field.name(), value) {
                map.append(name, value);
            }
        }
    }

    /// The raw bytes of the first value of `name`.
    fn value_bytes(&self, name: &HeaderName) -> Option<&[u8]> {
        self.fields()
            .find(|field| field.is(name))
            .map(|field| &self.0[field.value])
    }

    /// The first value of `name`.
    fn get(&self, name: &HeaderName) -> Option<HeaderValue> {
        self.fields()
            .find(|field| field.is(name))
            .and_then(|field| HeaderValue::from_maybe_shared(self.0.slice(field.value)).ok())
    }
}

impl Common {
    /// The block of these fields.
    pub(super) fn block(&self) -> &Block {
        &self.block
    }

    /// Makes the map a hit clones, once.
    pub(super) fn make_ready(&self) {
        self.ready.get_or_init(|| {
            let mut map = HeaderMap::with_capacity(self.block.len() + READY_ROOM);
            self.block.append_to(&mut map);
            // A clone keeps the index's size but holds exactly the fields: the room costs
            // four bytes a field, not a whole entry.
            Box::new(map.clone())
        });
        self.lines();
    }

    /// The lines of these fields, made once.
    pub(crate) fn lines(&self) -> &CommonLines {
        self.lines
            .get_or_init(|| Box::new(CommonLines::of(&self.block)))
    }

    /// Whether the ready map is made.
    #[cfg(test)]
    pub(super) fn is_ready(&self) -> bool {
        self.ready.get().is_some()
    }
}

impl StoredHeaders {
    /// Splits and packs `map`: the fields named in `OWN_NAMES` into the object's own
    /// block, the rest into a common part of its own (`Store::share` may swap it for an
    /// equal one).
    pub fn from_map(map: &HeaderMap) -> Self {
        let (own, common): (Vec<_>, Vec<_>) =
            map.iter().partition(|(name, _)| OWN_NAMES.contains(name));
        Self {
            own: Block::pack(&own),
            common: Arc::new(Common {
                block: Block::pack(&common),
                ready: OnceLock::new(),
                lines: OnceLock::new(),
            }),
        }
    }

    /// The object's own block.
    pub(super) fn own(&self) -> &Block {
        &self.own
    }

    /// The shared part.
    pub(super) fn common(&self) -> &Arc<Common> {
        &self.common
    }

    /// The same fields with the parts `share` chose.
    pub(super) fn with_parts(own: Block, common: Arc<Common>) -> Self {
        Self { own, common }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.own.len() + self.common.block.len()
    }

    /// Whether no field is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The headers as a map with room for `extra` more fields: a clone of the common part's
    /// ready map when it has one, else built from its block; then the object's own fields.
    /// Values share the blocks.
    pub fn to_map_with_room(&self, extra: usize) -> HeaderMap {
        let mut map = match self.common.ready.get() {
            Some(ready) => HeaderMap::clone(ready),
            None => {
                let mut map = HeaderMap::with_capacity(self.len() + extra);
                self.common.block.append_to(&mut map);
                map
            }
        };
        self.own.append_to(&mut map);
        map
    }

    /// The object's own fields, in order, for a head written without a map; `None` for a
    /// field whose name is not an own name (a block made by [`StoredHeaders::from_map`]
    /// never has one). Values need no check: a block is only packed from `HeaderValue`s.
    pub fn own_fields(&self) -> impl Iterator<Item = Option<OwnField<'_>>> + '_ {
        self.own.fields().map(|field| {
            let known = field.known?;
            let value = &self.own.0[field.value];
            Some(match *known {
                header::AGE => OwnField::Age,
                header::CONTENT_LENGTH => OwnField::ContentLength(value),
                header::DATE => OwnField::Date(value),
                _ => OwnField::Other(known.as_str(), value),
            })
        })
    }

    /// At least the size of the own fields written as `name: value\r\n` lines (to reserve
    /// a written head once): the block holds the values and the names of unlisted fields,
    /// a listed name costs one byte there and at most 24 as a line (its longest is 16 bytes).
    pub fn own_lines_bound(&self) -> usize {
        self.own.0.len() + self.own.len() * OWN_LINE_EXTRA
    }

    /// The common part's fields as lines (made once per part).
    pub fn common_lines(&self) -> &CommonLines {
        self.common.lines()
    }

    /// The headers as a map (values share the blocks).
    pub fn to_map(&self) -> HeaderMap {
        self.to_map_with_room(0)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<HeaderValue> {
        self.own.get(name).or_else(|| self.common.block.get(name))
    }

    /// The first value of `name` as text, borrowed from a block (`None` when absent or not
    /// visible ASCII, as [`HeaderValue::to_str`]).
    pub fn get_str(&self, name: &HeaderName) -> Option<&str> {
        let bytes = self
            .own
            .value_bytes(name)
            .or_else(|| self.common.block.value_bytes(name))?;
        let visible = bytes.iter().all(|&b| b == b'\t' || (32..127).contains(&b));
        visible.then(|| std::str::from_utf8(bytes).ok()).flatten()
    }

    /// Size of both blocks in bytes.
    pub fn len_bytes(&self) -> usize {
        self.own.0.len() + self.common.block.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_lines_bound_covers_the_own_fields_written_as_lines() {
        assert!(
            OWN_NAMES
                .iter()
                .all(|n| n.as_str().len() + 4 <= OWN_LINE_EXTRA)
        );
        let mut map = HeaderMap::new();
        for name in &OWN_NAMES {
            map.append(name.clone(), "v".parse().unwrap());
        }
        map.append("cache-control", "max-age=60".parse().unwrap());
        let stored = StoredHeaders::from_map(&map);
        let lines: usize = stored
            .own_fields()
            .map(|field| {
                let (name, value) = match field.unwrap() {
                    OwnField::Age => ("age", &b"v"[..]),
                    OwnField::ContentLength(value) => ("content-length", value),
                    OwnField::Date(value) => ("date", value),
                    OwnField::Other(name, value) => (name, value),
                };
                name.len() + 2 + value.len() + 2
            })
            .sum();
        assert!(lines > 0);
        assert!(stored.own_lines_bound() >= lines, "{lines}");
        assert_eq!(StoredHeaders::default().own_lines_bound(), 0);
    }

    #[test]
    fn stored_headers_round_trip_with_repeats_colons_long_values_and_unknown_names() {
        let mut map = HeaderMap::new();
        map.append("etag", "\"a:b\"".parse().unwrap());
        map.append("set-cookie", "a=1".parse().unwrap());
        map.append("set-cookie", "b=2".parse().unwrap());
        map.append("x-empty", "".parse().unwrap());
        map.append("x-long", "v".repeat(70_000).parse().unwrap());
        map.append(
            names::X_EDGELAB_DIGEST,
            "xxh3=0123456789abcdef".parse().unwrap(),
        );
        let stored = StoredHeaders::from_map(&map);
        assert_eq!(stored.to_map(), map);
        assert_eq!(stored.len(), map.len());
        assert_eq!(stored.get(&header::ETAG).unwrap(), "\"a:b\"");
        assert_eq!(stored.get_str(&header::ETAG), Some("\"a:b\""));
        assert_eq!(
            stored.get_str(&HeaderName::from_static("x-empty")),
            Some("")
        );
        assert!(stored.get(&header::AGE).is_none());
        // The same fields through a ready map.
        stored.common.make_ready();
        assert!(stored.common.is_ready());
        assert_eq!(stored.to_map(), map);
        assert!(StoredHeaders::default().to_map().is_empty());
        // Known names cost one byte each: the block is the values plus a few bytes a field.
        let mut small = HeaderMap::new();
        small.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        small.insert(header::CACHE_CONTROL, "max-age=60".parse().unwrap());
        assert_eq!(
            StoredHeaders::from_map(&small).len_bytes(),
            1 + 2 * 2 + 10 + 10
        );
    }

    #[test]
    fn get_str_refuses_what_to_str_refuses() {
        let mut map = HeaderMap::new();
        map.insert(
            header::ETAG,
            HeaderValue::from_bytes(b"\"caf\xc3\xa9\"").unwrap(),
        );
        let stored = StoredHeaders::from_map(&map);
        assert!(map.get(header::ETAG).unwrap().to_str().is_err());
        assert_eq!(stored.get_str(&header::ETAG), None);
    }

    #[test]
    fn an_objects_own_fields_are_kept_apart_from_the_fields_objects_share() {
        let mut map = HeaderMap::new();
        for (name, value) in [
            (header::SERVER, "nginx/1.22.1"),
            (header::DATE, "Tue, 01 Dec 2026 16:00:00 GMT"),
            (header::CONTENT_TYPE, "text/plain"),
            (header::CONTENT_LENGTH, "1024"),
            (header::ETAG, "\"6560f1c2-400\""),
            (header::CACHE_CONTROL, "max-age=3600"),
        ] {
            map.insert(name, HeaderValue::from_static(value));
        }
        map.insert(X_AMZ_REQUEST_ID, HeaderValue::from_static("TX1"));
        let stored = StoredHeaders::from_map(&map);
        assert_eq!(stored.own.len(), 4);
        assert_eq!(stored.common.block.len(), 3);
        assert!(stored.own.get(&header::ETAG).is_some());
        assert!(stored.common.block.get(&header::SERVER).is_some());
        assert_eq!(stored.len(), map.len());
        // Another object's own fields leave the common block the same bytes.
        map.insert(header::ETAG, HeaderValue::from_static("\"other\""));
        map.insert(X_AMZ_REQUEST_ID, HeaderValue::from_static("TX2"));
        let other = StoredHeaders::from_map(&map);
        assert_eq!(other.common.block, stored.common.block);
        assert_ne!(other.own, stored.own);
        // Every own name costs one byte.
        assert!(OWN_NAMES.iter().all(|own| KNOWN_NAMES.contains(own)));
    }

    #[test]
    fn a_ready_map_has_room_for_a_responses_fields_without_rebuilding_its_index() {
        let mut map = HeaderMap::new();
        map.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let stored = StoredHeaders::from_map(&map);
        stored.common.make_ready();
        let ready = stored.to_map();
        assert!(ready.capacity() >= ready.len() + READY_ROOM);
    }
}
