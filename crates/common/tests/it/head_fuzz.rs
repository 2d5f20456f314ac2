//! A bounded fuzz of the request head a listener parses: generated heads (valid-looking
//! lines with hostile values, raw bytes, smuggling shapes) sent to a real listener. Every
//! one must get a well-formed status line or a clean close within the test's bound, never a
//! panic or a hang, and the listener must still answer a normal request afterwards. The case
//! count is bounded (PROPTEST_CASES overrides it) so CI time stays fixed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use edgelab_common::body::{self, Body};
use edgelab_common::serve::lane::{Answer, WireHead};
use edgelab_common::serve::{Handler, ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use edgelab_testkit::loopback;
use http::{Request, Response};
use hyper::body::Incoming;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers with the request's target; at once (the lane) for targets of an even length, so
/// both the lane's answers and its hand-overs to hyper are fuzzed, and of those, for a target
/// of a length divisible by four, with the head written as text (`WireHead`), so the lane's
/// ending of a written head is fuzzed against hyper's encoding too.
struct Echo;

fn echo(uri: &http::Uri) -> Response<Body> {
    let text = uri.to_string();
    let mut response = Response::new(body::full(text.clone()));
    response
        .headers_mut()
        .insert("x-target-length", http::HeaderValue::from(uri.path().len()));
    response
}

impl Handler for Echo {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        echo(request.uri())
    }

    fn answers_now(&self) -> bool {
        true
    }

    fn answer_now(&self, request: Request<()>, _peer: SocketAddr) -> Option<Response<Body>> {
        request
            .uri()
            .path()
            .len()
            .is_multiple_of(2)
            .then(|| echo(request.uri()))
    }

    fn write_now(
        &self,
        request: Request<()>,
        peer: SocketAddr,
        head: &mut WireHead<'_>,
    ) -> Option<Answer> {
        let length = request.uri().path().len();
        if !length.is_multiple_of(4) {
            return self.answer_now(request, peer).map(Answer::Response);
        }
        // The same fields as `echo`'s map, in its order, then the length hyper adds.
        let text = request.uri().to_string();
        assert!(head.status(http::StatusCode::OK));
        head.field("x-target-length", length.to_string().as_bytes());
        head.content_length(text.len().to_string().as_bytes());
        Some(Answer::Written(bytes::Bytes::from(text)))
    }
}

/// `answer` with each `date:` field's value blanked (the two listeners may answer in
/// different seconds).
fn without_dates(answer: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(answer.len());
    let mut rest = answer;
    while let Some(at) = rest.windows(8).position(|w| w == b"\r\ndate: ") {
        out.extend_from_slice(&rest[..at + 8]);
        rest = &rest[at + 8..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    out
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("HEAD".to_owned()),
        Just("POST".to_owned()),
        "[A-Z]{1,12}",
        "[ -~]{0,8}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        "/[a-z0-9/._%?=&-]{0,40}",
        Just("*".to_owned()),
        "http://[a-z.]{1,20}/[a-z]{0,10}",
        "[ -~]{0,60}",
        "/[a-z]{0,5}".prop_map(|p| format!("{p}{}", "a".repeat(9_000))),
    ]
}

fn version() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("HTTP/1.1".to_owned()),
        Just("HTTP/1.0".to_owned()),
        Just("HTTP/2.0".to_owned()),
        "HTTP/[0-9]\\.[0-9]",
        "[ -~]{0,10}",
    ]
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z-]{1,20}: [ -~]{0,40}".prop_map(|f| f),
        Just("Host: a".to_owned()),
        Just("Host:".to_owned()),
        "Content-Length: [0-9 ,+-]{0,12}",
        Just("Transfer-Encoding: chunked".to_owned()),
        "Transfer-Encoding: [ -~]{0,20}",
        Just("Content-Length: 5\r\nContent-Length: 6".to_owned()),
        Just("Expect: 100-continue".to_owned()),
        Just("Range: bytes=0-,0-,0-".to_owned()),
        "[ -~]{0,40}",
        " [ -~]{0,20}",
        "X-Long: [a-z]{1,5}".prop_map(|f| format!("{f}{}", "v".repeat(21_000))),
    ]
}

fn head() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (method(), target(), version(), prop::collection::vec(field(), 0..12), "[ -~]{0,64}")
            .prop_map(|(m, t, v, fields, body)| {
                let mut text = format!("{m} {t} {v}\r\n");
                for f in fields {
                    text.push_str(&f);
                    text.push_str("\r\n");
                }
                text.push_str("\r\n");
                text.push_str(&body);
                text.into_bytes()
            }),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// Sends `bytes`, half-closes, and reads what comes back within 3 s.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    // The peer may answer and close before everything is written: that is fine.
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut out = Vec::new();
    match tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut out)).await {
        Ok(_) => Ok(out),
        Err(_) => Err(format!(
            "no answer or close within 3 s ({} bytes read)",
            out.len()
        )),
    }
}

/// A clean close, or an HTTP/1.x status line with a 3-digit status; an HTTP/2 preface may be
/// answered with frames instead.
fn well_formed(request: &[u8], answer: &[u8]) -> bool {
    let status_line = (answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "))
        && answer.len() >= 12
        && answer[9..12].iter().all(u8::is_ascii_digit);
    answer.is_empty() || status_line || request.starts_with(b"PRI * HTTP/2.0")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every head, sent to a listener with the lane and to one without it: both answer (or
    /// close) the same way, byte for byte but the `date`, and both keep serving.
    #[test]
    fn every_generated_head_gets_an_answer_or_a_close(heads in prop::collection::vec(head(), 1..4)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let shutdown = Shutdown::new();
            let mut addrs = Vec::new();
            for lane in [true, false] {
                let listener = loopback().await;
                addrs.push(listener.local_addr().unwrap());
                let options = ServeOptions { lane, ..ServeOptions::default() };
                serve(listener, Arc::new(Echo), options, shutdown.clone());
            }
            for bytes in &heads {
                let answer = exchange(addrs[0], bytes).await.map_err(TestCaseError::fail)?;
                prop_assert!(well_formed(bytes, &answer), "odd answer {:?}", String::from_utf8_lossy(&answer[..answer.len().min(80)]));
                let hyper = exchange(addrs[1], bytes).await.map_err(TestCaseError::fail)?;
                if !bytes.starts_with(b"PRI * HTTP/2.0") {
                    let (lane, hyper) = (without_dates(&answer), without_dates(&hyper));
                    prop_assert_eq!(
                        String::from_utf8_lossy(&lane),
                        String::from_utf8_lossy(&hyper),
                        "the lane and hyper answered differently"
                    );
                }
            }
            // Both still serve, and alike: a written head (`/sti`), a response the lane
            // encodes (`/still`), one hyper's (`/stil`).
            for target in ["/still", "/stil", "/sti"] {
                let request = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
                let mut both = Vec::new();
                for addr in &addrs {
                    let answer = exchange(*addr, request.as_bytes()).await.map_err(TestCaseError::fail)?;
                    prop_assert!(answer.starts_with(b"HTTP/1.1 200"), "the listener stopped answering");
                    both.push(String::from_utf8_lossy(&without_dates(&answer)).into_owned());
                }
                prop_assert_eq!(&both[0], &both[1], "the lane and hyper answered {} differently", target);
            }
            shutdown.trigger();
            Ok(())
        })?;
    }
}
