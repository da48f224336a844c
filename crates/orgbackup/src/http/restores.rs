//! `/api/v1/restore/...`: analyze, start (queued as a job), status, rollback.

use super::AppState;
use super::auth::Caller;
use super::error::problems;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, Body};
use super::idempotency::IdempotencyKey;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use orgbackup_engine::{BackupMetadata, CompatibilityReport};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::backups;
use orgbackup_service::db::org_transaction;
use orgbackup_service::ids::{BackupId, OrgId, RestoreId};
use orgbackup_service::jobs::RestoreOptions;
use orgbackup_service::permissions::Permission;
use orgbackup_service::restores::queue::{self, QueueError, RestoreAsked};
use orgbackup_service::restores::{self, RestoreError, RestoreStatus, RollbackRefused};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(analyze))
        .routes(routes!(start))
        .routes(routes!(status))
        .routes(routes!(rollback))
}

/// The backup to analyze.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RestoreAnalyze)]
struct AnalyzeBody {
    backup_id: BackupId,
}

/// Where one of the caller's org's completed backups is: its destination and path there.
pub(crate) async fn stored_backup(
    state: &AppState,
    org: OrgId,
    backup_id: BackupId,
) -> Result<(orgbackup_service::storage::Destination, String)> {
    backups::locate_completed(&state.pool, &state.settings, org, backup_id)
        .await?
        .ok_or(AppError::NotFound("backup"))
}

/// Compare a completed backup with the organization's tables today.
///
/// How each table and category of the backup meets today's schema: what a restore would load,
/// drop or fill by default. Needs `backup.restore`.
#[utoipa::path(post, path = "/restore/analyze", tag = "restores", request_body = AnalyzeBody,
    responses(
        (status = 200, body = CompatibilityReport),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
        (status = 413, response = problems::TooLarge),
        (status = 503, response = problems::StorageUnavailable),
    ))]
async fn analyze(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<AnalyzeBody>,
) -> Result<Json<CompatibilityReport>> {
    caller
        .require(&state, Permission::Restore, "restore.analyze")
        .await?;
    let AppJson(body) = body?;
    let (destination, path) =
        stored_backup(&state, caller.principal.org_id, body.backup_id).await?;
    // The manifest is read with seeks: a remote archive is fetched to a temporary file first.
    let copy = destination.fetch(&state.settings.storage, &path).await?;
    let archive = orgbackup_service::archives::open(&state.settings, copy.path(), None)
        .await
        .map_err(AppError::Internal)?;
    let metadata: BackupMetadata = serde_json::from_value(archive.manifest().backup.clone())
        .map_err(|e| AppError::Internal(e.into()))?;
    let current = {
        let mut conn = state.pool.acquire().await?;
        orgbackup_engine::discover(&mut conn, &state.settings.tenancy)
            .await
            .map_err(|e| AppError::Internal(e.into()))?
    };
    let report = orgbackup_engine::analyze(&metadata, &current);
    audit::record(
        &state.pool,
        &Entry::new(&caller, "restore.analyze", Outcome::Success).entity("backup", body.backup_id),
    )
    .await;
    Ok(Json(report))
}

/// The backup to restore, and how.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RestoreStart)]
pub(crate) struct StartBody {
    pub backup_id: BackupId,
    #[serde(default)]
    pub options: RestoreOptions,
}

/// A restore, queued (or its rollback): a worker runs it.
#[derive(Serialize, ToSchema)]
pub(crate) struct RestoreQueued {
    restore_id: RestoreId,
    job_id: Uuid,
    /// `pending` (a restore) or `rolling_back` (a rollback).
    status: RestoreStatus,
}

/// Queue a restore of a completed backup.
///
/// Queues a restore (202 with its id); a worker runs it. With an `Idempotency-Key` header, a
/// repeated request returns the first response instead of queuing again. Needs `backup.restore`,
/// and `backup.restore_full` for a mode other than `merge`.
#[utoipa::path(post, path = "/restore/start", tag = "restores", request_body = StartBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, such as a UUID: a retried request with the same key and body gets the first response")),
    responses(
        (status = 202, body = RestoreQueued),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
        (status = 413, response = problems::TooLarge),
        (status = 503, response = problems::StorageUnavailable),
    ))]
