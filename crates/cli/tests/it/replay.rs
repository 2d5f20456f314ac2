//! `edgelab replay`: JSON shape over a small CSV trace, the table, and bad input exits 64.

use std::time::Duration;

use serde_json::Value;

use crate::support::run;

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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
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
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("1KiB") && stdout.contains("40.00%"),
        "{stdout}"
    );
}

#[test]
fn replay_bad_input_exits_64() {
    let trace = tempfile_path::write("0,1,100\n1,2\n");
    let out = run(&["replay", trace.0.to_str().expect("utf-8 path")], LIMIT);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
    let out = run(&["replay", "/nonexistent/trace.csv"], LIMIT);
    assert_eq!(out.status.code(), Some(64));
    let out = run(&["replay", "x.csv", "--capacity", "12parsecs"], LIMIT);
    assert_eq!(out.status.code(), Some(64));
    let out = run(&["replay", "x.csv", "--eviction", "random"], LIMIT);
    assert_eq!(out.status.code(), Some(64));
}

fn example(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join(path).to_string_lossy().into_owned()
}

#[test]
fn replay_reads_the_shipped_access_logs_and_reports_malformed_lines() {
    let log = example("config/examples/cloudfront-access.log");
    let out = run(
        &["replay", &log, "--capacity", "1MiB", "--json", "-"],
        LIMIT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    // 41 logged requests: 1 malformed line, 3 POSTs (never cached), 37 GETs.
    assert_eq!(json["requests"], 37);
    assert!(stderr.contains("1 malformed line(s) skipped"), "{stderr}");
    assert!(stderr.contains("line 21: "), "{stderr}");
    assert!(
        stderr.contains("3 request(s) with methods other than GET and HEAD"),
        "{stderr}"
    );

    let nginx = example("config/examples/nginx-access.log");
    let out = run(&["replay", &nginx, "--format", "clf", "--json", "-"], LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let posts = std::fs::read_to_string(&nginx)
        .expect("read")
        .lines()
        .filter(|l| l.contains("\"POST "))
        .count();
    assert_eq!(json["requests"], 20 - posts);

    let strict = run(&["replay", &nginx, "--strict"], LIMIT);
    assert_eq!(strict.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("line 11: "));
}

#[test]
fn replay_tiers_on_the_shipped_log_reports_every_tier_and_the_offload() {
    let log = example("config/examples/cloudfront-access.log");
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
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
    assert_eq!(bad.status.code(), Some(64), "rec has no capacity");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rec"));
}
