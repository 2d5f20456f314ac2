//! Test support: a scriptable hyper origin on 127.0.0.1:0 (exact header control, delays,
//! failures, truncated bodies), edge nodes built from TOML, a client and an `eventually` helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use edgelab_common::shutdown::Shutdown;
use edgelab_edge::{EdgeConfig, EdgeHandle, RawEdgeConfig};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub use edgelab_testkit::{eventually, metric_value};

type BoxBody =
    http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// What the test origin saw.
#[derive(Default)]
pub struct OriginState {
    /// Requests per path.
    pub hits: Mutex<HashMap<String, usize>>,
    /// Every request's headers, in order.
    pub requests: Mutex<Vec<(String, HeaderMap)>>,
    /// Every request's target (path and query), in order.
    pub targets: Mutex<Vec<String>>,
    /// Answer 503 to everything when set.
    pub failing: AtomicBool,
    /// Total requests.
    pub total: AtomicUsize,
    /// Connections accepted.
    pub connections: AtomicUsize,
    /// The gate `gate=1` bodies and `head_gate=1` answers wait for (see [`OriginState::open_gate`]).
    pub gate: tokio::sync::watch::Sender<bool>,
}

impl OriginState {
    /// Opens the gate for every held answer and body, now and later.
    pub fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    /// Closes the gate again: answers and bodies that reach it from now on wait for the next
    /// [`OriginState::open_gate`].
    pub fn close_gate(&self) {
        self.gate.send_replace(false);
    }

    async fn gate_opened(&self) {
        let _ = self.gate.subscribe().wait_for(|open| *open).await;
    }

    /// Requests seen for `path`.
    pub fn count(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// A scriptable origin. Query parameters shape the answer:
/// `cc` Cache-Control, `etag`, `lm` Last-Modified, `vary`, `ct` Content-Type, `size` body
/// bytes, `status`, `delay_ms`, `cookie` (Set-Cookie), `st` (Server-Timing), `truncate=1`
/// (promises `size`, sends half, then fails), `gate=1` (sends the first half of the body,
/// then the rest, or the failure of `truncate=1`, once the test opens the gate),
/// `head_gate=1` (answers only once the gate is open), `chunked=1` (with `gate=1`: no
/// Content-Length), `fill=offsets` (the body after its name holds each position's offset,
/// so a byte sent from the wrong place shows). Conditional requests matching `etag` get 304.
pub struct TestOrigin {
    /// Address.
    pub addr: SocketAddr,
    /// What it saw.
    pub state: Arc<OriginState>,
    /// Stops it.
    pub shutdown: Shutdown,
}

fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| {
            v.replace("%20", " ")
                .replace("%2C", ",")
                .replace("%3B", ";")
                .replace("%3D", "=")
                .replace("%22", "\"")
        })
    })
}

