//! Bad input and faults: 414, 431, truncated upstream bodies, Content-Length lies.

use crate::support::{Node, TestOrigin, get, get_body};

#[tokio::test]
async fn oversized_requests_get_414_and_431() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let long = format!("{}/{}", edge.url(), "a".repeat(9_000));
    let got = get(&long, &[]).await;
    assert_eq!(got.status, 414);
    assert_eq!(got.h("x-cache"), "Error from cloudfront");
    let big = "b".repeat(21_000);
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let status = raw_status(edge.handle.traffic_addr(), request.as_bytes()).await;
    assert_eq!(status, 431);
    let status = raw_status(edge.handle.traffic_addr(), b"GARBAGE\r\n\r\n").await;
    assert_eq!(status, 400);
    assert_eq!(
        origin.state.total.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

async fn raw_status(addr: std::net::SocketAddr, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 64];
    let n = stream.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn truncated_upstream_bodies_fail_and_are_never_stored() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!("{}/cut?cc=max-age%3D600&size=100000&truncate=1", edge.url());
    let (status, body) = get_body(&url).await;
    assert_eq!(status, 200);
    assert!(
        body.is_err(),
        "the viewer sees the failure, not a short 200"
    );
    let (_, body) = get_body(&url).await;
    assert!(body.is_err());
    assert_eq!(origin.state.count("/cut"), 2, "nothing was stored");
    assert_eq!(edge.handle.cached_objects(), 0);
    assert!(
        edge.metric("edgelab_edge_upstream_requests_total{pop=\"FRA\",result=\"truncated\"")
            .await
            >= 1.0
    );
}
