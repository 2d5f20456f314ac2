//! `edgelab replay`: JSON shape over a small CSV trace, the table, and bad input exits 64.

use std::time::Duration;

use serde_json::Value;

use crate::support::{exited, json_stdout, repo, run, streams, succeeded};

const LIMIT: Duration = Duration::from_secs(30);

fn csv_trace() -> tempfile_path::Path {
    tempfile_path::write("time,id,size\n0,1,100\n1,2,100\n2,1,100\n3,3,100\n4,1,100\n")
}

/// A trace file under the test's target dir, removed when dropped.
mod tempfile_path {
    pub struct Path(pub std::path::PathBuf);
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    pub fn write(text: &str) -> Path {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join(format!(
            "replay-{}-{:?}.csv",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, text).expect("write the trace");
        Path(path)
    }
}

#[test]
fn replay_json_has_one_entry_per_capacity() {
    let trace = csv_trace();
    let path = trace.0.to_str().expect("utf-8 path");
    let out = run(
        &[
            "replay",
            path,
            "--eviction",
            "fifo",
            "--capacity",
            "200B,1KiB",
            "--json",
            "-",
        ],
        LIMIT,
    );
    let json: Value = json_stdout(&out);
    assert_eq!(json["eviction"], "fifo");
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    // FIFO, 2 objects: 1 2 1(hit) 3(evicts 1) 1(miss)
    assert_eq!(
        (
            results[0]["capacity_bytes"].as_u64(),
            results[0]["misses"].as_u64()
        ),
        (Some(200), Some(4))
    );
    assert_eq!(results[0]["byte_misses"], 400);
    assert_eq!(results[1]["misses"], 3);
    assert_eq!(results[1]["requests"], 5);
}

#[test]
fn replay_prints_a_table() {
    let trace = csv_trace();
    let out = run(
        &[
            "replay",
            trace.0.to_str().expect("utf-8 path"),
            "--capacity",
            "1KiB",
        ],
        LIMIT,
    );
    let stdout = succeeded(&out);
    assert!(
        stdout.contains("1KiB") && stdout.contains("40.00%"),
        "{stdout}"
    );
}

#[test]
fn replay_bad_input_exits_64() {
    let trace = tempfile_path::write("0,1,100\n1,2\n");
    let out = run(&["replay", trace.0.to_str().expect("utf-8 path")], LIMIT);
    assert!(exited(&out, 64).contains("line 2"));
    let out = run(&["replay", "/nonexistent/trace.csv"], LIMIT);
    exited(&out, 64);
    let out = run(&["replay", "x.csv", "--capacity", "12parsecs"], LIMIT);
    exited(&out, 64);
    let out = run(&["replay", "x.csv", "--eviction", "random"], LIMIT);
    exited(&out, 64);
}

#[test]
fn replay_reads_the_shipped_access_logs_and_reports_malformed_lines() {
    let log = repo("config/examples/cloudfront-access.log");
    let out = run(
        &["replay", &log, "--capacity", "1MiB", "--json", "-"],
        LIMIT,
    );
    let json: Value = json_stdout(&out);
    let (_, stderr) = streams(&out);
    // 41 logged requests: 1 malformed line, 3 POSTs (never cached), 37 GETs.
    assert_eq!(json["requests"], 37);
    assert!(stderr.contains("1 malformed line(s) skipped"), "{stderr}");
    assert!(stderr.contains("line 21: "), "{stderr}");
    assert!(
        stderr.contains("3 request(s) with methods other than GET and HEAD"),
        "{stderr}"
    );

    let nginx = repo("config/examples/nginx-access.log");
    let out = run(&["replay", &nginx, "--format", "clf", "--json", "-"], LIMIT);
    let json: Value = json_stdout(&out);
    let posts = std::fs::read_to_string(&nginx)
        .expect("read")
        .lines()
        .filter(|l| l.contains("\"POST "))
        .count();
    assert_eq!(json["requests"], 20 - posts);

    let strict = run(&["replay", &nginx, "--strict"], LIMIT);
    assert!(exited(&strict, 64).contains("line 11: "));
}

#[test]
fn replay_tiers_on_the_shipped_log_reports_every_tier_and_the_offload() {
    let log = repo("config/examples/cloudfront-access.log");
    let out = run(
        &[
            "replay",
            &log,
            "--tiers",
            "pop,rec,shield",
            "--capacity",
            "pop=64KiB,pop=1MiB,rec=1MiB,shield=10MiB",
            "--json",
            "-",
        ],
        LIMIT,
    );
    let json: Value = json_stdout(&out);
    assert_eq!(json["requests"], 37);
    let tiers = &json["tiers"];
    assert_eq!(tiers["tiers"], serde_json::json!(["pop", "rec", "shield"]));
    assert_eq!(tiers["shield"], "IAD");
    let points = tiers["results"].as_array().expect("grid points");
    assert_eq!(
        points.len(),
        2,
        "two PoP sizes, one REC and one shield size"
    );
    for point in points {
        let t = point["tiers"].as_array().expect("tiers");
        // Every request reaches the PoPs; a tier's misses are the next tier's requests
        // (IAD's REC is the shield, so IAD's misses go straight to it).
        assert_eq!(t[0]["requests"], 37);
        assert_eq!(t[0]["caches"], 5, "FRA, LHR, NRT, IAD, SYD");
        assert_eq!(t[2]["misses"], point["origin_requests"]);
        let to_shield = t[2]["requests"].as_u64().unwrap();
        assert!(to_shield >= t[1]["misses"].as_u64().unwrap());
    }
    assert_eq!(points[0]["capacities"]["pop"], 64 << 10);
    assert_eq!(points[0]["tiers"][0]["misses"], 31);
    assert_eq!(points[0]["origin_requests"], 7);
    // The shield of 10 MiB holds what one 10 MiB cache would: the same 7 origin requests.
    let bad = run(&["replay", &log, "--capacity", "pop=1MiB"], LIMIT);
    assert_eq!(bad.status.code(), Some(64), "a tier capacity needs --tiers");
    let bad = run(
        &[
            "replay",
            &log,
            "--tiers",
            "pop,rec",
            "--capacity",
            "pop=1MiB",
        ],
        LIMIT,
    );
    assert!(exited(&bad, 64).contains("rec"), "rec has no capacity");
}

/// What the page drew, read back in the browser: per chart, each line's name, points and
/// on-screen size, and the legend's entries.
const DRAWN_JS: &str = "JSON.stringify(['miss-ratio', 'byte-miss-ratio'].map(chart => {
  const svg = document.querySelector(`svg[data-chart='${chart}']`);
  const box = svg.getBoundingClientRect();
  return {
    chart,
    lines: [...svg.querySelectorAll('polyline.series')].map(l => {
      const r = l.getBoundingClientRect();
      return { name: l.dataset.series, x: l.dataset.x.split(',').map(Number),
        y: l.dataset.y.split(',').map(Number), width: r.width,
        inside: r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom };
    }),
    dots: svg.querySelectorAll('circle.point').length,
    legend: [...svg.nextElementSibling.querySelectorAll('li')].map(li => li.textContent),
    ticks: [...svg.querySelectorAll('text.x-tick')].map(t => t.textContent),
    xlabel: svg.querySelector('text.x-label').textContent,
  };
}))";

