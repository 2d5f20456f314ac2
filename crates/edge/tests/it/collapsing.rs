//! Request collapsing: 100 concurrent misses → one origin request; uncacheable answers release
//! the waiters; disabled collapsing sends them all; waiters stream a slow fill (issue 11
//! defect 7), see its failure, and get ranges, 304s and HEADs from its stored object.

use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::support::{Node, SCRIPTED_QUERY, TestOrigin, eventually, get, open, read_at_least};

async fn burst(url: &str, n: usize) -> Vec<String> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let url = url.to_string();
            tokio::spawn(async move {
                let got = get(&url, &[]).await;
                assert_eq!(got.status, 200);
                got.h("cache-status")
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_concurrent_misses_make_one_origin_request() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let statuses = burst(
        &format!("{}/hot?delay_ms=500&cc=max-age%3D60", edge.url()),
        100,
    )
    .await;
    assert_eq!(origin.state.count("/hot"), 1);
    // On a loaded machine a few requests may arrive after the fill: those are plain hits.
    let collapsed = statuses.iter().filter(|s| s.contains("collapsed")).count();
    let served = statuses
        .iter()
        .filter(|s| s.contains("collapsed") || s.contains("; hit"))
        .count();
    assert_eq!(served, 99, "{statuses:?}");
    assert!(collapsed >= 50, "{collapsed} collapsed: {statuses:?}");
    let metric = edge.metric("edgelab_edge_collapsed_requests_total{").await;
    assert_eq!(metric, collapsed as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncacheable_answers_release_waiters_to_go_upstream() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "UseOriginCacheControlHeaders").await;
    burst(
        &format!("{}/private?delay_ms=300&cc=private", edge.url()),
        20,
    )
    .await;
    let n = origin.state.count("/private");
    assert!(n >= 19, "waiters went upstream on their own: {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_collapsing_sends_every_miss_upstream() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\n[default_behavior]\ncollapse = false\n{SCRIPTED_QUERY}\n",
        origin.url()
    ))
    .await;
    burst(
        &format!("{}/hot?delay_ms=1000&cc=max-age%3D60", edge.url()),
        100,
    )
    .await;
    let n = origin.state.count("/hot");
    assert!(n >= 90, "{n} origin requests");
    assert_eq!(
        edge.metric("edgelab_edge_collapsed_requests_total{").await,
        0.0
    );
}

/// An edge with `collapse_timeout` in front of `origin` under `preset`.
async fn edge_with_timeout(origin: &TestOrigin, timeout: &str, preset: &str) -> Node {
    Node::start(&format!(
        "pop = \"FRA\"\ncollapse_timeout = \"{timeout}\"\n[upstream]\nprimary = \"{}\"\n\
         [default_behavior]\ncache_policy = {{ preset = \"{preset}\" }}\n{SCRIPTED_QUERY}\n",
        origin.url()
    ))
    .await
}

/// The rest of `body` and when it ended.
async fn finish(mut body: Incoming) -> (Result<Vec<u8>, String>, Instant) {
    let rest = read_at_least(&mut body, usize::MAX).await;
    (rest, Instant::now())
}

