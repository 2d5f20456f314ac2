//! The lane against hyper: the same requests, over real sockets, to a node that answers fresh
//! hits in the lane and to one with the lane off (`[listener] lane = false`), both in front of
//! one origin. Every answer must agree field by field: the same status, the same fields in
//! the same order, the same values but for those that differ by nature (request id, timings,
//! `Date`, `Age`), which must have the same shape; the same bodies; and the same request
//! counts in `/metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{Node, SCRIPTED_QUERY, TestOrigin, eventually, get};

/// One parsed answer: status, fields in order, body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    fields: Vec<(String, String)>,
    /// As text (the test origin's bodies are).
    body: String,
}

/// Reads answers to `heads` (the requests' methods say which have bodies) until the server
/// closes or `expected` answers came; at most 5 s.
async fn answers(addr: SocketAddr, bytes: &[u8], methods: &[&str]) -> (Vec<Answer>, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while out.len() < methods.len() {
        if let Some((answer, used)) = parse_answer(&buf, methods[out.len()] == "HEAD") {
            out.push(answer);
            buf.drain(..used);
            continue;
        }
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no answer within 5 s; {} answers so far", out.len()),
        }
    }
    if !closed {
        // Closed by the server right after its last answer?
        let mut chunk = [0u8; 64];
        closed = matches!(
            tokio::time::timeout(Duration::from_millis(300), stream.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        );
    }
    (out, closed)
}

/// One answer at the start of `buf` and its length, once it is all there.
fn parse_answer(buf: &[u8], head_request: bool) -> Option<(Answer, usize)> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(buf).expect("a well-formed answer") {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return None,
    };
    let status = response.code.unwrap();
    let fields: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|f| {
            (
                f.name.to_string(),
                String::from_utf8_lossy(f.value).into_owned(),
            )
        })
        .collect();
    let length = fields
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
    assert!(
        !fields.iter().any(|(n, _)| n == "transfer-encoding"),
        "no chunked answers expected here"
    );
    let body_len = if head_request || status == 304 || status == 204 {
        0
    } else {
        length
    };
    if buf.len() < len + body_len {
        return None;
    }
    let body = String::from_utf8_lossy(&buf[len..len + body_len]).into_owned();
    Some((
        Answer {
            status,
            fields,
            body,
        },
        len + body_len,
    ))
}

/// A value with what differs by nature between two answers masked: numbers (ages, TTLs,
/// timings, dates) and long tokens (request ids, node ids).
fn shape(name: &str, value: &str) -> String {
    match name {
        "date" | "age" | "server-timing" | "cache-status" | "x-amz-cf-id" | "via"
        | "x-amz-cf-pop" => {
            let value = if matches!(name, "x-amz-cf-id" | "server-timing" | "via") {
                mask_ids(value)
            } else {
                value.to_string()
            };
            // Every run of digits (a number of any length) becomes one `0`.
            let mut digits = String::new();
            for c in value.chars() {
                if !c.is_ascii_digit() {
                    digits.push(c);
                } else if !digits.ends_with('0') {
                    digits.push('0');
                }
            }
            digits
        }
        _ => value.to_string(),
    }
}

/// Replaces every run of 20 or more id characters with `ID`.
fn mask_ids(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            run.push(c);
        } else {
            if run.len() >= 20 {
                out.push_str("ID");
            } else {
                out.push_str(&run);
            }
            run.clear();
            out.push(c);
        }
    }
    out.pop();
    out
}

fn shaped(answer: &Answer) -> Answer {
    Answer {
        status: answer.status,
        fields: answer
            .fields
            .iter()
            .map(|(n, v)| (n.clone(), shape(n, v)))
            .collect(),
        body: answer.body.clone(),
    }
}

struct Pair {
    origin: TestOrigin,
    lane: Node,
    hyper: Node,
}

