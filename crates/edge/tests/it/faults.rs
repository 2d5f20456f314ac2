//! Bad input and faults: 414, 431, truncated upstream bodies, Content-Length lies.

use crate::support::{Node, SCRIPTED_QUERY, TestOrigin, get, get_body};

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

#[tokio::test]
async fn store_limits_hold_and_evictions_are_counted_by_cause() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\ncapacity_bytes = 40000\nmax_object_bytes = 5000\nmax_request_body_bytes = 10\n\
         [upstream]\nprimary = \"{}\"\n[default_behavior]\n{SCRIPTED_QUERY}\n",
        origin.url()
    ))
    .await;
    // Over the object limit: served, never stored.
    let big = format!("{}/big?cc=max-age%3D600&size=6000", edge.url());
    assert_eq!(get(&big, &[]).await.body.len(), 6000);
    let again = get(&big, &[]).await;
    assert_eq!(again.h("x-cache"), "Miss from cloudfront");
    assert!(
        again.h("cache-status").contains("detail=too-large"),
        "{}",
        again.h("cache-status")
    );
    // Twenty 4 KB objects into a 40 kB store: some are evicted for room.
    for i in 0..20 {
        get(
            &format!("{}/fill{i}?cc=max-age%3D600&size=4000", edge.url()),
            &[],
        )
        .await;
    }
    crate::support::eventually("capacity evictions counted", || async {
        edge.handle.cached_objects();
        edge.metric("edgelab_edge_evictions_total{cause=\"capacity\"")
            .await
            > 0.0
    })
    .await;
    assert!(edge.handle.cached_objects() < 20);
    // A request body over the limit is refused before going upstream.
    let posted = crate::support::send(
        "POST",
        &format!("{}/upload", edge.url()),
        &[],
        "more than ten bytes",
    )
    .await;
    assert_eq!(posted.status, 413);
    assert_eq!(origin.state.count("/upload"), 0);
}

#[tokio::test]
async fn admin_token_guards_state_changes() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\nadmin_token = \"s3cret\"\n[upstream]\nprimary = \"{}\"\n",
        origin.url()
    ))
    .await;
    let url = format!("{}/invalidations", edge.admin_url());
    let body = r#"{"paths": ["/a"]}"#;
    assert_eq!(
        crate::support::send("POST", &url, &[], body).await.status,
        401
    );
    let ok = crate::support::send("POST", &url, &[("x-edgelab-token", "s3cret")], body).await;
    assert_eq!(ok.status, 201);
    let bad = crate::support::send("POST", &url, &[("x-edgelab-token", "s3cret")], "{}").await;
    assert_eq!(bad.status, 400);
    let health = format!("{}/health", edge.admin_url());
    assert_eq!(
        crate::support::send("POST", &health, &[("x-edgelab-token", "s3cret")], "false")
            .await
            .status,
        200
    );
    assert_eq!(
        get(&format!("{}/readyz", edge.admin_url()), &[])
            .await
            .status,
        503
    );
    assert!(!edge.handle.is_ready());
}

#[tokio::test]
async fn h2c_viewers_get_the_same_caching() {
    use http_body_util::{BodyExt, Full};
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let request = http::Request::get(format!("{}/h2?cc=max-age%3D60", edge.url()))
            .body(Full::new(bytes::Bytes::new()))
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        statuses.push(response.headers()["x-cache"].to_str().unwrap().to_string());
        let _ = response.into_body().collect().await.unwrap();
    }
    assert_eq!(statuses, ["Miss from cloudfront", "Hit from cloudfront"]);
}

/// Defect 6: the cache inspection shows stored headers, so it needs the token when one is set.
#[tokio::test]
async fn defect_6_cache_inspection_needs_the_admin_token() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\nadmin_token = \"s3cret\"\n[upstream]\nprimary = \"{}\"\n",
        origin.url()
    ))
    .await;
    get(&format!("{}/seen?cc=max-age%3D600", edge.url()), &[]).await;
    let url = format!("{}/cache?path=/seen", edge.admin_url());
    assert_eq!(get(&url, &[]).await.status, 401);
    let bearer = [("authorization", "Bearer s3cret")];
    assert_eq!(get(&url, &bearer).await.status, 200);
}
