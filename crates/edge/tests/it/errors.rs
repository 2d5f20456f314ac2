//! CloudFront's error rules (issue 11): error caching for the error caching minimum TTL,
//! custom error responses, the cached object served when the origin fails, and the
//! `Server-Timing` upstream layer.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::{Node, RealOrigin, SCRIPTED_QUERY, TestOrigin, get, get_body, send};

const SECOND: Duration = Duration::from_secs(1);

fn edge_toml(origin: &str, extra: &str) -> String {
    format!(
        "pop = \"FRA\"\n{extra}\n[upstream]\nprimary = \"{origin}\"\n[default_behavior]\n{SCRIPTED_QUERY}\n"
    )
}

#[tokio::test]
async fn errors_cloudfront_caches_are_cached_for_the_error_caching_min_ttl() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    for status in [400, 403, 404, 405, 414, 500, 501, 502, 503, 504] {
        let path = format!("/e{status}");
        let url = format!("{}{path}?status={status}", edge.url());
        let first = get(&url, &[]).await;
        assert_eq!(first.status, status);
        assert!(
            first.h("cache-status").contains("stored"),
            "{status}: {}",
            first.h("cache-status")
        );
        let again = get(&url, &[]).await;
        assert_eq!(again.status, status);
        assert_eq!(origin.state.count(&path), 1, "{status} cached");
        assert!(again.h("cache-status").contains("hit"), "{status}");
    }
    // The default error caching minimum TTL is 10 s, not the policy's DefaultTTL (1 day).
    edge.handle.clock().advance(9 * SECOND);
    get(&format!("{}/e404?status=404", edge.url()), &[]).await;
    assert_eq!(origin.state.count("/e404"), 1, "fresh for 10 s");
    edge.handle.clock().advance(2 * SECOND);
    for status in [404, 503] {
        get(&format!("{}/e{status}?status={status}", edge.url()), &[]).await;
        assert_eq!(origin.state.count(&format!("/e{status}")), 2, "{status}");
    }
}

#[tokio::test]
async fn an_error_with_origin_freshness_is_cached_for_the_larger_of_the_two() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let long = format!("{}/long?status=403&cc=max-age%3D60", edge.url());
    let short = format!("{}/short?status=403&cc=max-age%3D2", edge.url());
    let refused = format!("{}/nostore?status=503&cc=no-store", edge.url());
    for url in [&long, &short, &refused] {
        get(url, &[]).await;
    }
    edge.handle.clock().advance(5 * SECOND);
    for url in [&long, &short, &refused] {
        get(url, &[]).await;
    }
    assert_eq!(origin.state.count("/short"), 1, "10 s beats max-age=2");
    assert_eq!(origin.state.count("/nostore"), 1, "no-store errors too");
    edge.handle.clock().advance(30 * SECOND);
    for url in [&long, &short] {
        get(url, &[]).await;
    }
    assert_eq!(origin.state.count("/long"), 1, "max-age=60 beats 10 s");
    assert_eq!(origin.state.count("/short"), 2);
    edge.handle.clock().advance(30 * SECOND);
    get(&long, &[]).await;
    assert_eq!(origin.state.count("/long"), 2);
}

#[tokio::test]
async fn error_statuses_cloudfront_does_not_cache_are_never_stored() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    // 416 is in CloudFront's list of customisable codes but documented as never cached.
    for status in [401, 402, 409, 410, 416, 418, 429, 505] {
        let url = format!("{}/n{status}?status={status}&cc=max-age%3D600", edge.url());
        let first = get(&url, &[]).await;
        assert_eq!(first.status, status);
        assert!(
            first.h("cache-status").contains("detail=status"),
            "{status}: {}",
            first.h("cache-status")
        );
        get(&url, &[]).await;
        assert_eq!(origin.state.count(&format!("/n{status}")), 2, "{status}");
    }
    // rfc9111 keeps RFC rules: an error with no freshness is not stored at all.
    let rfc = Node::single(&origin.url(), "rfc9111").await;
    let url = format!("{}/rfc503?status=503", rfc.url());
    get(&url, &[]).await;
    get(&url, &[]).await;
    assert_eq!(origin.state.count("/rfc503"), 2);
}

#[tokio::test]
async fn custom_error_caching_min_ttl_is_per_status_code() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&edge_toml(
        &origin.url(),
        "[[custom_error_responses]]\nerror_code = 404\nerror_caching_min_ttl = \"2s\"\n\
         [[custom_error_responses]]\nerror_code = 503\nerror_caching_min_ttl = \"0s\"\n",
    ))
    .await;
    let missing = format!("{}/missing?status=404", edge.url());
    let down = format!("{}/down?status=503", edge.url());
    let forbidden = format!("{}/forbidden?status=403", edge.url());
    for url in [&missing, &down, &forbidden] {
        get(url, &[]).await;
        get(url, &[]).await;
    }
    assert_eq!(origin.state.count("/missing"), 1);
    assert_eq!(origin.state.count("/down"), 2, "0 s: never cached");
    edge.handle.clock().advance(3 * SECOND);
    for url in [&missing, &forbidden] {
        get(url, &[]).await;
    }
    assert_eq!(origin.state.count("/missing"), 2, "2 s for 404");
    assert_eq!(origin.state.count("/forbidden"), 1, "10 s for the others");
}

