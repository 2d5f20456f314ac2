//! The accept loop's bounds (STYLE §14): first-byte, header-read and idle timeouts, the
//! connection cap, each counted in the listener metrics; and that a slow handler is not cut.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use edgelab_common::body::{self, Body};
use edgelab_common::serve::{Handler, ListenerFamilies, ListenerLimits, ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use edgelab_testkit::{eventually, loopback, metric_value};
use http::{Request, Response};
use hyper::body::Incoming;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers `/slow` after 400 ms (longer than every timeout under test), anything else at once
/// (through the lane, which hands `/slow` to hyper).
struct Answer;

impl Handler for Answer {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        if request.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        Response::new(body::full("ok"))
    }

    fn answers_now(&self) -> bool {
        true
    }

    fn answer_now(&self, request: Request<()>, _peer: SocketAddr) -> Option<Response<Body>> {
        (request.uri().path() != "/slow").then(|| Response::new(body::full("ok")))
    }
}

struct Listener {
    addr: SocketAddr,
    registry: Registry,
    shutdown: Shutdown,
}

impl Listener {
    async fn start(tune: impl FnOnce(&mut ServeOptions)) -> Listener {
        let registry = Registry::new();
        let families = ListenerFamilies::register(&registry).unwrap();
        let mut options = ServeOptions {
            limits: ListenerLimits {
                max_connections: 4_096,
                first_byte_timeout: Duration::from_secs(30),
                header_read_timeout: Duration::from_secs(30),
                idle_timeout: Duration::from_secs(30),
                lane: true,
            },
            metrics: families.listener("traffic"),
            ..ServeOptions::default()
        };
        tune(&mut options);
        let listener = loopback().await;
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        serve(listener, Arc::new(Answer), options, shutdown.clone());
        Listener {
            addr,
            registry,
            shutdown,
        }
    }

    fn metric(&self, series: &str) -> f64 {
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .unwrap();
        metric_value(&String::from_utf8(text).unwrap(), series)
    }