/// The config of an edge in front of `upstream` with the lane on or off.
fn edge_config(upstream: &str, lane: bool) -> String {
    format!(
        "pop = \"FRA\"\n[upstream]\nprimary = \"{upstream}\"\n[listener]\nlane = {lane}\n\
         [default_behavior]\ncache_policy = {{ preset = \"CachingOptimized\" }}\n{SCRIPTED_QUERY}\n"
    )
}

impl Pair {
    async fn start() -> Pair {
        let origin = TestOrigin::start("o").await;
        let (lane, hyper) = Pair::nodes(&origin.url()).await;
        Pair {
            origin,
            lane,
            hyper,
        }
    }

    /// A node with the lane and one without, both in front of `upstream`.
    async fn nodes(upstream: &str) -> (Node, Node) {
        let lane = Node::start(&edge_config(upstream, true)).await;
        let hyper = Node::start(&edge_config(upstream, false)).await;
        (lane, hyper)
    }

    /// Sends `bytes` to both nodes; their answers, shaped, must agree.
    async fn same(&self, what: &str, bytes: &[u8], methods: &[&str]) -> Vec<Answer> {
        same(&self.lane, &self.hyper, what, bytes, methods).await
    }
}

/// Sends `bytes` to the node with the lane and the one without; their answers, shaped, must
/// agree.
async fn same(
    lane: &Node,
    hyper: &Node,
    what: &str,
    bytes: &[u8],
    methods: &[&str],
) -> Vec<Answer> {
    let (lane, lane_closed) = answers(lane.handle.traffic_addr(), bytes, methods).await;
    let (hyper, hyper_closed) = answers(hyper.handle.traffic_addr(), bytes, methods).await;
    assert_eq!(lane.len(), methods.len(), "{what}: lane answers {lane:#?}");
    assert_eq!(
        hyper.len(),
        methods.len(),
        "{what}: hyper answers {hyper:#?}"
    );
    for (i, (l, h)) in lane.iter().zip(&hyper).enumerate() {
        assert_eq!(shaped(l), shaped(h), "{what}: answer {i} differs");
    }
    assert_eq!(lane_closed, hyper_closed, "{what}: closing differs");
    lane
}

fn field<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer
        .fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

const OBJ: &str = "/lane/a?cc=max-age%3D600&etag=v1&size=1500";
const OBJ2: &str = "/lane/b?cc=max-age%3D600&size=10";
const EMPTY: &str = "/lane/empty?cc=max-age%3D600&size=0";

