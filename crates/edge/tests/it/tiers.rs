//! Tiers (edge → REC → shield → origin group): hit layers, invalidation across tiers,
//! origin-group failover, non-cacheable methods straight to the origin.

use crate::support::{
    Node, RealOrigin, SCRIPTED_QUERY, TestOrigin, eventually, get, metric_value, send,
};

fn tier_toml(pop: &str, tier: &str, next: Option<&str>, origin: &str, peers: &[String]) -> String {
    let next = next
        .map(|n| format!("next_tier = \"{n}\"\n"))
        .unwrap_or_default();
    let peers = peers
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "pop = \"{pop}\"\ntier = \"{tier}\"\ninvalidation_delay = \"50ms\"\ninvalidation_peers = [{peers}]\n\
         [upstream]\n{next}primary = \"{origin}\"\n[default_behavior]\ncache_policy = {{ preset = \"CachingOptimized\" }}\n\
         {SCRIPTED_QUERY}\n"
    )
}

/// A cache node of `tier` at `pop` whose cacheable misses go to `next` (the origin group
/// `origin` when `None`), with no invalidation peers.
async fn tier(pop: &str, tier: &str, next: Option<&Node>, origin: &str) -> Node {
    let next = next.map(Node::url);
    Node::start(&tier_toml(pop, tier, next.as_deref(), origin, &[])).await
}

#[tokio::test]
async fn hits_name_the_layer_that_answered() {
    let origin = TestOrigin::start("o").await;
    let shield = tier("IAD", "shield", None, &origin.url()).await;
    let rec_a = tier("FRA", "rec", Some(&shield), &origin.url()).await;
    let rec_b = tier("NRT", "rec", Some(&shield), &origin.url()).await;
    let edge_a = tier("FRA", "edge", Some(&rec_a), &origin.url()).await;
    let edge_a2 = tier("MUC", "edge", Some(&rec_a), &origin.url()).await;
    let edge_b = tier("NRT", "edge", Some(&rec_b), &origin.url()).await;
    let path = "/obj?cc=max-age%3D600";
    // Viewers of one distribution all use its domain, so every tier computes one key.
    let host = [("host", "d111111abcdef8.cloudfront.net")];

    let first = get(&format!("{}{path}", edge_a.url()), &host).await;
    assert_eq!(first.h("x-cache"), "Miss from cloudfront");
    // The shield is the only tier that talks to the origin: it made the upstream request.
    assert!(
        first
            .h("server-timing")
            .contains("cdn-upstream-layer;desc=\"Origin Shield\""),
        "{}",
        first.h("server-timing")
    );
    // Every tier added its Cache-Status entry, origin side first.
    assert_eq!(
        first.h("cache-status").matches("fwd=uri-miss").count(),
        3,
        "{}",
        first.h("cache-status")
    );

    let via_rec = get(&format!("{}{path}", edge_a2.url()), &host).await;
    assert_eq!(via_rec.h("x-cache"), "Hit from cloudfront");
    assert!(
        via_rec
            .h("server-timing")
            .contains("cdn-hit-layer;desc=\"REC\""),
        "{}",
        via_rec.h("server-timing")
    );

    let via_shield = get(&format!("{}{path}", edge_b.url()), &host).await;
    assert_eq!(via_shield.h("x-cache"), "Hit from cloudfront");
    assert!(
        via_shield
            .h("server-timing")
            .contains("cdn-hit-layer;desc=\"Origin Shield\"")
    );

    let at_edge = get(&format!("{}{path}", edge_b.url()), &host).await;
    assert!(
        at_edge
            .h("server-timing")
            .contains("cdn-hit-layer;desc=\"EDGE\"")
    );
    assert_eq!(origin.state.count("/obj"), 1);
    assert_eq!(first.body, at_edge.body);
    assert_eq!(
        rec_a
            .metric("edgelab_edge_requests_total{cache_status=\"hit\",pop=\"FRA\",tier=\"rec\"}")
            .await,
        1.0
    );
    assert_eq!(
        shield
            .metric("edgelab_edge_requests_total{cache_status=\"hit\",pop=\"IAD\",tier=\"shield\"}")
            .await,
        1.0
    );

    // A POST from the PoP goes straight to the origin group, not through the tiers.
    let posted = send("POST", &format!("{}/form", edge_a.url()), &[], "x=1").await;
    assert_eq!(posted.status, 200);
    assert!(!posted.h("server-timing").contains("REC"));
    assert_eq!(
        rec_a
            .metric("edgelab_edge_requests_total{cache_status=\"pass\"")
            .await,
        0.0
    );
}