#[test]
fn replay_html_draws_a_miss_ratio_curve_per_eviction_in_a_real_browser() {
    use edgelab_testkit::browser::{self, Browser};
    let Some(binary) = browser::chromium_or_skip("the miss-ratio curve test") else {
        return;
    };
    let dir = browser::artefact_dir();
    let html = dir.join("replay-curve.html");
    let trace = repo("crates/replay/tests/data/cloudPhysicsIO.oracleGeneral.bin");
    let capacities = ["16MiB", "64MiB", "256MiB", "1GiB"];
    let out = run(
        &[
            "replay",
            &trace,
            "--eviction",
            "lru,fifo",
            "--capacity",
            &capacities.join(","),
            "--json",
            "-",
            "--html",
            html.to_str().expect("utf-8 path"),
        ],
        LIMIT,
    );
    let json: Value = json_stdout(&out);
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), 2 * capacities.len());
    assert_eq!(json["eviction"], "lru,fifo");
    assert_eq!(json["objects"], 48_974);

    let mut page = Browser::open(
        &binary,
        &dir.join("replay-profile"),
        &format!("file://{}", html.display()),
        (1000, 1400),
    );
    let drawn: Value = serde_json::from_str(
        page.evaluate(DRAWN_JS)
            .as_str()
            .expect("the drawing as JSON"),
    )
    .expect("JSON");
    assert_eq!(page.errors(), &[] as &[String], "no console errors");
    for (chart, field) in [("miss-ratio", "misses"), ("byte-miss-ratio", "byte_misses")] {
        let chart = drawn
            .as_array()
            .expect("charts")
            .iter()
            .find(|c| c["chart"] == chart)
            .expect("the chart is drawn");
        let lines = chart["lines"].as_array().expect("lines");
        let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["lru", "fifo"], "one line per eviction policy");
        assert_eq!(chart["legend"], serde_json::json!(["lru", "fifo"]));
        assert_eq!(chart["dots"], 2 * capacities.len());
        assert!(chart["xlabel"].as_str().unwrap().contains("log scale"));
        assert!(chart["ticks"].as_array().unwrap().len() >= 3, "{chart}");
        for (line, eviction) in lines.iter().zip(["lru", "fifo"]) {
            assert!(line["width"].as_f64().unwrap() > 300.0, "{line}");
            assert_eq!(line["inside"], true, "{line}");
            let of_eviction: Vec<&Value> = results
                .iter()
                .filter(|r| r["eviction"] == eviction)
                .collect();
            let x: Vec<f64> = of_eviction
                .iter()
                .map(|r| r["capacity_bytes"].as_f64().unwrap())
                .collect();
            let drawn_x: Vec<f64> = line["x"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(drawn_x, x);
            let whole = if field == "misses" {
                "requests"
            } else {
                "bytes"
            };
            for (drawn_y, r) in line["y"].as_array().unwrap().iter().zip(&of_eviction) {
                let want = 100.0 * r[field].as_f64().unwrap() / r[whole].as_f64().unwrap();
                assert!((drawn_y.as_f64().unwrap() - want).abs() < 1e-9, "{line}");
            }
            let y: Vec<f64> = line["y"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert!(
                y.windows(2).all(|w| w[1] <= w[0]),
                "{eviction}: misses fall as the cache grows on this trace: {y:?}"
            );
        }
    }
    let text = page.evaluate("document.body.innerText");
    let text = text.as_str().expect("text");
    assert!(
        text.contains("113872 requests for 48974 distinct objects"),
        "{text}"
    );
    assert!(text.contains("cloudPhysicsIO.oracleGeneral.bin") && text.contains(" ms"));
}