#[tokio::test]
async fn the_lane_answers_as_hyper_does_field_by_field() {
    let pair = Pair::start().await;
    let get_of = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n").into_bytes()
    };
    // Warm both caches (each first request is a miss: hyper's on both nodes).
    for path in [OBJ, OBJ2, EMPTY] {
        let miss = pair
            .same("a first request", &get_of(path, ""), &["GET"])
            .await;
        assert_eq!(field(&miss[0], "x-cache"), Some("Miss from cloudfront"));
    }
    let hit = pair.same("hit", &get_of(OBJ, ""), &["GET"]).await;
    assert_eq!(field(&hit[0], "x-cache"), Some("Hit from cloudfront"));
    assert_eq!(hit[0].body.len(), 1500);
    for name in [
        "via",
        "x-amz-cf-pop",
        "x-amz-cf-id",
        "age",
        "server-timing",
        "cache-status",
        "date",
        "etag",
        "content-length",
    ] {
        assert!(field(&hit[0], name).is_some(), "{name} in {hit:#?}");
    }
    let head = format!("HEAD {OBJ} HTTP/1.1\r\nHost: example.com\r\n\r\n").into_bytes();
    let answered = pair.same("HEAD", &head, &["HEAD"]).await;
    assert!(answered[0].body.is_empty());
    assert_eq!(field(&answered[0], "content-length"), Some("1500"));
    pair.same("empty object", &get_of(EMPTY, ""), &["GET"])
        .await;
    pair.same(
        "empty object, HEAD",
        format!("HEAD {EMPTY} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes(),
        &["HEAD"],
    )
    .await;

    // Pipelined, in order, on one connection, ending with a close.
    let mut pipeline = get_of(OBJ, "");
    pipeline.extend_from_slice(&head);
    pipeline.extend_from_slice(&get_of(OBJ2, ""));
    pipeline.extend_from_slice(&get_of(OBJ, "Connection: close\r\n"));
    let answered = pair
        .same("pipelined", &pipeline, &["GET", "HEAD", "GET", "GET"])
        .await;
    assert!(answered[2].body.starts_with("/lane/b|"), "{answered:#?}");
    assert_eq!(field(&answered[3], "connection"), Some("close"));

    // Keep-alive: one after the other on one connection.
    for node in [&pair.lane, &pair.hyper] {
        let mut stream = TcpStream::connect(node.handle.traffic_addr())
            .await
            .unwrap();
        for _ in 0..3 {
            stream.write_all(&get_of(OBJ2, "")).await.unwrap();
            let mut buf = Vec::new();
            let answer = loop {
                if let Some((answer, _)) = parse_answer(&buf, false) {
                    break answer;
                }
                let mut chunk = [0u8; 4096];
                let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
                    .await
                    .unwrap()
                    .unwrap();
                assert!(n > 0, "kept open");
                buf.extend_from_slice(&chunk[..n]);
            };
            assert_eq!(field(&answer, "x-cache"), Some("Hit from cloudfront"));
        }
    }

    // Odd but valid heads.
    let odd: Vec<(&str, Vec<u8>)> = vec![
        (
            "lower-case names, extra whitespace",
            format!("GET {OBJ} HTTP/1.1\r\nhost:    example.com   \r\naccept:*/*\r\n\r\n")
                .into_bytes(),
        ),
        (
            "absolute form",
            format!("GET http://example.com{OBJ} HTTP/1.1\r\nHost: example.com\r\n\r\n")
                .into_bytes(),
        ),
        (
            "keep-alive and a zero length",
            get_of(OBJ, "Connection: keep-alive\r\nContent-Length: 0\r\n"),
        ),
        (
            "a matching validator",
            get_of(OBJ, "If-None-Match: \"v1\"\r\n"),
        ),
        ("a range", get_of(OBJ, "Range: bytes=10-19\r\n")),
        ("two ranges", get_of(OBJ, "Range: bytes=0-1,5-9\r\n")),
        (
            "an unsatisfiable range",
            get_of(OBJ, "Range: bytes=9000-\r\n"),
        ),
        (
            "repeated fields",
            get_of(
                OBJ,
                "Accept: a\r\nAccept: b\r\nX-Thing: 1\r\nX-Thing: 2\r\n",
            ),
        ),
        (
            "a bare LF line end",
            format!("GET {OBJ} HTTP/1.1\nHost: example.com\n\n").into_bytes(),
        ),
        (
            "an empty Host",
            format!("GET {OBJ} HTTP/1.1\r\nHost:\r\n\r\n").into_bytes(),
        ),
        (
            "a target over the URL limit (the node's 414)",
            get_of(&format!("/lane/{}", "u".repeat(9_000)), ""),
        ),
    ];
    for (what, bytes) in &odd {
        pair.same(what, bytes, &["GET"]).await;
    }

    // What the lane hands to hyper, alone or after answers of its own.
    let handed: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("a miss", get_of("/lane/miss?cc=max-age%3D60", ""), vec!["GET"]),
        ("no-cache (revalidated)", get_of(OBJ, "Cache-Control: no-cache\r\n"), vec!["GET"]),
        (
            "HTTP/1.0",
            format!("GET {OBJ} HTTP/1.0\r\nHost: example.com\r\n\r\n").into_bytes(),
            vec!["GET"],
        ),
        ("no Host (400)", format!("GET {OBJ} HTTP/1.1\r\n\r\n").into_bytes(), vec!["GET"]),
        (
            "a body",
            b"POST /lane/post?cc=no-store HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc"
                .to_vec(),
            vec!["POST"],
        ),
        ("Expect", get_of(OBJ, "Expect: 100-continue\r\n"), vec!["GET"]),
        (
            "a hit, a miss, a hit",
            [
                get_of(OBJ, ""),
                get_of("/lane/miss2?cc=max-age%3D60", ""),
                get_of(OBJ2, ""),
            ]
            .concat(),
            vec!["GET", "GET", "GET"],
        ),
        (
            "a hit, then a malformed head",
            [get_of(OBJ, ""), b"GET /x HTTP/1.1\r\nHost: a\r\nBad Field: x\r\n\r\n".to_vec()]
                .concat(),
            vec!["GET", "GET"],
        ),
    ];
    for (what, bytes, methods) in &handed {
        pair.same(what, bytes, methods).await;
    }

    // Both nodes counted the same requests: the lane's declines count nothing.
    for status in ["hit", "miss", "error", "pass", "refresh_hit", "stale"] {
        let series = format!("edgelab_edge_requests_total{{cache_status=\"{status}\"");
        assert_eq!(
            pair.lane.metric(&series).await,
            pair.hyper.metric(&series).await,
            "{status} requests"
        );
    }
    let hits = pair
        .lane
        .metric("edgelab_edge_requests_total{cache_status=\"hit\"")
        .await;
    assert!(hits > 20.0, "{hits} hits");
    // The lane answered the hits (and the node's own 414) itself and handed over the rest.
    let answered = lane(&pair.lane, "answers").await;
    assert!(
        answered >= hits - 4.0,
        "{answered} answered by the lane of {hits} hits"
    );
    assert!(lane(&pair.lane, "handovers").await >= handed.len() as f64);
    assert_eq!(lane(&pair.hyper, "answers").await, 0.0);
    assert_eq!(lane(&pair.hyper, "handovers").await, 0.0);
    // The origin saw each miss once per node.
    assert_eq!(pair.origin.state.count("/lane/miss"), 2);
}

