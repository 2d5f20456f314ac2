//! The cache-hit path in-process: a request in, the response head out, no sockets on the
//! measured path (`cargo bench -p edgelab-edge --bench hit`).
//!
//! One edge node (`CachingOptimized`, like `loadtest/bench-edge.sh`) sits in front of a small
//! origin on 127.0.0.1 that answers with nginx's headers for a static file. Warm-up requests
//! fill the store through that origin with the measured object and one other (a cache holds
//! more than one object from an origin, and the fields objects share get their ready map
//! once a second object shares them); every measured request is then served from the store
//! by [`Node::serve`], the handler the traffic listener runs. The allocation profiler counts
//! what each request allocates, so a new allocation on the hit path shows as well as a
//! slower one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use divan::Bencher;
use edgelab_common::body::{self, Body};
use edgelab_common::serve::lane::{Answer, WireHead};
use edgelab_common::serve::{Handler, ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use edgelab_edge::proxy::Node;
use edgelab_edge::{EdgeConfig, EdgeHandle, RawEdgeConfig};
use http::{Request, Response, StatusCode, header};
use http_body_util::Empty;
use hyper::body::Incoming;
use tokio::runtime::Runtime;

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

/// Answers every path with `size` bytes and the headers nginx sends for a static file.
struct StaticOrigin {
    body: Bytes,
    /// Each path gets an ETag of its own (a real origin's files); else all share one.
    etag_per_path: bool,
}

impl Handler for StaticOrigin {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let mut response = Response::new(body::full(self.body.clone()));
        let headers = response.headers_mut();
        let now = SystemTime::now();
        let etag = if self.etag_per_path {
            let hash = xxhash_rust::xxh3::xxh3_64(request.uri().path().as_bytes());
            format!("\"{hash:016x}-400\"")
        } else {
            ETAG.to_string()
        };
        let pairs = [
            (header::SERVER, "nginx/1.22.1".to_string()),
            (header::DATE, httpdate::fmt_http_date(now)),
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, self.body.len().to_string()),
            (header::LAST_MODIFIED, httpdate::fmt_http_date(now)),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "max-age=3600".to_string()),
            (header::ACCEPT_RANGES, "bytes".to_string()),
        ];
        for (name, value) in pairs {
            // Invariant: every value above is visible ASCII.
            headers.insert(name, value.parse().expect("header text"));
        }
        *response.status_mut() = StatusCode::OK;
        response
    }
}

/// A runtime with the origin and one edge node in front of it, and the object stored.
struct Fixture {
    runtime: Runtime,
    edge: EdgeHandle,
    shutdown: Shutdown,
}

/// The ETag of every object when they share one.
const ETAG: &str = "\"6560f1c2-400\"";

/// The measured object.
const PATH: &str = "/obj/1k.bin";

impl Fixture {
    fn new(size: usize) -> Fixture {
        Self::with_origin(size, false)
    }

    fn with_origin(size: usize, etag_per_path: bool) -> Fixture {
        // Invariant: a current-thread runtime builds on any host.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let shutdown = Shutdown::new();
        let edge = runtime.block_on(async {
            let (origin, _) = edgelab_testkit::loopback_pair().await;
            let origin_addr = origin.local_addr().expect("origin address");
            let body = Bytes::from(vec![b'x'; size]);
            let options = ServeOptions::default();
            serve(
                origin,
                Arc::new(StaticOrigin {
                    body,
                    etag_per_path,
                }),
                options,
                shutdown.clone(),
            );
            let toml_text = format!(
                "pop = \"FRA\"\n[upstream]\nprimary = \"http://{origin_addr}\"\n\
                 [default_behavior]\ncache_policy = {{ preset = \"CachingOptimized\" }}\n"
            );
            let raw: RawEdgeConfig = toml::from_str(&toml_text).expect("bench config parses");
            let config = EdgeConfig::try_from(raw).expect("bench config is valid");
            let (traffic, admin) = edgelab_testkit::loopback_pair().await;
            let registry = prometheus::Registry::new();
            edgelab_edge::start(config, traffic, admin, registry, shutdown.clone())
                .expect("edge starts")
        });
        let fixture = Fixture {
            runtime,
            edge,
            shutdown,
        };
        for path in [PATH, "/obj/other.bin"] {
            let warm = fixture.serve(request_for(path, &[]));
            assert_eq!(warm.status(), StatusCode::OK, "the warm-up fill failed");
            // The fill completes as its body is read.
            fixture.runtime.block_on(async {
                use http_body_util::BodyExt;
                let _ = warm.into_body().collect().await;
            });
        }
        let hit = fixture.serve(request(&[]));
        let x_cache = hit.headers().get("x-cache").and_then(|v| v.to_str().ok());
        assert_eq!(
            x_cache,
            Some("Hit from cloudfront"),
            "not served from cache"
        );
        fixture
    }

