//! The admin listener: `/metrics` (Prometheus text from the registry passed in, never a
//! global one), `/healthz`, `/readyz`, plus a server's own routes, and the admin-token check
//! for state-changing calls.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use prometheus::{Encoder, Registry, TextEncoder};

use crate::body::{self, Body};
use crate::names::{header as names, path};
use crate::serve::Handler;

/// Largest admin request body accepted.
const MAX_ADMIN_BODY: usize = 1 << 20;

/// Readiness of a node: false while starting and once draining. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Not ready yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the node ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether the node is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A server's own admin routes.
pub trait AdminRoutes: Send + Sync + 'static {
    /// Answers `request` if it is one of this server's routes, else `None` (→ 404).
    /// The body has been read (at most 1 MiB).
    fn route(
        &self,
        request: &Request<Bytes>,
    ) -> impl Future<Output = Option<Response<Body>>> + Send;
}

/// No routes beyond the standard ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRoutes;

impl AdminRoutes for NoRoutes {
    async fn route(&self, _request: &Request<Bytes>) -> Option<Response<Body>> {
        None
    }
}

/// The admin handler: standard endpoints first, then `routes`.
pub struct Admin<R> {
    registry: Registry,
    readiness: Readiness,
    routes: R,
}

impl<R: AdminRoutes> Admin<R> {
    /// An admin handler exposing `registry`, reporting `readiness`, and serving `routes`.
    pub fn new(registry: Registry, readiness: Readiness, routes: R) -> Self {
        Self {
            registry,
            readiness,
            routes,
        }
    }

    fn metrics(&self) -> Response<Body> {
        let encoder = TextEncoder::new();
        let mut buffer = Vec::with_capacity(16 * 1024);
        if let Err(error) = encoder.encode(&self.registry.gather(), &mut buffer) {
            return body::text(StatusCode::INTERNAL_SERVER_ERROR, error.to_string());
        }
        let mut response = Response::new(body::full(buffer));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
    }
}

impl<R: AdminRoutes> Handler for Admin<R> {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
        match request.uri().path() {
            path::METRICS if is_read => return self.metrics(),
            path::HEALTHZ if is_read => return body::text(StatusCode::OK, "ok"),
            path::READYZ if is_read => {
                return if self.readiness.get() {
                    body::text(StatusCode::OK, "ready")
                } else {
                    body::text(StatusCode::SERVICE_UNAVAILABLE, "not ready")
                };
            }
            _ => {}
        }
        let (parts, incoming) = request.into_parts();
        let bytes = match Limited::new(incoming, MAX_ADMIN_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                return body::text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("cannot read request body: {error}"),
                );
            }
        };
        let request = Request::from_parts(parts, bytes);
        match self.routes.route(&request).await {
            Some(response) => response,
            None => body::text(
                StatusCode::NOT_FOUND,
                format!(
                    "no admin endpoint {} {}",
                    request.method(),
                    request.uri().path()
                ),
            ),
        }
    }
}

/// Checks the admin token of a state-changing call: `Ok` when no token is configured or the
/// request carries it (`x-edgelab-token: T` or `Authorization: Bearer T`), else a 401.
pub fn authorize<B>(request: &Request<B>, token: Option<&str>) -> Result<(), Response<Body>> {
    let Some(expected) = token else {
        return Ok(());
    };
    let headers = request.headers();
    let given = headers
        .get(names::X_EDGELAB_TOKEN)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(bearer_token)
        });
    // Length is not secret; compare every byte so timing does not reveal a prefix.
    let matches = given.is_some_and(|given| {
        given.len() == expected.len()
            && given
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if matches {
        Ok(())
    } else {
        let mut response = body::text(
            StatusCode::UNAUTHORIZED,
            "this admin endpoint needs the admin token (x-edgelab-token or Authorization: Bearer)",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"edgelab-admin\""),
        );
        Err(response)
    }
}

/// The token of an `Authorization: Bearer T` value; the scheme is case-insensitive
/// (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(Method::POST).uri("/outage");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("static request is valid")
    }

    #[test]
    fn no_configured_token_allows_everything() {
        assert!(authorize(&request(&[]), None).is_ok());
    }

    #[test]
    fn token_is_required_and_checked() {
        let token = Some("s3cret");
        assert_eq!(
            authorize(&request(&[]), token).unwrap_err().status(),
            StatusCode::UNAUTHORIZED
        );
        assert!(authorize(&request(&[("x-edgelab-token", "s3cret")]), token).is_ok());
        assert!(authorize(&request(&[("authorization", "Bearer s3cret")]), token).is_ok());
        // Regression: the auth scheme is case-insensitive (RFC 9110 §11.1).
        assert!(authorize(&request(&[("authorization", "bearer s3cret")]), token).is_ok());
        assert!(authorize(&request(&[("authorization", "BEARER s3cret")]), token).is_ok());
        assert!(authorize(&request(&[("authorization", "Basic s3cret")]), token).is_err());
        assert!(authorize(&request(&[("x-edgelab-token", "s3creT")]), token).is_err());
        assert!(authorize(&request(&[("x-edgelab-token", "s3cret!")]), token).is_err());
    }
}
