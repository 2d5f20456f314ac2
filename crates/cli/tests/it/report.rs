//! End-to-end: `edgelab loadgen --shard` and `edgelab compare --shard` write shard reports,
//! `edgelab report merge` adds them up; bad shards and mismatched reports exit 64.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Node, exited, read_json, repo, run, run_env, succeeded, temp_dir};

/// A JSON report a run wrote.
fn json(path: &Path) -> Value {
    read_json(path)
}

/// `edgelab loadgen` against `target`: 150 requests of seed `seed`, shard `shard` (through
/// `EDGELAB_SHARD` when `by_env`), JSON into `out`.
fn shard_run(target: &str, metrics: &str, seed: &str, shard: &str, by_env: bool, out: &Path) {
    let mut args = vec![
        "loadgen",
        "--target",
        target,
        "--origin-metrics",
        metrics,
        "--rate",
        "300",
        "--requests",
        "150",
        "--seed",
        seed,
        "--connections",
        "2",
        "--json",
        out.to_str().unwrap(),
    ];
    let env = if by_env {
        vec![("EDGELAB_SHARD", shard)]
    } else {
        args.extend(["--shard", shard]);
        Vec::new()
    };
    let output = run_env(&args, &env, Duration::from_secs(60));
    let stdout = succeeded(&output);
    let wanted = format!(
        "shard {} of the seeded schedule",
        shard.replace('/', " of ")
    );
    assert!(stdout.contains(&wanted), "{stdout}");
}

#[test]
fn report_merge_adds_up_the_shards_of_a_loadgen_run() {
    let origin = Node::loopback("origin", &["--seed", "4", "--objects", "60"]);
    let dir = temp_dir("report-loadgen");
    let target = format!("http://{}", origin.traffic);
    let metrics = format!("http://{}/metrics", origin.admin);
    let [a, b, other] = ["a.json", "b.json", "other.json"].map(|name| dir.join(name));
    shard_run(&target, &metrics, "5", "1/2", false, &a);
    shard_run(&target, &metrics, "5", "2/2", true, &b);
    shard_run(&target, &metrics, "6", "2/2", false, &other);
    assert_eq!(json(&a)["totals"]["completed"], 75);
    assert_eq!(
        json(&b)["shards"],
        serde_json::json!({ "count": 2, "indices": [2] })
    );

    let merged = dir.join("merged.json");
    let page = dir.join("merged.html");
    let a_path = a.to_str().unwrap();
    let b_path = b.to_str().unwrap();
    let output = run(
        &[
            "report",
            "merge",
            a_path,
            b_path,
            "--json",
            merged.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    let stdout = succeeded(&output);
    assert!(stdout.contains("150 requests completed"), "{stdout}");
    assert!(stdout.contains("merged shards 1,2 of 2"), "{stdout}");
    let report = json(&merged);
    assert_eq!(report["totals"]["completed"], 150);
    assert_eq!(report["totals"]["errors"], 0);
    assert_eq!(report["shards"]["indices"], serde_json::json!([1, 2]));
    // One origin, read by both shards (one after the other here): its load from the first
    // reading to the last, which also counts the second shard's catalog fetch.
    let origin = report["origin"]["requests"].as_f64().unwrap();
    assert!((150.0..=151.0).contains(&origin), "{origin}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg"), "the merged report has charts");

    let fails = |args: &[&str], wanted: &str| {
        let output = run(args, Duration::from_secs(30));
        let stderr = exited(&output, 64);
        assert!(stderr.contains(wanted), "wanted `{wanted}`: {stderr}");
    };
    fails(&["report", "merge", a_path, a_path], "twice");
    fails(&["report", "merge", a_path], "shard 2 of 2 missing");
    fails(
        &["report", "merge", a_path, other.to_str().unwrap()],
        "seed 6",
    );
    fails(
        &["report", "merge", a_path, other.to_str().unwrap()],
        "other.json",
    );
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"not\": \"a report\"}").unwrap();
    fails(
        &["report", "merge", a_path, garbage.to_str().unwrap()],
        "not an edgelab report",
    );
    let output = run(
        &["report", "merge", a_path, "--partial"],
        Duration::from_secs(30),
    );
    assert!(succeeded(&output).contains("75 requests completed"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_shards_exit_64_naming_the_flag() {
    let usage = |args: &[&str], env: &[(&str, &str)]| {
        let output = run_env(args, env, Duration::from_secs(30));
        let stderr = exited(&output, 64);
        assert!(stderr.contains("--shard"), "{stderr}");
        stderr
    };
    let target = ["loadgen", "--target", "http://127.0.0.1:1"];
    let with = |shard: &'static str| [&target[..], &["--shard", shard]].concat();
    assert!(usage(&with("0/3"), &[]).contains("1-based"));
    usage(&with("4/3"), &[]);
    usage(&with("1/0"), &[]);
    usage(&with("two/3"), &[]);
    usage(&target, &[("EDGELAB_SHARD", "5/3")]);
    let closed = [&with("1/2")[..], &["--closed"]].concat();
    assert!(usage(&closed, &[]).contains("closed-loop"));
    usage(&["compare", "--shard", "3/2"], &[]);
}

#[test]
fn compare_shards_write_their_own_directories_and_merge() {
    let out = temp_dir("report-compare");
    let out_arg = out.to_str().unwrap().to_string();
    let topology = repo("config/minimal.toml");
    let compare = |shard: &str| {
        let args = [
            "compare",
            "--topology",
            &topology,
            "--duration",
            "1s",
            "--rate",
            "60",
            "--shard",
            shard,
            "--out",
            &out_arg,
        ];
        let output = run(&args, Duration::from_secs(120));
        succeeded(&output);
    };
    std::thread::scope(|scope| {
        scope.spawn(|| compare("1/2"));
        scope.spawn(|| compare("2/2"));
    });
    let files: Vec<PathBuf> = ["shard-1-of-2", "shard-2-of-2"]
        .iter()
        .map(|dir| out.join(dir).join("comparison.json"))
        .collect();
    let merged = out.join("comparison.json");
    let output = run(
        &[
            "report",
            "merge",
            files[0].to_str().unwrap(),
            files[1].to_str().unwrap(),
            "--json",
            merged.to_str().unwrap(),
            "--html",
            out.join("report.html").to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert!(succeeded(&output).contains("merged shards 1,2 of 2"));
    // The output directory stands for its shards' comparison.json files.
    let from_dir = run(&["report", "merge", &out_arg], Duration::from_secs(30));
    succeeded(&from_dir);
    assert_eq!(from_dir.stdout, output.stdout);
    let comparison = json(&merged);
    let shards: Vec<Value> = files.iter().map(|f| json(f)).collect();
    for run in ["direct", "edge"] {
        let completed = |c: &serde_json::Value| c[run]["totals"]["completed"].as_u64().unwrap();
        assert_eq!(
            completed(&comparison),
            completed(&shards[0]) + completed(&shards[1]),
            "{run}"
        );
        assert_eq!(
            comparison[run]["shards"]["indices"],
            serde_json::json!([1, 2])
        );
    }
    // Each shard started its own topology: two origins, whose loads add.
    let direct = |c: &serde_json::Value| c["origin"]["direct_requests"].as_f64().unwrap();
    assert_eq!(direct(&comparison), direct(&shards[0]) + direct(&shards[1]));
    assert!(out.join("report.html").exists());
    let _ = std::fs::remove_dir_all(out);
}
