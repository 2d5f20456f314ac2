//! A replay and a live run of the same log agree: `edgelab replay` offline against
//! `origin --catalog-from-log` + `edge` + `loadgen --replay` on loopback, under
//! CachingOptimized, under rfc9111 (whose key keeps the logged query strings) and under short
//! TTLs (where expiry decides), hit ratios within a point.
//!
//! The log is written so the live clock's imprecision cannot tip a request: at `--speed 2`
//! every repeat comes at most 1 s (real) after the copy was filled or refreshed, or at least
//! 4 s after, and the TTLs are 1 s (CachingOptimized's MinTTL on `no-store`) and 3 s (the
//! short policy), so each margin is a second or more, more than the origin's one-second
//! `Date` (which the edge counts in the age) and the scheduling jitter.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Node, json_stdout, read_json, run, succeeded, temp_dir};

/// Log seconds at which each object is requested (CLF, one request a line), by the target
/// logged: two of the paths are asked with two query strings each, one object under a key
/// without query strings, two under one that keeps them.
const TIMELINE: [(&str, u64, &[u64]); 8] = [
    ("/img/a.jpg?w=800", 20_000, &[0, 2, 10, 20]),
    ("/img/a.jpg?w=400", 20_000, &[12, 22]),
    ("/static/app.js?v=1", 5_000, &[0, 1, 9, 10]),
    ("/static/app.js?v=2", 5_000, &[18, 19]),
    ("/img/b.jpg", 30_000, &[4, 6, 14, 15, 24, 25]),
    ("/api/cart", 300, &[0, 4, 8, 12, 16, 20]),
    ("/index.html", 2_000, &[0, 1, 11, 12]),
    ("/static/site.css", 4_000, &[3, 4, 5, 13, 14, 23, 24]),
];

/// The log's time compression, offline and live alike.
const SPEED: &str = "2";

/// The policies, as flags both `edgelab replay` and `edgelab edge` take: two whose keys
/// leave query strings out, and rfc9111, whose key keeps them all.
const POLICIES: [(&str, &[&str]); 3] = [
    ("CachingOptimized", &["--policy", "CachingOptimized"]),
    ("rfc9111", &["--policy", "rfc9111"]),
    (
        "short TTLs",
        &[
            "--policy",
            "CachingOptimized",
            "--min-ttl",
            "0s",
            "--default-ttl",
            "3s",
            "--max-ttl",
            "3s",
        ],
    ),
];

fn write_log(dir: &std::path::Path) -> String {
    let mut lines: Vec<(u64, String)> = Vec::new();
    for (target, size, times) in TIMELINE {
        for &t in times {
            let line = format!(
                "10.0.0.1 - - [01/Dec/2026:10:00:{t:02} +0000] \"GET {target} HTTP/1.1\" 200 {size}"
            );
            lines.push((t, line));
        }
    }
    lines.sort_by_key(|(t, _)| *t);
    let text: String = lines.into_iter().map(|(_, l)| l + "\n").collect();
    let log = dir.join("agreement.log");
    std::fs::write(&log, text).expect("write the log");
    log.to_str().expect("utf-8 path").to_owned()
}

/// Offline: (fresh-hit ratio, hit ratio counting refreshes as hits) of `edgelab replay`.
fn offline(log: &str, flags: &[&str]) -> (f64, f64) {
    let mut args = vec![
        "replay",
        log,
        "--capacity",
        "1GiB",
        "--speed",
        SPEED,
        "--json",
        "-",
    ];
    args.extend_from_slice(flags);
    let json: Value = json_stdout(&run(&args, Duration::from_secs(30)));
    let entry = &json["results"][0];
    let count = |name: &str| entry[name].as_u64().expect(name) as f64;
    let (requests, misses, refreshes) = (count("requests"), count("misses"), count("refreshes"));
    (
        1.0 - misses / requests,
        1.0 - (misses - refreshes) / requests,
    )
}

