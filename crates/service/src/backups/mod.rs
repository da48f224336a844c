//! Creating a backup of one organization: the `organization_backups` row, the archive in storage,
//! and the outcome recorded on the row (completed with size, checksum and counts, or failed with
//! the reason, and no file left behind).

use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{BackupId, ConnectionId, OrgId, ScheduleId};
use crate::jobs::Retry;
use crate::keys::{self, KeyError};
use crate::storage::{self, Destination, StorageError};
use chrono::{DateTime, Utc};
use orgbackup_archive::ArchiveSummary;
use orgbackup_engine::{BackupMetadata, BackupOutcome, BackupRequest, Progress};
use serde_json::json;
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

pub mod file;
pub mod records;
pub mod request;

pub use crate::states::{BackupOrigin, BackupStatus};
pub use file::{Download, FileError, delete, download, locate_completed};
pub use records::Backup;
pub use request::{BackupAsked, QueuedBackup, RequestError, request};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Engine(#[from] orgbackup_engine::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

impl BackupError {
    /// When the job queue should try again: later when the database or a destination was down
    /// (it may come back), now after a lost race, never for a refused destination or a missing
    /// key (they will not change by themselves).
    pub fn retry(&self) -> Retry {
        match self {
            BackupError::Engine(error) => Retry::of_engine(error),
            BackupError::Storage(error) => Retry::later_if(error.is_retryable()),
            BackupError::Sql(error) => Retry::of_sql(error),
            BackupError::Key(_) => Retry::Never,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.retry() != Retry::Never
    }
}

/// What the user asked for.
#[derive(Debug)]
pub struct CreateBackup {
    pub org_id: OrgId,
    pub name: Option<String>,
    pub categories: Vec<String>,
    pub encrypt: bool,
    pub created_by: Option<Uuid>,
    /// The archive may not grow past this (what is left of the plan's storage).
    pub max_archive_bytes: Option<u64>,
    /// The storage connection to write to ([`storage::connections::resolve`]); `None`: the
    /// connection recorded on a queued row, else the local disk.
    pub destination: Option<ConnectionId>,
    /// The schedule that made this backup: queued as `scheduled` instead of `manual`.
    pub schedule_id: Option<ScheduleId>,
    /// The job queue runs this backup again after a transient failure: the row then waits as
    /// `pending` (with the reason) instead of `failed`.
    pub retry_on_transient: bool,
}

impl CreateBackup {
    /// A whole, unencrypted backup of the org to its default destination, with no limit: the
    /// base the callers set their fields over.
    pub fn new(org_id: OrgId) -> Self {
        Self {
            org_id,
            name: None,
            categories: Vec::new(),
            encrypt: false,
            created_by: None,
            max_archive_bytes: None,
            destination: None,
            schedule_id: None,
            retry_on_transient: false,
        }
    }
}

#[derive(Debug)]
pub struct CreatedBackup {
    pub backup_id: BackupId,
    /// Where the archive is: a local path, or a URL such as `s3://bucket/key`.
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub encrypted: bool,
    pub metadata: BackupMetadata,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// One line of an org's backup list.
#[derive(Debug, sqlx::FromRow)]
pub struct BackupListItem {
    pub backup_id: BackupId,
    pub name: String,
    pub status: BackupStatus,
    pub file_size: Option<i64>,
    pub total_rows: Option<i64>,
    pub created_at: DateTime<Utc>,
}

pub async fn list_backups(
    pool: &PgPool,
    org_id: OrgId,
) -> Result<Vec<BackupListItem>, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let backups = sqlx::query_as(
        "SELECT backup_id, name, status, file_size, total_rows, created_at
           FROM organization_backups WHERE org_id = $1 ORDER BY created_at DESC",
    )
    .bind(org_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(backups)
}

/// Backs up now, recording a new backup row.
pub async fn create_backup(
    pool: &PgPool,
    settings: &Settings,
    request: &CreateBackup,
    progress: Arc<dyn Progress>,
) -> Result<CreatedBackup, BackupError> {
    run_backup_row(pool, settings, request, BackupId::random(), progress).await
}

/// Records a backup to be made by a worker (`pending`), in the caller's transaction.
pub async fn queue_backup(
    tx: &mut sqlx::PgConnection,
    request: &CreateBackup,
    backup_id: BackupId,
) -> Result<(), sqlx::Error> {
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| format!("Backup {}", Utc::now().format("%Y-%m-%d %H:%M UTC")));
    sqlx::query(
        "INSERT INTO organization_backups
            (backup_id, org_id, name, backup_type, status, whole, categories, storage_disk, is_encrypted, created_by,
             storage_connection_id, schedule_id)
         VALUES ($1, $2, $3, $10, $11, $4, $5,
                 coalesce((SELECT provider FROM storage_connections WHERE connection_id = $8), 'local'), $6, $7, $8, $9)",
    )
    .bind(backup_id)
    .bind(request.org_id)
    .bind(&name)
    .bind(request.categories.is_empty())
    .bind(&request.categories)
    .bind(request.encrypt)
    .bind(request.created_by)
    .bind(request.destination)
    .bind(request.schedule_id)
    .bind(match request.schedule_id {
        None => BackupOrigin::Manual,
        Some(_) => BackupOrigin::Scheduled,
    })
    .bind(BackupStatus::Pending)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Makes the backup `backup_id` (a `pending` row from [`queue_backup`], or a new one).
#[tracing::instrument(skip_all, fields(org_id = %request.org_id, %backup_id))]
pub async fn run_backup_row(
    pool: &PgPool,
    settings: &Settings,
    request: &CreateBackup,
    backup_id: BackupId,
    progress: Arc<dyn Progress>,
) -> Result<CreatedBackup, BackupError> {
    let encryption = if request.encrypt {
        Some(keys::encryption_setup(pool, settings, request.org_id).await?)
    } else {
        None
    };
    let destination = match open_destination(pool, settings, request, backup_id).await {
        Ok(destination) => destination,
        Err(error) => {
            mark_failed(pool, request, backup_id, &error).await?;
            return Err(error);
        }
    };
    let started_at = Utc::now();
    let relative =
        storage::LocalStorage::backup_path(request.org_id, backup_id, encryption.is_some());
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| format!("Backup {}", started_at.format("%Y-%m-%d %H:%M UTC")));

    let mut tx = org_transaction(pool, request.org_id).await?;
    sqlx::query(
        "INSERT INTO organization_backups
            (backup_id, org_id, name, backup_type, status, whole, categories, storage_disk,
             storage_path, is_encrypted, encryption_key_id, created_by, started_at, storage_connection_id)
         VALUES ($1, $2, $3, $13, $14, $4, $5, $11, $6, $7, $8, $9, $10, $12)
         ON CONFLICT (backup_id) DO UPDATE
            SET status = excluded.status, storage_path = excluded.storage_path, is_encrypted = excluded.is_encrypted,
                storage_disk = excluded.storage_disk, storage_connection_id = excluded.storage_connection_id,
                encryption_key_id = excluded.encryption_key_id, started_at = excluded.started_at,
                error_message = NULL, updated_at = now()",
    )
    .bind(backup_id)
    .bind(request.org_id)
    .bind(&name)
    .bind(request.categories.is_empty())
    .bind(&request.categories)
    .bind(&relative)
    .bind(encryption.is_some())
    .bind(encryption.as_ref().map(|e| e.key_id.clone()))
    .bind(request.created_by)
    .bind(started_at)
    .bind(destination.provider().as_str())
    .bind(destination.connection_id())
    .bind(BackupOrigin::Manual)
    .bind(BackupStatus::Running)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let engine_request = engine_request(&settings.backup, request, backup_id, encryption);

    let outcome = write_archive(
        pool,
        &settings.tenancy,
        &destination,
        &relative,
        &engine_request,
        progress,
    )
    .await;
    match outcome {
        Ok((path, summary, metadata)) => {
            let finished_at = Utc::now();
            mark_completed(
                pool,
                request.org_id,
                backup_id,
                &summary,
                &metadata,
                finished_at,
            )
            .await?;
            Ok(CreatedBackup {
                backup_id,
                path,
                size: summary.size,
                sha256: summary.sha256,
                encrypted: summary.encrypted,
                metadata,
                started_at,
                finished_at,
            })
        }
        Err(error) => {
            mark_failed(pool, request, backup_id, &error).await?;
            Err(error)
        }
    }
}

/// What the engine is asked to back up, with the service's settings.
fn engine_request(
    backup: &crate::config::BackupSettings,
    request: &CreateBackup,
    backup_id: BackupId,
    encryption: Option<orgbackup_archive::EncryptionSetup>,
) -> BackupRequest {
    let mut engine_request = BackupRequest::new(backup_id.to_string(), request.org_id);
    engine_request.categories = request.categories.clone();
    engine_request.files_root = backup.files_root.clone();
    engine_request.chunk_size = backup.chunk_size_mib.max(1) << 20;
    engine_request.compression_level = backup.compression_level;
    engine_request.encryption = encryption;
    engine_request.max_archive_bytes = request.max_archive_bytes;
    engine_request
}

/// Records a finished backup on its row: size, checksum, counts per table, and `completed`.
async fn mark_completed(
    pool: &PgPool,
    org_id: OrgId,
    backup_id: BackupId,
    summary: &ArchiveSummary,
    metadata: &BackupMetadata,
    finished_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let row_counts: serde_json::Map<String, serde_json::Value> = metadata
        .tables
        .iter()
        .map(|t| (t.table.name.to_string(), json!(t.row_count)))
        .collect();
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "UPDATE organization_backups
            SET status = $10, file_size = $2, checksum_sha256 = $3, row_counts = $4,
                total_rows = $5, table_count = $6, file_count = $7, categories = $8,
                completed_at = $9, updated_at = $9, progress = NULL
          WHERE backup_id = $1",
    )
    .bind(backup_id)
    .bind(summary.size as i64)
    .bind(&summary.sha256)
    .bind(serde_json::Value::Object(row_counts))
    .bind(metadata.total_rows() as i64)
    .bind(metadata.tables.len() as i32)
    .bind(metadata.files.len() as i32)
    .bind(&metadata.categories)
    .bind(finished_at)
    .bind(BackupStatus::Completed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The destination asked for, else the one recorded on a queued row, else the local disk.
async fn open_destination(
    pool: &PgPool,
    settings: &Settings,
    request: &CreateBackup,
    backup_id: BackupId,
) -> Result<Destination, BackupError> {
    let connection_id = match request.destination {
        Some(id) => Some(id),
        None => {
            let mut tx = org_transaction(pool, request.org_id).await?;
            let queued: Option<Option<ConnectionId>> = sqlx::query_scalar(
                "SELECT storage_connection_id FROM organization_backups WHERE backup_id = $1",
            )
            .bind(backup_id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            queued.flatten()
        }
    };
    Ok(storage::open(pool, settings, request.org_id, connection_id).await?)
}

/// Records a failure on the row: `failed` with the reason, or back to `pending` when the job
/// queue will try again. No file is left, so the row forgets its path.
async fn mark_failed(
    pool: &PgPool,
    request: &CreateBackup,
    backup_id: BackupId,
    error: &BackupError,
) -> Result<(), sqlx::Error> {
    let (status, message) = if request.retry_on_transient && error.is_retryable() {
        (
            BackupStatus::Pending,
            format!("will be retried after: {error}"),
        )
    } else {
        (BackupStatus::Failed, error.to_string())
    };
    let mut tx = org_transaction(pool, request.org_id).await?;
    sqlx::query(
        "UPDATE organization_backups
            SET status = $3, error_message = $2, storage_path = NULL, progress = NULL,
                completed_at = CASE WHEN $3 = $4 THEN now() END, updated_at = now()
          WHERE backup_id = $1",
    )
    .bind(backup_id)
    .bind(message)
    .bind(status)
    .bind(BackupStatus::Failed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Streams the archive to the destination. On any failure nothing is left there; the
/// destination's own error is preferred over the archive writer's, which only saw its output
/// close.
async fn write_archive(
    pool: &PgPool,
    tenancy: &orgbackup_engine::TenancyConfig,
    destination: &Destination,
    relative: &str,
    request: &BackupRequest,
    progress: Arc<dyn Progress>,
) -> Result<(PathBuf, ArchiveSummary, BackupMetadata), BackupError> {
    let (upload, sink) = destination.create(relative).await?;
    match orgbackup_engine::run_backup(pool, tenancy, request, sink, progress).await {
        Ok(BackupOutcome {
            output,
            summary,
            metadata,
        }) => {
            let location = upload.commit(output, summary.size, &summary.sha256).await?;
            Ok((PathBuf::from(location), summary, metadata))
        }
        Err(error) => Err(match upload.abort().await {
            Some(storage_error) => storage_error.into(),
            None => error.into(),
        }),
    }
}