/// A lane counter of `node`'s traffic listener (`answers`, `handovers`).
async fn lane(node: &Node, name: &str) -> f64 {
    let series = format!("edgelab_listener_lane_{name}_total{{listener=\"traffic\"}}");
    edgelab_testkit::metric_value(&node.metrics().await, &series)
}

/// What an origin of raw answers sends for a path: each head is sent as it is (with a
/// five-byte body unless it says otherwise), so stored heads can be odd in ways a real
/// origin's are: repeated and interleaved names, a stored `Via` and `Age`, fields the node
/// sets itself, no `Date`, an error status, chunked framing, an empty body.
fn raw_answer(path: &str) -> &'static [u8] {
    match path {
        "/odd/dups" => b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nX-A: 1\r\nX-B: 2\r\n\
            X-A: 3\r\nVia: 1.1 upstream-a\r\nVia: 1.1 upstream-b\r\nAge: 5\r\nAge: 6\r\n\
            Link: </a>; rel=preload\r\nX-Weird_Name: v\r\nContent-Length: 5\r\n\r\nhello",
        "/odd/cookie" => b"HTTP/1.1 200 OK\r\nCache-Control: public, max-age=600\r\n\
            Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello",
        "/odd/own" => b"HTTP/1.1 200 OK\r\nDate: Tue, 01 Dec 2026 16:00:00 GMT\r\n\
            Cache-Control: max-age=600\r\nETag: \"e1\"\r\nLast-Modified: Tue, 01 Dec 2026 15:00:00 GMT\r\n\
            Vary: Accept-Encoding\r\nX-Amz-Request-Id: TX1\r\nContent-Type: text/plain\r\n\
            Content-Length: 5\r\n\r\nhello",
        "/odd/node-fields" => b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n\
            X-Cache: Miss from somewhere\r\nServer-Timing: app;dur=1\r\n\
            Cache-Status: origin; fwd=uri-miss\r\nContent-Length: 5\r\n\r\nhello",
        "/odd/not-found" => b"HTTP/1.1 404 Not Found\r\nCache-Control: max-age=600\r\n\
            Content-Length: 5\r\n\r\nnope!",
        "/odd/chunked" => b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n\
            Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "/odd/empty" => b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n\
            Content-Length: 0\r\n\r\n",
        _ => b"HTTP/1.1 404 Not Found\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n",
    }
}

