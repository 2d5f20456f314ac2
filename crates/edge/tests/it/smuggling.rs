//! Request framing between tiers (issue: request smuggling that poisons the cache). The
//! upstream request's length headers must describe exactly the body the edge sends: a safe
//! method is forwarded without its body, so it carries no `Content-Length` and no
//! `Transfer-Encoding`, whatever the viewer declared.

use std::time::Duration;

use http::header;

use crate::support::{Node, TestOrigin};

/// Sends `head` + `body` raw and returns the status line of the first response (panics if
/// none comes within 5 s: the old framing made the origin wait for a body that never came).
async fn status_line(node: &Node, bytes: &[u8]) -> String {
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        edgelab_testkit::raw(node.handle.traffic_addr(), bytes),
    )
    .await
    .expect("an answer within 5 s");
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn smuggled_content_length_on_get_is_not_forwarded() {
    let origin = TestOrigin::start("o").await;
    let node = Node::single(&origin.url(), "CachingOptimized").await;
    let line = status_line(
        &node,
        b"GET /early/a?cc=max-age%3D60 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let requests = origin.state.requests.lock().unwrap();
    let (path, headers) = requests.last().expect("the origin was asked");
    assert_eq!(path, "/early/a");
    assert!(!headers.contains_key(header::CONTENT_LENGTH), "{headers:?}");
    assert!(
        !headers.contains_key(header::TRANSFER_ENCODING),
        "{headers:?}"
    );
}

#[tokio::test]
async fn smuggled_chunked_body_on_head_is_not_forwarded() {
    let origin = TestOrigin::start("o").await;
    let node = Node::single(&origin.url(), "CachingDisabled").await;
    let line = status_line(
        &node,
        b"HEAD /early/b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let requests = origin.state.requests.lock().unwrap();
    let (_, headers) = requests.last().expect("the origin was asked");
    assert!(!headers.contains_key(header::CONTENT_LENGTH), "{headers:?}");
    assert!(
        !headers.contains_key(header::TRANSFER_ENCODING),
        "{headers:?}"
    );
}

#[tokio::test]
async fn a_forwarded_body_keeps_an_exact_length() {
    let origin = TestOrigin::start("o").await;
    let node = Node::single(&origin.url(), "CachingOptimized").await;
    let line = status_line(
        &node,
        b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let requests = origin.state.requests.lock().unwrap();
    let (_, headers) = requests.last().expect("the origin was asked");
    assert_eq!(headers.get(header::CONTENT_LENGTH).unwrap(), "5");
}

/// Defect 6: a malformed chunked body from the viewer is the viewer's fault: 400, counted
/// under its own detail, never as an upstream `truncated` result or a 502.
#[tokio::test]
async fn defect_6_a_malformed_chunked_viewer_body_is_a_400_not_an_upstream_failure() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingDisabled").await;
    let request = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                    5\r\nhello\r\nzz-not-hex\r\n\r\n";
    assert_eq!(
        status_line(&edge, request).await,
        "HTTP/1.1 400 Bad Request"
    );
    let metrics = edge.metrics().await;
    assert!(
        !metrics
            .lines()
            .any(|l| l.contains("result=\"truncated\"") && !l.ends_with(" 0")),
        "{metrics}"
    );
}
