//! The origin's lane against hyper: the same pipelined requests, over real sockets, to a
//! replica that answers in the lane and to one with the lane off (`[listener] lane = false`).
//! Every answer must be the same bytes but for `date`; the lane replica must have written
//! its plain answers itself (`edgelab_listener_lane_written_total`).

use std::net::SocketAddr;
use std::time::Duration;

use edgelab_common::serve::RawListenerLimits;
use edgelab_origin::{CatalogEntry, OriginConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestOrigin, small_config};

/// Sum of the samples of `name` whose labels contain `label` (e.g. `listener="traffic"`).
fn total(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(label))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// Sends `requests` on one connection (pipelined, in one write) and reads until the server
/// closes (the last request asks it to).
async fn exchange(addr: SocketAddr, requests: &[String]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(requests.concat().as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the server closes within 10 s")
        .unwrap();
    out
}

/// The bytes with every `date: ` value masked (the second it was sent differs).
fn masked(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at..].starts_with(b"\r\ndate: ") && bytes.len() >= at + 8 + 29 {
            out.extend_from_slice(b"\r\ndate: <date>");
            at += 8 + 29;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    out
}

fn get(method: &str, path: &str, fields: &[&str]) -> String {
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: origin.test\r\n");
    for field in fields {
        request.push_str(field);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

fn config(lane: bool) -> OriginConfig {
    let mut config = small_config();
    config.listener = RawListenerLimits {
        lane: Some(lane),
        ..RawListenerLimits::default()
    };
    config
}

/// One connection's requests about `entry`: plain, HEAD, conditionals, ranges; then a
/// missing path; the last asks to close.
fn requests(entry: &CatalogEntry) -> Vec<String> {
    let path = entry.path.as_str();
    let etag = format!("\"{:016x}\"", entry.digest.value());
    let inm = format!("if-none-match: {etag}");
    let other = "if-none-match: \"0000000000000000\"".to_string();
    let if_range = format!("if-range: {etag}");
    vec![
        get("GET", path, &[]),
        get("HEAD", path, &[]),
        get("GET", path, &["accept: */*", "user-agent: lane-test"]),
        get("GET", path, &[&inm]),
        get("GET", path, &[&other]),
        get("HEAD", path, &[&inm]),
        get(
            "GET",
            path,
            &["if-modified-since: Sun, 01 Jan 2034 00:00:00 GMT"],
        ),
        get("GET", path, &["if-match: \"nope\""]),
        get("GET", path, &["range: bytes=0-0"]),
        get("GET", path, &["range: bytes=1-3,5-7"]),
        get("GET", path, &["range: bytes=999999999-"]),
        get("GET", path, &["range: bytes=0-1", "if-range: \"other\""]),
        get("GET", path, &["range: bytes=0-1", &if_range]),
        get("HEAD", path, &["range: bytes=0-1"]),
        get("GET", path, &[]),
        get("GET", "/static/99999.js", &[]),
        get("GET", path, &["connection: close"]),
    ]
}

#[tokio::test]
async fn lane_answers_are_hyper_s_byte_for_byte() {
    let lane = TestOrigin::start(config(true)).await;
    let hyper = TestOrigin::start(config(false)).await;
    let listing = lane.listing().await;
    assert_eq!(hyper.listing().await, listing);
    // One object of each class, the largest and the smallest.
    let mut entries: Vec<CatalogEntry> = Vec::new();
    for class in ["static", "img", "api", "video"] {
        entries.extend(listing.objects.iter().find(|e| e.class == class).cloned());
    }
    let by_size = |e: &&CatalogEntry| e.size;
    entries.extend(listing.objects.iter().max_by_key(by_size).cloned());
    entries.extend(listing.objects.iter().min_by_key(by_size).cloned());
    let mut compared = 0;
    for entry in &entries {
        let requests = requests(entry);
        let (ours, theirs) = tokio::join!(
            exchange(lane.handle.traffic_addr(), &requests),
            exchange(hyper.handle.traffic_addr(), &requests),
        );
        let (ours, theirs) = (masked(&ours), masked(&theirs));
        assert!(ours.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", entry.path);
        if ours != theirs {
            let at = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
            let from = at.saturating_sub(200);
            panic!(
                "{}: the answers differ at byte {at}:\nlane:  {:?}\nhyper: {:?}",
                entry.path,
                String::from_utf8_lossy(&ours[from..(at + 200).min(ours.len())]),
                String::from_utf8_lossy(&theirs[from..(at + 200).min(theirs.len())]),
            );
        }
        compared += requests.len();
    }
    assert_eq!(compared, entries.len() * 17);
    // The lane replica wrote the plain answers itself and kept every connection.
    let metrics = lane.metrics().await;
    let traffic = "listener=\"traffic\"";
    let written = total(&metrics, "edgelab_listener_lane_written_total", traffic);
    assert!(written >= (entries.len() * 4) as f64, "written {written}");
    let handovers = total(&metrics, "edgelab_listener_lane_handovers_total", traffic);
    assert_eq!(handovers, 0.0);
    // Both replicas counted the same answers.
    let hyper_metrics = hyper.metrics().await;
    for class in ["2xx", "3xx", "4xx"] {
        let label = format!("status_class=\"{class}\"");
        let name = "edgelab_origin_requests_total";
        let ours = total(&metrics, name, &label);
        assert!(ours > 0.0, "{class}");
        assert_eq!(ours, total(&hyper_metrics, name, &label), "{class}");
    }
}
