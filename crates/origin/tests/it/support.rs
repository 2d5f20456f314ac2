//! Starting an origin on loopback and talking to it.

use std::time::Duration;

use bytes::Bytes;
use edgelab_common::shutdown::Shutdown;
use edgelab_origin::{CatalogListing, OriginConfig, OriginHandle};
pub use edgelab_testkit::{eventually_within, raw};
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A running origin and what the test needs to reach it.
pub struct TestOrigin {
    pub handle: OriginHandle,
    pub shutdown: Shutdown,
    pub h1: Client<HttpConnector, Full<Bytes>>,
    pub h2: Client<HttpConnector, Full<Bytes>>,
}

/// A small, quick catalog: 200 objects over a 1 MiB pool.
pub fn small_config() -> OriginConfig {
    OriginConfig {
        objects: 200,
        pool_bytes: 1 << 20,
        name: "web".into(),
        region: "eu-west-2".into(),
        az: "euw2-az1".into(),
        ..OriginConfig::default()
    }
}

impl TestOrigin {
    pub async fn start(config: OriginConfig) -> TestOrigin {
        let traffic = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = Shutdown::new();
        let handle = edgelab_origin::start(
            config,
            traffic,
            admin,
            prometheus::Registry::new(),
            shutdown.clone(),
        )
        .expect("origin starts");
        let h1 = Client::builder(TokioExecutor::new()).build_http();
        let h2 = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http();
        TestOrigin {
            handle,
            shutdown,
            h1,
            h2,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.traffic_addr())
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.admin_addr())
    }

    /// Sends a request over HTTP/1.1 and collects the whole body.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> (Response<()>, Bytes) {
        collect(&self.h1, request).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (Response<()>, Bytes) {
        self.send(request(Method::GET, &self.url(path), headers, ""))
            .await
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (Response<()>, Bytes) {
        self.send(request(method, &self.admin_url(path), headers, body))
            .await
    }

    pub async fn listing(&self) -> CatalogListing {
        let (response, body) = self.get("/.well-known/edgelab/catalog", &[]).await;
        assert_eq!(response.status(), 200);
        serde_json::from_slice(&body).expect("catalog JSON parses")
    }

    pub async fn metrics(&self) -> String {
        let (response, body) = self.admin(Method::GET, "/metrics", &[], "").await;
        assert_eq!(response.status(), 200);
        String::from_utf8(body.to_vec()).unwrap()
    }
}

impl Drop for TestOrigin {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

pub async fn collect(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> (Response<()>, Bytes) {
    let response = tokio::time::timeout(Duration::from_secs(20), client.request(request))
        .await
        .expect("response within 20 s")
        .expect("request succeeds");
    let (parts, body) = response.into_parts();
    let bytes = tokio::time::timeout(Duration::from_secs(20), body.collect())
        .await
        .expect("body within 20 s")
        .expect("body completes")
        .to_bytes();
    (Response::from_parts(parts, ()), bytes)
}

pub fn header<'a>(response: &'a Response<()>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
}

pub fn digest(bytes: &[u8]) -> String {
    format!("xxh3={:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// Value of the sample `name{labels}` in a Prometheus text exposition (labels as written,
/// in registration order), or 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|value| value.trim().parse().unwrap())
        })
        .unwrap_or(0.0)
}
