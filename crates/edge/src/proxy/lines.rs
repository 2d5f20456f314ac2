//! A fresh hit's head written straight as HTTP/1.1 text for the lane (`WireHead`), with no
//! `HeaderMap`: the stored object's common fields as the lines made once per shared part
//! (`store::CommonLines`), its own few fields from their block, then the node's fields. The
//! bytes are those hyper writes for the map `respond_from_object` and `Node::finish` build
//! (the same fields in the same order: the map's, with `Age` in place of a stored one and
//! the node's `Via` after a stored `Via`); every case this does not write (a conditional or
//! `Range` request, a stored head without exactly one `Content-Length` equal to the body's
//! size, an empty body, 1xx / 204 / 304, a stored field the node sets itself) goes through
//! the map. The lane differential test and the head fuzz hold the two together.

use std::time::Instant;

use edgelab_common::names::header as names;
use edgelab_common::serve::lane::WireHead;
use edgelab_wire::XCache;
use http::{HeaderValue, header};

use super::Node;
use super::lookup::Fresh;
use super::outcome::{UpstreamInfo, with_scratch};
use super::respond::is_conditional_or_range;
use crate::metrics::CacheStatus;
use crate::store::OwnField;

/// Room for the fields a hit writes beyond its stored and constant text: `age` and its
/// digits, the `Cache-Status` parameters, `server-timing` with the request id and times
/// (about 150 bytes in practice; more only grows the buffer once more, field by field).
const PER_HIT_FIELDS: usize = 256;

impl Node {
    /// Writes the head of `fresh`'s answer into `head`, counts the request (as
    /// `Node::finish` does) and says true; false, with nothing counted, when the answer
    /// needs a map (see the module's text), which the caller then builds.
    pub(super) fn write_fresh(
        &self,
        fresh: &Fresh,
        rid: &HeaderValue,
        started: Instant,
        head: &mut WireHead<'_>,
    ) -> bool {
        let object = &*fresh.object;
        if !self.identity.lines_ok
            || object.body.is_empty()
            || fresh.parts.headers.keys().any(is_conditional_or_range)
        {
            return false;
        }
        let common = object.headers.common_lines();
        if !common.usable || !head.status(object.status) {
            return false;
        }
        let via = self.identity.via.as_bytes();
        // The head's size, reserved once: the stored and constant text, the request id, and
        // a bound for the few short fields written per hit (Via, Age, the Cache-Status
        // parameters, Server-Timing).
        let identity = &self.identity;
        head.reserve(
            common.text.len()
                + object.headers.own_lines_bound()
                + identity.hit_lines[usize::from(common.via_end.is_some())].len()
                + rid.len()
                + identity.hit_lines_after_id.len()
                + via.len()
                + PER_HIT_FIELDS,
        );
        match common.via_end {
            Some(end) => {
                head.lines(&common.text[..end]);
                head.field(header::VIA.as_str(), via);
                head.lines(&common.text[end..]);
            }
            None => head.lines(&common.text),
        }
        let mut age_digits = itoa::Buffer::new();
        let age = age_digits.format(fresh.age.as_secs()).as_bytes();
        let mut length_digits = itoa::Buffer::new();
        let length = length_digits.format(object.body.len()).as_bytes();
        let (mut age_written, mut lengths) = (false, 0);
        for field in object.headers.own_fields() {
            match field {
                // The map's insert replaces the first stored `Age` and drops the others.
                Some(OwnField::Age) if !age_written => {
                    head.field(header::AGE.as_str(), age);
                    age_written = true;
                }
                Some(OwnField::Age) => {}
                // The map keeps a stored length only when it is the one right value.
                Some(OwnField::ContentLength(value)) if value == length && lengths == 0 => {
                    head.content_length(value);
                    lengths += 1;
                }
                Some(OwnField::Date(value)) => head.date(value),
                Some(OwnField::Other(name, value)) => head.field(name, value),
                Some(OwnField::ContentLength(_)) | None => return false,
            }
        }
        if lengths != 1 {
            return false;
        }
        if !age_written {
            head.field(header::AGE.as_str(), age);
        }
        // `x-cache`, `via` (unless written in its place), `x-amz-cf-pop`, `x-amz-cf-id`,
        // `x-edgelab-tier` and `cache-status`, the node's constant text written once
        // (`Identity`) around the request id and the parameters.
        head.lines(&identity.hit_lines[usize::from(common.via_end.is_some())]);
        head.lines(rid.as_bytes());
        head.lines(&identity.hit_lines_after_id);
        let served = fresh.served();
        with_scratch(|text| {
            served.write_params(text);
            head.lines(text.as_bytes());
        });
        head.lines(b"\r\n");
        let elapsed = started.elapsed();
        let rid = rid.to_str().unwrap_or_default();
        with_scratch(|text| {
            let buffer = std::mem::take(text);
            let tier = Some(self.config.tier);
            let upstream = UpstreamInfo::default();
            *text = self.server_timing(buffer, XCache::Hit, tier, &upstream, rid, elapsed);
            head.field(names::SERVER_TIMING, text.as_bytes());
        });
        self.count(CacheStatus::Hit, elapsed, object.status);
        true
    }
}
