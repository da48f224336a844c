//! `/api/v1/backup/...`: list, show, download, delete.

use super::AppState;
use super::auth::Caller;
use super::error::problems;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, AppQuery};
use super::idempotency::IdempotencyKey;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::backups::{BackupOrigin, BackupStatus};
use orgbackup_service::db::org_transaction;
use orgbackup_service::permissions::Permission;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(list))
        .routes(routes!(show, delete))
        .routes(routes!(progress))
        .routes(routes!(download))
}

/// A backup of the token's organization.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
#[schema(as = Backup)]
pub(crate) struct BackupView {
    pub backup_id: Uuid,
    pub name: String,
    pub backup_type: BackupOrigin,
    pub status: BackupStatus,
    pub whole: bool,
    pub categories: Vec<String>,
    pub file_size: Option<i64>,
    pub checksum_sha256: Option<String>,
    pub total_rows: Option<i64>,
    /// Rows per table, by table name.
    #[schema(value_type = Option<std::collections::HashMap<String, i64>>)]
    pub row_counts: Option<serde_json::Value>,
    pub is_encrypted: bool,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

pub(crate) const COLUMNS: &str = "backup_id, name, backup_type, status, whole, categories, file_size, checksum_sha256, total_rows,
                       row_counts, is_encrypted, error_message, created_at, completed_at";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    /// From 1 (default 1).
    page: Option<u32>,
    /// 1 to 100 (default 20).
    per_page: Option<u32>,
}

/// One page of backups, newest first.
#[derive(Serialize, ToSchema)]
#[schema(as = BackupListing)]
struct Listing {
    data: Vec<BackupView>,
    page: u32,
    per_page: u32,
    /// Backups in all pages.
    total: i64,
}

/// List the organization's backups (deleted ones left out), newest first.
#[utoipa::path(get, path = "/backup/list", tag = "backups", params(Page),
    responses((status = 200, body = Listing)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(page): AppQuery<Page>,
) -> Result<Json<Listing>> {
    let per_page = page.per_page.unwrap_or(20).clamp(1, 100);
    let number = page.page.unwrap_or(1).max(1);
    let org = caller.principal.org_id;
    let mut tx = org_transaction(&state.pool, org).await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM organization_backups WHERE org_id = $1 AND status <> $2",
    )
    .bind(org)
    .bind(BackupStatus::Deleted)
    .fetch_one(&mut *tx)
    .await?;
    let data = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM organization_backups WHERE org_id = $1 AND status <> $4
          ORDER BY created_at DESC LIMIT $2 OFFSET $3"
    )))
    .bind(org)
    .bind(i64::from(per_page))
    // In i64: `page` can be any u32, and (page - 1) * per_page overflows u32.
    .bind(i64::from(number - 1) * i64::from(per_page))
    .bind(BackupStatus::Deleted)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Listing {
        data,
        page: number,
        per_page,
        total,
    }))
}

pub(crate) async fn find(
    state: &AppState,
    org: Uuid,
    id: Uuid,
) -> Result<(BackupView, Option<String>)> {
    let mut tx = org_transaction(&state.pool, org).await?;
    let row: Option<BackupView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM organization_backups WHERE org_id = $1 AND backup_id = $2 AND status <> $3"
    )))
    .bind(org)
    .bind(id)
    .bind(BackupStatus::Deleted)
    .fetch_optional(&mut *tx)
    .await?;
    let path: Option<String> = sqlx::query_scalar(
        "SELECT storage_path FROM organization_backups WHERE org_id = $1 AND backup_id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .flatten();
    tx.commit().await?;
    row.map(|r| (r, path)).ok_or(AppError::NotFound("backup"))
}

/// Show a backup.
#[utoipa::path(get, path = "/backup/{id}", tag = "backups", params(("id" = Uuid, Path, description = "The backup's id")),
    responses((status = 200, body = BackupView), (status = 404, response = problems::NotFound)))]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<BackupView>> {
    Ok(Json(find(&state, caller.principal.org_id, id).await?.0))
}

/// Download a completed backup's file. Needs `backup.download`.
#[utoipa::path(get, path = "/backup/{id}/download", tag = "backups", params(("id" = Uuid, Path, description = "The backup's id")),
    responses(
        (status = 200, description = "The backup file, streamed", content_type = "application/octet-stream", body = inline(super::openapi::Binary),
            headers(
                ("Content-Disposition" = String, description = "`attachment; filename=\"...\"`"),
                ("X-Checksum-Sha256" = String, description = "The file's SHA-256, hex")
            )),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
        (status = 409, response = problems::Conflict),
        (status = 503, response = problems::StorageUnavailable),
    ))]
