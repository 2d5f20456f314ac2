//! The edge's own admin routes, next to the common `/metrics`, `/healthz` and `/readyz`:
//! invalidations (`POST /invalidations`, `GET /invalidations/<id>`), cache inspection
//! (`GET /cache?key=` / `?path=`) and the readiness switch (`POST /health`). State-changing
//! calls and the cache inspection (it shows stored headers) need the admin token when one is
//! configured.

use bytes::Bytes;
use edgelab_common::admin::{AdminRoutes, Readiness, authorize};
use edgelab_common::body::{self, Body};
use edgelab_common::names::header as names;
use http::{Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::clock::Clock;
use crate::invalidation::{self, Invalidations};
use crate::store::{CachedObject, ObjectBody, Store};

/// The edge's admin routes.
pub(crate) struct EdgeAdmin {
    pub(crate) invalidations: Invalidations,
    pub(crate) store: Store,
    pub(crate) readiness: Readiness,
    pub(crate) token: Option<String>,
    pub(crate) clock: Clock,
}

/// One stored variant, as `/cache?key=` shows it.
#[derive(Serialize)]
struct VariantView {
    variant: String,
    status: u16,
    size: usize,
    /// Where the body is kept: `heap`, or `arena` (the store's body arena, sent with
    /// `sendfile`).
    body_in: &'static str,
    age_seconds: u64,
    ttl_seconds: i64,
    headers: Vec<(String, String)>,
}

impl VariantView {
    fn of(variant: String, object: &CachedObject, now: std::time::SystemTime) -> Self {
        let age = object.age(now);
        VariantView {
            variant,
            status: object.status.as_u16(),
            size: object.body.len(),
            body_in: match object.body {
                ObjectBody::Memory(_) => "heap",
                ObjectBody::File(_) => "arena",
            },
            age_seconds: age.as_secs(),
            ttl_seconds: object.lifetime().lifetime.as_secs() as i64 - age.as_secs() as i64,
            headers: object
                .headers
                .to_map()
                .iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
        }
    }
}

impl AdminRoutes for EdgeAdmin {
    async fn route(&self, request: &Request<Bytes>) -> Option<Response<Body>> {
        let path = request.uri().path();
        let method = request.method();
        if path == "/invalidations" && *method == Method::POST {
            return Some(self.create_invalidation(request));
        }
        if let Some(id) = path.strip_prefix("/invalidations/")
            && *method == Method::GET
        {
            return Some(match self.invalidations.get(id) {
                Some(state) => body::json(StatusCode::OK, &state),
                None => body::text(StatusCode::NOT_FOUND, format!("no invalidation {id}")),
            });
        }
        if path == "/cache" && *method == Method::GET {
            return Some(self.inspect_cache(request));
        }
        if path == "/health" && *method == Method::POST {
            return Some(self.switch_health(request));
        }
        None
    }
}

impl EdgeAdmin {
    fn create_invalidation(&self, request: &Request<Bytes>) -> Response<Body> {
        if let Err(denied) = authorize(request, self.token.as_deref()) {
            return denied;
        }
        let parsed: invalidation::InvalidationRequest = match serde_json::from_slice(request.body())
        {
            Ok(p) => p,
            Err(error) => {
                return body::text(
                    StatusCode::BAD_REQUEST,
                    format!("expected {{\"paths\": [\"/a\", \"/img/*\"]}}: {error}"),
                );
            }
        };
        let forward = !request.headers().contains_key(names::X_EDGELAB_FORWARDED);
        match self.invalidations.create(parsed.paths, forward) {
            Ok(state) => body::json(StatusCode::CREATED, &state),
            Err(error) => body::text(StatusCode::BAD_REQUEST, error.to_string()),
        }
    }

    fn inspect_cache(&self, request: &Request<Bytes>) -> Response<Body> {
        // Stored headers can carry what the origin meant for one viewer: token-guarded too.
        if let Err(denied) = authorize(request, self.token.as_deref()) {
            return denied;
        }
        let param = |name: &str| {
            request
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|pair| pair.strip_prefix(name))
                .map(percent_decode)
        };
        let found = match (param("key="), param("path=")) {
            (Some(key), _) => self.store.variants_of(&key),
            (None, Some(path)) => self.store.objects_at(&path),
            (None, None) => {
                return body::text(
                    StatusCode::BAD_REQUEST,
                    "use /cache?key=<primary key> (host + path + key parts) or \
                     /cache?path=/a.js (every stored object for that path)",
                );
            }
        };
        let now = self.clock.now();
        let variants: Vec<VariantView> = found
            .into_iter()
            .map(|(variant, object)| VariantView::of(variant, &object, now))
            .collect();
        let status = if variants.is_empty() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        body::json(status, &variants)
    }

    fn switch_health(&self, request: &Request<Bytes>) -> Response<Body> {
        if let Err(denied) = authorize(request, self.token.as_deref()) {
            return denied;
        }
        let healthy = match request.body().as_ref() {
            b"true" | b"{\"healthy\":true}" | b"{\"healthy\": true}" => true,
            b"false" | b"{\"healthy\":false}" | b"{\"healthy\": false}" => false,
            _ => {
                return body::text(
                    StatusCode::BAD_REQUEST,
                    "expected {\"healthy\": true|false}",
                );
            }
        };
        self.readiness.set(healthy);
        body::text(StatusCode::OK, format!("healthy={healthy}"))
    }
}

/// Decodes `%XX` and `+` in a query value (hand-written: one small use, no crate needed).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
        assert_eq!(percent_decode("bad%zz%"), "bad%zz%");
    }
}