#[tokio::test]
async fn invalidation_reaches_every_tier() {
    let origin = TestOrigin::start("o").await;
    let shield = tier("IAD", "shield", None, &origin.url()).await;
    let rec = tier("FRA", "rec", Some(&shield), &origin.url()).await;
    let peers = vec![rec.admin_url(), shield.admin_url()];
    let edge = Node::start(&tier_toml(
        "FRA",
        "edge",
        Some(&rec.url()),
        &origin.url(),
        &peers,
    ))
    .await;
    for path in ["/img/a.png", "/img/b.png", "/keep.js"] {
        get(&format!("{}{path}?cc=max-age%3D600", edge.url()), &[]).await;
    }
    let created = send(
        "POST",
        &format!("{}/invalidations", edge.admin_url()),
        &[("content-type", "application/json")],
        r#"{"paths": ["/img/*"]}"#,
    )
    .await;
    assert_eq!(created.status, 201);
    let state: serde_json::Value = serde_json::from_slice(&created.body).unwrap();
    assert_eq!(state["status"], "InProgress");
    let id = state["id"].as_str().unwrap().to_string();
    let status_url = format!("{}/invalidations/{id}", edge.admin_url());
    eventually("invalidation completes", || async {
        let got = get(&status_url, &[]).await;
        serde_json::from_slice::<serde_json::Value>(&got.body).unwrap()["status"] == "Completed"
    })
    .await;
    let again = get(&format!("{}/img/a.png?cc=max-age%3D600", edge.url()), &[]).await;
    assert_eq!(
        again.h("x-cache"),
        "Miss from cloudfront",
        "{}",
        again.h("cache-status")
    );
    assert_eq!(
        origin.state.count("/img/a.png"),
        2,
        "no tier kept the old copy"
    );
    let kept = get(&format!("{}/keep.js?cc=max-age%3D600", edge.url()), &[]).await;
    assert_eq!(kept.h("x-cache"), "Hit from cloudfront");
    assert!(
        shield
            .metric("edgelab_edge_evictions_total{cause=\"invalidated\"")
            .await
            >= 2.0
    );
    assert!(
        get(&format!("{}/invalidations/nope", edge.admin_url()), &[])
            .await
            .status
            == 404
    );
}

#[tokio::test]
async fn origin_group_fails_over_on_status_and_on_connection_failure() {
    let primary = TestOrigin::start("primary").await;
    let secondary = TestOrigin::start("secondary").await;
    let config = format!(
        "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\nsecondary = \"{}\"\nfailover_status_codes = [503]\n\
         connection_attempts = 2\nconnection_timeout = \"200ms\"\nresponse_timeout = \"2s\"\n\
         [default_behavior]\ncache_policy = {{ preset = \"CachingDisabled\" }}\n",
        primary.url(),
        secondary.url()
    );
    let edge = Node::start(&config).await;
    assert_eq!(
        get(&format!("{}/x", edge.url()), &[]).await.h("x-origin"),
        "primary"
    );
    primary
        .state
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let failed_over = get(&format!("{}/x", edge.url()), &[]).await;
    assert_eq!(failed_over.status, 200);
    assert_eq!(failed_over.h("x-origin"), "secondary");
    primary.shutdown.trigger();
    drop(primary);
    let down = get(&format!("{}/y", edge.url()), &[]).await;
    assert_eq!(down.h("x-origin"), "secondary");
    assert!(
        edge.metric("edgelab_edge_upstream_requests_total{pop=\"FRA\",result=\"failover\"")
            .await
            >= 2.0
    );

    // A slow origin answers 504 after the response timeout.
    let slow = TestOrigin::start("slow").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\nresponse_timeout = \"200ms\"\n\
         [default_behavior]\n{SCRIPTED_QUERY}\n",
        slow.url()
    ))
    .await;
    let timed_out = get(&format!("{}/z?delay_ms=2000", edge.url()), &[]).await;
    assert_eq!(timed_out.status, 504);
    assert_eq!(timed_out.h("x-cache"), "Error from cloudfront");
}

#[tokio::test]
async fn real_origin_objects_arrive_intact_through_the_tiers() {
    let origin = RealOrigin::start().await;
    let origin_url = origin.url();
    let shield = tier("IAD", "shield", None, &origin_url).await;
    let edge = tier("FRA", "edge", Some(&shield), &origin_url).await;
    let entries: Vec<_> = origin.handle.catalog().entries().take(5).collect();
    assert!(!entries.is_empty());
    for entry in entries {
        for round in 0..2 {
            let got = get(&format!("{}{}", edge.url(), entry.path), &[]).await;
            assert_eq!(got.status, 200, "{}", entry.path);
            let digest = format!("xxh3={:016x}", xxhash_rust::xxh3::xxh3_64(&got.body));
            assert_eq!(
                digest,
                entry.digest.to_string(),
                "{} round {round}",
                entry.path
            );
        }
    }
}

#[tokio::test]
async fn a_modelled_upstream_hop_shows_in_server_timing() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\nrtt = \"40ms\"\n",
        origin.url()
    ))
    .await;
    let got = get(&format!("{}/far?cc=max-age%3D60", edge.url()), &[]).await;
    let timing = got.h("server-timing");
    let fbl: f64 = timing
        .split(',')
        .find_map(|m| m.strip_prefix("cdn-upstream-fbl;dur="))
        .and_then(|v| v.parse().ok())
        .expect("cdn-upstream-fbl present");
    assert!(
        fbl >= 40.0,
        "first byte after at least one modelled RTT: {timing}"
    );
}