pub(crate) async fn download(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Response> {
    caller
        .require(&state, Permission::Download, "backup.download")
        .await?;
    let (backup, path) = find(&state, caller.principal.org_id, id).await?;
    let (Some(_), BackupStatus::Completed) = (path, backup.status) else {
        return Err(AppError::Conflict(format!(
            "backup {id} is {} and has no file to download",
            backup.status
        )));
    };
    // Streamed from wherever the backup is (local disk or a storage connection), never buffered.
    let (destination, path) = orgbackup_service::storage::locate(
        &state.pool,
        &state.settings,
        caller.principal.org_id,
        id,
    )
    .await?
    .ok_or(AppError::NotFound("backup"))?;
    let (length, stream) = destination.read(&path).await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, "backup.download", Outcome::Success).entity("backup", id),
    )
    .await;
    let name = path.rsplit('/').next().unwrap_or("backup").to_string();
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(Ok(sum)) = backup.checksum_sha256.as_deref().map(HeaderValue::from_str) {
        headers.insert("x-checksum-sha256", sum);
    }
    Ok(response)
}

/// A backup, deleted.
#[derive(Serialize, ToSchema)]
struct BackupDeleted {
    backup_id: Uuid,
    /// `deleted`.
    status: BackupStatus,
}

/// Delete a backup (its file too). Needs `backup.create`; refused while it is being made.
#[utoipa::path(delete, path = "/backup/{id}", tag = "backups", params(("id" = Uuid, Path, description = "The backup's id")),
    responses(
        (status = 200, body = BackupDeleted),
        (status = 403, response = problems::Forbidden),
        (status = 404, response = problems::NotFound),
        (status = 409, response = problems::Conflict),
        (status = 503, response = problems::StorageUnavailable),
    ))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<BackupDeleted>> {
    caller
        .require(&state, Permission::Create, "backup.delete")
        .await?;
    let (backup, _) = find(&state, caller.principal.org_id, id).await?;
    if backup.status.is_in_progress() {
        return Err(AppError::Conflict(format!(
            "backup {id} is {}; wait for it to finish",
            backup.status
        )));
    }
    // Opened before the row forgets the path: a destination that cannot be opened (connection
    // expired, master key changed) refuses the delete rather than leave an unreachable file.
    let stored = orgbackup_service::storage::locate(
        &state.pool,
        &state.settings,
        caller.principal.org_id,
        id,
    )
    .await?;
    let mut tx = org_transaction(&state.pool, caller.principal.org_id).await?;
    sqlx::query("UPDATE organization_backups SET status = $2, storage_path = NULL, updated_at = now() WHERE backup_id = $1")
        .bind(id)
        .bind(BackupStatus::Deleted)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if let Some((destination, path)) = stored
        && let Err(error) = destination.remove(&path).await
    {
        // The row says deleted: a file left behind is only wasted space, not a visible backup.
        tracing::warn!(backup_id = %id, error = %error, "could not remove a deleted backup's file");
    }
    audit::record(
        &state.pool,
        &Entry::new(&caller, "backup.delete", Outcome::Success).entity("backup", id),
    )
    .await;
    Ok(Json(BackupDeleted {
        backup_id: id,
        status: BackupStatus::Deleted,
    }))
}

