//! End-to-end runs of `edgelab origin`.

use std::time::Duration;

use crate::support::{
    Node, edgelab, exited, http_get, http_request, loopback_args, repo, run, run_env, temp_dir,
    temp_file,
};

fn start() -> Node {
    Node::loopback(
        "origin",
        &[
            "--seed",
            "9",
            "--objects",
            "50",
            "--region",
            "eu-west-2",
            "--az",
            "euw2-az1",
        ],
    )
}

/// `edgelab origin --objects N` on free loopback ports (the smallest node these tests need).
fn small(objects: &str) -> Node {
    Node::loopback("origin", &["--objects", objects])
}

fn header_of<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {head}"))
}

#[test]
fn origin_serves_conditionals_ranges_head_metrics_and_stops_on_sigterm() {
    let node = start();
    let (status, head, body) = http_get(node.traffic, "/.well-known/edgelab/catalog", &[]);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: no-store")
    );
    let catalog: serde_json::Value = serde_json::from_slice(&body).expect("catalog JSON");
    assert_eq!(catalog["seed"], 9);
    let objects = catalog["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 50);
    let (_, _, admin_body) = http_get(node.admin, "/catalog", &[]);
    assert_eq!(admin_body, body);

    let entry = &objects[0];
    let path = entry["path"].as_str().unwrap();
    let size = entry["size"].as_u64().unwrap();
    let (status, head, body) = http_get(node.traffic, path, &[]);
    assert_eq!(status, 200);
    assert_eq!(body.len() as u64, size);
    assert_eq!(header_of(&head, "x-edgelab-digest"), entry["digest"]);
    assert_eq!(header_of(&head, "x-edgelab-origin"), "eu-west-2/euw2-az1");
    let etag = header_of(&head, "etag").to_owned();

    let (status, _, body) = http_get(node.traffic, path, &[("If-None-Match", &etag)]);
    assert_eq!(status, 304);
    assert!(body.is_empty());

    let (status, head, body) = http_get(node.traffic, path, &[("Range", "bytes=0-9")]);
    assert_eq!(status, 206);
    assert_eq!(body.len(), 10);
    assert_eq!(
        header_of(&head, "content-range"),
        format!("bytes 0-9/{size}")
    );

    let (status, head, body) = http_request(node.traffic, "HEAD", path, &[]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(status, 200);
    assert_eq!(header_of(&head, "content-length"), size.to_string());
    assert!(body.is_empty(), "HEAD has no body: {head:?} then {body:?}");

    let (status, _, _) = http_get(node.traffic, "/no/such/object", &[]);
    assert_eq!(status, 404);

    let (status, _, metrics) = http_get(node.admin, "/metrics", &[]);
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    let two_xx = metrics
        .lines()
        .find(|l| {
            l.starts_with("edgelab_origin_requests_total{")
                && l.contains("status_class=\"2xx\"")
                && l.contains("az=\"euw2-az1\"")
        })
        .expect("2xx request counter");
    let count: f64 = two_xx.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 4.0, "{two_xx}");
    assert!(metrics.contains("edgelab_origin_response_bytes_total{"));
    assert!(metrics.contains("edgelab_origin_request_duration_seconds_bucket{"));

    let (status, _, _) = http_get(node.admin, "/readyz", &[]);
    assert_eq!(status, 200);
    let exit = node.terminate();
    assert!(exit.success(), "exit status {exit:?}");
}