    fn node(&self) -> &Node {
        self.edge.node()
    }

    fn serve(&self, request: Request<Empty<Bytes>>) -> Response<Body> {
        self.runtime.block_on(self.node().serve(request))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// What wrk sends: `GET /obj/1k.bin` with a Host header, plus `extra`.
fn request(extra: &[(&'static str, &'static str)]) -> Request<Empty<Bytes>> {
    request_for(PATH, extra)
}

/// `GET path` with a Host header, plus `extra`.
fn request_for(path: &str, extra: &[(&'static str, &'static str)]) -> Request<Empty<Bytes>> {
    let mut builder = Request::get(path).header(header::HOST, "127.0.0.1:8084");
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    // Invariant: a fixed, valid request.
    builder.body(Empty::new()).expect("request")
}

/// A fresh hit on a 1 KiB object: the whole object, every CloudFront header.
#[divan::bench]
fn fresh_hit(bencher: Bencher) {
    let fixture = Fixture::new(1024);
    bencher
        .with_inputs(|| request(&[]))
        .bench_local_values(|request| fixture.serve(request));
}

/// A fresh hit on a 1 KiB object whose ETag is its own, as a real origin's files have: its
/// validators are not shared with other objects, the rest of its fields are.
#[divan::bench]
fn fresh_hit_own_etag(bencher: Bencher) {
    let fixture = Fixture::with_origin(1024, true);
    bencher
        .with_inputs(|| request(&[]))
        .bench_local_values(|request| fixture.serve(request));
}

/// A conditional hit answered 304 from the store (`If-None-Match` matching the ETag).
#[divan::bench]
fn not_modified_hit(bencher: Bencher) {
    let fixture = Fixture::new(1024);
    let conditional = [("if-none-match", ETAG)];
    let answer = fixture.serve(request(&conditional));
    assert_eq!(answer.status(), StatusCode::NOT_MODIFIED);
    bencher
        .with_inputs(|| request(&conditional))
        .bench_local_values(|request| fixture.serve(request));
}

/// A single-range hit answered 206 from the store.
#[divan::bench]
fn range_hit(bencher: Bencher) {
    let fixture = Fixture::new(1024);
    let range = [("range", "bytes=0-99")];
    let answer = fixture.serve(request(&range));
    assert_eq!(answer.status(), StatusCode::PARTIAL_CONTENT);
    bencher
        .with_inputs(|| request(&range))
        .bench_local_values(|request| fixture.serve(request));
}

/// A fresh hit for a browser's request head (a dozen fields, not wrk's one): what the node
/// reads of the viewer's head (the request id and tier marker, conditionals and ranges, the
/// key's `Accept-Encoding`) costs per field.
#[divan::bench]
fn fresh_hit_browser_head(bencher: Bencher) {
    let fixture = Fixture::new(1024);
    let head = [
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-GB,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("referer", "https://www.example.com/index.html"),
        ("connection", "keep-alive"),
        ("cookie", "session=0123456789abcdef; theme=dark"),
        ("upgrade-insecure-requests", "1"),
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "same-origin"),
        ("priority", "u=0, i"),
    ];
    let answer = fixture.serve(request(&head));
    assert_eq!(answer.status(), StatusCode::OK);
    bencher
        .with_inputs(|| request(&head))
        .bench_local_values(|request| fixture.serve(request));
}

/// A fresh hit as the lane answers it (`Node::write_now`): the whole head written as
/// HTTP/1.1 text into a buffer the connection reuses, no `HeaderMap`; compare with
/// [`fresh_hit`], which builds the response's map (the lane then encoded that map).
#[divan::bench]
fn fresh_hit_written(bencher: Bencher) {
    let fixture = Fixture::new(1024);
    let lane_request = || {
        // Invariant: a fixed, valid request.
        Request::get(PATH)
            .header(header::HOST, "127.0.0.1:8084")
            .body(())
            .expect("request")
    };
    let mut text = Vec::with_capacity(4096);
    let mut head = WireHead::new(&mut text);
    let answer = fixture.node().write_now(lane_request(), &mut head);
    assert!(
        matches!(answer, Some(Answer::Written(_))),
        "not written as text"
    );
    bencher
        .with_inputs(lane_request)
        .bench_local_values(|request| {
            text.clear();
            let mut head = WireHead::new(&mut text);
            fixture.node().write_now(request, &mut head)
        });
}
