//! End-to-end runs of `edgelab up`, `edgelab compare` and `edgelab demo`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    edgelab, exited, http_get, json_stdout, read_json, repo, run, succeeded, temp_dir, temp_file,
};

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("node URL is http://IP:PORT")
}

#[test]
fn up_list_prints_the_planned_nodes_without_starting_them() {
    let output = run(
        &["up", &repo("config/default.toml"), "--list"],
        Duration::from_secs(30),
    );
    let nodes: Vec<Value> = json_stdout(&output);
    let tiers: Vec<&str> = nodes.iter().filter_map(|n| n["tier"].as_str()).collect();
    assert_eq!(tiers.iter().filter(|t| **t == "origin").count(), 3);
    assert_eq!(tiers.iter().filter(|t| **t == "shield").count(), 1);
    assert!(tiers.iter().filter(|t| **t == "edge").count() >= 5);
}

#[test]
fn up_drill_and_deploy_take_the_topology_as_compare_does_with_topology() {
    let file = repo("config/minimal.toml");
    let limit = Duration::from_secs(30);
    let positional: Value = json_stdout(&run(&["up", &file, "--list"], limit));
    let flag: Value = json_stdout(&run(&["up", "--topology", &file, "--list"], limit));
    assert_eq!(flag, positional);
    let builtin: Value = json_stdout(&run(&["up", "--list"], limit));
    assert_ne!(
        flag, builtin,
        "the file's nodes, not the built-in topology's"
    );
    // Both at once is a usage error, before anything runs.
    let both = run(&["up", &file, "--topology", &file, "--list"], limit);
    assert!(exited(&both, 64).contains("cannot be used with"));
    let missing = run(&["drill", "--topology", "nowhere.toml"], limit);
    assert!(exited(&missing, 64).contains("nowhere.toml: cannot read"));
    let dir = temp_dir("deploy-topology-flag");
    let out = dir.to_str().expect("utf-8");
    succeeded(&run(
        &["deploy", "compose", "--topology", &file, "--out", out],
        limit,
    ));
    assert!(
        dir.join("config/minimal.toml").exists(),
        "deploy copies the file it was given"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn up_with_a_bad_topology_lists_every_problem_and_exits_64() {
    let (dir, file) = temp_file(
        "bad-topology",
        "bad.toml",
        "pops = [\"FRA\", \"QQQ\"]\n[origin]\nregion = \"eu-west-9\"\n[shield]\nrec = \"XYZ\"\n",
    );
    let output = run(&["up", &file], Duration::from_secs(30));
    let stderr = exited(&output, 64);
    for field in ["pops[1]", "origin.region", "shield.rec"] {
        assert!(stderr.contains(field), "{field} missing from:\n{stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Regression: edge behaviours were first validated when the nodes started, after the
/// origins were already running, so `up --list` accepted a broken `[edge]` section.
#[test]
fn up_list_rejects_a_broken_edge_section_with_its_field_paths() {
    let (dir, file) = temp_file(
        "bad-edge",
        "bad-edge.toml",
        "pops = [\"FRA\"]\n[edge]\nconnection_attempts = 7\nrec_capacity_bytes = 0\n\
         [edge.default_behavior.cache_policy]\npreset = \"Fastest\"\n",
    );
    let output = run(&["up", &file, "--list"], Duration::from_secs(30));
    exited(&output, 64);
    assert!(
        output.stdout.is_empty(),
        "no node list for a broken topology"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    for field in [
        "edge.connection_attempts",
        "edge.rec_capacity_bytes",
        "edge.default_behavior.cache_policy.preset",
    ] {
        assert!(stderr.contains(field), "{field} missing from:\n{stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn up_runs_the_topology_serves_through_a_pop_and_takes_faults() {
    let dir = temp_dir("up");
    let nodes_json = dir.join("nodes.json");
    let mut child = edgelab()
        .args(["up", &repo("config/minimal.toml"), "--nodes-json"])
        .arg(&nodes_json)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut control = None;
    for line in lines.by_ref() {
        let line = line.expect("stdout");
        if let Some(rest) = line.strip_prefix("control http://") {
            control = rest
                .split_whitespace()
                .next()
                .map(|a| a.parse::<SocketAddr>().expect("addr"));
        }
        if line.starts_with("ready") {
            break;
        }
    }
    let control = control.expect("a control line before ready");
    let nodes: Vec<Value> = read_json(&nodes_json);
    let pop = nodes
        .iter()
        .find(|n| n["name"] == "pop-fra")
        .expect("pop-fra runs");
    let pop = addr(pop["traffic"].as_str().expect("traffic URL"));

    let (status, head, _) = http_get(pop, "/static/00000.js", &[]);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("x-cache: miss from cloudfront"),
        "{head}"
    );
    let (_, head, _) = http_get(pop, "/static/00000.js", &[]);
    assert!(
        head.to_ascii_lowercase()
            .contains("x-cache: hit from cloudfront"),
        "{head}"
    );

    // Fail the PoP through the control API; /nodes shows it down.
    let response = std::process::Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            &format!("http://{control}/fail?target=FRA"),
        ])
        .output()
        .expect("curl");
    assert!(response.status.success());
    let (status, _, body) = http_get(control, "/nodes", &[]);
    assert_eq!(status, 200);
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("nodes JSON");
    let fra = listed
        .iter()
        .find(|n| n["name"] == "pop-fra")
        .expect("listed");
    assert_eq!(fra["up"], false);

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "SIGTERM stops cleanly: {status:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `edgelab compare --topology config/minimal.toml --duration D --rate R --out OUT FLAGS`, run
/// to completion (two minutes at most).
fn compare_minimal(duration: &str, rate: &str, out: &Path, flags: &[&str]) -> Output {
    let topology = repo("config/minimal.toml");
    let out = out.to_str().expect("utf-8");
    let mut args = vec!["compare", "--topology", &topology, "--duration", duration];
    args.extend(["--rate", rate, "--out", out]);
    args.extend_from_slice(flags);
    run(&args, Duration::from_secs(120))
}

#[test]
fn compare_prints_the_side_by_side_table_and_writes_the_reports() {
    let out = temp_dir("compare");
    let output = compare_minimal("2s", "100", &out, &[]);
    let stdout = succeeded(&output);
    assert!(
        stdout.contains("Berlin") && stdout.contains("Osaka"),
        "{stdout}"
    );
    assert!(stdout.contains("offload"), "{stdout}");
    assert!(
        stdout.contains("edge emulation error p50/p99/max: ")
            && stdout.contains("link deliveries")
            && stdout.contains("edge send lateness p50/p99: "),
        "the emulator's own error over the emulated client paths: {stdout}"
    );
    let comparison: Value = read_json(out.join("comparison.json"));
    let direct = comparison["origin"]["direct_requests"]
        .as_f64()
        .expect("number");
    let edge = comparison["origin"]["edge_requests"]
        .as_f64()
        .expect("number");
    assert!(direct > 0.0, "the direct run reached the origin");
    assert!(
        edge < direct,
        "the edges took load off the origin: {edge} vs {direct}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).expect("written");
    assert!(html.contains("<svg"), "the HTML report has charts");
    assert!(
        html.contains("Emulator error"),
        "and the emulator's own error"
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn compare_warm_runs_a_cold_warm_up_first_and_reports_it_apart() {
    let out = temp_dir("compare-warm");
    let output = compare_minimal("1s", "100", &out, &["--warm"]);
    let stdout = succeeded(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("edge-cold (warm-up through the edges, reported apart)")
            || stdout.contains("edge-cold (warm-up through the edges, reported apart)"),
        "the warm-up is announced: {stdout}{stderr}"
    );
    assert!(
        stdout.contains("edge-cold run (warm-up, cold caches) served: "),
        "{stdout}"
    );
    let cold: Value = read_json(out.join("edge-cold.json"));
    let edge: Value = read_json(out.join("edge.json"));
    let hits = |report: &Value| report["totals"]["hit_ratio"].as_f64().expect("number");
    assert!(
        cold["totals"]["completed"].as_f64().expect("number") > 0.0,
        "the warm-up ran"
    );
    assert!(
        hits(&edge) > hits(&cold),
        "the edge run found the caches the warm-up filled: hit ratio {} warm vs {} cold",
        hits(&edge),
        hits(&cold)
    );
    let comparison: Value = read_json(out.join("comparison.json"));
    assert_eq!(comparison["cold"]["label"], "edge-cold", "{comparison}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn compare_with_max_error_exits_3_when_exceeded() {
    let out = temp_dir("compare-max");
    let output = compare_minimal("1s", "50", &out, &["--max-error", "0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("exceeds --max-error 0 ms"), "{stderr}");
    assert!(
        out.join("comparison.json").exists(),
        "the reports are still written"
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn drill_fails_the_primary_az_then_the_region_and_reports_failover() {
    let output = run(
        &[
            "drill",
            &repo("config/minimal.toml"),
            "--phase",
            "2s",
            "--rate",
            "100",
        ],
        Duration::from_secs(120),
    );
    let stdout = succeeded(&output);
    assert!(stdout.contains("euw1-az1 down"), "{stdout}");
    assert!(stdout.contains("eu-west-1 down"), "{stdout}");
    // minimal.toml has a single replica: nothing can take over, and the drill says so.
    assert!(
        stdout.contains("no probe was answered by another replica"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Region outage: the caches served"),
        "{stdout}"
    );
}

#[test]
fn loadgen_with_a_topology_routes_every_place_to_its_pop() {
    let output = run(
        &[
            "loadgen",
            "--topology",
            &repo("config/minimal.toml"),
            "--duration",
            "2s",
            "--rate",
            "100",
        ],
        Duration::from_secs(60),
    );
    let stdout = succeeded(&output);
    assert!(stdout.contains("edge run:"), "{stdout}");
    for place in ["Berlin", "Osaka"] {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(place))
            .unwrap_or_else(|| panic!("no row for {place}:\n{stdout}"));
        assert!(row.contains("edge"), "{row}");
    }
    assert!(
        stdout.contains("origin served:"),
        "origin load read from /metrics:\n{stdout}"
    );
}

#[test]
fn demo_tour_runs_every_chapter_and_sums_each_up_in_a_sentence() {
    let out = temp_dir("tour");
    let output = run(
        &[
            "demo",
            "--tour",
            "--duration",
            "2s",
            "--rate",
            "60",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        Duration::from_secs(180),
    );
    let stdout = succeeded(&output);
    let sentences: Vec<&str> = stdout.lines().filter(|l| l.starts_with("=> ")).collect();
    assert_eq!(sentences.len(), 5, "one sentence per chapter:\n{stdout}");
    let expected = [
        ("(a) Edge caching", "from a warm one (p50)"),
        ("(b) Global Accelerator", "entering the backbone at"),
        ("(c) A Local Zone", "Local Zone us-west-2-lax-1 in"),
        (
            "(d) An Availability Zone fails",
            "When use1-az1 failed, the origin group failed over to",
        ),
        (
            "(e) A whole Region fails",
            "With all of us-east-1 down, the caches still served",
        ),
    ];
    for ((heading, words), sentence) in expected.iter().zip(&sentences) {
        assert!(stdout.contains(heading), "{heading} missing:\n{stdout}");
        assert!(sentence.contains(words), "{sentence:?} lacks {words:?}");
    }
    assert!(stdout.contains("The tour in short:"), "{stdout}");
    let html = std::fs::read_to_string(out.join("tour.html")).expect("tour.html written");
    assert_eq!(html.matches("<section class=\"chapter\"").count(), 5);
    for id in ['a', 'b', 'c', 'd', 'e'] {
        assert!(
            html.contains(&format!("id=\"chapter-{id}\"")),
            "chapter {id}"
        );
    }
    assert!(
        html.contains("data-chart=\"cdf\""),
        "the comparisons are drawn"
    );
    let summary: Value = read_json(out.join("tour.json"));
    let chapters = summary["chapters"].as_array().expect("chapters");
    assert_eq!(chapters.len(), 5);
    for (chapter, sentence) in chapters.iter().zip(&sentences) {
        assert_eq!(chapter["sentence"].as_str(), Some(&sentence[3..]));
    }
    for file in ["chapter-a.json", "chapter-b.json"] {
        let comparison: Value = read_json(out.join(file));
        assert!(
            comparison["direct"]["totals"]["completed"].as_u64() > Some(0),
            "{file}"
        );
    }
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn compare_with_the_nodes_on_worker_threads_states_the_error_of_every_hop() {
    let out = temp_dir("compare-workers");
    let output = compare_minimal("1s", "50", &out, &["--workers", "2"]);
    let stdout = succeeded(&output);
    assert!(
        stdout.contains("edge emulation error p50/p99/max: ")
            && stdout.contains("edge tier links error p50/p99/max: "),
        "the client links' and the tier links' error: {stdout}"
    );
    assert!(
        !stdout.contains("direct tier links"),
        "a direct run crosses no tier: {stdout}"
    );
    let edge: Value = read_json(out.join("edge.json"));
    assert!(edge["emulator_error"]["tier_links"]["count"].as_u64() > Some(0));
    let _ = std::fs::remove_dir_all(out);
}
