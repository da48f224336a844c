//! `/api/v1/retention` (what retention will delete, and the org's own shorter retention) and
//! pinning (`/api/v1/backup/{id}/pin`).

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, Body};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::permissions::Permission;
use orgbackup_service::retention::{self, RetentionError};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/retention", get(show).put(update))
        .route("/backup/{id}/pin", post(pin).delete(unpin))
}

impl From<RetentionError> for AppError {
    fn from(error: RetentionError) -> Self {
        match error {
            RetentionError::LongerThanPlan { .. } => AppError::Invalid {
                code: "retention_longer_than_plan",
                message: error.to_string(),
            },
            RetentionError::Zero => AppError::Invalid {
                code: "invalid_retention",
                message: error.to_string(),
            },
            RetentionError::BackupNotFound(_) => AppError::NotFound("backup"),
            other => AppError::Internal(other.into()),
        }
    }
}

/// The dry run: what retention deletes now, what it keeps past retention and why, what expires soon.
async fn show(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::ViewLogs, "retention.view")
        .await?;
    let plan = retention::plan(&state.pool, &state.settings, caller.principal.org_id).await?;
    Ok(Json(
        serde_json::to_value(&plan).map_err(|e| AppError::Internal(e.into()))?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionBody {
    /// Days to keep backups (at most the plan's); `null` = the plan's retention.
    retention_days: Option<u32>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<RetentionBody>,
) -> Result<Json<Value>> {
    caller
        .require(&state, Permission::Schedule, "retention.update")
        .await?;
    let AppJson(body) = body?;
    let org = caller.principal.org_id;
    retention::set_org_retention(&state.pool, &state.settings, org, body.retention_days).await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, "retention.update", Outcome::Success)
            .detail("retention_days", body.retention_days),
    )
    .await;
    let plan = retention::plan(&state.pool, &state.settings, org).await?;
    Ok(Json(json!({"retention_days": plan.retention_days})))
}

async fn set_pin(state: AppState, caller: Caller, id: Uuid, pinned: bool) -> Result<Json<Value>> {
    let action = if pinned { "backup.pin" } else { "backup.unpin" };
    caller.require(&state, Permission::Create, action).await?;
    retention::set_pinned(&state.pool, caller.principal.org_id, id, pinned).await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, action, Outcome::Success).entity("backup", id),
    )
    .await;
    Ok(Json(json!({"backup_id": id, "pinned": pinned})))
}

async fn pin(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<Value>> {
    set_pin(state, caller, id, true).await
}

async fn unpin(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<Value>> {
    set_pin(state, caller, id, false).await
}