/// What to back up.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateBackup)]
pub(crate) struct CreateBody {
    /// Default: a name with the date.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Categories to back up (`orgbackup discover` lists them); empty: the whole organization.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Seal the file (needs the service's master key, or the organization's own key).
    #[serde(default)]
    pub encrypt: bool,
    /// A storage connection's id or name, or `local`; default: the org's default destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// Refuses, before anything is recorded, a category the schema does not have and an encrypted
/// backup on a service without a master key.
async fn check_categories_and_encryption(state: &AppState, body: &CreateBody) -> Result<()> {
    let known = {
        let mut conn = state.pool.acquire().await?;
        orgbackup_engine::discover(&mut conn, &state.settings.tenancy)
            .await
            .map_err(|e| AppError::Internal(e.into()))?
            .categories()
    };
    if let Some(unknown) = body.categories.iter().find(|c| !known.contains(c)) {
        return Err(AppError::Invalid {
            code: "unknown_category",
            message: format!(
                "unknown category `{unknown}`; the categories are: {}",
                known.join(", ")
            ),
        });
    }
    if body.encrypt && state.settings.encryption.master_key.is_none() {
        return Err(AppError::Invalid {
            code: "encryption_unavailable",
            message: "encrypted backups need a master key, which this service has not been configured with".into(),
        });
    }
    Ok(())
}

/// A backup or a restore, queued: a worker runs it.
#[derive(Serialize, ToSchema)]
struct BackupQueued {
    backup_id: Uuid,
    job_id: Uuid,
    /// `pending`.
    status: BackupStatus,
}

/// Queue a backup of the organization.
///
/// Queues a backup (202 with its id); a worker makes it. With an `Idempotency-Key` header, a
/// repeated request returns the first response instead of queuing again. Needs `backup.create`.
#[utoipa::path(post, path = "/backup/create", tag = "backups", request_body = CreateBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, such as a UUID: a retried request with the same key and body gets the first response")),
    responses(
        (status = 202, body = BackupQueued),
        (status = 403, response = problems::Forbidden),
        (status = 413, response = problems::TooLarge),
        (status = 503, response = problems::StorageUnavailable),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: super::extract::Body<CreateBody>,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>)> {
    caller
        .require(&state, Permission::Create, "backup.create")
        .await?;
    let AppJson(body) = body?;
    if let Some(name) = &body.name {
        super::extract::check_name("backup name", name)?;
    }
    let org = caller.principal.org_id;
    check_categories_and_encryption(&state, &body).await?;
    let destination = orgbackup_service::storage::connections::resolve(
        &state.pool,
        org,
        body.destination.as_deref(),
    )
    .await?;
    let idempotency = IdempotencyKey::from_headers(&headers, "backup.create", &body)?;
    let mut tx = org_transaction(&state.pool, org).await?;
    if let Some(key) = &idempotency
        && let Some(replayed) = key.replay(&mut tx, org).await?
    {
        return Ok(replayed);
    }
    // Counted and queued under the org's quota lock, in one transaction: concurrent requests
    // take turns, and each one sees the backups the previous ones queued.
    orgbackup_service::plans::lock_backup_quota(&mut tx, org).await?;
    let usage = orgbackup_service::plans::usage_in(&mut tx, &state.settings.plans, org)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    if let Err(limit) = usage.check_new_backup() {
        drop(tx);
        let code = match limit {
            orgbackup_service::plans::LimitError::MonthlyBackups { .. } => "plan_backup_limit",
            _ => "plan_storage_full",
        };
        audit::record(
            &state.pool,
            &Entry::new(&caller, "backup.create", Outcome::Denied).detail("limit", code),
        )
        .await;
        return Err(AppError::Invalid {
            code,
            message: limit.to_string(),
        });
    }
    let backup_id = Uuid::new_v4();
    let request = orgbackup_service::backups::CreateBackup {
        org_id: org,
        name: body.name.clone(),
        categories: body.categories.clone(),
        encrypt: body.encrypt,
        created_by: caller.principal.user_id,
        max_archive_bytes: None,
        destination,
        schedule_id: None,
        // Only read by the worker, which sets it per attempt.
        retry_on_transient: false,
    };
    orgbackup_service::backups::queue_backup(&mut tx, &request, backup_id).await?;
    let payload = orgbackup_service::jobs::JobPayload::ProcessBackup {
        backup_id,
        categories: body.categories,
        encrypt: body.encrypt,
        created_by: caller.principal.user_id,
    };
    let job_id = orgbackup_service::jobs::enqueue(&mut tx, org, &payload).await?;
    let response = serde_json::to_value(BackupQueued {
        backup_id,
        job_id,
        status: BackupStatus::Pending,
    })
    .map_err(|e| AppError::Internal(e.into()))?;
    if let Some(key) = &idempotency {
        key.save(&mut tx, org, axum::http::StatusCode::ACCEPTED, &response)
            .await?;
    }
    tx.commit().await?;
    audit::record(
        &state.pool,
        &Entry::new(&caller, "backup.create", Outcome::Success).entity("backup", backup_id),
    )
    .await;
    Ok((axum::http::StatusCode::ACCEPTED, Json(response)))
}

/// A backup's state and progress.
#[derive(Serialize, ToSchema)]
struct BackupProgress {
    backup_id: Uuid,
    status: BackupStatus,
    /// While it runs: phase, table, rows, percent.
    #[schema(value_type = Option<Object>)]
    progress: Option<serde_json::Value>,
    /// Why it failed.
    error: Option<String>,
}

/// The backup's status and, while it runs, its progress.
#[utoipa::path(get, path = "/backup/{id}/progress", tag = "backups", params(("id" = Uuid, Path, description = "The backup's id")),
    responses((status = 200, body = BackupProgress), (status = 404, response = problems::NotFound)))]
async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<BackupProgress>> {
    let org = caller.principal.org_id;
    let mut tx = org_transaction(&state.pool, org).await?;
    let row: Option<(BackupStatus, Option<serde_json::Value>, Option<String>)> = sqlx::query_as(
        "SELECT status, progress, error_message FROM organization_backups WHERE org_id = $1 AND backup_id = $2 AND status <> $3",
    )
    .bind(org)
    .bind(id)
    .bind(BackupStatus::Deleted)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let (status, progress, error) = row.ok_or(AppError::NotFound("backup"))?;
    Ok(Json(BackupProgress {
        backup_id: id,
        status,
        progress,
        error,
    }))
}
