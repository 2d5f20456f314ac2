//! Hit/miss headers, TTL clamps per preset, stale-while-revalidate, stale-if-error, Vary,
//! private responses, unsafe-method invalidation.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::{Node, TestOrigin, eventually, get, send};

#[tokio::test]
async fn miss_then_hit_carries_cloudfront_headers_and_metrics() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!("{}/a.txt?cc=max-age%3D60", edge.url());
    let first = get(&url, &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.h("x-cache"), "Miss from cloudfront");
    assert_eq!(first.h("x-amz-cf-pop"), "FRA50-P1");
    let via = first.h("via");
    assert!(
        via.starts_with("1.1 ") && via.ends_with(".cloudfront.net (CloudFront)"),
        "{via}"
    );
    assert_eq!(first.h("x-amz-cf-id").len(), 56);
    assert!(
        first
            .h("cache-status")
            .contains("fwd=uri-miss; fwd-status=200; stored"),
        "{}",
        first.h("cache-status")
    );
    let timing = first.h("server-timing");
    assert!(
        timing.contains("cdn-cache-miss") && timing.contains("cdn-upstream-layer;desc=\"EDGE\""),
        "{timing}"
    );
    assert!(
        timing.contains("cdn-pop;desc=\"FRA50-P1\"") && timing.contains("cdn-upstream-fbl;dur="),
        "{timing}"
    );
    // The request id was sent upstream.
    let seen = origin.state.requests.lock().unwrap()[0]
        .1
        .get("x-amz-cf-id")
        .cloned();
    assert_eq!(seen.unwrap().to_str().unwrap(), first.h("x-amz-cf-id"));

    let second = get(&url, &[]).await;
    assert_eq!(second.h("x-cache"), "Hit from cloudfront");
    assert_eq!(second.body, first.body);
    assert!(second.headers.contains_key("age"));
    assert_ne!(second.h("x-amz-cf-id"), first.h("x-amz-cf-id"));
    assert!(
        second.h("cache-status").contains("; hit; ttl="),
        "{}",
        second.h("cache-status")
    );
    assert!(
        second
            .h("server-timing")
            .contains("cdn-hit-layer;desc=\"EDGE\"")
    );
    assert_eq!(origin.state.count("/a.txt"), 1);
    assert_eq!(
        edge.metric("edgelab_edge_requests_total{cache_status=\"hit\"")
            .await,
        1.0
    );
    assert_eq!(
        edge.metric("edgelab_edge_requests_total{cache_status=\"miss\"")
            .await,
        1.0
    );
    assert_eq!(
        edge.metric("edgelab_edge_upstream_requests_total{pop=\"FRA\",result=\"ok\"")
            .await,
        1.0
    );
    eventually("cache gauges", || async {
        edge.metric("edgelab_edge_cache_objects{").await == 1.0
            && edge.metric("edgelab_edge_cache_bytes{").await > 64.0
    })
    .await;
}