const RAW_PATHS: [&str; 7] = [
    "/odd/dups",
    "/odd/cookie",
    "/odd/own",
    "/odd/node-fields",
    "/odd/not-found",
    "/odd/chunked",
    "/odd/empty",
];

/// An origin that answers every request on a connection with [`raw_answer`] for its path.
async fn raw_origin() -> SocketAddr {
    let listener = edgelab_testkit::loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        let path = head.split(' ').nth(1).unwrap_or("/");
                        if stream.write_all(raw_answer(path)).await.is_err() {
                            return;
                        }
                    }
                    let mut chunk = [0u8; 4096];
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_hit_written_without_a_map_is_what_hyper_sends_for_odd_stored_heads() {
    let origin = raw_origin().await;
    let (lane, hyper) = Pair::nodes(&format!("http://{origin}")).await;
    let get_of = |method: &str, path: &str, extra: &str| {
        format!("{method} {path} HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n").into_bytes()
    };
    // Warm both (a miss may be chunked: not compared here).
    for path in RAW_PATHS {
        for node in [&lane, &hyper] {
            let got = get(&format!("{}{path}", node.url()), &[("host", "example.com")]).await;
            assert!(!got.h("x-cache").starts_with("Hit"), "{path}");
        }
    }
    let written_before = lane_of(&lane, "written").await;
    for path in RAW_PATHS {
        let hit = same(&lane, &hyper, path, &get_of("GET", path, ""), &["GET"]).await;
        assert!(
            field(&hit[0], "cache-status").unwrap().contains("hit"),
            "{path}"
        );
        same(&lane, &hyper, path, &get_of("HEAD", path, ""), &["HEAD"]).await;
        let closing = get_of("GET", path, "Connection: close\r\n");
        same(&lane, &hyper, path, &closing, &["GET"]).await;
        let conditional = get_of("GET", path, "If-None-Match: \"e1\"\r\n");
        same(&lane, &hyper, path, &conditional, &["GET"]).await;
        let range = get_of("GET", path, "Range: bytes=1-2\r\n");
        same(&lane, &hyper, path, &range, &["GET"]).await;
    }
    let dups = same(
        &lane,
        &hyper,
        "dups",
        &get_of("GET", "/odd/dups", ""),
        &["GET"],
    )
    .await;
    let names: Vec<&str> = dups[0].fields.iter().map(|(n, _)| n.as_str()).collect();
    // The node's Via after the stored ones, one Age in the first stored one's place, the
    // stored cookie gone.
    assert_eq!(
        names[..9],
        [
            "cache-control",
            "x-a",
            "x-a",
            "x-b",
            "via",
            "via",
            "via",
            "link",
            "x-weird_name"
        ],
        "{dups:#?}"
    );
    assert_eq!(dups[0].fields.iter().filter(|(n, _)| n == "age").count(), 1);
    let cookie = same(
        &lane,
        &hyper,
        "cookie",
        &get_of("GET", "/odd/cookie", ""),
        &["GET"],
    )
    .await;
    assert!(field(&cookie[0], "set-cookie").is_none(), "{cookie:#?}");
    // Written without a map: every GET and HEAD hit on the objects whose stored head allows
    // it (dups, cookie, own, not-found, node-fields, whose node fields were stripped before
    // storing: GET, HEAD and a closing GET each, and one more of dups and of cookie); none of
    // the others (chunked: stored without a length; empty), nor a conditional or a range.
    let written = lane_of(&lane, "written").await - written_before;
    assert_eq!(written, 17.0, "hits written without a map");
    assert_eq!(lane_of(&hyper, "written").await, 0.0);
    for status in ["hit", "miss", "error"] {
        let series = format!("edgelab_edge_requests_total{{cache_status=\"{status}\"");
        assert_eq!(
            lane.metric(&series).await,
            hyper.metric(&series).await,
            "{status} requests"
        );
    }
}

