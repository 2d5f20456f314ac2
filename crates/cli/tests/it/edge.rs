//! `edgelab edge`: bad config exits 64 before binding; a node in front of a small origin
//! answers with CloudFront headers; SIGTERM drains and exits 0.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::support::{Node, exited, http_get, run, run_env};

/// A one-thread HTTP/1.1 origin answering every request with a cacheable body.
fn tiny_origin() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
    let addr = listener.local_addr().expect("origin addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let body = "hello from origin";
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if stream.write_all(response.as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn bad_config_lists_every_problem_and_exits_64() {
    let output = run(
        &[
            "edge",
            "--listen",
            "nowhere",
            "--admin",
            "127.0.0.1:0",
            "--upstream",
            "ftp://x",
            "--policy",
            "Fastest",
            "--tier",
            "middle",
        ],
        Duration::from_secs(10),
    );
    let stderr = exited(&output, 64);
    for field in [
        "--listen",
        "upstream.primary",
        "default_behavior.cache_policy.preset",
        "tier",
    ] {
        assert!(stderr.contains(field), "missing {field} in {stderr}");
    }
    assert!(output.stdout.is_empty(), "nothing bound, nothing printed");
}

#[test]
fn edge_caches_in_front_of_an_origin_and_stops_on_sigterm() {
    let origin = tiny_origin();
    let upstream = format!("http://{origin}");
    let node = Node::loopback(
        "edge",
        &[
            "--upstream",
            &upstream,
            "--policy",
            "CachingOptimized",
            "--pop",
            "NRT",
            "--tier",
            "edge",
        ],
    );
    let (status, head, body) = http_get(node.traffic, "/x", &[]);
    assert_eq!(status, 200);
    assert_eq!(body, b"hello from origin");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-cache: miss from cloudfront"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("x-amz-cf-pop: nrt50-p1"),
        "{head}"
    );
    let (_, head, _) = http_get(node.traffic, "/x", &[]);
    assert!(
        head.to_ascii_lowercase()
            .contains("x-cache: hit from cloudfront"),
        "{head}"
    );
    let (status, _, metrics) = http_get(node.admin, "/metrics", &[]);
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains(
            "edgelab_edge_requests_total{cache_status=\"hit\",pop=\"NRT\",tier=\"edge\"} 1"
        ),
        "{metrics}"
    );
    assert!(node.terminate().success());
}

#[test]
fn threads_share_one_store_and_every_socket_of_the_port_is_served() {
    let origin = tiny_origin();
    let upstream = format!("http://{origin}");
    let node = Node::start(&[
        "edge",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--pop",
        "FRA",
        "--threads",
        "4",
    ]);
    let pid = node.child.id();
    let thread_names = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("the node's threads")
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .collect()
    };
    // A thread names itself once it runs: wait a bounded while for all three.
    let wanted: Vec<String> = (1..4).map(|i| format!("edge-traffic-{i}")).collect();
    let started = std::time::Instant::now();
    let mut names = thread_names();
    while !wanted.iter().all(|name| names.contains(name)) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "threads {wanted:?} not all in {names:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
        names = thread_names();
    }
    let (status, head, _) = http_get(node.traffic, "/x", &[]);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("x-cache: miss"),
        "{head}"
    );
    // Each request opens a connection, which the kernel hands to one of the four sockets:
    // a socket nobody served would leave its connections unanswered.
    for _ in 0..40 {
        let (status, head, body) = http_get(node.traffic, "/x", &[]);
        assert_eq!(status, 200);
        assert_eq!(body, b"hello from origin");
        assert!(head.to_ascii_lowercase().contains("x-cache: hit"), "{head}");
    }
    let (_, _, metrics) = http_get(node.admin, "/metrics", &[]);
    let metrics = String::from_utf8_lossy(&metrics);
    for series in [
        "edgelab_edge_requests_total{cache_status=\"hit\",pop=\"FRA\",tier=\"edge\"} 40",
        "edgelab_listener_connections_total{listener=\"traffic\"} 41",
    ] {
        assert!(metrics.contains(series), "no {series} in {metrics}");
    }
    assert!(node.terminate().success());
}

#[test]
fn a_bad_arena_size_variable_is_named_and_exits_64_before_binding() {
    let output = run_env(
        &["edge", "--upstream", "http://127.0.0.1:1"],
        &[("EDGELAB_FILE_BODIES", "1m-16k")],
        Duration::from_secs(10),
    );
    let stderr = exited(&output, 64);
    assert!(
        stderr.contains("EDGELAB_FILE_BODIES=\"1m-16k\""),
        "the variable and its value: {stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing bound, nothing printed");
}

#[test]
fn zero_threads_is_bad_usage() {
    let output = run(
        &["edge", "--upstream", "http://127.0.0.1:1", "--threads", "0"],
        Duration::from_secs(10),
    );
    exited(&output, 64);
    assert!(output.stdout.is_empty(), "nothing bound, nothing printed");
}

#[test]
fn hits_go_through_the_lane_unless_no_lane_is_given() {
    let origin = tiny_origin();
    let upstream = format!("http://{origin}");
    for (flags, lane_answers) in [(&[][..], 2), (&["--no-lane"][..], 0)] {
        let mut args = vec!["--upstream", upstream.as_str(), "--threads", "1"];
        args.extend_from_slice(flags);
        let node = Node::loopback("edge", &args);
        for _ in 0..3 {
            let (status, _, body) = http_get(node.traffic, "/lane", &[]);
            assert_eq!(status, 200);
            assert_eq!(body, b"hello from origin");
        }
        let (_, _, metrics) = http_get(node.admin, "/metrics", &[]);
        let metrics = String::from_utf8_lossy(&metrics);
        let series =
            format!("edgelab_listener_lane_answers_total{{listener=\"traffic\"}} {lane_answers}\n");
        assert!(metrics.contains(&series), "{flags:?}: {metrics}");
        assert!(
            metrics.contains(
                "edgelab_edge_requests_total{cache_status=\"hit\",pop=\"LOC\",tier=\"edge\"} 2"
            ),
            "{flags:?}: {metrics}"
        );
        assert!(node.terminate().success());
    }
}