#[tokio::test]
async fn ttl_clamps_follow_each_preset() {
    let origin = TestOrigin::start("o").await;
    // CachingOptimized: max-age=0 is raised to MinTTL 1 s; no freshness gets DefaultTTL 1 day.
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let zero = format!("{}/zero?cc=max-age%3D0", edge.url());
    get(&zero, &[]).await;
    assert_eq!(get(&zero, &[]).await.h("x-cache"), "Hit from cloudfront");
    edge.handle.clock().advance(Duration::from_secs(2));
    assert_eq!(get(&zero, &[]).await.h("x-cache"), "Miss from cloudfront");
    let plain = format!("{}/plain", edge.url());
    get(&plain, &[]).await;
    edge.handle.clock().advance(Duration::from_secs(3600));
    assert_eq!(get(&plain, &[]).await.h("x-cache"), "Hit from cloudfront");
    let no_store = format!("{}/nostore?cc=no-store", edge.url());
    get(&no_store, &[]).await;
    assert_eq!(
        get(&no_store, &[]).await.h("x-cache"),
        "Hit from cloudfront",
        "MinTTL 1 s caches no-store"
    );

    // CachingDisabled: never a hit.
    let disabled = Node::single(&origin.url(), "CachingDisabled").await;
    let url = format!("{}/d?cc=max-age%3D600", disabled.url());
    get(&url, &[]).await;
    let again = get(&url, &[]).await;
    assert_eq!(again.h("x-cache"), "Miss from cloudfront");
    assert!(again.h("cache-status").contains("fwd=bypass"));
    assert_eq!(origin.state.count("/d"), 2);

    // UseOriginCacheControlHeaders and rfc9111: nothing cached without freshness; max-age honoured.
    for preset in ["UseOriginCacheControlHeaders", "rfc9111"] {
        let edge = Node::single(&origin.url(), preset).await;
        let none = format!("{}/none-{preset}", edge.url());
        get(&none, &[]).await;
        assert_eq!(
            get(&none, &[]).await.h("x-cache"),
            "Miss from cloudfront",
            "{preset}"
        );
        let fresh = format!("{}/fresh-{preset}?cc=max-age%3D60", edge.url());
        get(&fresh, &[]).await;
        assert_eq!(
            get(&fresh, &[]).await.h("x-cache"),
            "Hit from cloudfront",
            "{preset}"
        );
        edge.handle.clock().advance(Duration::from_secs(61));
        assert_eq!(
            get(&fresh, &[]).await.h("x-cache"),
            "Miss from cloudfront",
            "{preset}"
        );
        let private = format!(
            "{}/private-{preset}?cc=private%2C%20max-age%3D60",
            edge.url()
        );
        get(&private, &[]).await;
        assert_eq!(
            get(&private, &[]).await.h("x-cache"),
            "Miss from cloudfront",
            "{preset}"
        );
    }
}

#[tokio::test]
async fn stale_entries_are_revalidated_with_304() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "rfc9111").await;
    let url = format!("{}/v?cc=max-age%3D10&etag=abc", edge.url());
    let first = get(&url, &[]).await;
    edge.handle.clock().advance(Duration::from_secs(20));
    let refreshed = get(&url, &[]).await;
    assert_eq!(refreshed.h("x-cache"), "RefreshHit from cloudfront");
    assert!(refreshed.h("server-timing").contains("cdn-cache-refresh"));
    assert_eq!(refreshed.body, first.body);
    let sent = origin.state.requests.lock().unwrap()[1].1.clone();
    assert_eq!(sent.get("if-none-match").unwrap(), "\"abc\"");
    assert_eq!(get(&url, &[]).await.h("x-cache"), "Hit from cloudfront");
    assert_eq!(
        edge.metric("edgelab_edge_upstream_requests_total{pop=\"FRA\",result=\"not_modified\"")
            .await,
        1.0
    );
}

/// The refresh is held at the origin (its gate) until the stale answers are checked, so they
/// are stale however slowly the host runs them: with a fixed origin delay, a refresh that
/// landed before the fifth request made that one fresh.
#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "rfc9111").await;
    let url = format!(
        "{}/swr?cc=max-age%3D1%2C%20stale-while-revalidate%3D60&head_gate=1",
        edge.url()
    );
    origin.state.open_gate();
    get(&url, &[]).await;
    origin.state.close_gate();
    edge.handle.clock().advance(Duration::from_secs(5));
    let mut stale = Vec::new();
    for _ in 0..5 {
        stale.push(get(&url, &[]).await);
    }
    for response in &stale {
        assert_eq!(response.h("x-cache"), "Hit from cloudfront");
        assert!(
            response
                .h("cache-status")
                .contains("stale-while-revalidate"),
            "{}",
            response.h("cache-status")
        );
    }
    // One refresh reached the origin for the five stale answers; it is held there.
    eventually("background refresh", || async {
        origin.state.count("/swr") == 2
    })
    .await;
    origin.state.open_gate();
    eventually("refreshed copy is fresh", || async {
        !get(&url, &[]).await.h("cache-status").contains("stale")
    })
    .await;
    assert_eq!(origin.state.count("/swr"), 2, "one refresh per key");
}