#[tokio::test]
async fn a_hit_written_without_a_map_agrees_behind_a_tier_and_after_a_revalidation() {
    let origin = TestOrigin::start("o").await;
    let rec = Node::start(&format!(
        "pop = \"FRA\"\ntier = \"rec\"\n[upstream]\nprimary = \"{}\"\n\
         [default_behavior]\n{SCRIPTED_QUERY}\n",
        origin.url()
    ))
    .await;
    let (lane, hyper) = Pair::nodes(&rec.url()).await;
    let get_of =
        |path: &str| format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n\r\n").into_bytes();
    let path = "/tiered?cc=max-age%3D60&etag=t1&size=300";
    // In the REC first (through a third edge), so both edges' misses are its hits.
    let warm = Node::start(&edge_config(&rec.url(), false)).await;
    get(&format!("{}{path}", warm.url()), &[("host", "example.com")]).await;
    let miss = same(&lane, &hyper, "miss", &get_of(path), &["GET"]).await;
    assert!(field(&miss[0], "via").is_some());
    // The REC's Via and Age are stored: the edge's Via goes after the stored one, its Age in
    // the stored one's place.
    let before = lane_of(&lane, "written").await;
    let hit = same(&lane, &hyper, "hit behind a REC", &get_of(path), &["GET"]).await;
    assert_eq!(field(&hit[0], "x-cache"), Some("Hit from cloudfront"));
    assert_eq!(hit[0].fields.iter().filter(|(n, _)| n == "via").count(), 2);
    assert_eq!(lane_of(&lane, "written").await, before + 1.0);
    // Stale on both edges (the REC's copy too): revalidated with a 304, then hits on the
    // refreshed entry, whose stored head was rebuilt.
    for node in [&rec, &lane, &hyper] {
        node.handle.clock().advance(Duration::from_secs(61));
    }
    // The REC revalidates its copy once, for the first edge: through the third edge.
    get(&format!("{}{path}", warm.url()), &[("host", "example.com")]).await;
    let refreshed = same(&lane, &hyper, "refresh", &get_of(path), &["GET"]).await;
    assert_eq!(
        field(&refreshed[0], "x-cache"),
        Some("RefreshHit from cloudfront")
    );
    let before = lane_of(&lane, "written").await;
    let hit = same(
        &lane,
        &hyper,
        "hit after the refresh",
        &get_of(path),
        &["GET"],
    )
    .await;
    assert_eq!(field(&hit[0], "x-cache"), Some("Hit from cloudfront"));
    assert_eq!(lane_of(&lane, "written").await, before + 1.0);
}

/// A lane counter of `node`'s traffic listener (`answers`, `handovers`, `written`).
async fn lane_of(node: &Node, name: &str) -> f64 {
    lane(node, name).await
}