/// Within 10 s, or the test fails instead of hanging.
async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} within 10 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapse_slow_body_streams_to_waiters_from_one_origin_fetch() {
    let origin = TestOrigin::start("o").await;
    // A collapse timeout far shorter than the body: it covers only the wait for the head.
    let timeout = Duration::from_millis(1);
    let edge = edge_with_timeout(&origin, "1ms", "CachingOptimized").await;
    let size = 171_000;
    let half = size / 2;
    let url = format!("{}/slow?cc=max-age%3D60&size={size}&gate=1", edge.url());
    // The leader's head and first half arrive while the origin holds the rest.
    let mut viewers = vec![open(&url, &[]).await];
    let joined = Instant::now();
    for _ in 0..4 {
        viewers.push(open(&url, &[]).await);
    }
    let mut bodies = Vec::new();
    let mut statuses = Vec::new();
    for viewer in viewers {
        statuses.push(
            viewer.headers()["cache-status"]
                .to_str()
                .unwrap()
                .to_string(),
        );
        let mut body = viewer.into_body();
        let first = bounded("the first half", read_at_least(&mut body, half)).await;
        assert!(
            first.unwrap().len() >= half,
            "streamed before the body is complete"
        );
        bodies.push(body);
    }
    assert!(
        joined.elapsed() > timeout,
        "the body outlasted the collapse timeout"
    );
    assert_eq!(
        edge.metric("edgelab_edge_collapsed_from_fill_total{").await,
        4.0
    );
    origin.state.open_gate();
    let ends: Vec<_> = bodies
        .into_iter()
        .map(|body| tokio::spawn(finish(body)))
        .collect();
    let mut finished = Vec::new();
    for end in ends {
        let (rest, at) = bounded("the rest", end).await.unwrap();
        assert!(rest.unwrap().len() + half >= size);
        finished.push(at);
    }
    assert_eq!(origin.state.count("/slow"), 1, "one origin fetch");
    assert!(statuses[0].contains("fwd=uri-miss"), "{statuses:?}");
    assert!(
        statuses[1..]
            .iter()
            .all(|s| s.contains("hit") && s.contains("collapsed")),
        "{statuses:?}"
    );
    let leader_done = finished[0];
    for at in &finished[1..] {
        let late = at.saturating_duration_since(leader_done);
        assert!(
            late < Duration::from_secs(1),
            "a waiter ended {late:?} after the leader"
        );
    }
    // The whole body was stored once and later viewers hit it.
    assert_eq!(edge.handle.cached_objects(), 1);
    let again = get(&url, &[]).await;
    assert_eq!(again.body.len(), size);
    assert_eq!(again.h("x-cache"), "Hit from cloudfront");
    assert_eq!(origin.state.count("/slow"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapse_a_leader_failing_midway_fails_every_waiter_and_stores_nothing() {
    let origin = TestOrigin::start("o").await;
    let edge = edge_with_timeout(&origin, "5s", "CachingOptimized").await;
    let url = format!(
        "{}/cut?cc=max-age%3D60&size=100000&gate=1&truncate=1",
        edge.url()
    );
    let mut viewers = vec![open(&url, &[]).await];
    for _ in 0..3 {
        viewers.push(open(&url, &[]).await);
    }
    let mut bodies = Vec::new();
    for viewer in viewers {
        assert_eq!(viewer.status(), 200);
        let mut body = viewer.into_body();
        let first = bounded("the first half", read_at_least(&mut body, 50_000)).await;
        assert!(first.unwrap().len() >= 50_000);
        bodies.push(body);
    }
    origin.state.open_gate();
    for body in bodies {
        let (rest, _) = bounded("the failure", finish(body)).await;
        assert!(
            rest.is_err(),
            "a visibly failed body, never a short complete one"
        );
    }
    assert_eq!(origin.state.count("/cut"), 1);
    assert_eq!(
        edge.handle.cached_objects(),
        0,
        "nothing truncated is stored"
    );
    assert_eq!(
        edge.metric("edgelab_edge_upstream_requests_total{pop=\"FRA\",result=\"truncated\"")
            .await,
        1.0
    );
}

/// The origin response timeout also bounds the wait between body packets (CloudFront's
/// "Response timeout"): an origin that stalls mid-body fails its viewer and every waiter on
/// the fill, visibly, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upstream_body_fails_the_viewer_and_every_waiter_and_stores_nothing() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\ncollapse_timeout = \"5s\"\n[upstream]\nprimary = \"{}\"\n\
         response_timeout = \"300ms\"\n[[behaviors]]\npath_pattern = \"/pass/*\"\n\
         cache_policy = {{ preset = \"CachingDisabled\" }}\n{SCRIPTED_QUERY}\n\
         [default_behavior]\n{SCRIPTED_QUERY}\n",
        origin.url()
    ))
    .await;
    // Half the body, then nothing until the test opens the gate (it never does in time).
    let url = format!("{}/stall?cc=max-age%3D60&size=100000&gate=1", edge.url());
    let mut streamed = Vec::new();
    for _ in 0..3 {
        let viewer = bounded("a head", open(&url, &[])).await;
        assert_eq!(viewer.status(), 200);
        let mut body = viewer.into_body();
        let first = bounded("the first half", read_at_least(&mut body, 50_000)).await;
        assert!(first.unwrap().len() >= 50_000);
        streamed.push(body);
    }
    // A waiter that needs the whole object gets the failure as an error of its own.
    let range = bounded("a range answer", get(&url, &[("range", "bytes=0-9")])).await;
    assert_eq!(range.status, 502, "{:?}", range.body);
    assert!(
        String::from_utf8_lossy(&range.body).contains("stalled"),
        "{:?}",
        range.body
    );
    for body in streamed {
        let (rest, _) = bounded("the failure", finish(body)).await;
        assert!(rest.is_err(), "a visibly failed body, never a short one");
    }
    assert_eq!(origin.state.count("/stall"), 1);
    assert_eq!(edge.handle.cached_objects(), 0, "nothing stalled is stored");
    let body_timeouts = "edgelab_edge_upstream_requests_total{pop=\"FRA\",result=\"body_timeout\"";
    assert_eq!(edge.metric(body_timeouts).await, 1.0);
    // A response passed through (no fill, no waiters) is bounded the same way.
    let passed = format!("{}/pass/x?size=100000&gate=1", edge.url());
    let (status, body) = bounded("the passed answer", crate::support::get_body(&passed)).await;
    assert_eq!(status, 200);
    assert!(body.is_err(), "the pass-through body fails too");
    origin.state.open_gate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapse_a_response_that_is_not_storable_sends_each_waiter_upstream_alone() {
    let origin = TestOrigin::start("o").await;
    let edge = edge_with_timeout(&origin, "5s", "UseOriginCacheControlHeaders").await;
    let url = format!("{}/mine?cc=private&head_gate=1", edge.url());
    let leader = tokio::spawn({
        let url = url.clone();
        async move { get(&url, &[]).await }
    });
    eventually("the leader reaches the origin", || async {
        origin.state.count("/mine") == 1
    })
    .await;
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get(&url, &[]).await })
        })
        .collect();
    eventually("three waiters wait on the leader", || async {
        edge.metric("edgelab_edge_collapsed_requests_total{").await == 3.0
    })
    .await;
    origin.state.open_gate();
    assert_eq!(leader.await.unwrap().status, 200);
    for waiter in waiters {
        let got = waiter.await.unwrap();
        assert_eq!(got.status, 200);
        let status = got.h("cache-status");
        assert!(
            status.contains("fwd=uri-miss") && status.contains("collapsed"),
            "{status}"
        );
    }
    assert_eq!(
        origin.state.count("/mine"),
        4,
        "each waiter fetched its own"
    );
    assert_eq!(
        edge.metric("edgelab_edge_collapsed_from_fill_total{").await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapse_range_conditional_and_head_waiters_get_answers_from_the_completed_fill() {
    let origin = TestOrigin::start("o").await;
    let edge = edge_with_timeout(&origin, "5s", "CachingOptimized").await;
    let url = format!("{}/r?cc=max-age%3D60&size=1000&gate=1&etag=v1", edge.url());
    let leader = open(&url, &[]).await;
    let asks: [(&str, &[(&str, &str)]); 4] = [
        ("GET", &[("range", "bytes=0-9")]),
        ("GET", &[("range", "bytes=900-909")]),
        ("GET", &[("if-none-match", "\"v1\"")]),
        ("HEAD", &[]),
    ];
    let waiters: Vec<_> = asks
        .iter()
        .map(|&(method, headers)| {
            let url = url.clone();
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            tokio::spawn(async move {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                crate::support::send(method, &url, &headers, "").await
            })
        })
        .collect();
    eventually("four waiters wait on the leader", || async {
        edge.metric("edgelab_edge_collapsed_requests_total{").await == 4.0
    })
    .await;
    origin.state.open_gate();
    let whole = leader.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(whole.len(), 1000);
    let mut got = Vec::new();
    for waiter in waiters {
        got.push(bounded("a waiter's answer", waiter).await.unwrap());
    }
    assert_eq!(got[0].status, 206);
    assert_eq!(got[0].body, whole.slice(0..10));
    assert_eq!(got[1].status, 206);
    assert_eq!(got[1].body, whole.slice(900..910));
    assert_eq!(got[2].status, 304);
    assert_eq!(got[3].status, 200);
    assert_eq!(got[3].h("content-length"), "1000");
    assert!(got[3].body.is_empty());
    assert!(
        got.iter()
            .all(|g| g.h("cache-status").contains("collapsed"))
    );
    assert_eq!(origin.state.count("/r"), 1);
    assert_eq!(
        edge.metric("edgelab_edge_collapsed_from_fill_total{").await,
        4.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapse_a_body_outgrowing_the_store_reaches_the_leader_whole_and_waiters_go_alone() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\nmax_object_bytes = 5000\n[upstream]\nprimary = \"{}\"\n\
         [default_behavior]\n{SCRIPTED_QUERY}\n",
        origin.url()
    ))
    .await;
    // No Content-Length: only the bytes show that the body is over the object limit, once
    // the second half (after the gate) arrives.
    let url = format!(
        "{}/long?cc=max-age%3D60&size=8000&gate=1&chunked=1",
        edge.url()
    );
    let leader = open(&url, &[]).await;
    let waiter = tokio::spawn({
        let url = url.clone();
        async move { get(&url, &[]).await }
    });
    eventually("the waiter waits on the leader", || async {
        edge.metric("edgelab_edge_collapsed_requests_total{").await == 1.0
    })
    .await;
    origin.state.open_gate();
    let (whole, _) = bounded("the leader's body", finish(leader.into_body())).await;
    assert_eq!(whole.unwrap().len(), 8_000, "the leader gets all of it");
    let alone = bounded("the waiter", waiter).await.unwrap();
    assert_eq!(alone.body.len(), 8_000);
    assert!(
        alone.h("cache-status").contains("collapsed"),
        "{}",
        alone.h("cache-status")
    );
    assert_eq!(
        origin.state.count("/long"),
        2,
        "the waiter fetched on its own"
    );
    assert_eq!(edge.handle.cached_objects(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapse_waiters_never_get_the_leaders_set_cookie() {
    let origin = TestOrigin::start("o").await;
    let edge = edge_with_timeout(&origin, "5s", "CachingOptimized").await;
    let url = format!(
        "{}/c?cc=public%2C%20max-age%3D60&size=2000&gate=1&cookie=session%3Dleader",
        edge.url()
    );
    let leader = open(&url, &[]).await;
    assert_eq!(leader.headers()["set-cookie"], "session=leader");
    let waiter = open(&url, &[]).await;
    assert!(waiter.headers().get("set-cookie").is_none());
    origin.state.open_gate();
    let (body, _) = bounded("the waiter's body", finish(waiter.into_body())).await;
    assert_eq!(body.unwrap().len(), 2000);
    drop(leader);
    assert_eq!(origin.state.count("/c"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapse_fills_leave_the_upstream_connection_reusable() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    for i in 0..5 {
        let got = get(
            &format!("{}/seq{i}?cc=max-age%3D60&size=3000", edge.url()),
            &[],
        )
        .await;
        assert_eq!(got.body.len(), 3000);
        assert!(got.h("cache-status").contains("stored"));
    }
    let connections = origin
        .state
        .connections
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(connections, 1, "one keep-alive connection for six fills");
}