#[test]
fn replay_policies_and_ttls_are_grid_points_named_in_the_json() {
    let log = repo("config/examples/cloudfront-access.log");
    let out = run(
        &[
            "replay",
            &log,
            "--capacity",
            "1MiB,10MiB",
            "--policy",
            "CachingOptimized,CachingDisabled",
            "--max-ttl",
            "10s,1h",
            "--min-ttl",
            "0s",
            "--default-ttl",
            "10s",
            "--json",
            "-",
        ],
        LIMIT,
    );
    let json: Value = json_stdout(&out);
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), 2 * 2 * 2, "policies × max TTLs × capacities");
    let first = &results[0];
    assert_eq!(first["policy"]["name"], "CachingOptimized 0s/10s/10s");
    assert_eq!(first["policy"]["max_ttl"], 10.0);
    assert_eq!(first["capacity_bytes"], 1 << 20);
    // Short TTLs make expired copies revalidate; a longer MaxTTL keeps them fresh.
    let refreshes = |at: usize| results[at]["refreshes"].as_u64().expect("refreshes");
    assert!(refreshes(1) > 0 && refreshes(3) == 0, "{results:?}");
    // CachingDisabled with a MaxTTL above 0 is no longer disabled, as in an edge config;
    // with none, every request misses.
    assert_eq!(results[4]["policy"]["preset"], "CachingDisabled");
    assert!(results[4]["misses"].as_u64() < results[4]["requests"].as_u64());
    let disabled = run(
        &["replay", &log, "--policy", "CachingDisabled", "--json", "-"],
        LIMIT,
    );
    let json: Value = json_stdout(&disabled);
    assert_eq!(json["results"][0]["misses"], json["results"][0]["requests"]);
    let table = run(&["replay", &log, "--policy", "CachingOptimized"], LIMIT);
    let table = succeeded(&table);
    assert!(
        table.contains("policy") && table.contains("refreshes"),
        "{table}"
    );
    for bad in [
        &["--policy", "CachingFast"][..],
        &["--min-ttl", "1h", "--max-ttl", "1m"],
        &["--speed", "0"],
    ] {
        let mut args = vec!["replay", log.as_str()];
        args.extend_from_slice(bad);
        let out = run(&args, LIMIT);
        assert_eq!(out.status.code(), Some(64), "{bad:?}");
        assert!(!out.stderr.is_empty(), "{bad:?}");
    }
}

