//! The admin port: metrics, token, faults (errors, outage, resets, slow bodies, service
//! time), and a graceful stop.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::support::{TestOrigin, eventually_within, header, request, sample, small_config};

const TOKEN: &str = "s3cret-token";

async fn object_path(origin: &TestOrigin, class: &str, min_size: u64) -> (String, u64) {
    let entry = origin
        .listing()
        .await
        .objects
        .into_iter()
        .find(|e| e.class.as_str() == class && e.size >= min_size)
        .expect("an object of that class and size");
    (entry.path, entry.size)
}

#[tokio::test]
async fn metrics_count_requests_bytes_and_durations_with_placement_labels() {
    let origin = TestOrigin::start(small_config()).await;
    let (path, size) = object_path(&origin, "static", 1).await;
    origin.get(&path, &[]).await;
    origin.get(&path, &[]).await;
    origin.get("/missing", &[]).await;
    let text = origin.metrics().await;
    assert_eq!(
        sample(
            &text,
            "edgelab_origin_requests_total{az=\"euw2-az1\",origin=\"web\",status_class=\"2xx\"}"
        ),
        3.0, // the catalog fetch and two objects
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "edgelab_origin_requests_total{az=\"euw2-az1\",origin=\"web\",status_class=\"4xx\"}"
        ),
        1.0
    );
    assert!(
        sample(
            &text,
            "edgelab_origin_response_bytes_total{az=\"euw2-az1\",origin=\"web\"}"
        ) >= 2.0 * size as f64
    );
    assert_eq!(
        sample(
            &text,
            "edgelab_origin_request_duration_seconds_count{origin=\"web\"}"
        ),
        4.0
    );
    assert_eq!(
        sample(
            &text,
            "edgelab_origin_info{az=\"euw2-az1\",origin=\"web\",region=\"eu-west-2\"}"
        ),
        1.0
    );
    let (health, _) = origin.admin(Method::GET, "/healthz", &[], "").await;
    assert_eq!(health.status(), 200);
    let (ready, _) = origin.admin(Method::GET, "/readyz", &[], "").await;
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn state_changing_admin_calls_need_the_token() {
    let mut config = small_config();
    config.admin_token = Some(TOKEN.into());
    let origin = TestOrigin::start(config).await;
    let (response, _) = origin
        .admin(Method::POST, "/faults", &[], r#"{"outage": true}"#)
        .await;
    assert_eq!(response.status(), 401);
    let (response, _) = origin.admin(Method::POST, "/outage", &[], "").await;
    assert_eq!(response.status(), 401);
    let (response, _) = origin
        .admin(
            Method::POST,
            "/faults",
            &[("x-edgelab-token", "wrong")],
            r#"{"outage": true}"#,
        )
        .await;
    assert_eq!(response.status(), 401);
    assert!(!origin.handle.outage());
    // Reads stay open.
    let (response, _) = origin.admin(Method::GET, "/faults", &[], "").await;
    assert_eq!(response.status(), 200);
    let bearer = format!("Bearer {TOKEN}");
    let (response, _) = origin
        .admin(
            Method::POST,
            "/faults",
            &[("authorization", &bearer)],
            r#"{"outage": true}"#,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(origin.handle.outage());
}

#[tokio::test]
async fn outage_answers_503_everywhere_until_lifted() {
    let origin = TestOrigin::start(small_config()).await;
    let (path, _) = object_path(&origin, "img", 1).await;
    let (response, _) = origin.admin(Method::POST, "/outage", &[], "").await;
    assert_eq!(response.status(), 200);
    for p in [path.as_str(), "/echo/", "/.well-known/edgelab/catalog"] {
        let (response, _) = origin.get(p, &[]).await;
        assert_eq!(response.status(), 503, "{p}");
        assert_eq!(header(&response, "x-edgelab-origin"), "eu-west-2/euw2-az1");
    }
    let (response, _) = origin.admin(Method::DELETE, "/outage", &[], "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(origin.get(&path, &[]).await.0.status(), 200);
    // The in-process switch does the same.
    origin.handle.set_outage(true);
    assert_eq!(origin.get(&path, &[]).await.0.status(), 503);
    origin.handle.set_outage(false);
    assert_eq!(origin.get(&path, &[]).await.0.status(), 200);
    let text = origin.metrics().await;
    assert_eq!(
        sample(
            &text,
            "edgelab_origin_faults_total{az=\"euw2-az1\",fault=\"outage\",origin=\"web\"}"
        ),
        4.0
    );
}

#[tokio::test]
async fn injected_errors_use_the_configured_status_and_rate() {
    let origin = TestOrigin::start(small_config()).await;
    let (path, _) = object_path(&origin, "api", 1).await;
    let (response, body) = origin
        .admin(
            Method::POST,
            "/faults",
            &[],
            r#"{"error_rate": 1.0, "error_status": 502}"#,
        )
        .await;
    assert_eq!(response.status(), 200, "{body:?}");
    for _ in 0..5 {
        assert_eq!(origin.get(&path, &[]).await.0.status(), 502);
    }
    // Half the requests, seeded: some of each.
    origin.handle.set_error_rate(0.5, 500).unwrap();
    let mut errors = 0;
    for _ in 0..200 {
        if origin.get(&path, &[]).await.0.status() == 500 {
            errors += 1;
        }
    }
    assert!((50..150).contains(&errors), "{errors} errors out of 200");
    // DELETE restores the configured faults.
    let (response, _) = origin.admin(Method::DELETE, "/faults", &[], "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(origin.get(&path, &[]).await.0.status(), 200);
}

#[tokio::test]
async fn invalid_fault_updates_list_every_problem_and_change_nothing() {
    let origin = TestOrigin::start(small_config()).await;
    let (response, body) = origin
        .admin(
            Method::POST,
            "/faults",
            &[],
            r#"{"error_rate": 7, "error_status": 200, "reset_rate": -1}"#,
        )
        .await;
    assert_eq!(response.status(), 400);
    let text = String::from_utf8_lossy(&body);
    for field in ["error_rate", "error_status", "reset_rate"] {
        assert!(text.contains(field), "{field} not in {text}");
    }
    let (response, _) = origin
        .admin(Method::POST, "/faults", &[], r#"{"typo": 1}"#)
        .await;
    assert_eq!(response.status(), 400);
    let (response, _) = origin.admin(Method::POST, "/faults", &[], "[1]").await;
    assert_eq!(response.status(), 400);
    assert!(origin.handle.faults().is_quiet());
}

#[tokio::test]
async fn a_reset_mid_body_is_an_error_for_the_client() {
    let origin = TestOrigin::start(small_config()).await;
    let (path, _) = object_path(&origin, "video", 100_000).await;
    let (response, _) = origin
        .admin(
            Method::POST,
            "/faults",
            &[],
            r#"{"reset_rate": 1.0, "reset_after_bytes": 50000}"#,
        )
        .await;
    assert_eq!(response.status(), 200);
    for client in [&origin.h1, &origin.h2] {
        let fetch = async {
            let response = client
                .request(request(Method::GET, &origin.url(&path), &[], ""))
                .await
                .map_err(|e| e.to_string())?;
            assert_eq!(response.status(), 200);
            // HTTP/2 may deliver the stream reset before the client reads the head.
            response
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .map_err(|e| e.to_string())
        };
        let result = tokio::time::timeout(Duration::from_secs(20), fetch)
            .await
            .expect("the exchange ends within 20 s");
        assert!(result.is_err(), "the client must see the reset as an error");
    }
    // Smaller than the reset point: served whole.
    let (small, _) = object_path(&origin, "api", 1).await;
    assert_eq!(origin.get(&small, &[]).await.0.status(), 200);
    let text = origin.metrics().await;
    assert_eq!(
        sample(
            &text,
            "edgelab_origin_faults_total{az=\"euw2-az1\",fault=\"reset\",origin=\"web\"}"
        ),
        2.0
    );
}

#[tokio::test]
async fn slow_bodies_and_service_time_delay_the_answer() {
    let origin = TestOrigin::start(small_config()).await;
    let (path, size) = object_path(&origin, "img", 20_000).await;
    let (response, _) = origin
        .admin(
            Method::POST,
            "/faults",
            &[],
            r#"{"service_time": {"distribution": "fixed", "value": "150ms"}}"#,
        )
        .await;
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let (response, _) = origin.get(&path, &[]).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let text = origin.metrics().await;
    assert!(
        sample(
            &text,
            "edgelab_origin_request_duration_seconds_sum{origin=\"web\"}"
        ) >= 0.15
    );

    // A body paced at size*4 bytes/s takes at least ~1/4 s.
    let rate = size * 4;
    let patch = format!(
        r#"{{"service_time": {{"distribution": "fixed", "value": "0s"}}, "slow_body_bytes_per_second": {rate}}}"#
    );
    let (response, _) = origin.admin(Method::POST, "/faults", &[], &patch).await;
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let (response, body) = origin.get(&path, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body.len() as u64, size);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn stop_flips_readiness_and_lets_in_flight_bodies_finish() {
    let origin = TestOrigin::start(small_config()).await;
    let (path, size) = object_path(&origin, "img", 20_000).await;
    origin
        .handle
        .set_faults_config(edgelab_origin::FaultsConfig {
            slow_body_bytes_per_second: size * 3,
            ..Default::default()
        })
        .unwrap();
    let client = origin.h1.clone();
    let url = origin.url(&path);
    let in_flight = tokio::spawn(async move {
        let response = client
            .request(request(Method::GET, &url, &[], ""))
            .await
            .unwrap();
        response.into_body().collect().await.map(|c| c.to_bytes())
    });
    // Wait until the request is being answered.
    eventually_within(Duration::from_secs(5), "the request is being answered", || async {
        let text = origin.metrics().await;
        sample(
            &text,
            "edgelab_origin_requests_total{az=\"euw2-az1\",origin=\"web\",status_class=\"2xx\"}",
        ) >= 1.0
    })
    .await;
    assert!(origin.handle.stop(Duration::from_secs(10)).await);
    assert!(!origin.handle.readiness().get());
    let body: Bytes = in_flight.await.unwrap().expect("in-flight body completes");
    assert_eq!(body.len() as u64, size);
    // No new connections are accepted.
    let refused = tokio::net::TcpStream::connect(origin.handle.traffic_addr()).await;
    assert!(refused.is_err());
}
