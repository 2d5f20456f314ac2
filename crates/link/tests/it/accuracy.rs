//! Accuracy under the real clock through hyper's client, with bounds loose enough for a busy
//! machine: never faster than the model, p50 within +20 ms. The tight targets live in
//! `loadtest/bench-link.sh`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgelab_common::body::{Body, full};
use edgelab_common::serve::{Handler, ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use edgelab_link::{HopModel, LinkConnector};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Answers after `?think=MS` milliseconds with a small body.
struct Think;

impl Handler for Think {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let think = request
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("think="))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if think > 0 {
            tokio::time::sleep(Duration::from_millis(think)).await;
        }
        Response::new(full("ok"))
    }
}

async fn start() -> (SocketAddr, Shutdown) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    serve(
        listener,
        Arc::new(Think),
        ServeOptions::default(),
        shutdown.clone(),
    );
    (addr, shutdown)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_requests_pay_the_model_on_real_sockets() -> anyhow::Result<()> {
    let (addr, shutdown) = start().await;
    let rtt = Duration::from_millis(40);
    let connector = LinkConnector::new(HopModel::fixed(rtt), 7);
    let client: Client<LinkConnector, http_body_util::Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector.clone());

    // A new connection: connect (1 RTT) + the exchange (1 RTT).
    let started = Instant::now();
    let response = client.get(format!("http://{addr}/").parse()?).await?;
    response.into_body().collect().await?;
    let first = started.elapsed();
    assert!(first >= 2 * rtt, "first request took {first:?}");
    assert!(
        first <= 2 * rtt + Duration::from_millis(200),
        "first request took {first:?}"
    );

    // Warm, concurrent requests with server think time: each costs RTT + think.
    let think = Duration::from_millis(10);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = client.clone();
        let uri: http::Uri = format!("http://{addr}/?think=10").parse()?;
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for _ in 0..10 {
                let started = Instant::now();
                let response = client.get(uri.clone()).await?;
                response.into_body().collect().await?;
                times.push(started.elapsed());
            }
            anyhow::Ok(times)
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await??);
    }
    times.sort();
    let floor = rtt + think;
    assert!(
        times[0] >= floor,
        "fastest {:?} beat the model {floor:?}",
        times[0]
    );
    let p50 = percentile(&times, 0.5);
    assert!(
        p50 <= floor + Duration::from_millis(20),
        "p50 {p50:?} vs model {floor:?}"
    );
    // hyper may start a spare connection when a request races a connection's return to the
    // pool; still, keep-alive means far fewer connections than the 201 requests.
    let opened = connector.connections_opened();
    assert!(
        opened <= 60,
        "keep-alive reuses connections: {opened} opened"
    );
    shutdown.trigger();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_connector_adds_nothing_measurable() -> anyhow::Result<()> {
    let (addr, shutdown) = start().await;
    let client: Client<LinkConnector, http_body_util::Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(LinkConnector::plain());
    let uri: http::Uri = format!("http://{addr}/").parse()?;
    client.get(uri.clone()).await?.into_body().collect().await?;
    let mut times = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        client.get(uri.clone()).await?.into_body().collect().await?;
        times.push(started.elapsed());
    }
    times.sort();
    let p50 = percentile(&times, 0.5);
    assert!(
        p50 < Duration::from_millis(10),
        "plain loopback p50 {p50:?}"
    );
    shutdown.trigger();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_multiplexed_requests_each_pay_the_rtt() -> anyhow::Result<()> {
    let (addr, shutdown) = start().await;
    let rtt = Duration::from_millis(30);
    let connector = LinkConnector::new(HopModel::fixed(rtt), 3);
    let client: Client<LinkConnector, http_body_util::Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector.clone());
    let uri: http::Uri = format!("http://{addr}/").parse()?;
    client.get(uri.clone()).await?.into_body().collect().await?;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = client.clone();
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            client.get(uri).await?.into_body().collect().await?;
            anyhow::Ok(started.elapsed())
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.push(task.await??);
    }
    times.sort();
    assert!(times[0] >= rtt, "fastest {:?}", times[0]);
    assert!(
        percentile(&times, 0.5) <= rtt + Duration::from_millis(20),
        "{times:?}"
    );
    assert_eq!(
        connector.connections_opened(),
        1,
        "h2 multiplexes on one connection"
    );
    shutdown.trigger();
    Ok(())
}

#[tokio::test]
async fn unreachable_target_is_a_typed_error() {
    // Bind then drop to get a port that refuses connections.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let connector = LinkConnector::new(HopModel::fixed(Duration::from_millis(5)), 1);
    let error = connector
        .connect(format!("http://{addr}/").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "connect");
    let error = connector
        .connect("/no-host".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "invalid_uri");
}
