//! Request collapsing: 100 concurrent misses → one origin request; uncacheable answers release
//! the waiters; disabled collapsing sends them all.

use crate::support::{Node, TestOrigin, get};

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
        "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\n[default_behavior]\ncollapse = false\n",
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
