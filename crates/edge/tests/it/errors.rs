//! CloudFront's rules for what the viewer sees of the upstream (issue 11): the
//! `Server-Timing` upstream layer and the origin's own metrics.

use crate::support::{Node, TestOrigin, get};

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
            "pop = \"{pop}\"\ntier = \"{tier}\"\n[upstream]\n{next}primary = \"{}\"\n",
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