#[test]
fn bad_config_exits_64_listing_every_problem_before_binding() {
    let (dir, file) = temp_file(
        "origin-bad",
        "origin.toml",
        r#"
name = "has space"
pool_bytes = 1
[classes.api]
share = -2.0
[faults]
error_rate = 3.0
error_status = 99
"#,
    );
    let output = run(
        &loopback_args("origin", &["--config", &file]),
        Duration::from_secs(20),
    );
    exited(&output, 64);
    assert!(
        output.stdout.is_empty(),
        "nothing is printed on stdout (no listening line)"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    for field in [
        "name",
        "pool_bytes",
        "classes.api.share",
        "faults.error_rate",
        "faults.error_status",
    ] {
        assert!(
            stderr.contains(&format!("{field}:")),
            "{field} missing in {stderr}"
        );
    }

    let output = run(
        &[
            "origin",
            "--region",
            "mars-north-1",
            "--listen",
            "127.0.0.1:0",
        ],
        Duration::from_secs(20),
    );
    assert!(exited(&output, 64).contains("region: unknown Region"));
    let output = run(
        &["origin", "--region", "eu-west-2", "--az", "use1-az1"],
        Duration::from_secs(20),
    );
    assert!(exited(&output, 64).contains("az: `use1-az1`"));

    // Too many bytes to digest at start: refused as a configuration problem, at once.
    std::fs::write(
        &file,
        "objects = 1000\n[classes.video]\nshare = 1.0\nsize = { distribution = \"fixed\", bytes = 1073741824 }\n",
    )
    .unwrap();
    let output = run(&["origin", "--config", &file], Duration::from_secs(20));
    assert!(exited(&output, 64).contains("objects: the catalog's bodies"));

    std::fs::write(&file, "colour = \"blue\"\n").unwrap();
    let output = run(&["origin", "--config", &file], Duration::from_secs(20));
    assert!(exited(&output, 64).contains("colour"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_right_after_the_listening_line_is_a_graceful_stop() {
    for _ in 0..3 {
        let node = small("5");
        let status = node.terminate();
        assert!(status.success(), "{status:?}");
    }
}

#[test]
fn admin_token_from_the_environment_guards_the_outage_switch() {
    let node = Node::spawn(
        edgelab()
            .args(loopback_args("origin", &["--objects", "5"]))
            .env("EDGELAB_ADMIN_TOKEN", "env-token"),
    );
    assert_eq!(http_request(node.admin, "POST", "/outage", &[]).0, 401);
    assert_eq!(http_get(node.traffic, "/echo/", &[]).0, 200);
    assert_eq!(
        http_request(
            node.admin,
            "POST",
            "/outage",
            &[("x-edgelab-token", "env-token")]
        )
        .0,
        200
    );
    assert_eq!(http_get(node.traffic, "/echo/", &[]).0, 503);
    assert!(node.terminate().success());
}

/// Runs `edgelab origin` on loopback with `EDGELAB_LOG` set to `log` (unset when `None`),
/// stops it with SIGTERM and returns what it wrote to standard error.
fn origin_stderr_with_log(log: Option<&str>) -> String {
    use std::io::Read;
    let mut command = edgelab();
    command
        .args(loopback_args("origin", &["--objects", "5"]))
        .stderr(std::process::Stdio::piped());
    if let Some(log) = log {
        command.env("EDGELAB_LOG", log);
    }
    let mut node = Node::spawn(&mut command);
    let mut stderr = node.child.stderr.take().expect("stderr is piped");
    assert!(node.terminate().success());
    let mut text = String::new();
    stderr.read_to_string(&mut text).expect("read stderr");
    text
}

#[test]
fn edgelab_log_directives_choose_what_is_logged() {
    for log in [
        Some("info"),
        Some("edgelab_origin=info"),
        Some("warn,edgelab_origin=debug"),
    ] {
        let text = origin_stderr_with_log(log);
        assert!(text.contains("origin started"), "{log:?}: {text}");
    }
    for log in [
        None,
        Some("edgelab_edge=debug"),
        Some("edgelab_origin=warn"),
    ] {
        let text = origin_stderr_with_log(log);
        assert!(!text.contains("origin started"), "{log:?}: {text}");
    }
}

#[test]
fn a_local_zone_is_a_valid_placement() {
    for az in ["us-west-2-lax-1a", "usw2-lax1-az1"] {
        let node = Node::loopback(
            "origin",
            &["--region", "us-west-2", "--az", az, "--objects", "5"],
        );
        let (status, head, _) = http_get(node.traffic, "/echo/", &[]);
        assert_eq!(status, 200);
        assert_eq!(
            header_of(&head, "x-edgelab-origin"),
            format!("us-west-2/{az}")
        );
        assert!(node.terminate().success());
    }
}

#[test]
fn export_writes_every_body_at_its_path() {
    let dir = temp_dir("origin-export");
    let output = run(
        &[
            "origin",
            "--objects",
            "20",
            "--export",
            dir.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("exported 20 objects"));
    let node = small("20");
    let (_, _, body) = http_get(node.traffic, "/.well-known/edgelab/catalog", &[]);
    let catalog: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for entry in catalog["objects"].as_array().unwrap() {
        let path = entry["path"].as_str().unwrap();
        let on_disk = std::fs::read(dir.join(path.trim_start_matches('/'))).unwrap();
        let (_, _, served) = http_get(node.traffic, path, &[]);
        assert_eq!(on_disk, served, "{path}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn catalog_from_log_serves_each_logged_path_at_its_logged_size() {
    let log = repo("config/examples/cloudfront-access.log");
    let node = Node::loopback("origin", &["--catalog-from-log", &log]);
    let (status, _, body) = http_get(node.traffic, "/.well-known/edgelab/catalog", &[]);
    assert_eq!(status, 200);
    let catalog: serde_json::Value = serde_json::from_slice(&body).expect("catalog JSON");
    let objects = catalog["objects"].as_array().expect("objects");
    let paths: Vec<&str> = objects.iter().filter_map(|o| o["path"].as_str()).collect();
    // The log's eight distinct paths and nothing synthetic.
    assert_eq!(paths.len(), 8, "{paths:?}");
    let hero = objects
        .iter()
        .find(|o| o["path"] == "/img/hero.jpg")
        .expect("logged image");
    assert_eq!(hero["size"], 120000);
    assert_eq!(hero["class"], "img");
    let (status, head, body) = http_get(node.traffic, "/img/hero.jpg", &[]);
    assert_eq!(status, 200);
    assert_eq!(body.len(), 120000);
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: public, max-age=14400"),
        "{head}"
    );
    let _ = node.terminate();

    let strict = run(
        &loopback_args("origin", &["--strict", "--catalog-from-log", &log]),
        Duration::from_secs(30),
    );
    assert_eq!(
        strict.status.code(),
        Some(64),
        "a truncated line under --strict"
    );
}

/// The heap is not advised onto transparent huge pages: with `defrag` at `madvise` (the
/// kernel's default) the first touch of each 2 MiB page of an advised mapping waits for the
/// kernel to compact memory, a stall of milliseconds in the thread that faulted
/// (docs/latency-model.md). mimalloc advises its arenas unless built with `no_thp`.
#[cfg(target_os = "linux")]
#[test]
fn the_heap_is_not_advised_onto_transparent_huge_pages() {
    let node = start();
    // Something allocated and served first.
    let (status, _, _) = http_get(node.traffic, "/.well-known/edgelab/catalog", &[]);
    assert_eq!(status, 200);
    let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", node.child.id()))
        .expect("read the node's memory map");
    let mut mapping = "";
    let mut advised = Vec::new();
    for line in smaps.lines() {
        // A mapping's header starts with its address range; its fields follow as `Name: …`.
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            mapping = line;
        }
        if let Some(flags) = line.strip_prefix("VmFlags:")
            && flags.split_whitespace().any(|flag| flag == "hg")
        {
            advised.push(mapping.to_string());
        }
    }
    assert!(
        advised.is_empty(),
        "mappings advised onto huge pages (MADV_HUGEPAGE): {advised:?}"
    );
}

#[test]
fn runtime_tuning_variables_are_applied_and_a_bad_one_is_a_usage_error() {
    let node = Node::spawn(
        edgelab()
            .args(loopback_args("origin", &["--objects", "5"]))
            .env("EDGELAB_RUNTIME_EVENT_INTERVAL", "7")
            .env("EDGELAB_RUNTIME_GLOBAL_QUEUE_INTERVAL", "13"),
    );
    assert_eq!(http_get(node.traffic, "/echo/", &[]).0, 200);
    assert!(node.terminate().success());
    let output = run_env(
        &loopback_args("origin", &["--objects", "5"]),
        &[("EDGELAB_RUNTIME_GLOBAL_QUEUE_INTERVAL", "0")],
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("EDGELAB_RUNTIME_GLOBAL_QUEUE_INTERVAL=\"0\""),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing was bound or printed");
}