pub(crate) async fn start(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: Body<StartBody>,
) -> Result<(StatusCode, Json<Value>)> {
    // The permission before the body: a caller without it learns nothing from a 422.
    caller
        .require(&state, Permission::Restore, "restore.start")
        .await?;
    let AppJson(body) = body?;
    let org = caller.principal.org_id;
    let idempotency = IdempotencyKey::from_headers(&headers, "restore.start", &body)?;
    let asked = RestoreAsked {
        backup_id: body.backup_id,
        options: body.options,
    };
    queue::check(&state.pool, &state.settings, &caller, &asked).await?;
    let mut tx = org_transaction(&state.pool, org).await?;
    if let Some(key) = &idempotency
        && let Some(replayed) = key.replay(&mut tx, org).await?
    {
        return Ok(replayed);
    }
    let queued = queue::queue(&mut tx, &caller, asked).await?;
    let response = serde_json::to_value(RestoreQueued {
        restore_id: queued.restore_id,
        job_id: queued.job_id,
        status: RestoreStatus::Pending,
    })
    .map_err(|e| AppError::Internal(e.into()))?;
    if let Some(key) = &idempotency {
        key.save(&mut tx, org, StatusCode::ACCEPTED, &response)
            .await?;
    }
    tx.commit().await?;
    queue::audit_queued(&state.pool, &caller, &queued).await;
    Ok((StatusCode::ACCEPTED, Json(response)))
}

impl From<QueueError> for AppError {
    fn from(error: QueueError) -> Self {
        match error {
            QueueError::Denied(denied) => denied.into(),
            QueueError::BackupNotFound(_) => AppError::NotFound("backup"),
            QueueError::Storage(error) => error.into(),
            QueueError::Sql(error) => error.into(),
        }
    }
}

impl From<RollbackRefused> for AppError {
    fn from(error: RollbackRefused) -> Self {
        match error {
            RollbackRefused::Denied(denied) => denied.into(),
            RollbackRefused::Restore(RestoreError::NotFound(_)) => AppError::NotFound("restore"),
            RollbackRefused::Restore(
                error @ (RestoreError::ChangesSince { .. } | RestoreError::NotRollbackable { .. }),
            ) => AppError::Conflict(error.to_string()),
            RollbackRefused::Restore(error) => AppError::Internal(error.into()),
        }
    }
}

/// A restore's state, plan and progress.
#[derive(Serialize, ToSchema)]
pub(crate) struct RestoreView {
    restore_id: RestoreId,
    status: RestoreStatus,
    /// The plan it ran (or runs): per table, the rows it inserts, replaces, merges and skips.
    #[schema(value_type = Option<Object>)]
    plan: Option<Value>,
    /// While it runs: phase, table, rows, percent.
    #[schema(value_type = Option<Object>)]
    progress: Option<Value>,
    /// Why it failed (or why its rollback did).
    error: Option<String>,
    /// Until when it can be rolled back; `null` once its rollback archive is gone.
    rollback_until: Option<DateTime<Utc>>,
}

/// A restore's status, plan and progress. Needs `backup.restore`.
#[utoipa::path(get, path = "/restore/{id}/status", tag = "restores", params(("id" = RestoreId, Path, description = "The restore's id")),
    responses(
        (status = 200, body = RestoreView),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
    ))]
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<RestoreId>,
) -> Result<Json<RestoreView>> {
    caller
        .require(&state, Permission::Restore, "restore.status")
        .await?;
    let restore = restores::state(&state.pool, caller.principal.org_id, id)
        .await?
        .ok_or(AppError::NotFound("restore"))?;
    let rollback_until = restore.rollback_until();
    Ok(Json(RestoreView {
        restore_id: id,
        status: restore.status,
        plan: restore.plan,
        progress: restore.progress,
        error: restore.error_message,
        rollback_until,
    }))
}

/// How to roll back (the body is optional).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RestoreRollback)]
pub(crate) struct RollbackBody {
    /// Roll back even if rows changed since the restore (their changes are lost).
    #[serde(default)]
    pub force: bool,
}

/// Checks the rollback now (404, or 409 with the reason: not rollbackable, rows changed since
/// unless `force`), then queues it as a job: 202; `GET /restore/{id}/status` follows it
/// (`rolling_back`, with progress, then `rolled_back`; a failure puts it back to `completed` with
/// the reason in `error`). Needs `backup.restore`.
#[utoipa::path(post, path = "/restore/{id}/rollback", tag = "restores", params(("id" = RestoreId, Path, description = "The restore's id")),
    request_body(content = Option<RollbackBody>, description = "Optional: without a body (or with one that is not this JSON), `force` is false"),
    responses(
        (status = 202, body = RestoreQueued),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
        (status = 409, response = problems::Conflict),
        (status = 503, response = problems::StorageUnavailable),
    ))]
pub(crate) async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<RestoreId>,
    body: Body<RollbackBody>,
) -> Result<(StatusCode, Json<RestoreQueued>)> {
    let force = body.map(|AppJson(b)| b.force).unwrap_or(false);
    let queued =
        restores::request_rollback(&state.pool, &state.settings, &caller, id, force).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RestoreQueued {
            restore_id: queued.restore_id,
            job_id: queued.job_id,
            status: RestoreStatus::RollingBack,
        }),
    ))
}
