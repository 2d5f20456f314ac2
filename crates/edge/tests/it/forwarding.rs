//! Defect 4: the edge forwards only what the cache key holds plus what the origin request
//! policy adds, so unkeyed viewer headers and cookies never reach the origin.

use crate::support::{Node, TestOrigin, get};

const POISON: [(&str, &str); 6] = [
    ("cookie", "session=viewer-a"),
    ("x-forwarded-host", "evil.example"),
    ("x-host", "evil.example"),
    ("x-original-url", "/admin"),
    ("x-forwarded-scheme", "http"),
    ("user-agent", "probe"),
];

fn seen(origin: &TestOrigin) -> Vec<http::HeaderMap> {
    let requests = origin.state.requests.lock().unwrap();
    requests.iter().map(|(_, h)| h.clone()).collect()
}

#[tokio::test]
async fn defect_4_unkeyed_headers_and_cookies_never_reach_the_origin() {
    let origin = TestOrigin::start("o").await;
    for preset in [
        "CachingOptimized",
        "CachingDisabled",
        "UseOriginCacheControlHeaders",
        "rfc9111",
    ] {
        let edge = Node::single(&origin.url(), preset).await;
        let got = get(&format!("{}/f-{preset}", edge.url()), &POISON).await;
        assert_eq!(got.status, 200, "{preset}");
    }
    let seen = seen(&origin);
    assert_eq!(seen.len(), 4);
    for (headers, preset) in seen.iter().zip(["opt", "dis", "origin", "rfc"]) {
        for name in [
            "x-forwarded-host",
            "x-host",
            "x-original-url",
            "x-forwarded-scheme",
        ] {
            assert!(!headers.contains_key(name), "{preset}: {name} forwarded");
        }
        if preset != "rfc" {
            assert!(
                !headers.contains_key("cookie"),
                "{preset}: cookie forwarded"
            );
            // The viewer's User-Agent is not forwarded: CloudFront sends its own.
            assert_eq!(
                headers.get("user-agent").unwrap(),
                "Amazon CloudFront",
                "{preset}: {headers:?}"
            );
        }
    }
}

#[tokio::test]
async fn defect_4_managed_origin_request_policies_forward_what_they_name() {
    let origin = TestOrigin::start("o").await;
    let config = |managed: &str| {
        format!(
            "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\n[default_behavior]\n\
             origin_request = {{ managed = \"{managed}\" }}\n",
            origin.url()
        )
    };
    let ua = Node::start(&config("UserAgentRefererHeaders")).await;
    get(
        &format!("{}/ua", ua.url()),
        &[&POISON[..], &[("referer", "r")]].concat(),
    )
    .await;
    let all = Node::start(&config("AllViewer")).await;
    get(&format!("{}/all", all.url()), &POISON).await;
    let seen = seen(&origin);
    assert_eq!(seen[0].get("user-agent").unwrap(), "probe");
    assert_eq!(seen[0].get("referer").unwrap(), "r");
    assert!(!seen[0].contains_key("cookie"));
    assert!(!seen[0].contains_key("x-forwarded-host"));
    assert_eq!(seen[1].get("cookie").unwrap(), "session=viewer-a");
    assert_eq!(seen[1].get("x-forwarded-host").unwrap(), "evil.example");
}

/// The query string the origin saw for the one request to `path`.
fn target_of(origin: &TestOrigin, path: &str) -> String {
    let targets = origin.state.targets.lock().unwrap();
    let mut matching = targets.iter().filter(|t| t.split('?').next() == Some(path));
    let target = matching.next().expect("the origin was asked").clone();
    assert!(matching.next().is_none(), "{path} asked once");
    target
}

#[tokio::test]
async fn query_strings_reach_the_origin_only_from_the_key_or_the_origin_request_policy() {
    // CloudFront ("Working with policies"): the cache key's values go to the origin, the
    // origin request policy adds to them; with neither naming a query string, none is sent.
    let origin = TestOrigin::start("o").await;
    let url = origin.url();
    let behavior = |extra: &str| {
        format!("pop = \"FRA\"\n[upstream]\nprimary = \"{url}\"\n[default_behavior]\n{extra}\n")
    };
    let cases = [
        (
            "/q-opt",
            "cache_policy = { preset = \"CachingOptimized\" }",
            "/q-opt",
        ),
        (
            "/q-dis",
            "cache_policy = { preset = \"CachingDisabled\" }",
            "/q-dis",
        ),
        (
            "/q-origin",
            "cache_policy = { preset = \"UseOriginCacheControlHeaders\" }",
            "/q-origin",
        ),
        (
            "/q-key",
            "cache_policy = { preset = \"CachingOptimized\", query_strings = [\"a\"] }",
            "/q-key?a=1",
        ),
        (
            "/q-orp",
            "cache_policy = { preset = \"CachingOptimized\", query_strings = [\"a\"] }\n\
             origin_request = { query_strings = [\"b\"] }",
            "/q-orp?a=1&b=2",
        ),
        (
            "/q-all",
            "origin_request = { managed = \"AllViewer\" }",
            "/q-all?a=1&b=2&c=3",
        ),
        (
            "/q-rfc",
            "cache_policy = { preset = \"rfc9111\" }",
            "/q-rfc?a=1&b=2&c=3",
        ),
    ];
    for (path, extra, _) in cases {
        let edge = Node::start(&behavior(extra)).await;
        let got = get(&format!("{}{path}?a=1&b=2&c=3", edge.url()), &[]).await;
        assert_eq!(got.status, 200, "{path}");
    }
    for (path, _, expected) in cases {
        assert_eq!(target_of(&origin, path), expected);
    }
}

