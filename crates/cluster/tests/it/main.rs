//! In-process clusters on loopback: tiers, faults and routing with real servers.

use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;
use edgelab_cluster::targets::{self, Addresses};
use edgelab_cluster::{Binding, Cluster, Topology};
use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::Mode;
use edgelab_loadgen::scenario::Population;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get(client: &HttpClient, url: &str) -> (u16, http::HeaderMap, Bytes) {
    let response = tokio::time::timeout(Duration::from_secs(20), client.get(url.parse().unwrap()))
        .await
        .expect("answer within 20 s")
        .expect("request succeeds");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, body)
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

const TWO_AZ: &str = r#"
pops = ["DUB", "LHR"]
seed = 3
[origin]
region = "eu-west-1"
azs = ["euw1-az1", "euw1-az2"]
objects = 50
[edge]
connection_timeout = "200ms"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_flow_through_the_tiers_and_the_origin_group_fails_over() {
    let topology = Topology::parse(TWO_AZ, "test").expect("valid topology");
    let shutdown = Shutdown::new();
    let cluster = Cluster::start(topology, Binding::Loopback, shutdown.clone())
        .await
        .expect("cluster starts");
    let pop = cluster.node("pop-dub").expect("PoP runs").traffic.clone();
    let client = client();

    let (status, first, body) = get(&client, &format!("{pop}/static/00000.js")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&first, "x-cache"), "Miss from cloudfront");
    assert!(!body.is_empty());
    let (_, second, again) = get(&client, &format!("{pop}/static/00000.js")).await;
    assert_eq!(header(&second, "x-cache"), "Hit from cloudfront");
    assert_eq!(body, again, "a hit serves the same bytes");

    // Another PoP of the distribution: its REC misses, the shield has the object.
    let other = cluster.node("pop-lhr").expect("PoP runs").traffic.clone();
    let (status, headers, from_shield) = get(&client, &format!("{other}/static/00000.js")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-cache"), "Hit from cloudfront");
    assert!(
        header(&headers, "server-timing").contains("cdn-hit-layer;desc=\"Origin Shield\""),
        "{:?}",
        header(&headers, "server-timing")
    );
    assert_eq!(from_shield, body);

    // The primary AZ fails: an uncached object comes from the secondary replica.
    assert_eq!(
        cluster.fail("euw1-az1").expect("known AZ"),
        vec!["origin-euw1-az1"]
    );
    let (status, headers, _) = get(&client, &format!("{pop}/static/00001.js")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-edgelab-origin"), "eu-west-1/euw1-az2");

    // The whole Region fails: cached objects are still served at the edge.
    assert_eq!(cluster.fail("eu-west-1").expect("known Region").len(), 2);
    let (status, headers, _) = get(&client, &format!("{pop}/static/00000.js")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-cache"), "Hit from cloudfront");
    let (status, headers, _) = get(&client, &format!("{pop}/static/00002.js")).await;
    assert!(
        status >= 500,
        "an uncached object cannot be fetched: {status}"
    );
    assert_eq!(header(&headers, "x-cache"), "Error from cloudfront");

    cluster.restore("eu-west-1").expect("known Region");
    // The error itself is cached for CloudFront's error caching minimum TTL (10 s).
    let (again, headers, _) = get(&client, &format!("{pop}/static/00002.js")).await;
    assert_eq!(again, status, "the cached error");
    assert!(header(&headers, "cache-status").contains("hit"));
    let (status, _, _) = get(&client, &format!("{pop}/static/00003.js")).await;
    assert_eq!(status, 200, "restored");
    assert!(shutdown.drain(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_targets_follow_pop_health_and_direct_goes_to_the_origin() {
    let topology = Topology::parse(TWO_AZ, "test").expect("valid topology");
    let shutdown = Shutdown::new();
    let cluster = Cluster::start(topology.clone(), Binding::Loopback, shutdown.clone())
        .await
        .expect("cluster starts");
    let places = vec![Population {
        place: "London".into(),
        weight: 1.0,
        skew: 0.0,
    }];
    let edge = targets::resolve(&topology, &places, Mode::Edge, &cluster).expect("routable");
    let lhr = cluster.traffic_url("pop-lhr").expect("running");
    assert_eq!(edge[0].base_url.to_string().trim_end_matches('/'), lhr);
    let near = edge[0].hop.rtt;

    cluster.fail("LHR").expect("known PoP");
    let edge = targets::resolve(&topology, &places, Mode::Edge, &cluster).expect("routable");
    let dub = cluster.traffic_url("pop-dub").expect("running");
    assert_eq!(
        edge[0].base_url.to_string().trim_end_matches('/'),
        dub,
        "next nearest PoP"
    );

    let direct = targets::resolve(&topology, &places, Mode::Direct, &cluster).expect("routable");
    let origin = cluster.traffic_url("origin-euw1-az1").expect("running");
    assert_eq!(direct[0].base_url.to_string().trim_end_matches('/'), origin);

    assert!(
        direct[0].hop.rtt > near,
        "London reaches its PoP faster than the Dublin origin: {:?} vs {near:?}",
        direct[0].hop.rtt
    );

    let ga = targets::resolve(&topology, &places, Mode::Ga, &cluster).expect("routable");
    assert_eq!(ga[0].base_url.to_string().trim_end_matches('/'), origin);
    assert!(shutdown.drain(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn an_unknown_fault_target_is_an_error() {
    let topology = Topology::parse(TWO_AZ, "test").expect("valid topology");
    let shutdown = Shutdown::new();
    let cluster = Cluster::start(topology, Binding::Loopback, shutdown.clone())
        .await
        .expect("cluster starts");
    assert!(cluster.fail("use1-az1").is_err());
    assert!(cluster.failed().is_empty());
    shutdown.drain(Duration::from_secs(5)).await;
}

const TWO_AZ_WITH_LOAD: &str = r#"
pops = ["DUB", "LHR"]
seed = 3
[origin]
region = "eu-west-1"
azs = ["euw1-az1", "euw1-az2"]
objects = 50
[load]
duration = "1s"
[load.arrival]
rate = 40
[[load.population]]
place = "London"
[[load.population]]
place = "Madrid"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_attached_to_a_running_cluster_routes_and_runs_like_the_one_it_started() {
    use edgelab_cluster::{Lab, Reach, RunOpts};
    let topology = Topology::parse(TWO_AZ_WITH_LOAD, "test").expect("valid topology");
    let lab = Lab::new(topology, None, Default::default()).expect("valid workload");
    assert_eq!(lab.settings().seed, 3, "the topology's seed by default");
    let shutdown = Shutdown::new();
    let started = lab
        .clone()
        .start(Reach::Loopback, shutdown.clone())
        .await
        .expect("cluster starts");
    let cluster = started.cluster().expect("started in process").clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = cluster.serve_control(listener, None).expect("control API");
    let mut attached = lab
        .start(Reach::Attach(format!("http://{control}")), shutdown.clone())
        .await
        .expect("attaches");
    assert!(attached.cluster().is_none());
    assert_eq!(attached.origin_metrics(), started.origin_metrics());
    for mode in [Mode::Direct, Mode::Edge, Mode::Ga] {
        let urls = |lab: &edgelab_cluster::RunningLab| -> Vec<String> {
            let targets = lab.targets(mode).expect("routable");
            targets.iter().map(|t| t.base_url.to_string()).collect()
        };
        assert_eq!(urls(&attached), urls(&started), "{mode:?}");
    }
    let report = attached
        .run(Mode::Edge, RunOpts::default(), Shutdown::new())
        .await
        .expect("the run completes");
    assert_eq!(report.label, "edge");
    assert_eq!(report.places.len(), 2);
    assert!(report.totals.responses > 0 && report.totals.errors == 0);
    assert!(shutdown.drain(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_through_the_edges_reports_the_error_of_the_links_between_tiers() {
    use edgelab_cluster::{Lab, Reach, RunOpts};
    let topology = Topology::parse(TWO_AZ_WITH_LOAD, "test").expect("valid topology");
    let lab = Lab::new(topology, None, Default::default()).expect("valid workload");
    let shutdown = Shutdown::new();
    let mut running = lab
        .start(Reach::Loopback, shutdown.clone())
        .await
        .expect("cluster starts");
    let cluster = running.cluster().expect("started in process").clone();
    let mut run = async |mode| {
        running
            .run(mode, RunOpts::default(), Shutdown::new())
            .await
            .expect("the run completes")
    };
    let direct = run(Mode::Direct).await;
    assert_eq!(
        direct.emulator_error.tier_links.count, 0,
        "no tier on the way"
    );
    let cold = run(Mode::Edge).await;
    let tiers = &cold.emulator_error.tier_links;
    assert!(cold.totals.misses > 0, "{:?}", cold.totals);
    assert!(
        tiers.count > 0,
        "every miss crossed a backbone link: {tiers:?}"
    );
    assert!(cold.emulator_error.worst_p99_ms() >= tiers.p99_ms);
    assert!(
        cold.recorded
            .as_ref()
            .is_some_and(|r| r.tier_links.is_some()),
        "kept for a merge"
    );
    assert!(
        cold.emulator_error
            .summary_lines()
            .contains("tier links error")
    );
    // The tier links' series holds the run's deliveries, by when they came (the run-wide
    // figure is the difference of two readings around the run, the series is fed from its
    // start to its end: equal when nothing crossed a tier in between).
    let series = &cold.emulator_error.series;
    let in_series: u64 = series.iter().map(|p| p.tier_links.count).sum();
    assert_eq!(in_series, tiers.count, "{series:#?}");
    assert!(series.iter().any(|p| p.tier_links.p99_ms > 0.0));
    assert!(
        direct
            .emulator_error
            .series
            .iter()
            .all(|p| p.tier_links.count == 0)
    );
    // A second run counts its own deliveries, not every one since the nodes started.
    let warm = run(Mode::Edge).await;
    let since_start = cluster.tier_link_lateness().len();
    assert!(
        warm.emulator_error.tier_links.count < since_start,
        "{} of {since_start}",
        warm.emulator_error.tier_links.count
    );
    assert!(shutdown.drain(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_spread_over_node_runtimes_serves_measures_and_drains() {
    use edgelab_cluster::{Lab, Reach, RunOpts};
    let topology = Topology::parse(TWO_AZ_WITH_LOAD, "test").expect("valid topology");
    let lab = Lab::new(topology, None, Default::default())
        .expect("valid workload")
        .with_workers(2);
    let shutdown = Shutdown::new();
    let mut running = lab
        .start(Reach::Loopback, shutdown.clone())
        .await
        .expect("cluster starts on the node runtimes");
    for mode in [Mode::Direct, Mode::Edge] {
        let report = running
            .run(mode, RunOpts::default(), Shutdown::new())
            .await
            .expect("the run completes");
        assert!(report.totals.responses > 0, "{mode:?}: {:?}", report.totals);
        assert_eq!(report.totals.errors, 0, "{mode:?}: {:?}", report.errors);
        if mode == Mode::Edge {
            assert!(report.emulator_error.tier_links.count > 0);
        }
    }
    // Every node's tasks run on the node threads and end with the drain.
    assert!(shutdown.drain(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_single_cache_node_requires_the_admin_token_it_is_given() {
    let topology = Topology::parse(TWO_AZ, "test").expect("valid topology");
    let shutdown = Shutdown::new();
    let binding = Binding::Single {
        node: "pop-lhr".into(),
        listen: "127.0.0.1:0".parse().expect("literal"),
        admin: "127.0.0.1:0".parse().expect("literal"),
        peer_traffic_port: 8080,
        peer_admin_port: 9090,
        admin_token: Some("s3cret".into()),
    };
    let cluster = Cluster::start(topology, binding, shutdown.clone())
        .await
        .expect("the node starts");
    let admin = cluster.nodes()[0].admin.clone();
    let post = |token: Option<&'static str>| {
        let mut request = http::Request::post(format!("{admin}/health?state=up"));
        if let Some(token) = token {
            request = request.header("x-edgelab-token", token);
        }
        let request = request.body(Empty::<Bytes>::new()).expect("request");
        let client = client();
        async move {
            client
                .request(request)
                .await
                .expect("the admin port answers")
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(None).await, 401, "no token");
    assert_eq!(post(Some("wrong")).await, 401, "wrong token");
    assert_ne!(post(Some("s3cret")).await, 401, "the right token");
    assert!(shutdown.drain(Duration::from_secs(5)).await);
}

async fn post(client: &HttpClient, url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = http::Request::post(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(request.body(Empty::<Bytes>::new()).expect("request"))
        .await
        .expect("the control port answers");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn live_status(client: &HttpClient, control: &str) -> serde_json::Value {
    let (status, headers, body) = get(client, &format!("{control}/status")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "application/json");
    serde_json::from_slice(&body).expect("the status is JSON")
}

fn live_node<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_status_counts_known_traffic_and_shows_faults() {
    let topology = Topology::parse(TWO_AZ, "test").expect("valid topology");
    let shutdown = Shutdown::new();
    let cluster = std::sync::Arc::new(
        Cluster::start(topology, Binding::Loopback, shutdown.clone())
            .await
            .expect("cluster starts"),
    );
    let listener = edgelab_testkit::loopback().await;
    let control = cluster
        .serve_control(listener, Some("s3cret".into()))
        .expect("control API");
    let control = format!("http://{control}");
    let client = client();

    let (status, headers, page) = get(&client, &format!("{control}/")).await;
    assert_eq!(status, 200, "the page needs no token");
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("<table id=\"nodes\">") && page.contains("fetch(\"/status\""));
    assert!(
        !page.contains("src=") && !page.contains("href=\"http"),
        "no external asset"
    );

    let pop = cluster.node("pop-dub").expect("PoP runs").traffic.clone();
    for _ in 0..20 {
        let (status, _, _) = get(&client, &format!("{pop}/static/00000.js")).await;
        assert_eq!(status, 200);
    }
    // Windows follow one another, so rate × window summed over them is the traffic.
    let (seen, last_window) = (Cell::new(0.0), Cell::new(0.0));
    let counted = || async {
        let status = live_status(&client, &control).await;
        let window = status["window_s"].as_f64().expect("window");
        let dub = live_node(&status, "pop-dub");
        if window > 0.0 && window != last_window.get() {
            seen.set(seen.get() + dub["requests_per_s"].as_f64().expect("rate") * window);
            last_window.set(window);
        }
        dub["requests_total"] == 20 && (seen.get() - 20.0).abs() < 1e-6
    };
    edgelab_testkit::eventually_within(
        Duration::from_secs(20),
        "20 requests in the rates",
        counted,
    )
    .await;
    let status = live_status(&client, &control).await;
    assert_eq!(status["token_required"], true);
    assert_eq!(
        status["targets"]["azs"],
        serde_json::json!(["euw1-az1", "euw1-az2"])
    );
    assert_eq!(
        status["targets"]["regions"],
        serde_json::json!(["eu-west-1"])
    );
    assert_eq!(status["targets"]["pops"], serde_json::json!(["DUB", "LHR"]));
    let dub = live_node(&status, "pop-dub");
    assert_eq!(
        (dub["hits_total"].clone(), dub["up"].clone()),
        (19.into(), true.into())
    );
    assert_eq!(dub["hit_ratio_total"], 0.95, "19 hits of 20 since start");
    let origin = live_node(&status, "origin-euw1-az1");
    assert_eq!(origin["az"], "euw1-az1");
    assert_eq!(origin["region"], "eu-west-1");
    assert!(
        origin["requests_total"].as_u64().expect("total") >= 1,
        "the miss reached it"
    );

    let fail = format!("{control}/fail?target=euw1-az1");
    assert_eq!(
        post(&client, &fail, None).await.0,
        401,
        "changes need the token"
    );
    assert!(live_node(&live_status(&client, &control).await, "origin-euw1-az1")["up"] == true);
    let (code, body) = post(&client, &fail, Some("s3cret")).await;
    assert_eq!(code, 200, "{body}");
    let status = live_status(&client, &control).await;
    assert_eq!(live_node(&status, "origin-euw1-az1")["up"], false);
    assert_eq!(live_node(&status, "origin-euw1-az2")["up"], true);
    let (code, _) = post(
        &client,
        &format!("{control}/fail?target=DUB"),
        Some("s3cret"),
    )
    .await;
    assert_eq!(code, 200);
    let status = live_status(&client, &control).await;
    assert_eq!(live_node(&status, "pop-dub")["up"], false);
    assert_eq!(live_node(&status, "pop-lhr")["up"], true);
    let restore = format!("{control}/restore?target=euw1-az1");
    assert_eq!(post(&client, &restore, Some("s3cret")).await.0, 200);
    assert_eq!(
        live_node(&live_status(&client, &control).await, "origin-euw1-az1")["up"],
        true
    );
    assert!(shutdown.drain(Duration::from_secs(5)).await);
}
