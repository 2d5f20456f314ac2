//! Invalidations (CloudFront's `CreateInvalidation` in miniature). A request names paths
//! (exact, or ending in `*`); after the node's propagation delay the matching objects are
//! removed, and the request is forwarded once to every configured peer (the other tiers of the
//! distribution), which apply it after their own delay. The status is `InProgress` until this
//! node and every peer are done, then `Completed`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use edgelab_common::body::{self, Body};
use edgelab_common::names::header as names;
use edgelab_common::shutdown::Shutdown;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// Status of one invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvalidationStatus {
    /// Not yet applied everywhere.
    InProgress,
    /// Applied on this node and every peer.
    Completed,
}

/// The JSON body of `POST /invalidations`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidationRequest {
    /// Paths, exact or ending in `*`; each starts with `/`.
    pub paths: Vec<String>,
}

/// The JSON answer of `POST /invalidations` and `GET /invalidations/<id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvalidationState {
    /// Id.
    pub id: String,
    /// Status.
    pub status: InvalidationStatus,
    /// Paths.
    pub paths: Vec<String>,
}

/// The invalidations of one node.
#[derive(Clone)]
pub struct Invalidations {
    inner: Arc<Inner>,
}

struct Inner {
    states: Mutex<HashMap<String, InvalidationState>>,
    counter: AtomicU64,
    prefix: String,
    store: Store,
    delay: Duration,
    peers: Vec<Uri>,
    token: Option<String>,
    client: Client<HttpConnector, Body>,
    shutdown: Shutdown,
}

/// Why an invalidation request was refused.
#[derive(Debug, thiserror::Error)]
pub enum InvalidationError {
    /// No paths, or a path not starting with `/`.
    #[error("invalid paths: {0}")]
    Paths(String),
}

impl Invalidations {
    /// Invalidations for `store`, applied after `delay` and forwarded to `peers`.
    pub fn new(
        store: Store,
        delay: Duration,
        peers: Vec<Uri>,
        token: Option<String>,
        prefix: &str,
        shutdown: Shutdown,
    ) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        Self {
            inner: Arc::new(Inner {
                states: Mutex::new(HashMap::new()),
                counter: AtomicU64::new(0),
                prefix: prefix.to_string(),
                store,
                delay,
                peers,
                token,
                client: Client::builder(TokioExecutor::new()).build(http),
                shutdown,
            }),
        }
    }

    /// Starts an invalidation of `paths`; `forward` sends it on to the peers.
    pub fn create(
        &self,
        paths: Vec<String>,
        forward: bool,
    ) -> Result<InvalidationState, InvalidationError> {
        if paths.is_empty() {
            return Err(InvalidationError::Paths(
                "at least one path is needed".into(),
            ));
        }
        if let Some(bad) = paths.iter().find(|p| !p.starts_with('/')) {
            return Err(InvalidationError::Paths(format!(
                "{bad:?} must start with /"
            )));
        }
        let n = self.inner.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("I{}{n:06}", self.inner.prefix);
        let state = InvalidationState {
            id: id.clone(),
            status: InvalidationStatus::InProgress,
            paths: paths.clone(),
        };
        self.lock().insert(id.clone(), state.clone());
        let this = self.clone();
        let shutdown = self.inner.shutdown.clone();
        self.inner.shutdown.spawn(async move {
            tokio::select! {
                () = this.propagate(&id, paths, forward) => {}
                () = shutdown.triggered() => {}
            }
        });
        Ok(state)
    }

    /// The state of invalidation `id`.
    pub fn get(&self, id: &str) -> Option<InvalidationState> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, InvalidationState>> {
        // A poisoned map only means a panic elsewhere mid-insert; the map is still usable.
        self.inner.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn propagate(&self, id: &str, paths: Vec<String>, forward: bool) {
        let peers = if forward {
            self.inner.peers.clone()
        } else {
            Vec::new()
        };
        let local = async {
            tokio::time::sleep(self.inner.delay).await;
            self.inner.store.invalidate_paths(&paths);
        };
        let remote =
            futures_util::future::join_all(peers.iter().map(|peer| self.forward_to(peer, &paths)));
        let ((), results) = tokio::join!(local, remote);
        for (peer, result) in peers.iter().zip(results) {
            if let Err(error) = result {
                tracing::warn!(%peer, %error, "invalidation not confirmed by peer");
            }
        }
        if let Some(state) = self.lock().get_mut(id) {
            state.status = InvalidationStatus::Completed;
        }
    }

    /// Posts the invalidation to `peer` and polls it until it completes (bounded).
    async fn forward_to(&self, peer: &Uri, paths: &[String]) -> Result<(), String> {
        let body = serde_json::to_vec(&InvalidationRequest {
            paths: paths.to_vec(),
        })
        .map_err(|e| e.to_string())?;
        let base = peer.to_string();
        let base = base.trim_end_matches('/');
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{base}/invalidations"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(names::X_EDGELAB_FORWARDED, "1");
        if let Some(token) = &self.inner.token
            && let Ok(v) = HeaderValue::from_str(token)
        {
            request = request.header(names::X_EDGELAB_TOKEN, v);
        }
        let request = request.body(body::full(body)).map_err(|e| e.to_string())?;
        let response = self
            .inner
            .client
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("peer answered {}", response.status()));
        }
        let bytes: Bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let state: InvalidationState = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        // The peer applies after its own delay; poll for at most a minute.
        for _ in 0..1200 {
            let request = Request::get(format!("{base}/invalidations/{}", state.id))
                .body(body::empty())
                .map_err(|e| e.to_string())?;
            if let Ok(response) = self.inner.client.request(request).await
                && let Ok(collected) = response.into_body().collect().await
                && let Ok(now) = serde_json::from_slice::<InvalidationState>(&collected.to_bytes())
                && now.status == InvalidationStatus::Completed
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("peer did not complete within a minute".into())
    }
}
