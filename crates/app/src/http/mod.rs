//! The HTTP service: JSON API v1 (`/api/v1`), health checks. Each resource module has its own
//! `router()`, merged here.

pub(crate) mod audit_log;
pub mod auth;
pub(crate) mod backups;
pub mod error;
pub(crate) mod extract;
mod idempotency;
mod keys;
mod localize;
mod notifications;
pub(crate) mod restores;
mod retention;
mod schedules;
mod storage;
pub(crate) mod upload;

use crate::config::Settings;
use axum::Router;
use axum::routing::get;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;

pub use localize::message as problem_message;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/openapi.json", get(openapi))
        .nest(
            "/api/v1",
            backups::router()
                .merge(restores::router())
                .merge(upload::router())
                .merge(audit_log::router())
                .merge(notifications::router())
                .merge(keys::router())
                .merge(retention::router())
                .merge(storage::router())
                .merge(schedules::router()),
        )
        .merge(crate::web::router())
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_JSON_BODY))
        .layer(axum::middleware::from_fn(extract::refuse_nul_in_uri))
        .layer(axum::middleware::from_fn(localize::localize))
        .with_state(state)
}

/// Serves until the process is stopped. `listener` may be bound to port 0 (tests).
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The OpenAPI document of API v1 (kept next to the routes it describes: docs/openapi.json).
async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../../../../docs/openapi.json"),
    )
        .into_response()
}
