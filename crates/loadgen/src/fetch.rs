//! Small control-plane GETs (catalog discovery, `/metrics` scrapes): plain TCP, no emulated
//! latency, a time limit, and the body collected in memory. Not used for measured traffic.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest control-plane body accepted (a catalog of 100k objects is ~12 MB).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// GETs `uri` and returns the body of a 2xx response, or a one-line reason.
pub(crate) async fn get(uri: &Uri, limit: Duration) -> Result<Bytes, String> {
    if uri.scheme_str() != Some("http") {
        return Err("only http:// URLs are supported".to_string());
    }
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let request = Request::get(uri.clone())
        .body(Empty::new())
        .map_err(|error| error.to_string())?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|error| format!("request failed: {error}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("status {status}"));
        }
        let body = http_body_util::Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|error| format!("reading body: {error}"))?;
        Ok(body.to_bytes())
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| format!("no answer within {limit:?}"))?
}