    fn timeouts(&self, kind: &str) -> f64 {
        self.metric(&format!(
            "edgelab_listener_timeouts_total{{kind=\"{kind}\",listener=\"traffic\"}}"
        ))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Reads until the peer closes; panics if that takes more than 5 s.
async fn closed_by_peer(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .ok();
    out
}

/// Reads one whole `ok` response (it is short and ends with the body).
async fn one_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut chunk = [0u8; 1024];
    while !out.ends_with(b"ok") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(
            n > 0,
            "closed before the response: {:?}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn silent_connection_is_closed_after_the_first_byte_timeout() {
    let listener =
        Listener::start(|o| o.limits.first_byte_timeout = Duration::from_millis(100)).await;
    let mut stream = TcpStream::connect(listener.addr).await.unwrap();
    assert!(closed_by_peer(&mut stream).await.is_empty());
    eventually("first_byte timeout counted", || async {
        listener.timeouts("first_byte") == 1.0
    })
    .await;
    assert_eq!(listener.timeouts("idle"), 0.0);
}

#[tokio::test]
async fn slowloris_head_is_closed_after_the_header_read_timeout() {
    let listener =
        Listener::start(|o| o.limits.header_read_timeout = Duration::from_millis(150)).await;
    let mut stream = TcpStream::connect(listener.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    // Keep trickling header lines: each byte is activity, but the head never completes.
    let trickle = async {
        for i in 0..100 {
            if stream
                .write_all(format!("X-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), trickle)
        .await
        .expect("the trickle is cut well before it ends");
    eventually("header_read timeout counted", || async {
        listener.timeouts("header_read") == 1.0
    })
    .await;
}

#[tokio::test]
async fn idle_keep_alive_is_closed_after_the_idle_timeout() {
    let listener = Listener::start(|o| o.limits.idle_timeout = Duration::from_millis(100)).await;
    let mut stream = TcpStream::connect(listener.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert!(one_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    assert!(closed_by_peer(&mut stream).await.is_empty());
    eventually("idle timeout counted", || async {
        listener.timeouts("idle") == 1.0
    })
    .await;
    assert_eq!(listener.timeouts("header_read"), 0.0);
}

#[tokio::test]
async fn a_request_in_flight_outlives_every_timeout() {
    let listener = Listener::start(|o| {
        o.limits.first_byte_timeout = Duration::from_millis(50);
        o.limits.header_read_timeout = Duration::from_millis(50);
        o.limits.idle_timeout = Duration::from_millis(50);
    })
    .await;
    let mut stream = TcpStream::connect(listener.addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert!(one_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    let total: f64 = ["first_byte", "header_read", "idle"]
        .iter()
        .map(|kind| listener.timeouts(kind))
        .sum();
    assert_eq!(total, 0.0, "no timeout fired while the handler worked");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let listener = Listener::start(|o| o.limits.max_connections = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(listener.addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        one_response(&mut stream).await;
        held.push(stream);
    }
    // The third connection completes its TCP handshake in the kernel's backlog, but the
    // listener does not accept it while two are open.
    let mut third = TcpStream::connect(listener.addr).await.unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    eventually("the cap is reported", || async {
        listener.metric("edgelab_listener_connection_limit_waits_total") >= 1.0
    })
    .await;
    assert_eq!(listener.metric("edgelab_listener_connections_open"), 2.0);
    assert_eq!(listener.metric("edgelab_listener_connections_total"), 2.0);
    drop(held.pop());
    assert!(one_response(&mut third).await.starts_with("HTTP/1.1 200"));
    assert_eq!(listener.metric("edgelab_listener_connections_total"), 3.0);
}

#[tokio::test]
async fn http11_without_exactly_one_valid_host_gets_400() {
    let listener = Listener::start(|_| {}).await;
    for head in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    ] {
        let answer = edgelab_testkit::raw(listener.addr, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{head:?} → {answer}");
    }
    let answer = edgelab_testkit::raw(listener.addr, b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
}

#[tokio::test]
async fn a_head_over_the_limit_gets_431_even_when_hyper_would_buffer_it() {
    let listener = Listener::start(|_| {}).await;
    // 24 KiB of fields: under hyper's buffer overshoot, over the 20,480-byte limit.
    let fields: String = (0..24)
        .map(|i| format!("X-F{i}: {}\r\n", "v".repeat(1_000)))
        .collect();
    let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n");
    let answer = edgelab_testkit::raw(listener.addr, head.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(80)]
    );
    let fits = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-F: {}\r\nConnection: close\r\n\r\n",
        "v".repeat(19_000)
    );
    let answer = edgelab_testkit::raw(listener.addr, fits.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{}",
        &answer[..answer.len().min(80)]
    );
}

#[tokio::test]
async fn a_drain_closes_an_idle_lane_connection_and_lets_the_listener_finish() {
    let listener = Listener::start(|o| o.drain_deadline = Duration::from_secs(5)).await;
    let mut stream = TcpStream::connect(listener.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert!(one_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    listener.shutdown.trigger();
    assert!(closed_by_peer(&mut stream).await.is_empty());
    listener.shutdown.tracker().close();
    tokio::time::timeout(Duration::from_secs(5), listener.shutdown.tracker().wait())
        .await
        .expect("the accept loop and the connection end well before the deadline");
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_across_a_hand_over() {
    let listener = Listener::start(|_| {}).await;
    // The lane answers the first, hyper the slow one and everything after it.
    let answer = edgelab_testkit::raw(
        listener.addr,
        b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /slow HTTP/1.1\r\nHost: a\r\n\r\n\
          HEAD /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK\r\n").count(), 4, "{answer}");
    assert_eq!(
        answer.matches("\r\n\r\nok").count(),
        3,
        "HEAD has no body: {answer}"
    );
    assert!(answer.contains("connection: close\r\n"), "{answer}");
}

#[tokio::test]
async fn a_lane_connection_closes_after_an_answer_to_connection_close() {
    let listener = Listener::start(|_| {}).await;
    let mut stream = TcpStream::connect(listener.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let answer = String::from_utf8(closed_by_peer(&mut stream).await).unwrap();
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 1, "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
}

/// Answers shaped by the path, at once or through hyper alike: the encodings hyper applies
/// to what a handler returns (lengths, HEAD, 204/304, `connection`, `date`, streamed bodies).
struct Odd;

fn odd(path: &str) -> Response<Body> {
    use http::{HeaderValue, StatusCode, header};
    use http_body_util::{BodyExt, StreamBody};
    let mut response = Response::new(body::full("0123456789"));
    let headers = response.headers_mut();
    let value = HeaderValue::from_static;
    match path {
        "/304" => {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            *response.body_mut() = body::empty();
            response.headers_mut().insert(header::ETAG, value("\"x\""));
        }
        "/204-with-length" => {
            *response.status_mut() = StatusCode::NO_CONTENT;
            *response.body_mut() = body::empty();
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, value("0"));
        }
        "/empty" => *response.body_mut() = body::empty(),
        "/empty-with-length" => {
            *response.body_mut() = body::empty();
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, value("10"));
        }
        "/length" => {
            headers.insert(header::CONTENT_LENGTH, value("10"));
            headers.append(header::CONTENT_LENGTH, value("10"));
        }
        "/connection" => {
            headers.insert(header::CONNECTION, value("x-a"));
            headers.append(header::CONNECTION, value("x-b"));
        }
        "/close" => {
            headers.insert(header::CONNECTION, value("close"));
        }
        "/date" => {
            headers.insert(header::DATE, value("Sun, 06 Nov 1994 08:49:37 GMT"));
        }
        "/stream" | "/stream-with-length" => {
            if path == "/stream-with-length" {
                headers.insert(header::CONTENT_LENGTH, value("6"));
            }
            let frames = futures_util::stream::iter(["abc", "def"].map(|s| {
                Ok::<_, edgelab_common::body::BoxError>(http_body::Frame::data(
                    bytes::Bytes::from_static(s.as_bytes()),
                ))
            }));
            *response.body_mut() = StreamBody::new(frames).boxed();
        }
        "/status" => *response.status_mut() = StatusCode::from_u16(599).unwrap(),
        "/teapot" => *response.status_mut() = StatusCode::IM_A_TEAPOT,
        _ => {
            headers.insert("x-one", value("1"));
            headers.append("x-one", value("2"));
            headers.insert(header::VARY, value("a"));
        }
    }
    response
}

impl Handler for Odd {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        odd(request.uri().path())
    }

    fn answers_now(&self) -> bool {
        true
    }

    fn answer_now(&self, request: Request<()>, _peer: SocketAddr) -> Option<Response<Body>> {
        Some(odd(request.uri().path()))
    }
}

/// `answer` with its `date:` values blanked unless they are the handler's own.
fn blank_dates(answer: &str) -> String {
    answer
        .split("\r\n")
        .map(|line| {
            if line.starts_with("date: ") && !line.contains("1994") {
                "date: -"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[tokio::test]
async fn the_lane_encodes_every_kind_of_answer_as_hyper_does() {
    let shutdown = Shutdown::new();
    let mut addrs = Vec::new();
    for lane in [true, false] {
        let listener = loopback().await;
        addrs.push(listener.local_addr().unwrap());
        let options = ServeOptions {
            lane,
            ..ServeOptions::default()
        };
        serve(listener, Arc::new(Odd), options, shutdown.clone());
    }
    let paths = [
        "/",
        "/304",
        "/204-with-length",
        "/empty",
        "/empty-with-length",
        "/length",
        "/connection",
        "/close",
        "/date",
        "/stream",
        "/stream-with-length",
        "/status",
        "/teapot",
    ];
    for path in paths {
        for method in ["GET", "HEAD"] {
            for close in ["", "Connection: close\r\n"] {
                let request = format!(
                    "{method} {path} HTTP/1.1\r\nHost: a\r\n{close}\r\n{method} / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                );
                let lane = edgelab_testkit::raw(addrs[0], request.as_bytes()).await;
                let hyper = edgelab_testkit::raw(addrs[1], request.as_bytes()).await;
                assert!(hyper.starts_with("HTTP/1.1 "), "{request:?}: {hyper}");
                assert_eq!(blank_dates(&lane), blank_dates(&hyper), "{request:?}");
            }
        }
    }
    shutdown.trigger();
}
