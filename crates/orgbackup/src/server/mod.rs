//! The HTTP server: the JSON API (`crate::http`), the web UI (`crate::web`) and the routes that
//! serve both (the storage OAuth callback), under one set of middleware, until shutdown.

mod oauth_callback;
pub mod process;
pub mod request_id;

use crate::http::{self, AppState, extract, localize};
use axum::Router;
use std::net::SocketAddr;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router(state: AppState) -> Router {
    http::router(api())
        .merge(crate::web::router())
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_JSON_BODY))
        .layer(axum::middleware::from_fn(extract::refuse_nul_in_uri))
        .layer(axum::middleware::from_fn(localize::localize))
        // Outermost: the id and its span cover everything below, refusals included.
        .layer(axum::middleware::from_fn(request_id::request_id))
        .with_state(state)
}

/// API v1 with the route served here (the storage OAuth callback): what `http::router` serves
/// and documents.
pub fn api() -> OpenApiRouter<AppState> {
    http::api().routes(routes!(oauth_callback::oauth_callback))
}

/// The OpenAPI document of API v1 (`orgbackup openapi`, docs/openapi.json).
pub fn openapi_document() -> String {
    http::document(api())
}

/// Serves until `stopping` resolves, then finishes the requests in flight. `listener` may be
/// bound to port 0 (tests).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    stopping: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopping)
    .await
}