#[test]
fn replay_splits_objects_by_the_query_strings_of_the_policy_key() {
    // `?v=1` and `?v=2` of one image, each twice: one object under CachingOptimized (no
    // query string in its key), two under rfc9111 (all of them) or a key keeping `v`.
    let lines: String = ["v=1", "v=2", "v=1", "v=2"]
        .iter()
        .enumerate()
        .map(|(at, query)| {
            format!(
                "10.0.0.1 - - [01/Dec/2026:10:00:0{at} +0000] \"GET /img/a.jpg?{query} HTTP/1.1\" 200 1000\n"
            )
        })
        .collect();
    let log = tempfile_path::write(&lines);
    let log = log.0.to_str().expect("utf-8 path");
    let misses = |extra: &[&str]| -> Vec<(String, u64)> {
        let mut args = vec!["replay", log, "--format", "clf", "--capacity", "1MiB"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--json", "-"]);
        let out = run(&args, LIMIT);
        let json: Value = serde_json::from_str(&crate::support::succeeded(&out)).expect("JSON");
        json["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                let name = r["policy"]["name"].as_str().unwrap_or_default().to_owned();
                (name, r["misses"].as_u64().expect("misses"))
            })
            .collect()
    };
    let presets = misses(&["--policy", "CachingOptimized,rfc9111"]);
    assert_eq!(
        presets,
        [("CachingOptimized".into(), 1), ("rfc9111".into(), 2)]
    );
    let keyed = misses(&["--query-strings", "v"]);
    assert_eq!(keyed, [("CachingOptimized query=v".into(), 2)]);
    let other = misses(&["--query-strings", "lang,x"]);
    assert_eq!(other, [("CachingOptimized query=lang,x".into(), 1)]);
    // The JSON names each key's query strings.
    let keys = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec!["replay", log, "--format", "clf", "--capacity", "1MiB"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--json", "-"]);
        let json: Value =
            serde_json::from_str(&crate::support::succeeded(&run(&args, LIMIT))).expect("JSON");
        let results = json["results"].as_array().expect("results").iter();
        results
            .map(|r| r["policy"]["query_strings"].clone())
            .collect()
    };
    let named = keys(&["--policy", "CachingOptimized,rfc9111"]);
    assert_eq!(named, [Value::from("none"), Value::from("all")]);
    let names = keys(&["--query-strings", "v,lang"]);
    assert_eq!(names, [serde_json::json!(["v", "lang"])]);
    let plain = misses(&[]);
    assert_eq!(
        plain,
        [(String::new(), 1)],
        "without a policy the path is the object"
    );
    let bad = run(&["replay", log, "--query-strings", ","], LIMIT);
    assert_eq!(bad.status.code(), Some(64));
}