/// The background refresh of stale-while-revalidate goes through the origin request policy
/// like the fill it replaces: only the forwarded query strings, headers and cookies.
#[tokio::test]
async fn stale_while_revalidate_refresh_forwards_only_what_the_origin_request_policy_allows() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        r#"pop = "FRA"
[upstream]
primary = "{}"
[default_behavior]
cache_policy = {{ preset = "rfc9111", query_strings = ["cc"], cookies = "none" }}
origin_request = {{ query_strings = "none", headers = ["accept-language"], cookies = ["session"] }}
"#,
        origin.url()
    ))
    .await;
    let url = format!(
        "{}/swr-policy?cc=max-age%3D1%2C%20stale-while-revalidate%3D60&utm=campaign",
        edge.url()
    );
    let viewer = [
        ("cookie", "session=s1; tracking=t1"),
        ("accept-language", "de"),
        ("x-viewer-secret", "1"),
    ];
    get(&url, &viewer).await;
    edge.handle.clock().advance(Duration::from_secs(5));
    let stale = get(&url, &viewer).await;
    assert!(stale.h("cache-status").contains("stale-while-revalidate"));
    eventually("background refresh", || async {
        origin.state.count("/swr-policy") == 2
    })
    .await;
    let targets = origin.state.targets.lock().unwrap().clone();
    let requests = origin.state.requests.lock().unwrap().clone();
    let expected_target = "/swr-policy?cc=max-age%3D1%2C%20stale-while-revalidate%3D60";
    for (n, (target, (_, headers))) in targets.iter().zip(&requests).enumerate() {
        assert_eq!(target, expected_target, "request {n}: query string");
        let cookies: Vec<_> = headers.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["session=s1"], "request {n}: cookies");
        assert_eq!(headers.get("accept-language").unwrap(), "de", "request {n}");
        assert!(
            !headers.contains_key("x-viewer-secret"),
            "request {n}: {headers:?}"
        );
    }
}

#[tokio::test]
async fn stale_if_error_serves_stale_on_5xx_and_errors_otherwise() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "rfc9111").await;
    let sie = format!(
        "{}/sie?cc=max-age%3D1%2C%20stale-if-error%3D600",
        edge.url()
    );
    let strict = format!("{}/strict?cc=max-age%3D1", edge.url());
    let good = get(&sie, &[]).await;
    get(&strict, &[]).await;
    edge.handle.clock().advance(Duration::from_secs(5));
    origin.state.failing.store(true, Ordering::SeqCst);
    let served = get(&sie, &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, good.body);
    assert!(served.h("cache-status").contains("stale-if-error"));
    assert_eq!(get(&strict, &[]).await.status, 503);
    // Origin gone entirely: stale where allowed, else 502 Error from cloudfront.
    origin.shutdown.trigger();
    drop(origin);
    let served = get(&sie, &[]).await;
    assert_eq!(served.status, 200);
    let failed = get(&format!("{}/never-cached", edge.url()), &[]).await;
    assert_eq!(failed.status, 502);
    assert_eq!(failed.h("x-cache"), "Error from cloudfront");
}

#[tokio::test]
async fn vary_keeps_a_variant_per_header_value() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "rfc9111").await;
    let url = format!("{}/vary?cc=max-age%3D60&vary=Accept-Language", edge.url());
    let en = get(&url, &[("accept-language", "en")]).await;
    let de = get(&url, &[("accept-language", "de")]).await;
    assert_eq!(de.h("x-cache"), "Miss from cloudfront");
    assert!(de.h("cache-status").contains("vary-miss"));
    let en2 = get(&url, &[("accept-language", "en")]).await;
    let de2 = get(&url, &[("accept-language", "de")]).await;
    assert_eq!(en2.h("x-cache"), "Hit from cloudfront");
    assert_eq!(de2.h("x-cache"), "Hit from cloudfront");
    assert_eq!(en2.body, en.body);
    assert_eq!(de2.body, de.body);
    assert_ne!(en.body, de.body);
    assert_eq!(origin.state.count("/vary"), 2);
}