#[tokio::test]
async fn upstream_link_delivery_lateness_is_exported_per_class() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\nrtt = \"5ms\"\n",
        origin.url()
    ))
    .await;
    let name = "edgelab_link_delivery_lateness_seconds";
    let before = edge.metrics().await;
    assert!(
        before.contains(&format!("# TYPE {name} summary")),
        "exported before any traffic: {before}"
    );
    assert_eq!(metric_value(&before, &format!("{name}_count{{")), 0.0);
    let got = get(&format!("{}/late?cc=max-age%3D60", edge.url()), &[]).await;
    assert_eq!(got.status, 200);
    let text = edge.metrics().await;
    let count = metric_value(
        &text,
        &format!("{name}_count{{class=\"backbone\",pop=\"FRA\",tier=\"edge\"}}"),
    );
    // The connect cost and the response head at least.
    assert!(count >= 2.0, "{text}");
    assert!(
        text.contains(&format!(
            "{name}{{class=\"backbone\",pop=\"FRA\",tier=\"edge\",quantile=\"0.99\"}}"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn the_upstream_pool_reuses_its_connections_and_counts_each_upstream() {
    let origin = TestOrigin::start("o").await;
    let rec = tier("FRA", "rec", None, &origin.url()).await;
    let edge = tier("FRA", "edge", Some(&rec), &origin.url()).await;
    let opened = |node: &'static str, upstream: &'static str| {
        format!(
            "edgelab_edge_upstream_connections_opened_total{{pop=\"FRA\",tier=\"{node}\",upstream=\"{upstream}\"}}"
        )
    };
    let before = edge.metrics().await;
    assert!(
        before.contains(&opened("edge", "next_tier")),
        "exported at 0"
    );
    assert_eq!(metric_value(&before, &opened("edge", "primary")), 0.0);
    let misses = 20;
    for i in 0..misses {
        let got = get(&format!("{}/obj-{i}?cc=max-age%3D600", edge.url()), &[]).await;
        assert_eq!(got.h("x-cache"), "Miss from cloudfront");
    }
    let after = edge.metrics().await;
    let ok = "edgelab_edge_upstream_requests_total{pop=\"FRA\",result=\"ok\",tier=\"edge\"}";
    assert_eq!(metric_value(&after, ok), f64::from(misses));
    // One request at a time: the pool hands the same keep-alive connection back (a second
    // one at most, when a request starts before the last response's connection is back).
    let to_rec = metric_value(&after, &opened("edge", "next_tier"));
    assert!(
        (1.0..=2.0).contains(&to_rec),
        "{to_rec} connections for {misses} misses"
    );
    let rec_to_origin = rec.metric(&opened("rec", "primary")).await;
    assert!((1.0..=2.0).contains(&rec_to_origin), "{rec_to_origin}");
    // A request that cannot be cached goes from the edge to the origin: its own upstream.
    let posted = send("POST", &format!("{}/form", edge.url()), &[], "x=1").await;
    assert!(posted.status.is_success(), "{:?}", posted.status);
    assert_eq!(edge.metric(&opened("edge", "primary")).await, 1.0);
    assert_eq!(edge.metric(&opened("edge", "next_tier")).await, to_rec);
}

/// The connections a node opens for `misses` concurrent misses (distinct keys) to an origin
/// 40 ms away, with at most `max_connecting` connects in flight; and how many connects
/// waited for a slot.
async fn burst_of_misses(max_connecting: usize, misses: usize) -> (f64, f64) {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\nrtt = \"40ms\"\nmax_connecting = {max_connecting}\n",
        origin.url()
    ))
    .await;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..misses {
        let url = format!("{}/burst-{i}?cc=max-age%3D600", edge.url());
        burst.spawn(async move { get(&url, &[]).await });
    }
    while let Some(got) = burst.join_next().await {
        let got = got.expect("the request task completes");
        assert_eq!(got.status, 200);
        assert_eq!(got.h("x-cache"), "Miss from cloudfront");
    }
    let labels = "{pop=\"FRA\",tier=\"edge\",upstream=\"primary\"}";
    let text = edge.metrics().await;
    (
        metric_value(
            &text,
            &format!("edgelab_edge_upstream_connections_opened_total{labels}"),
        ),
        metric_value(
            &text,
            &format!("edgelab_edge_upstream_connect_waits_total{labels}"),
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_misses_opens_connections_a_few_at_a_time() {
    let misses = 24;
    // Without a cap that bites, every request of the burst opens its own connection (none
    // comes free before its connect, 40 ms, is done).
    let (uncapped, waits) = burst_of_misses(64, misses).await;
    assert_eq!(waits, 0.0);
    assert!(
        uncapped >= 20.0,
        "{uncapped} connections for {misses} misses"
    );
    // Two at a time: requests are served by connections that come free, and a connect whose
    // request was served meanwhile is not made.
    let (capped, waits) = burst_of_misses(2, misses).await;
    assert!(waits >= 1.0, "{waits}");
    assert!(
        capped < uncapped && capped >= 2.0,
        "{capped} connections with a cap of 2, {uncapped} without"
    );
}
