//! Ranges (single and multipart) and compression served from cached whole objects, HEAD and
//! conditional requests answered from the store.

use std::io::Read;

use edgelab_wire::range;

use crate::support::{Node, TestOrigin, get, send};

#[tokio::test]
async fn ranges_come_from_the_whole_cached_object() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!("{}/r?cc=max-age%3D600&size=1000", edge.url());
    let whole = get(&url, &[]).await;
    let part = get(&url, &[("range", "bytes=10-19")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.h("content-range"), "bytes 10-19/1000");
    assert_eq!(&part.body[..], &whole.body[10..20]);
    assert_eq!(part.h("x-cache"), "Hit from cloudfront");
    let multi = get(&url, &[("range", "bytes=0-1,-2")]).await;
    assert_eq!(multi.status, 206);
    assert!(
        multi
            .h("content-type")
            .starts_with("multipart/byteranges; boundary=")
    );
    let text = String::from_utf8_lossy(&multi.body);
    assert!(
        text.contains("Content-Range: bytes 0-1/1000")
            && text.contains("Content-Range: bytes 998-999/1000")
    );
    assert_eq!(get(&url, &[("range", "bytes=5000-")]).await.status, 416);
    // A range miss fetches the whole object once and answers the range.
    let url2 = format!("{}/r2?cc=max-age%3D600&size=1000", edge.url());
    let first = get(&url2, &[("range", "bytes=0-9")]).await;
    assert_eq!(first.status, 206);
    assert_eq!(first.body.len(), 10);
    assert!(
        origin
            .state
            .requests
            .lock()
            .unwrap()
            .iter()
            .all(|(_, h)| !h.contains_key("range"))
    );
    assert_eq!(origin.state.count("/r"), 1);
}

#[tokio::test]
async fn range_dos_overlapping_many_or_descending_ranges_get_the_whole_cached_object() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!("{}/bomb?cc=max-age%3D600&size=100000", edge.url());
    let whole = get(&url, &[]).await;
    // 2,000 × `0-` once asked for 2,000 copies of the object in one buffer.
    let bomb = format!("bytes={}", vec!["0-"; 2000].join(","));
    let overlapping = format!("bytes={}", vec!["0-"; 32].join(","));
    let many = range::render(&(0..33).map(|i| (i * 100, i * 100)).collect::<Vec<_>>());
    for range in [
        &bomb,
        &overlapping,
        &many,
        "bytes=500-600,0-9",
        "bytes=0-99,50-60",
    ] {
        let response = get(&url, &[("range", range)]).await;
        assert_eq!(response.status, 200, "{range:.40}");
        assert_eq!(response.body, whole.body, "{range:.40}");
        assert_eq!(response.h("x-cache"), "Hit from cloudfront");
    }
}

#[tokio::test]
async fn range_dos_adjacent_ranges_coalesce_and_multipart_streams_within_bounds() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!("{}/parts?cc=max-age%3D600&size=5000", edge.url());
    let whole = get(&url, &[]).await;
    let joined = get(&url, &[("range", "bytes=0-9,10-19")]).await;
    assert_eq!(joined.status, 206);
    assert_eq!(joined.h("content-range"), "bytes 0-19/5000");
    assert_eq!(&joined.body[..], &whole.body[..20]);
    let multi = get(&url, &[("range", "bytes=0-9,100-109,-10")]).await;
    assert_eq!(multi.status, 206);
    assert_eq!(multi.h("content-length"), multi.body.len().to_string());
    assert!(multi.body.len() < 2 * 5000);
    let text = String::from_utf8_lossy(&multi.body);
    assert_eq!(text.matches("Content-Range: bytes ").count(), 3, "{text}");
    assert!(text.contains("Content-Range: bytes 4990-4999/5000"));
    // Ten one-byte parts of a 100-byte object would be mostly framing: the whole object.
    let small = format!("{}/small?cc=max-age%3D600&size=100", edge.url());
    let tiny_parts = range::render(&(0..10).map(|i| (i * 2, i * 2)).collect::<Vec<_>>());
    let tiny = get(&small, &[("range", &tiny_parts)]).await;
    assert_eq!(tiny.status, 200);
    assert_eq!(tiny.body.len(), 100);
}

#[tokio::test]
async fn gzip_and_brotli_per_accept_encoding() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!(
        "{}/big.css?cc=max-age%3D600&size=5000&ct=text/css",
        edge.url()
    );
    let plain = get(&url, &[]).await;
    assert!(plain.h("content-encoding").is_empty());
    let gz = get(&url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.h("content-encoding"), "gzip");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain.body);
    let br = get(&url, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(br.h("content-encoding"), "br");
    let mut out = Vec::new();
    brotli::Decompressor::new(&br.body[..], 4096)
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain.body);
    assert_eq!(
        get(&url, &[("accept-encoding", "br")]).await.h("x-cache"),
        "Hit from cloudfront"
    );
    // Too small to compress.
    let small = format!(
        "{}/small.css?cc=max-age%3D600&size=500&ct=text/css",
        edge.url()
    );
    assert!(
        get(&small, &[("accept-encoding", "gzip")])
            .await
            .h("content-encoding")
            .is_empty()
    );
}

#[tokio::test]
async fn head_and_conditionals_are_answered_from_the_store() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "rfc9111").await;
    let url = format!("{}/h?cc=max-age%3D600&etag=v1", edge.url());
    let head = send("HEAD", &url, &[], "").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.h("content-length"), "64");
    let full = get(&url, &[]).await;
    assert_eq!(full.h("x-cache"), "Hit from cloudfront");
    assert_eq!(full.body.len(), 64);
    let not_modified = get(&url, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(not_modified.status, 304);
    assert_eq!(origin.state.count("/h"), 1);
}