/// Bodies of 16 KiB to 256 KiB are kept in the store's body arena and the lane sends them with
/// `sendfile`; hyper reads them in frames; larger ones stay on the heap. Both must send what the origin sent, byte for
/// byte, alone, pipelined between heap bodies, after HEAD, and in ranges.
#[tokio::test]
async fn bodies_from_the_arena_are_the_origin_s_bytes_on_both_paths() {
    let pair = Pair::start().await;
    const BIG: &str = "/lane/big?cc=max-age%3D600&etag=v2&size=40000&fill=offsets";
    // Over one `sendfile` call's bound: sent in several calls.
    const HUGE: &str = "/lane/huge?cc=max-age%3D600&size=250000&fill=offsets";
    // Over the arena's bound: on the heap.
    const OVER: &str = "/lane/over?cc=max-age%3D600&size=300000&fill=offsets";
    let get_of = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n").into_bytes()
    };
    let mut origin_bodies = Vec::new();
    for path in [BIG, HUGE, OBJ2, OVER] {
        let miss = pair
            .same("a first request", &get_of(path, ""), &["GET"])
            .await;
        assert_eq!(field(&miss[0], "x-cache"), Some("Miss from cloudfront"));
        origin_bodies.push(miss[0].body.clone());
    }
    assert_eq!(origin_bodies[0].len(), 40_000);
    assert_eq!(origin_bodies[1].len(), 250_000);
    for (node, path, body_in) in [
        (&pair.lane, "/lane/big", "arena"),
        (&pair.hyper, "/lane/huge", "arena"),
        (&pair.lane, "/lane/b", "heap"),
        (&pair.lane, "/lane/over", "heap"),
    ] {
        let url = format!("{}/cache?path={path}", node.admin_url());
        let list: serde_json::Value = serde_json::from_slice(&get(&url, &[]).await.body).unwrap();
        assert_eq!(list[0]["body_in"], body_in, "{path}: {list}");
    }
    // Each node holds both arena bodies, in whole pages: 40,000 B in 10, 250,000 B in 62.
    for node in [&pair.lane, &pair.hyper] {
        eventually("the arena gauge", || async {
            node.metric("edgelab_edge_arena_bytes{").await == f64::from((10 + 62) * 4096)
        })
        .await;
    }
    for (path, origin_body) in [
        (BIG, &origin_bodies[0]),
        (HUGE, &origin_bodies[1]),
        (OVER, &origin_bodies[3]),
    ] {
        let hit = pair
            .same("a hit from the arena", &get_of(path, ""), &["GET"])
            .await;
        assert_eq!(field(&hit[0], "x-cache"), Some("Hit from cloudfront"));
        assert_eq!(&hit[0].body, origin_body, "{path}: the origin's bytes");
    }
    // Pipelined: arena and heap bodies and a HEAD in one batch, then a close.
    let mut pipeline = get_of(BIG, "");
    pipeline.extend_from_slice(&get_of(OBJ2, ""));
    pipeline
        .extend_from_slice(format!("HEAD {BIG} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes());
    pipeline.extend_from_slice(&get_of(HUGE, ""));
    pipeline.extend_from_slice(&get_of(BIG, "Connection: close\r\n"));
    let answered = pair
        .same(
            "pipelined",
            &pipeline,
            &["GET", "GET", "HEAD", "GET", "GET"],
        )
        .await;
    assert_eq!(&answered[0].body, &origin_bodies[0]);
    assert_eq!(&answered[1].body, &origin_bodies[2]);
    assert!(answered[2].body.is_empty());
    assert_eq!(field(&answered[2], "content-length"), Some("40000"));
    assert_eq!(&answered[3].body, &origin_bodies[1]);
    assert_eq!(&answered[4].body, &origin_bodies[0]);
    // Ranges are read from the arena (hyper's path on both nodes).
    let ranged = pair
        .same(
            "a range",
            &get_of(BIG, "Range: bytes=20000-20009\r\n"),
            &["GET"],
        )
        .await;
    assert_eq!(ranged[0].status, 206);
    assert_eq!(ranged[0].body, origin_bodies[0][20_000..20_010]);
    assert_eq!(ranged[0].body, "000020000\n");
    let parts = pair
        .same(
            "two ranges",
            &get_of(HUGE, "Range: bytes=0-1,249990-\r\n"),
            &["GET"],
        )
        .await;
    assert!(
        parts[0].body.contains(&origin_bodies[1][249_990..]),
        "{:?}",
        &parts[0].fields
    );
    // The lane sent the hits itself.
    assert!(lane(&pair.lane, "answers").await >= 5.0);
}
