//! End-to-end runs of `edgelab loadgen` against `edgelab origin` and `edgelab edge`.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Node, exited, read_json, repo, run, streams, succeeded, temp_dir};

fn origin() -> Node {
    Node::loopback(
        "origin",
        &[
            "--seed",
            "4",
            "--objects",
            "60",
            "--region",
            "eu-west-2",
            "--az",
            "euw2-az1",
        ],
    )
}

/// `edgelab loadgen --target ORIGIN --json JSON FLAGS`, run to completion (a minute at most).
fn loadgen_against(origin: &Node, json: &Path, flags: &[&str]) -> Output {
    let target = format!("http://{}", origin.traffic);
    let mut args = vec![
        "loadgen",
        "--target",
        &target,
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    run(&args, Duration::from_secs(60))
}

#[test]
fn loadgen_runs_against_an_origin_and_writes_every_output() {
    let origin = origin();
    let dir = temp_dir("loadgen-outputs");
    let json = dir.join("run.json");
    let html = dir.join("run.html");
    let hdr = dir.join("run.hlog");
    let metrics = format!("http://{}/metrics", origin.admin);
    let output = loadgen_against(
        &origin,
        &json,
        &[
            "--rate",
            "300",
            "--requests",
            "150",
            "--duration",
            "20s",
            "--seed",
            "5",
            "--connections",
            "4",
            "--origin-metrics",
            &metrics,
            "--html",
            html.to_str().unwrap(),
            "--hdr-log",
            hdr.to_str().unwrap(),
            "--max-error",
            "1000",
        ],
    );
    let stdout = succeeded(&output);
    let (_, stderr) = streams(&output);
    assert!(stdout.contains("seed 5"), "{stdout}");
    assert!(stdout.contains("150 requests completed"), "{stdout}");
    assert!(stdout.contains("origin served: 150 requests"), "{stdout}");
    assert!(
        stdout.contains("emulation error p50/p99/max: - (no emulated links)"),
        "{stdout}"
    );
    assert!(stdout.contains("send lateness p50/p99: "), "{stdout}");
    assert!(
        stderr.is_empty(),
        "no progress line without a TTY: {stderr}"
    );

    let report: Value = read_json(&json);
    assert_eq!(report["totals"]["completed"], 150);
    assert_eq!(report["totals"]["errors"], 0);
    assert_eq!(report["origin"]["requests"], 150.0);
    assert_eq!(report["seed"], 5);
    assert_eq!(report["emulator_error"]["send_lateness"]["count"], 150);
    assert_eq!(report["emulator_error"]["emulation"]["count"], 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && !page.contains("<script"));
    assert!(page.contains("Emulator error"), "the HTML has the panel");
    let log = std::fs::read_to_string(&hdr).unwrap();
    assert!(log.starts_with("#"), "{log}");
    assert!(log.contains("StartTime"), "{log}");
}

#[test]
fn loadgen_through_an_edge_reports_hits() {
    let origin = origin();
    let upstream = format!("http://{}", origin.traffic);
    let edge = Node::loopback("edge", &["--upstream", &upstream, "--pop", "FRA"]);
    let scenario = repo("loadtest/scenarios/smoke.toml");
    let target = format!("http://{}", edge.traffic);
    let output = run(
        &[
            "loadgen",
            "--target",
            &target,
            "--scenario",
            &scenario,
            "--mode",
            "edge",
            "--duration",
            "2s",
        ],
        Duration::from_secs(60),
    );
    let stdout = succeeded(&output);
    let hit_line = stdout
        .lines()
        .find(|l| l.starts_with("hit ratio:"))
        .expect("hit ratio line");
    assert_ne!(hit_line, "hit ratio: -", "{stdout}");
    assert!(stdout.contains("edge "), "{stdout}");
}

#[test]
fn a_target_answering_with_x_cache_and_no_mode_is_said_to_be_a_cache_node() {
    let origin = origin();
    let upstream = format!("http://{}", origin.traffic);
    let edge = Node::loopback("edge", &["--upstream", &upstream, "--pop", "FRA"]);
    let target = format!("http://{}", edge.traffic);
    let flags = ["--rate", "100", "--requests", "10"];
    let mut args = vec!["loadgen", "--target", &target];
    args.extend(flags);
    let output = run(&args, Duration::from_secs(60));
    succeeded(&output);
    let (stdout, stderr) = streams(&output);
    assert!(stdout.starts_with("direct run"), "{stdout}");
    assert!(stderr.contains("pass --mode edge"), "{stderr}");
    args.extend(["--mode", "edge"]);
    let output = run(&args, Duration::from_secs(60));
    assert!(succeeded(&output).starts_with("edge run"));
    assert!(!streams(&output).1.contains("--mode"), "told once asked");
}

#[test]
fn bad_usage_exits_64_listing_every_problem() {
    let output = run(
        &[
            "loadgen",
            "--topology",
            "cdn.toml",
            "--connections",
            "0",
            "--rate=0",
            "--mode",
            "cdn",
        ],
        Duration::from_secs(20),
    );
    let stderr = exited(&output, 64);
    for expected in ["cdn.toml: cannot read", "connections", "--rate", "--mode"] {
        assert!(
            stderr.contains(expected),
            "{expected} missing from:\n{stderr}"
        );
    }
    let output = run(&["loadgen"], Duration::from_secs(20));
    assert!(exited(&output, 64).contains("--target"));
    let output = run(
        &["loadgen", "--target", "https://example.test"],
        Duration::from_secs(20),
    );
    assert!(exited(&output, 64).contains("https is not supported"));
    let output = run(
        &[
            "loadgen",
            "--topology",
            "config/minimal.toml",
            "--peers",
            "mdns",
        ],
        Duration::from_secs(20),
    );
    assert!(exited(&output, 64).contains("the only one is `dns`"));
    // --peers names the nodes of a topology: without one it is a usage error.
    let output = run(
        &[
            "loadgen",
            "--target",
            "http://127.0.0.1:1",
            "--peers",
            "dns",
        ],
        Duration::from_secs(20),
    );
    exited(&output, 64);
}

#[test]
fn rtt_makes_every_target_connection_pay_the_round_trip_and_measures_its_error() {
    let origin = origin();
    let dir = temp_dir("loadgen-rtt");
    let json = dir.join("run.json");
    let output = loadgen_against(
        &origin,
        &json,
        &[
            "--rtt",
            "40ms",
            "--rate",
            "100",
            "--requests",
            "20",
            "--connections",
            "2",
        ],
    );
    succeeded(&output);
    let report: Value = read_json(&json);
    assert_eq!(report["totals"]["completed"], 20);
    // Every exchange pays at least the round trip; a first request also pays the connect.
    let min = report["latency"]["min_ms"].as_f64().unwrap();
    assert!(
        min >= 40.0,
        "fastest request {min} ms is below the 40 ms RTT"
    );
    let emulation = &report["emulator_error"]["emulation"];
    assert!(
        emulation["count"].as_u64().unwrap() >= 20,
        "each response (and connect) counts a delivery: {emulation}"
    );
}

#[test]
fn max_error_exits_3_when_the_emulators_own_error_exceeds_it() {
    let origin = origin();
    let dir = temp_dir("loadgen-max-error");
    let json = dir.join("run.json");
    let output = loadgen_against(
        &origin,
        &json,
        &[
            "--rate",
            "200",
            "--requests",
            "40",
            // No send is ever exactly on time to the nanosecond.
            "--max-error",
            "0",
        ],
    );
    let stderr = exited(&output, 3);
    let (stdout, _) = streams(&output);
    assert!(stderr.contains("exceeds --max-error 0 ms"), "{stderr}");
    assert!(
        stdout.contains("40 requests completed"),
        "the summary is still printed"
    );
    assert!(json.exists(), "the report is still written");
}

#[test]
fn replay_sends_every_logged_get_through_an_edge_in_front_of_a_catalog_from_the_log() {
    let log = repo("config/examples/cloudfront-access.log");
    let log = log.as_str();
    let origin = Node::loopback("origin", &["--catalog-from-log", log]);
    let upstream = format!("http://{}", origin.traffic);
    let edge = Node::loopback("edge", &["--upstream", &upstream, "--pop", "FRA"]);
    let json = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("replay-{}.json", std::process::id()));
    let target = format!("http://{}", edge.traffic);
    let out = run(
        &[
            "loadgen",
            "--target",
            &target,
            "--replay",
            log,
            "--speed",
            "50",
            "--json",
            json.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let stdout = succeeded(&out);
    let (_, stderr) = streams(&out);
    assert!(stderr.contains("1 malformed line(s) skipped"), "{stderr}");
    assert!(
        stderr.contains("3 request(s) with methods other than GET and HEAD not sent"),
        "{stderr}"
    );
    let report: Value = read_json(&json);
    let _ = std::fs::remove_file(&json);
    // The log's 41 requests: 37 GETs sent, each answered, bodies verified (no errors).
    let totals = &report["totals"];
    assert_eq!(totals["scheduled"], 37, "{totals}");
    assert_eq!(totals["completed"], 37, "{totals}");
    assert_eq!(totals["errors"], 0, "{totals}");
    assert_eq!(totals["bytes"], 2571072, "the log's body bytes");
    for place in ["FRA", "IAD", "LHR", "NRT", "SYD"] {
        assert!(stdout.contains(place), "{place} missing from\n{stdout}");
    }
    let _ = edge.terminate();
    let _ = origin.terminate();
}

/// Logged queries a URI cannot hold as they are (a space, `|`, `^`, non-ASCII text) and one
/// already percent-encoded: every request reaches the origin, none fails on its URI.
#[test]
fn replay_sends_logged_queries_a_uri_cannot_hold_percent_encoded() {
    let dir = temp_dir("replay-encoded");
    let log = dir.join("queries.log");
    std::fs::write(
        &log,
        "#Version: 1.0
#Fields: date time x-edge-location sc-bytes c-ip cs-method cs-uri-stem sc-status cs-uri-query sc-content-len
2026-12-01\t10:00:00\tFRA56-P1\t1300\t192.0.2.1\tGET\t/static/a.css\t200\tq=a b|c^d\t1000
2026-12-01\t10:00:00\tFRA56-P1\t1300\t192.0.2.2\tGET\t/static/a.css\t200\tcity=Zürich&k=%41\t1000
2026-12-01\t10:00:01\tFRA56-P1\t1300\t192.0.2.3\tGET\t/static/a.css\t200\tpct=50%\t1000
",
    )
    .unwrap();
    let log = log.to_str().unwrap();
    let origin = Node::loopback("origin", &["--catalog-from-log", log]);
    let json = dir.join("run.json");
    let out = loadgen_against(&origin, &json, &["--replay", log, "--speed", "20"]);
    succeeded(&out);
    let report: Value = read_json(&json);
    let totals = &report["totals"];
    assert_eq!(totals["scheduled"], 3, "{totals}");
    assert_eq!(totals["completed"], 3, "{totals}");
    assert_eq!(totals["errors"], 0, "{totals}");
    assert_eq!(totals["bytes"], 3000, "{totals}");
    let _ = origin.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CloudFront log with requests at FRA, NRT and CDG (Paris, which config/minimal.toml has no
/// PoP for: its clients go to the nearest, FRA), a POST and a truncated line.
const TWO_POP_LOG: &str = "#Version: 1.0
#Fields: date time x-edge-location sc-bytes c-ip cs-method cs-uri-stem sc-status sc-content-type sc-content-len
2026-12-01\t10:00:00\tFRA56-P1\t18732\t192.0.2.1\tGET\t/static/app.css\t200\ttext/css\t18432
2026-12-01\t10:00:00\tNRT57-P2\t4396\t192.0.2.2\tGET\t/img/logo.png\t200\timage/png\t4096
2026-12-01\t10:00:01\tFRA56-P1\t4396\t192.0.2.3\tGET\t/img/logo.png\t200\timage/png\t4096
2026-12-01\t10:00:01\tCDG50-C1\t18732\t192.0.2.4\tGET\t/static/app.css\t200\ttext/css\t18432
2026-12-01\t10:00:02\tNRT57-P2\t18732\t192.0.2.5\tGET\t/static/app.css\t200\ttext/css\t18432
2026-12-01\t10:00:02\tFRA56-P1\t18732\t192.0.2.6\tGET\t/static/app.css\t200\ttext/css\t18432
2026-12-01\t10:00:02\tFRA56-P1\t300\t192.0.2.7\tPOST\t/api/cart\t200\tapplication/json\t0
2026-12-01\t10:00:02\tFRA56-P1\ttruncated
";

#[test]
fn replay_through_a_topology_sends_each_logged_request_to_the_pop_of_its_place() {
    let dir = temp_dir("replay-topology");
    let log = dir.join("two-pops.log");
    std::fs::write(&log, TWO_POP_LOG).unwrap();
    let json = dir.join("replay.json");
    let out = run(
        &[
            "loadgen",
            "--topology",
            &repo("config/minimal.toml"),
            "--replay",
            log.to_str().unwrap(),
            "--speed",
            "10",
            "--json",
            json.to_str().unwrap(),
        ],
        Duration::from_secs(90),
    );
    succeeded(&out);
    let (_, stderr) = streams(&out);
    assert!(
        stderr.contains("1 request(s) with methods other than GET and HEAD not sent"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("1 malformed line(s) skipped").count(),
        1,
        "reported once, not once for the origin's catalog and once for the replay: {stderr}"
    );
    let report: Value = read_json(&json);
    let totals = &report["totals"];
    assert_eq!(totals["scheduled"], 6, "{totals}");
    assert_eq!(totals["completed"], 6, "{totals}");
    assert_eq!(totals["errors"], 0, "bodies verified: {totals}");
    assert_eq!(totals["bytes"], 4 * 18432 + 2 * 4096, "{totals}");
    // Per PoP and per place: FRA's and Paris's clients at FRA, Tokyo's at NRT.
    let mut per_pop = std::collections::BTreeMap::<String, u64>::new();
    for group in report["groups"].as_array().expect("groups") {
        let (place, pop) = (
            group["place"].as_str().unwrap(),
            group["pop"].as_str().unwrap(),
        );
        let expected = if place == "NRT" { "NRT" } else { "FRA" };
        assert!(pop.starts_with(expected), "{place} served by {pop}");
        *per_pop.entry(pop[..3].to_string()).or_default() += group["responses"].as_u64().unwrap();
    }
    assert_eq!(
        per_pop,
        [("FRA".to_string(), 4), ("NRT".to_string(), 2)].into(),
        "{report:#}"
    );
    let places: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["place"].as_str().unwrap())
        .collect();
    assert_eq!(places, ["CDG", "FRA", "NRT"]);
    assert!(
        report["map"]["paths"]
            .as_array()
            .is_some_and(|p| p.len() == 3),
        "the map draws each place's path: {}",
        report["map"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_with_peers_dns_is_a_usage_error_saying_why() {
    let out = run(
        &[
            "loadgen",
            "--topology",
            &repo("config/minimal.toml"),
            "--peers",
            "dns",
            "--replay",
            &repo("config/examples/cloudfront-access.log"),
        ],
        Duration::from_secs(20),
    );
    let stderr = exited(&out, 64);
    assert!(
        stderr.contains("not with --peers dns") && stderr.contains("--catalog-from-log"),
        "{stderr}"
    );
}

#[test]
fn compare_replays_the_log_direct_and_through_the_edges() {
    let dir = temp_dir("replay-compare");
    let log = dir.join("two-pops.log");
    std::fs::write(&log, TWO_POP_LOG).unwrap();
    let out = run(
        &[
            "compare",
            "--topology",
            &repo("config/minimal.toml"),
            "--replay",
            log.to_str().unwrap(),
            "--speed",
            "10",
            "--out",
            dir.join("report").to_str().unwrap(),
        ],
        Duration::from_secs(90),
    );
    let stdout = succeeded(&out);
    assert!(
        stdout.contains("direct: replaying") && stdout.contains("6 requests at 10x"),
        "{stdout}"
    );
    for (mode, pops) in [("direct", ["-", "-"]), ("edge", ["FRA", "NRT"])] {
        let path = dir.join("report").join(format!("{mode}.json"));
        let report: Value = read_json(&path);
        let totals = &report["totals"];
        assert_eq!(
            (&totals["completed"], &totals["errors"]),
            (&6.into(), &0.into()),
            "{mode}: {totals}"
        );
        for group in report["groups"].as_array().unwrap() {
            let place = group["place"].as_str().unwrap();
            let pop = group["pop"].as_str().unwrap();
            let expected = if place == "NRT" { pops[1] } else { pops[0] };
            assert!(pop.starts_with(expected), "{mode}: {place} served by {pop}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