/// The edge's `edgelab_edge_requests_total` by `cache_status`.
fn requests_by_status(admin: SocketAddr) -> Vec<(String, f64)> {
    let (status, _, body) = crate::support::http_get(admin, "/metrics", &[]);
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body).into_owned();
    text.lines()
        .filter(|l| l.starts_with("edgelab_edge_requests_total{"))
        .filter_map(|l| {
            let status = l.split("cache_status=\"").nth(1)?.split('"').next()?;
            let value: f64 = l.rsplit(' ').next()?.parse().ok()?;
            Some((status.to_owned(), value))
        })
        .collect()
}

/// Live: (fresh-hit ratio from the edge's metrics, loadgen's hit ratio, which counts
/// `RefreshHit` as a hit) of the log sent through an edge running `flags`.
fn live(log: &str, origin: &str, flags: &[&str], name: &str) -> (f64, f64) {
    let mut args = vec!["--upstream", origin, "--pop", "FRA"];
    args.extend_from_slice(flags);
    let edge = Node::loopback("edge", &args);
    let target = format!("http://{}", edge.traffic);
    let json = temp_dir(&format!("agreement-{}", name.replace(' ', "-"))).join("live.json");
    let json_path = json.to_str().expect("utf-8 path");
    let loadgen = [
        "loadgen", "--target", &target, "--replay", log, "--speed", SPEED, "--json", json_path,
    ];
    succeeded(&run(&loadgen, Duration::from_secs(90)));
    let report: Value = read_json(&json);
    let totals = &report["totals"];
    let sent: u64 = TIMELINE.iter().map(|(_, _, t)| t.len() as u64).sum();
    assert_eq!(totals["completed"], sent, "{name}: {totals}");
    assert_eq!(totals["errors"], 0, "{name}: {totals}");
    // The edge also saw loadgen's catalog fetch (a miss): fresh hits are over the log's.
    let statuses = requests_by_status(edge.admin);
    let count = |status: &str| -> f64 {
        statuses
            .iter()
            .filter(|(s, _)| s == status)
            .map(|(_, v)| v)
            .sum()
    };
    let hits = count("hit");
    assert!(
        hits + count("refresh_hit") <= sent as f64,
        "{name}: {statuses:?}"
    );
    let _ = edge.terminate();
    let loadgen_ratio = totals["hit_ratio"].as_f64().expect("hit ratio");
    (hits / sent as f64, loadgen_ratio)
}

#[test]
fn a_replay_and_a_live_run_of_one_log_agree_under_caching_optimized_rfc9111_and_short_ttls() {
    let dir = temp_dir("agreement");
    let log = write_log(&dir);
    let origin_node = Node::loopback("origin", &["--catalog-from-log", &log]);
    let origin = format!("http://{}", origin_node.traffic);
    // Both live runs at once: the test takes one log's time, not two.
    let lives: Vec<(f64, f64)> = std::thread::scope(|scope| {
        let runs: Vec<_> = POLICIES
            .iter()
            .map(|(name, flags)| {
                let (log, origin) = (&log, &origin);
                scope.spawn(move || live(log, origin, flags, name))
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("live run"))
            .collect()
    });
    let mut seen = Vec::new();
    for ((name, flags), (live_fresh, live_any)) in POLICIES.iter().zip(lives) {
        let (offline_fresh, offline_any) = offline(&log, flags);
        seen.push(format!(
            "{name}: hit offline {offline_fresh:.4} live {live_fresh:.4}; \
             hit or refresh offline {offline_any:.4} live {live_any:.4}"
        ));
        assert!(
            (offline_fresh - live_fresh).abs() <= 0.01,
            "fresh hits disagree: {seen:?}"
        );
        assert!(
            (offline_any - live_any).abs() <= 0.01,
            "hits with refreshes disagree: {seen:?}"
        );
    }
    // Expiry decides under the short TTLs: their hit ratio is well below CachingOptimized's.
    let fresh = |policy: &[&str]| offline(&log, policy).0;
    assert!(
        fresh(POLICIES[2].1) + 0.2 < fresh(POLICIES[0].1),
        "{seen:?}"
    );
    // The query strings decide under rfc9111: keyed without them, two misses (of 35) fewer,
    // so a live run sending the paths alone would not agree.
    let unkeyed = fresh(&["--policy", "rfc9111", "--query-strings", "none"]);
    assert!(fresh(POLICIES[1].1) + 0.05 < unkeyed, "{seen:?}");
    let _ = origin_node.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}