#[tokio::test]
async fn a_custom_error_response_serves_its_page_from_the_cache_with_its_code() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&edge_toml(
        &origin.url(),
        "[[custom_error_responses]]\nerror_code = 404\nresponse_page_path = \"/errors/404.html?cc=max-age%3D600\"\nresponse_code = 200\n\
         [[custom_error_responses]]\nerror_code = 502\nresponse_page_path = \"/errors/5xx.html?cc=max-age%3D600\"\nresponse_code = 503\n",
    ))
    .await;
    let url = format!("{}/gone?status=404", edge.url());
    let first = get(&url, &[]).await;
    assert_eq!(first.status, 200);
    assert!(
        first.body.starts_with(b"/errors/404.html|"),
        "{:?}",
        first.body
    );
    let second = get(&url, &[]).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, first.body);
    assert_eq!(second.h("x-cache"), "Hit from cloudfront");
    assert_eq!(origin.state.count("/gone"), 1, "the 404 itself is cached");
    assert_eq!(
        origin.state.count("/errors/404.html"),
        1,
        "the page is cached"
    );
    // A status without a page keeps the origin's answer.
    let plain = get(&format!("{}/other?status=403", edge.url()), &[]).await;
    assert_eq!(plain.status, 403);
    // The node's own 502 (origin gone) gets the page stored before, with the response code.
    get(
        &format!("{}/errors/5xx.html?cc=max-age%3D600", edge.url()),
        &[],
    )
    .await;
    origin.shutdown.trigger();
    drop(origin);
    let failed = get(&format!("{}/never-seen", edge.url()), &[]).await;
    assert_eq!(failed.status, 503);
    assert!(
        failed.body.starts_with(b"/errors/5xx.html|"),
        "{:?}",
        failed.body
    );
    assert_eq!(failed.h("x-cache"), "Error from cloudfront");
}

#[tokio::test]
async fn a_custom_error_page_that_cannot_be_fetched_leaves_the_original_error() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&edge_toml(
        &origin.url(),
        "[[custom_error_responses]]\nerror_code = 404\nresponse_page_path = \"/errors/missing.html?status=500\"\nresponse_code = 200\n",
    ))
    .await;
    let got = get(&format!("{}/gone?status=404", edge.url()), &[]).await;
    assert_eq!(got.status, 404);
    assert!(got.body.starts_with(b"/gone|"), "{:?}", got.body);
}

#[tokio::test]
async fn an_expired_object_is_served_when_the_origin_fails() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\nresponse_timeout = \"300ms\"\nconnection_attempts = 1\n\
         [default_behavior]\n{SCRIPTED_QUERY}\n",
        origin.url()
    ))
    .await;
    // No stale-* directive: CloudFront serves the expired copy anyway.
    let url = format!("{}/s?cc=max-age%3D1&size=2000", edge.url());
    let good = get(&url, &[]).await;
    edge.handle.clock().advance(5 * SECOND);
    origin.state.failing.store(true, Ordering::SeqCst);
    let served = get(&url, &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, good.body);
    assert_eq!(served.h("x-cache"), "Hit from cloudfront");
    assert!(
        served
            .h("cache-status")
            .contains("fwd=stale; fwd-status=503; detail=stale-on-error"),
        "{}",
        served.h("cache-status")
    );
    origin.state.failing.store(false, Ordering::SeqCst);
    // No answer in time (CachingOptimized keeps query strings out of the key).
    let slow = format!("{}/s?cc=max-age%3D1&size=2000&delay_ms=3000", edge.url());
    let served = get(&slow, &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, good.body);
    // No answer at all.
    origin.shutdown.trigger();
    drop(origin);
    let served = get(&url, &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, good.body);
    for cause in ["server_error", "timeout", "connect"] {
        assert_eq!(
            edge.metric(&format!(
                "edgelab_edge_stale_on_error_total{{cause=\"{cause}\",pop=\"FRA\",tier=\"edge\"}}"
            ))
            .await,
            1.0,
            "{cause}"
        );
    }
    assert_eq!(
        edge.metric("edgelab_edge_requests_total{cache_status=\"stale\"")
            .await,
        3.0
    );
}

#[tokio::test]
async fn a_truncated_refetch_never_replaces_the_object_served_on_error() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!("{}/t?cc=max-age%3D1&size=100000", edge.url());
    let good = get(&url, &[]).await;
    assert_eq!(good.body.len(), 100_000);
    edge.handle.clock().advance(5 * SECOND);
    let (status, body) = get_body(&format!("{url}&truncate=1")).await;
    assert_eq!(status, 200);
    assert!(body.is_err(), "the viewer sees the cut, not a short body");
    origin.state.failing.store(true, Ordering::SeqCst);
    let served = get(&url, &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.body, good.body,
        "the whole stored copy, never the cut one"
    );
}

