//! Request ids: every request gets one (the client's `X-Request-Id` when it is a short token,
//! else a new UUID), answered in the `X-Request-Id` header and carried by every log event of the
//! request (a span: `request_id`, `method`, `path`, and `org_id` once the caller is known), so an
//! operator can find a user's failed request in the log from the id the user saw.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

/// The client's id when it is safe to echo and log: 1..=64 characters of `[A-Za-z0-9._-]`.
fn from_client(request: &Request) -> Option<String> {
    let value = request.headers().get(HEADER)?.to_str().ok()?;
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    valid.then(|| value.to_string())
}

pub async fn request_id(request: Request, next: Next) -> Response {
    let id = from_client(&request).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        org_id = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(status = response.status().as_u16(), "request answered");
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
