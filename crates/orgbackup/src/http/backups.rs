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
use orgbackup_service::ids::{BackupId, OrgId};

use orgbackup_service::backups::{
    self, Backup, BackupAsked, BackupStatus, FileError, RequestError, request,
};
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
    data: Vec<Backup>,
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
    // In i64: `page` can be any u32, and (page - 1) * per_page overflows u32.
    let offset = i64::from(number - 1) * i64::from(per_page);
    let (data, total) = backups::records::page(
        &state.pool,
        caller.principal.org_id,
        i64::from(per_page),
        offset,
    )
    .await?;
    Ok(Json(Listing {
        data,
        page: number,
        per_page,
        total,
    }))
}

/// One of the org's backups (not deleted), or 404.
pub(crate) async fn find(state: &AppState, org: OrgId, id: BackupId) -> Result<Backup> {
    backups::records::find(&state.pool, org, id)
        .await?
        .ok_or(AppError::NotFound("backup"))
}

/// Show a backup.
#[utoipa::path(get, path = "/backup/{id}", tag = "backups", params(("id" = BackupId, Path, description = "The backup's id")),
    responses((status = 200, body = Backup), (status = 404, response = problems::NotFound)))]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<BackupId>,
) -> Result<Json<Backup>> {
    Ok(Json(find(&state, caller.principal.org_id, id).await?))
}

/// Download a completed backup's file. Needs `backup.download`.
#[utoipa::path(get, path = "/backup/{id}/download", tag = "backups", params(("id" = BackupId, Path, description = "The backup's id")),
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
    AppPath(id): AppPath<BackupId>,
) -> Result<Response> {
    let download = backups::download(&state.pool, &state.settings, &caller, id).await?;
    Ok(file_response(download))
}

/// The backup file as an attachment, streamed, with its length and checksum (the pages answer
/// their download link with it too).
pub(crate) fn file_response(download: backups::Download) -> Response {
    let backups::Download {
        backup,
        file_name: name,
        length,
        stream,
    } = download;
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
    response
}

/// A backup, deleted.
#[derive(Serialize, ToSchema)]
struct BackupDeleted {
    backup_id: BackupId,
    /// `deleted`.
    status: BackupStatus,
}

/// Delete a backup (its file too). Needs `backup.create`; refused while it is being made.
#[utoipa::path(delete, path = "/backup/{id}", tag = "backups", params(("id" = BackupId, Path, description = "The backup's id")),
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
    AppPath(id): AppPath<BackupId>,
) -> Result<Json<BackupDeleted>> {
    backups::delete(&state.pool, &state.settings, &caller, id).await?;
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

/// A backup or a restore, queued: a worker runs it.
#[derive(Serialize, ToSchema)]
struct BackupQueued {
    backup_id: BackupId,
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
    // The permission before the body: a caller without it learns nothing from a 422.
    caller
        .require(&state, Permission::Create, "backup.create")
        .await?;
    let AppJson(body) = body?;
    if let Some(name) = &body.name {
        super::extract::check_name("backup name", name)?;
    }
    let org = caller.principal.org_id;
    let idempotency = IdempotencyKey::from_headers(&headers, "backup.create", &body)?;
    let checked = request::check(&state.pool, &state.settings, &caller, body.asked()).await?;
    let mut tx = org_transaction(&state.pool, org).await?;
    if let Some(key) = &idempotency
        && let Some(replayed) = key.replay(&mut tx, org).await?
    {
        return Ok(replayed);
    }
    let queued = match request::queue(&mut tx, &state.settings, &caller, checked).await {
        Ok(queued) => queued,
        Err(error) => {
            drop(tx);
            request::audit_refused(&state.pool, &caller, &error).await;
            return Err(error.into());
        }
    };
    let response = serde_json::to_value(BackupQueued {
        backup_id: queued.backup_id,
        job_id: queued.job_id,
        status: BackupStatus::Pending,
    })
    .map_err(|e| AppError::Internal(e.into()))?;
    if let Some(key) = &idempotency {
        key.save(&mut tx, org, axum::http::StatusCode::ACCEPTED, &response)
            .await?;
    }
    tx.commit().await?;
    request::audit_queued(&state.pool, &caller, &queued).await;
    Ok((axum::http::StatusCode::ACCEPTED, Json(response)))
}

impl CreateBody {
    pub(crate) fn asked(self) -> BackupAsked {
        BackupAsked {
            name: self.name,
            categories: self.categories,
            encrypt: self.encrypt,
            destination: self.destination,
        }
    }
}

impl From<RequestError> for AppError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Denied(denied) => denied.into(),
            error @ RequestError::UnknownCategory { .. } => AppError::Invalid {
                code: "unknown_category",
                message: error.to_string(),
            },
            error @ RequestError::EncryptionUnavailable => AppError::Invalid {
                code: "encryption_unavailable",
                message: error.to_string(),
            },
            RequestError::Limit(limit) => AppError::Invalid {
                code: limit.code(),
                message: limit.to_string(),
            },
            RequestError::Destination(error) => error.into(),
            RequestError::Sql(error) => error.into(),
            error @ (RequestError::PlanUnreadable(_) | RequestError::Discovery(_)) => {
                AppError::Internal(error.into())
            }
        }
    }
}

impl From<FileError> for AppError {
    fn from(error: FileError) -> Self {
        match error {
            FileError::Denied(denied) => denied.into(),
            FileError::NotFound(_) => AppError::NotFound("backup"),
            error @ (FileError::NoFile { .. } | FileError::InProgress { .. }) => {
                AppError::Conflict(error.to_string())
            }
            FileError::Storage(error) => error.into(),
            FileError::Sql(error) => error.into(),
        }
    }
}

/// A backup's state and progress.
#[derive(Serialize, ToSchema)]
struct BackupProgress {
    backup_id: BackupId,
    status: BackupStatus,
    /// While it runs: phase, table, rows, percent.
    #[schema(value_type = Option<Object>)]
    progress: Option<serde_json::Value>,
    /// Why it failed.
    error: Option<String>,
}

/// The backup's status and, while it runs, its progress.
#[utoipa::path(get, path = "/backup/{id}/progress", tag = "backups", params(("id" = BackupId, Path, description = "The backup's id")),
    responses((status = 200, body = BackupProgress), (status = 404, response = problems::NotFound)))]
async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<BackupId>,
) -> Result<Json<BackupProgress>> {
    let backups::records::BackupProgress {
        status,
        progress,
        error,
    } = backups::records::progress(&state.pool, caller.principal.org_id, id)
        .await?
        .ok_or(AppError::NotFound("backup"))?;
    Ok(Json(BackupProgress {
        backup_id: id,
        status,
        progress,
        error,
    }))
}