#[tokio::test]
async fn a_cached_error_is_not_served_in_place_of_a_new_error() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!("{}/x?status=404", edge.url());
    assert_eq!(get(&url, &[]).await.status, 404);
    edge.handle.clock().advance(20 * SECOND);
    origin.state.failing.store(true, Ordering::SeqCst);
    let got = get(&url, &[]).await;
    assert_eq!(got.status, 503, "a stale error is no better than a new one");
}

#[tokio::test]
async fn the_origins_413_for_a_request_body_reaches_the_viewer() {
    let origin = RealOrigin::start().await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let body = "x".repeat(edgelab_origin::server::MAX_ECHO_BODY + 1);
    let posted = send("POST", &format!("{}/echo/up", edge.url()), &[], &body).await;
    assert_eq!(posted.status, 413, "{:?}", posted.body);
    assert!(posted.h("cache-status").contains("fwd-status=413"));
    let small = send("POST", &format!("{}/echo/up", edge.url()), &[], "hi").await;
    assert_eq!(small.status, 200);
    // A large body the origin takes is sent (after its 100 Continue), whole.
    let large = "y".repeat(edgelab_origin::server::MAX_ECHO_BODY - 4096);
    let echoed = send("POST", &format!("{}/echo/up", edge.url()), &[], &large).await;
    assert_eq!(echoed.status, 200);
    let echo: serde_json::Value = serde_json::from_slice(&echoed.body).unwrap();
    assert_eq!(echo["body_bytes"], large.len());
}

#[tokio::test]
async fn server_timing_names_the_layer_that_made_the_upstream_request() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!("{}/st?cc=max-age%3D60&st=db%3Bdur%3D53", edge.url());
    let miss = get(&url, &[]).await;
    let timing = miss.h("server-timing");
    assert!(
        timing.contains("cdn-upstream-layer;desc=\"EDGE\""),
        "{timing}"
    );
    assert!(!timing.contains("Origin\""), "{timing}");
    assert!(
        timing.contains("db;dur=53"),
        "the origin's metric: {timing}"
    );
    assert!(timing.contains("cdn-cache-miss"), "{timing}");
    let hit = get(&url, &[]).await;
    let timing = hit.h("server-timing");
    assert!(timing.contains("cdn-cache-hit"), "{timing}");
    assert!(
        !timing.contains("db;dur"),
        "a hit has no origin timing: {timing}"
    );
    assert!(!timing.contains("cdn-upstream-layer"), "{timing}");
}

#[tokio::test]
async fn server_timing_through_tiers_names_the_tier_that_went_to_the_origin() {
    let origin = TestOrigin::start("o").await;
    let tier = |pop: &str, tier: &str, next: Option<String>| {
        let next = next
            .map(|n| format!("next_tier = \"{n}\"\n"))
            .unwrap_or_default();
        format!(
            "pop = \"{pop}\"\ntier = \"{tier}\"\n[upstream]\n{next}primary = \"{}\"\n\
             [default_behavior]\n{SCRIPTED_QUERY}\n",
            origin.url()
        )
    };
    let shield = Node::start(&tier("IAD", "shield", None)).await;
    let rec = Node::start(&tier("FRA", "rec", None)).await;
    let edge_shield = Node::start(&tier("MUC", "edge", Some(shield.url()))).await;
    let edge_rec = Node::start(&tier("FRA", "edge", Some(rec.url()))).await;
    let host = [("host", "d111111abcdef8.cloudfront.net")];
    let path = "/layers?cc=max-age%3D60&st=app%3Bdesc%3D%22render%22";
    let via_shield = get(&format!("{}{path}", edge_shield.url()), &host).await;
    let timing = via_shield.h("server-timing");
    assert!(
        timing.contains("cdn-upstream-layer;desc=\"Origin Shield\""),
        "{timing}"
    );
    assert_eq!(timing.matches("cdn-upstream-layer").count(), 1, "{timing}");
    assert_eq!(timing.matches("cdn-pop").count(), 1, "{timing}");
    assert_eq!(
        timing.matches("app;desc=\"render\"").count(),
        1,
        "the origin's metric once: {timing}"
    );
    let via_rec = get(&format!("{}{path}", edge_rec.url()), &host).await;
    let timing = via_rec.h("server-timing");
    assert!(
        timing.contains("cdn-upstream-layer;desc=\"REC\""),
        "{timing}"
    );
    // Another PoP on the shield hits there: the PoP made the upstream request.
    let edge_b = Node::start(&tier("NRT", "edge", Some(shield.url()))).await;
    let shield_hit = get(&format!("{}{path}", edge_b.url()), &host).await;
    let timing = shield_hit.h("server-timing");
    assert!(
        timing.contains("cdn-hit-layer;desc=\"Origin Shield\"")
            && timing.contains("cdn-upstream-layer;desc=\"EDGE\""),
        "{timing}"
    );
    assert!(!timing.contains("render"), "{timing}");
}