async fn answer(
    state: Arc<OriginState>,
    tag: String,
    request: Request<Incoming>,
) -> Response<BoxBody> {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    state.total.fetch_add(1, Ordering::SeqCst);
    *state.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    state
        .requests
        .lock()
        .unwrap()
        .push((path.clone(), request.headers().clone()));
    state.targets.lock().unwrap().push(
        request
            .uri()
            .path_and_query()
            .map_or(path.clone(), |p| p.as_str().to_string()),
    );
    let method = request.method().clone();
    let _ = request.into_body().collect().await;
    if let Some(ms) = param(&query, "delay_ms").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if param(&query, "head_gate").is_some() {
        state.gate_opened().await;
    }
    let mut builder = Response::builder().header("x-origin", tag.clone());
    if state.failing.load(Ordering::SeqCst) {
        return builder
            .status(503)
            .body(
                Full::new(Bytes::from_static(b"down"))
                    .map_err(|e| match e {})
                    .boxed(),
            )
            .unwrap();
    }
    let size: usize = param(&query, "size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let status: u16 = param(&query, "status")
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    if let Some(cc) = param(&query, "cc") {
        builder = builder.header("cache-control", cc);
    }
    if let Some(vary) = param(&query, "vary") {
        builder = builder.header("vary", vary);
    }
    if let Some(cookie) = param(&query, "cookie") {
        builder = builder.header("set-cookie", cookie);
    }
    if let Some(timing) = param(&query, "st") {
        builder = builder.header("server-timing", timing);
    }
    if let Some(lm) = param(&query, "lm") {
        builder = builder.header("last-modified", lm);
    }
    builder = builder.header(
        "content-type",
        param(&query, "ct").unwrap_or("text/plain".into()),
    );
    builder = builder.header(
        "date",
        httpdate::fmt_http_date(std::time::SystemTime::now()),
    );
    if let Some(etag) = param(&query, "etag") {
        let etag = format!("\"{etag}\"");
        builder = builder.header("etag", etag.clone());
        // The request headers were moved; conditionals are checked via the recorded copy.
        let inm = state
            .requests
            .lock()
            .unwrap()
            .last()
            .and_then(|(_, h)| h.get("if-none-match").cloned());
        if inm.is_some_and(|v| v.to_str().unwrap_or("").contains(&etag)) {
            return builder
                .status(304)
                .body(Full::new(Bytes::new()).map_err(|e| match e {}).boxed())
                .unwrap();
        }
    }
    // The body names the variant so tests can tell variants apart.
    let lang = state
        .requests
        .lock()
        .unwrap()
        .last()
        .and_then(|(_, h)| h.get("accept-language").cloned())
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let mut body = format!("{path}|{lang}|{tag}|").into_bytes();
    if param(&query, "fill").as_deref() == Some("offsets") {
        // Every byte tells where it is: each 10 bytes are their offset's 9 digits and `\n`.
        while body.len() < size {
            let at = body.len();
            let line = format!("{:09}\n", at / 10 * 10);
            body.push(line.as_bytes()[at % 10]);
        }
    } else {
        body.resize(size.max(body.len()), b'x');
    }
    if method == http::Method::HEAD {
        body.clear();
    }
    let truncate = param(&query, "truncate").is_some();
    let gated = param(&query, "gate").is_some();
    if truncate || gated {
        let half = Bytes::from(body[..body.len() / 2].to_vec());
        let rest = Bytes::from(body[body.len() / 2..].to_vec());
        let state = state.clone();
        // Send half; then (once the gate opens, or once the head and half the body are on
        // the wire) the rest or a failure.
        let frames = futures_util::stream::unfold(0u8, move |step| {
            let (half, rest, state) = (half.clone(), rest.clone(), state.clone());
            async move {
                let frame: Result<_, Box<dyn std::error::Error + Send + Sync>> = match step {
                    0 => Ok(Frame::data(half)),
                    1 => {
                        if gated {
                            state.gate_opened().await;
                        } else {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        if truncate {
                            Err("origin dropped the connection".into())
                        } else {
                            Ok(Frame::data(rest))
                        }
                    }
                    _ => return None,
                };
                Some((frame, step + 1))
            }
        });
        if param(&query, "chunked").is_none() {
            builder = builder.header("content-length", size);
        }
        return builder
            .status(status)
            .body(StreamBody::new(frames).boxed())
            .unwrap();
    }
    builder
        .status(StatusCode::from_u16(status).unwrap())
        .body(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed())
        .unwrap()
}

impl TestOrigin {
    /// Starts an origin tagged `tag` (echoed in `x-origin` and the body).
    pub async fn start(tag: &str) -> TestOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(OriginState::default());
        let shutdown = Shutdown::new();
        let (s, t, stop) = (state.clone(), tag.to_string(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    a = listener.accept() => a.unwrap(),
                    () = stop.triggered() => return,
                };
                s.connections.fetch_add(1, Ordering::SeqCst);
                let (s, t, stop) = (s.clone(), t.clone(), stop.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |r| {
                        let (s, t) = (s.clone(), t.clone());
                        async move { Ok::<_, Infallible>(answer(s, t, r).await) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    // Stopping the origin closes its keep-alive connections too.
                    tokio::select! {
                        _ = connection => {}
                        () = stop.triggered() => {}
                    }
                });
            }
        });
        TestOrigin {
            addr,
            state,
            shutdown,
        }
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A real `edgelab-origin` (the default synthetic catalog) on `127.0.0.1:0`, stopped when
/// dropped: for tests that need its verifiable bodies or its own limits.
pub struct RealOrigin {
    /// Its handle (catalog, addresses, switches).
    pub handle: edgelab_origin::OriginHandle,
    shutdown: Shutdown,
}

impl RealOrigin {
    /// Starts the origin with the default configuration.
    pub async fn start() -> RealOrigin {
        let (traffic, admin) = edgelab_testkit::loopback_pair().await;
        let shutdown = Shutdown::new();
        let handle = edgelab_origin::start(
            edgelab_origin::OriginConfig::default(),
            traffic,
            admin,
            prometheus::Registry::new(),
            shutdown.clone(),
        )
        .expect("origin starts");
        RealOrigin { handle, shutdown }
    }

    /// Traffic URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.handle.traffic_addr())
    }
}

impl Drop for RealOrigin {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// The origin request policy of test behaviours: [`TestOrigin`] reads its script (`cc`,
/// `size`, `status`, ...) from the query string, and CloudFront's presets send the origin
/// only the query strings of the key (none under `CachingOptimized`, docs/cache-policy.md),
/// so test nodes forward them all, outside the key.
pub const SCRIPTED_QUERY: &str = "origin_request = { query_strings = \"all\" }";

/// A running edge node with its registry.
pub struct Node {
    /// Handle.
    pub handle: EdgeHandle,
    /// Its shutdown.
    pub shutdown: Shutdown,
}

impl Node {
    /// Starts a node from TOML text.
    pub async fn start(toml_text: &str) -> Node {
        let raw: RawEdgeConfig = toml::from_str(toml_text).expect("test config parses");
        let config = EdgeConfig::try_from(raw).expect("test config is valid");
        let (traffic, admin) = edgelab_testkit::loopback_pair().await;
        let shutdown = Shutdown::new();
        let handle = edgelab_edge::start(
            config,
            traffic,
            admin,
            prometheus::Registry::new(),
            shutdown.clone(),
        )
        .expect("edge starts");
        Node { handle, shutdown }
    }

    /// A single edge in front of `upstream` with a default-behaviour `preset` (forwarding
    /// the test origin's script, [`SCRIPTED_QUERY`]).
    pub async fn single(upstream: &str, preset: &str) -> Node {
        Node::start(&format!(
            "pop = \"FRA\"\n[upstream]\nprimary = \"{upstream}\"\n[default_behavior]\ncache_policy = {{ preset = \"{preset}\" }}\n{SCRIPTED_QUERY}\n"
        ))
        .await
    }

    /// Traffic URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.handle.traffic_addr())
    }

    /// Admin URL.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.handle.admin_addr())
    }

    /// `/metrics` text.
    pub async fn metrics(&self) -> String {
        let r = get(&format!("{}/metrics", self.admin_url()), &[]).await;
        String::from_utf8(r.body.to_vec()).unwrap()
    }

    /// Value of the metric line starting with `prefix` (name and labels), 0 when absent.
    pub async fn metric(&self, prefix: &str) -> f64 {
        metric_value(&self.metrics().await, prefix)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// A collected response.
pub struct Got {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Got {
    /// A header as text ("" when absent).
    pub fn h(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `method url` with `headers`.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Got {
    let mut request = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        request = request.header(*n, *v);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), client().request(request))
        .await
        .expect("response within 20 s")
        .expect("request succeeds");
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Got {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// GET `url`.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Got {
    send("GET", url, headers, "").await
}

/// GET whose body may fail: `Err` when the body did not complete.
pub async fn get_body(url: &str) -> (StatusCode, Result<Bytes, String>) {
    let request = Request::get(url).body(Full::new(Bytes::new())).unwrap();
    let response = client().request(request).await.expect("response head");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string());
    (status, body)
}

/// Sends GET `url` with `headers` and returns as soon as the response head is in (the body
/// is read by the caller, e.g. with [`read_at_least`]).
pub async fn open(url: &str, headers: &[(&str, &str)]) -> Response<Incoming> {
    let mut request = Request::get(url);
    for (n, v) in headers {
        request = request.header(*n, *v);
    }
    let request = request.body(Full::new(Bytes::new())).unwrap();
    tokio::time::timeout(Duration::from_secs(20), client().request(request))
        .await
        .expect("response head within 20 s")
        .expect("request succeeds")
}

/// Reads body frames until at least `n` bytes arrived (or the body ended or failed).
pub async fn read_at_least(body: &mut Incoming, n: usize) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    while got.len() < n {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    got.extend_from_slice(&data);
                }
            }
            Some(Err(error)) => return Err(error.to_string()),
        }
    }
    Ok(got)
}
