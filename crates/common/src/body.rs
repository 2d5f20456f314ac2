//! The response body type every edgelab server uses, and small constructors for it.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};

/// Boxed error carried by a body stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed, sendable body of `Bytes` frames.
pub type Body = BoxBody<Bytes, BoxError>;

/// A body holding `bytes` in one frame.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body that fails with `error` when it is read (a response whose bytes could not be had
/// after its head was made: its receiver sees the failure, never a short body).
pub fn failed(error: BoxError) -> Body {
    let mut error = Some(error);
    http_body_util::StreamBody::new(futures_util::stream::poll_fn(move |_| {
        std::task::Poll::Ready(error.take().map(Err))
    }))
    .boxed()
}

/// A `text/plain` response with `status` and `message` (a trailing newline is added).
pub fn text(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    let mut message = message.into();
    message.push('\n');
    let mut response = Response::new(full(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An `application/json` response with `status` and the serialised `value`.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec_pretty(value) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            let mut response = Response::new(full(bytes));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialise response: {error}"),
        ),
    }
}
