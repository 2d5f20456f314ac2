//! Byte ranges served from a cached whole object. The grammar, the hardening (at most
//! [`MAX_RANGES`], ascending and disjoint or the whole object, adjacent ranges coalesced, a
//! multipart answer at most twice the object) and the multipart framing are
//! `edgelab_wire::range`, shared with the origin; this module streams a multipart answer as
//! slices of the stored bytes, so a response never costs more memory than its framing.

use bytes::Bytes;
use edgelab_common::body::{Body, BoxError};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};

pub use edgelab_wire::range::{
    MAX_RANGES, Multipart, RangeRequest, content_range, parse, unsatisfied_range,
};

/// The body of `multipart`, streamed as its framing and zero-copy slices of `object` (the
/// whole stored representation the ranges were resolved against).
pub fn multipart_body(multipart: Multipart, object: Bytes) -> Body {
    let frames = multipart
        .slices(object)
        .map(|bytes| Ok::<_, BoxError>(Frame::data(bytes)));
    StreamBody::new(futures_util::stream::iter(frames)).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_multipart_body_streams_slices_of_the_object() {
        let object = Bytes::from_static(b"0123456789");
        let multipart = Multipart::new(&[(0, 1), (8, 9)], 10, None, "B");
        let length = multipart.len();
        let body = multipart_body(multipart, object.clone());
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected.len() as u64, length);
        let text = String::from_utf8(collected.to_vec()).unwrap();
        assert!(
            text.contains("Content-Range: bytes 0-1/10\r\n\r\n01\r\n"),
            "{text}"
        );
        assert!(text.ends_with("89\r\n--B--\r\n"), "{text}");
    }
}
