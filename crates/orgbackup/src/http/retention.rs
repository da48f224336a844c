//! `/api/v1/retention` (what retention will delete, and the org's own shorter retention) and
//! pinning (`/api/v1/backup/{id}/pin`).

use super::AppState;
use super::auth::Caller;
use super::error::problems;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, Body};
use axum::Json;
use axum::extract::State;
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::ids::BackupId;
use orgbackup_service::permissions::Permission;
use orgbackup_service::retention::{self, RetentionError, RetentionPlan};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, update))
        .routes(routes!(pin, unpin))
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
///
/// Needs `backup.view_logs`.
#[utoipa::path(get, path = "/retention", tag = "retention",
    responses((status = 200, body = RetentionPlan), (status = 403, response = problems::Forbidden)))]
async fn show(State(state): State<AppState>, caller: Caller) -> Result<Json<RetentionPlan>> {
    caller
        .require(&state, Permission::ViewLogs, "retention.view")
        .await?;
    let plan = retention::plan(&state.pool, &state.settings, caller.principal.org_id).await?;
    Ok(Json(plan))
}

/// The organization's own retention.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RetentionChange)]
struct RetentionBody {
    /// Days to keep backups (at most the plan's); `null` = the plan's retention.
    retention_days: Option<u32>,
}

/// The retention in force.
#[derive(Serialize, ToSchema)]
struct RetentionDays {
    /// Days a backup is kept: the plan's, or the organization's shorter setting.
    retention_days: u32,
}

/// Set the organization's retention (at most the plan's). Needs `backup.schedule`.
#[utoipa::path(put, path = "/retention", tag = "retention", request_body = RetentionBody,
    responses(
        (status = 200, body = RetentionDays),
        (status = 403, response = problems::Forbidden),
        (status = 413, response = problems::TooLarge),
    ))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<RetentionBody>,
) -> Result<Json<RetentionDays>> {
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
    Ok(Json(RetentionDays {
        retention_days: plan.retention_days,
    }))
}

/// A backup, pinned or unpinned.
#[derive(Serialize, ToSchema)]
struct Pinned {
    backup_id: BackupId,
    /// A pinned backup is kept past retention.
    pinned: bool,
}

async fn set_pin(
    state: AppState,
    caller: Caller,
    id: BackupId,
    pinned: bool,
) -> Result<Json<Pinned>> {
    let action = if pinned { "backup.pin" } else { "backup.unpin" };
    caller.require(&state, Permission::Create, action).await?;
    retention::set_pinned(&state.pool, caller.principal.org_id, id, pinned).await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, action, Outcome::Success).entity("backup", id),
    )
    .await;
    Ok(Json(Pinned {
        backup_id: id,
        pinned,
    }))
}

/// Pin a completed backup: retention keeps it. Needs `backup.create`.
#[utoipa::path(post, path = "/backup/{id}/pin", tag = "backups", params(("id" = BackupId, Path, description = "The backup's id")),
    responses(
        (status = 200, body = Pinned),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
    ))]
async fn pin(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<BackupId>,
) -> Result<Json<Pinned>> {
    set_pin(state, caller, id, true).await
}

/// Unpin a backup: retention treats it as any other. Needs `backup.create`.
#[utoipa::path(delete, path = "/backup/{id}/pin", tag = "backups", params(("id" = BackupId, Path, description = "The backup's id")),
    responses(
        (status = 200, body = Pinned),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
    ))]
async fn unpin(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<BackupId>,
) -> Result<Json<Pinned>> {
    set_pin(state, caller, id, false).await
}