#[tokio::test]
async fn defect_4_an_unknown_managed_policy_is_a_config_error() {
    let text = "[upstream]\nprimary = \"http://127.0.0.1:1\"\n[default_behavior]\n\
                origin_request = { managed = \"Everything\" }\n";
    let raw: edgelab_edge::config::RawEdgeConfig = toml::from_str(text).unwrap();
    let err = edgelab_edge::config::EdgeConfig::try_from(raw).unwrap_err();
    assert!(err.to_string().contains("origin_request.managed"), "{err}");
}

#[tokio::test]
async fn default_root_object_serves_slash_as_the_root_object_and_leaves_other_paths() {
    let origin = TestOrigin::start("o").await;
    let edge = Node::start(&format!(
        "pop = \"FRA\"\ndefault_root_object = \"index.html\"\n[upstream]\nprimary = \"{}\"\n",
        origin.url()
    ))
    .await;
    assert_eq!(get(&format!("{}/", edge.url()), &[]).await.status, 200);
    assert_eq!(get(&format!("{}/docs/", edge.url()), &[]).await.status, 200);
    let again = get(&format!("{}/", edge.url()), &[]).await;
    assert_eq!(
        again.h("x-cache"),
        "Hit from cloudfront",
        "`/` is cached as /index.html"
    );
    let targets = origin.state.targets.lock().unwrap().clone();
    assert_eq!(targets, ["/index.html", "/docs/"]);
}

/// Issue 11: the origin sees `User-Agent: Amazon CloudFront` unless the origin request policy
/// forwards the viewer's, and the viewer's `Host` only under a policy that forwards it
/// (`AllViewer`, `HostHeaderOnly`); otherwise its own name.
#[tokio::test]
async fn the_origin_sees_cloudfronts_user_agent_and_the_viewer_host_only_when_forwarded() {
    let origin = TestOrigin::start("o").await;
    let config = |managed: &str| {
        format!(
            "pop = \"FRA\"\n[upstream]\nprimary = \"{}\"\n[default_behavior]\n\
             origin_request = {{ managed = \"{managed}\" }}\n",
            origin.url()
        )
    };
    let viewer = [("host", "shop.example"), ("user-agent", "probe/1")];
    for managed in [
        "AllViewer",
        "HostHeaderOnly",
        "AllViewerExceptHostHeader",
        "CORS-S3Origin",
    ] {
        let edge = Node::start(&config(managed)).await;
        assert_eq!(
            get(&format!("{}/h-{managed}", edge.url()), &viewer)
                .await
                .status,
            200
        );
    }
    let seen = seen(&origin);
    let own = origin.addr.to_string();
    let host = |n: usize| seen[n].get("host").unwrap().to_str().unwrap().to_string();
    let agent = |n: usize| {
        seen[n]
            .get("user-agent")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        (host(0), agent(0)),
        ("shop.example".into(), "probe/1".into())
    );
    assert_eq!(
        (host(1), agent(1)),
        ("shop.example".into(), "Amazon CloudFront".into())
    );
    assert_eq!((host(2), agent(2)), (own.clone(), "probe/1".into()));
    assert_eq!((host(3), agent(3)), (own, "Amazon CloudFront".into()));
}

#[tokio::test]
async fn a_viewers_request_id_is_replaced_upstream_and_a_lower_tiers_is_kept() {
    let origin = TestOrigin::start("o").await;
    let tier_id = "T".repeat(56);
    let mut answers = Vec::new();
    // A pass, then a miss on the cache path, each from a viewer and from a lower tier.
    for preset in ["CachingDisabled", "CachingOptimized"] {
        let edge = Node::single(&origin.url(), preset).await;
        let viewer = get(
            &format!("{}/v-{preset}", edge.url()),
            &[("x-amz-cf-id", "chosen-by-the-viewer")],
        )
        .await;
        let lower = get(
            &format!("{}/t-{preset}", edge.url()),
            &[("x-edgelab-tier", "EDGE"), ("x-amz-cf-id", &tier_id)],
        )
        .await;
        answers.push((viewer, false));
        answers.push((lower, true));
        if preset == "CachingOptimized" {
            // A fresh hit forwards nothing and answers with an id of its own.
            let hit = get(&format!("{}/t-{preset}", edge.url()), &[]).await;
            assert_eq!(hit.h("x-cache"), "Hit from cloudfront");
            assert_eq!(hit.h("x-amz-cf-id").len(), 56);
            assert_ne!(hit.h("x-amz-cf-id"), tier_id);
        }
    }
    let seen = seen(&origin);
    assert_eq!(seen.len(), answers.len());
    for (headers, (answer, from_tier)) in seen.iter().zip(&answers) {
        let sent: Vec<_> = headers.get_all("x-amz-cf-id").iter().collect();
        assert_eq!(sent.len(), 1, "one id upstream");
        assert_eq!(sent[0].to_str().unwrap(), answer.h("x-amz-cf-id"));
        if *from_tier {
            assert_eq!(answer.h("x-amz-cf-id"), tier_id);
        } else {
            assert_eq!(answer.h("x-amz-cf-id").len(), 56);
        }
        assert!(
            headers.get("x-edgelab-tier").is_some(),
            "the node's own marker"
        );
    }
}
