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
pub mod openapi;
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
use utoipa_axum::router::OpenApiRouter;

pub use localize::message as problem_message;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    /// In-process job workers currently running (`serve` starts `jobs.workers` of them).
    pub workers_alive: Arc<std::sync::atomic::AtomicUsize>,
}

/// API v1 (`/api/v1`), each route with its OpenAPI operation; paths are relative to `/api/v1`,
/// the document's server. The server adds its own routes, then gives it to [`router`].
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(backups::router())
        .merge(restores::router())
        .merge(upload::router())
        .merge(audit_log::router())
        .merge(notifications::router())
        .merge(keys::router())
        .merge(retention::router())
        .merge(storage::router())
        .merge(schedules::router())
}

/// The API's routes: health, readiness, `api` under `/api/v1` and its OpenAPI document,
/// generated once here (the server adds the web UI, the middleware and the state).
pub fn router(api: OpenApiRouter<AppState>) -> Router<AppState> {
    let (api, document) = api.split_for_parts();
    let document = axum::body::Bytes::from(openapi::to_json(&openapi::finish(document)));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/api/v1/openapi.json",
            get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    document,
                )
            }),
        )
        .nest("/api/v1", api)
}

/// The OpenAPI document of `api`, as `GET /api/v1/openapi.json` serves it.
pub fn document(api: OpenApiRouter<AppState>) -> String {
    openapi::to_json(&openapi::finish(api.into_openapi()))
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