#[tokio::test]
async fn private_and_set_cookie_responses_are_never_shared() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "UseOriginCacheControlHeaders").await;
    for path in [
        "/p?cc=private%2C%20max-age%3D600",
        "/c?cc=max-age%3D600&cookie=session%3D1",
    ] {
        let url = format!("{}{path}", edge.url());
        get(&url, &[]).await;
        let second = get(&url, &[]).await;
        assert_eq!(second.h("x-cache"), "Miss from cloudfront", "{path}");
    }
    assert_eq!(origin.state.count("/p"), 2);
    assert_eq!(origin.state.count("/c"), 2);
}

#[tokio::test]
async fn unsafe_methods_invalidate_the_stored_uri() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "rfc9111").await;
    let url = format!("{}/doc?cc=max-age%3D600", edge.url());
    get(&url, &[]).await;
    assert_eq!(get(&url, &[]).await.h("x-cache"), "Hit from cloudfront");
    let posted = send("POST", &format!("{}/doc", edge.url()), &[], "new").await;
    assert_eq!(posted.status, 200);
    assert!(posted.h("cache-status").contains("fwd=method"));
    assert_eq!(get(&url, &[]).await.h("x-cache"), "Miss from cloudfront");
}

#[tokio::test]
async fn a_resource_that_stops_varying_is_found_again() {
    let origin = TestOrigin::start("o").await;
    // CachingOptimized keeps query strings out of the key: these URLs are one resource.
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let lang = [("accept-language", "en")];
    get(
        &format!("{}/vv?cc=max-age%3D1&vary=Accept-Language", edge.url()),
        &lang,
    )
    .await;
    edge.handle.clock().advance(Duration::from_secs(5));
    let refetched = get(&format!("{}/vv?cc=max-age%3D600", edge.url()), &lang).await;
    assert_eq!(refetched.h("x-cache"), "Miss from cloudfront");
    assert!(!refetched.headers.contains_key("vary"));
    let hit = get(&format!("{}/vv", edge.url()), &[]).await;
    assert_eq!(
        hit.h("x-cache"),
        "Hit from cloudfront",
        "{}",
        hit.h("cache-status")
    );
}

#[tokio::test]
async fn cache_inspection_shows_stored_variants() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    get(&format!("{}/seen.txt?cc=max-age%3D600", edge.url()), &[]).await;
    let by_path = get(&format!("{}/cache?path=/seen.txt", edge.admin_url()), &[]).await;
    assert_eq!(by_path.status, 200);
    let list: serde_json::Value = serde_json::from_slice(&by_path.body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["status"], 200);
    assert_eq!(list[0]["size"], 64);
    assert_eq!(list[0]["body_in"], "heap", "a small body stays on the heap");
    let key = list[0]["variant"].as_str().unwrap().replace('\n', "%0A");
    let by_key = get(&format!("{}/cache?key={key}", edge.admin_url()), &[]).await;
    assert_eq!(by_key.status, 200, "{key}");
    assert_eq!(
        get(&format!("{}/cache?path=/nope", edge.admin_url()), &[])
            .await
            .status,
        404
    );
    assert_eq!(
        get(&format!("{}/cache", edge.admin_url()), &[])
            .await
            .status,
        400
    );
}

/// Defect 5: a `public` response with `Set-Cookie` is stored without the cookie, so a hit
/// never replays another viewer's `Set-Cookie`; the viewer whose request filled it gets it.
#[tokio::test]
async fn defect_5_a_hit_never_replays_another_viewers_set_cookie() {
    let origin = TestOrigin::start("o").await;
    for preset in [
        "CachingOptimized",
        "UseOriginCacheControlHeaders",
        "rfc9111",
    ] {
        let edge = Node::single(&origin.url(), preset).await;
        let url = format!(
            "{}/sc?cc=public%2C%20max-age%3D600&cookie=session%3Dviewer-a",
            edge.url()
        );
        let first = get(&url, &[("range", "bytes=0-3")]).await;
        assert_eq!(
            first.h("set-cookie"),
            "session=viewer-a",
            "{preset}: filler"
        );
        let hit = get(&url, &[]).await;
        assert_eq!(hit.h("x-cache"), "Hit from cloudfront", "{preset}");
        assert!(
            !hit.headers.contains_key("set-cookie"),
            "{preset}: replayed"
        );
    }
}
