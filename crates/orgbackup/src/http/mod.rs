//! The JSON API v1 (`/api/v1`) and the health checks. Each resource module has its own
//! `router()`, merged here; `crate::server` serves it with the web UI.

pub(crate) mod audit_log;
pub mod auth;
pub(crate) mod backups;
pub mod error;
pub mod extract;
mod idempotency;
mod keys;
pub(crate) mod localize;
mod notifications;
pub(crate) mod restores;
mod retention;
mod schedules;
mod storage;
pub(crate) mod upload;

use axum::Router;
use axum::routing::get;
use orgbackup_service::config::Settings;
use sqlx::PgPool;
use std::sync::Arc;

pub use localize::message as problem_message;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    /// In-process job workers currently running (`serve` starts `jobs.workers` of them).
    pub workers_alive: Arc<std::sync::atomic::AtomicUsize>,
}

/// The API's routes: health, readiness, the OpenAPI document and `/api/v1` (the server adds
/// the web UI, the OAuth callback, the middleware and the state).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
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

/// Readiness for load balancers: 200 when the database answers, every migration of this build
/// is applied and all in-process workers are running; 503 naming what is not.
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    let database = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&state.pool),
    )
    .await;
    let database_ok = matches!(database, Ok(Ok(_)));
    let pending = if database_ok {
        orgbackup_service::db::pending_migrations(&state.pool)
            .await
            .ok()
    } else {
        None
    };
    let expected = state.settings.jobs.workers as usize;
    let alive = state
        .workers_alive
        .load(std::sync::atomic::Ordering::SeqCst);
    let ready = database_ok && pending == Some(0) && alive >= expected;
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": if database_ok { "ok" } else { "unreachable" },
        "migrations": match pending {
            Some(0) => "applied".to_string(),
            Some(n) => format!("{n} pending"),
            None => "unknown".to_string(),
        },
        "workers": format!("{alive}/{expected}"),
    });
    let status = if ready {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}
