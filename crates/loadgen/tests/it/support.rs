//! A small real HTTP server for the tests (served with `edgelab_common::serve`): a synthetic
//! catalog with digests, an optional one-tier "cache" that answers CloudFront-style headers,
//! origin counters on `/metrics`, corrupted bodies and a stall on demand.
#![allow(dead_code)] // each test uses a different part

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgelab_common::body::{Body, full};
use edgelab_common::names::{header, metric, path};
use edgelab_common::serve::{Handler, ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::{Mode, Target, Uri};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// How the test server behaves.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Answer like a one-tier CDN: first request for a path is a miss (counted as an origin
    /// request), later ones hits.
    pub cache: bool,
    /// Serve bodies that do not match their digest.
    pub corrupt: bool,
    /// When the N-th request (from 1) arrives, hold every response for this long.
    pub stall: Option<(u64, Duration)>,
}

/// A running test server.
pub struct TestServer {
    /// Its address.
    pub addr: SocketAddr,
    /// Requests received (excluding catalog and metrics).
    pub requests: Arc<AtomicU64>,
    shutdown: Shutdown,
}

impl TestServer {
    /// Base URL.
    pub fn url(&self) -> Uri {
        format!("http://{}", self.addr).parse().unwrap()
    }

    /// `/metrics` URL.
    pub fn metrics_url(&self) -> Uri {
        format!("http://{}{}", self.addr, path::METRICS)
            .parse()
            .unwrap()
    }

    /// One target at this server.
    pub fn target(&self, mode: Mode) -> Target {
        Target::local(self.url(), mode)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Objects: `/static/N.js` (N < 40, 1 KiB + N bytes) and `/img/N.png` (N < 20, 4 KiB).
pub fn objects() -> Vec<(String, String, Vec<u8>)> {
    let mut objects = Vec::new();
    for n in 0..40 {
        let body: Vec<u8> = (0..1024 + n).map(|i| (i * 7 + n) as u8).collect();
        objects.push((format!("/static/{n}.js"), "static".to_string(), body));
    }
    for n in 0..20 {
        let body: Vec<u8> = (0..4096).map(|i| (i * 13 + n) as u8).collect();
        objects.push((format!("/img/{n}.png"), "img".to_string(), body));
    }
    objects
}

fn digest(body: &[u8]) -> String {
    format!("xxh3={:016x}", xxhash_rust::xxh3::xxh3_64(body))
}

struct State {
    behaviour: Behaviour,
    objects: Vec<(String, String, Vec<u8>)>,
    requests: Arc<AtomicU64>,
    origin_requests: AtomicU64,
    origin_bytes: AtomicU64,
    seen: Mutex<HashSet<String>>,
    stall_until: Mutex<Option<Instant>>,
    stalled: AtomicBool,
}

impl Handler for State {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let path = request.uri().path().to_string();
        if path == path::METRICS {
            let text = format!(
                "# TYPE {r} counter\n{r}{{origin=\"test\",az=\"a\",status_class=\"2xx\"}} {}\n{b}{{origin=\"test\",az=\"a\"}} {}\n",
                self.origin_requests.load(Ordering::SeqCst),
                self.origin_bytes.load(Ordering::SeqCst),
                r = metric::ORIGIN_REQUESTS_TOTAL,
                b = metric::ORIGIN_RESPONSE_BYTES_TOTAL,
            );
            return Response::new(full(text));
        }
        if path == path::WELL_KNOWN_CATALOG {
            let objects: Vec<serde_json::Value> = self
                .objects
                .iter()
                .map(|(path, class, body)| {
                    serde_json::json!({ "path": path, "class": class, "size": body.len(),
                        "digest": digest(body), "content_type": "application/octet-stream" })
                })
                .collect();
            return edgelab_common::body::json(
                StatusCode::OK,
                &serde_json::json!({ "seed": 5, "objects": objects }),
            );
        }
        let number = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((at, pause)) = self.behaviour.stall
            && number == at
        {
            *self.stall_until.lock().unwrap() = Some(Instant::now() + pause);
            self.stalled.store(true, Ordering::SeqCst);
        }
        let until = *self.stall_until.lock().unwrap();
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
        let Some((_, _, body)) = self.objects.iter().find(|(p, _, _)| *p == path) else {
            return edgelab_common::body::text(StatusCode::NOT_FOUND, "no such object");
        };
        let mut response_body = body.clone();
        if self.behaviour.corrupt {
            response_body[0] ^= 0xff;
        }
        let mut builder = Response::builder().header(header::X_EDGELAB_DIGEST, digest(body));
        let miss = !self.behaviour.cache || self.seen.lock().unwrap().insert(path.clone());
        if miss {
            self.origin_requests.fetch_add(1, Ordering::SeqCst);
            self.origin_bytes
                .fetch_add(body.len() as u64, Ordering::SeqCst);
        }
        if self.behaviour.cache {
            builder = builder.header(header::X_AMZ_CF_POP, "TST1-P1").header(
                header::X_CACHE,
                if miss {
                    "Miss from cloudfront"
                } else {
                    "Hit from cloudfront"
                },
            );
            if !miss {
                builder = builder.header(
                    header::SERVER_TIMING,
                    "cdn-cache-hit, cdn-hit-layer;desc=\"EDGE\"",
                );
            }
        }
        builder.body(full(response_body)).unwrap()
    }
}

/// Starts a test server on 127.0.0.1:0.
pub async fn start(behaviour: Behaviour) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let state = Arc::new(State {
        behaviour,
        objects: objects(),
        requests: requests.clone(),
        origin_requests: AtomicU64::new(0),
        origin_bytes: AtomicU64::new(0),
        seen: Mutex::new(HashSet::new()),
        stall_until: Mutex::new(None),
        stalled: AtomicBool::new(false),
    });
    let shutdown = Shutdown::new();
    serve(listener, state, ServeOptions::default(), shutdown.clone());
    TestServer {
        addr,
        requests,
        shutdown,
    }
}
