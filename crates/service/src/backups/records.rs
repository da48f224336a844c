//! The org's backup rows as the API, the pages and the restore wizard read them: one backup, a
//! page of them, a running backup's progress, the last whole backup's counts. Deleted backups are
//! left out everywhere: to a user they no longer exist.

use super::BackupStatus;
use crate::db::org_transaction;
use crate::ids::{BackupId, ConnectionId, OrgId};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A backup of the token's organization.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Backup {
    pub backup_id: BackupId,
    pub name: String,
    pub backup_type: super::BackupOrigin,
    pub status: BackupStatus,
    pub whole: bool,
    pub categories: Vec<String>,
    pub file_size: Option<i64>,
    pub checksum_sha256: Option<String>,
    pub total_rows: Option<i64>,
    /// Rows per table, by table name.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::HashMap<String, i64>>))]
    pub row_counts: Option<serde_json::Value>,
    pub is_encrypted: bool,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "backup_id, name, backup_type, status, whole, categories, file_size, checksum_sha256, total_rows,
                       row_counts, is_encrypted, error_message, created_at, completed_at";

/// `limit` backups from `offset`, newest first, and how many there are in all.
pub async fn page(
    pool: &PgPool,
    org_id: OrgId,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Backup>, i64), sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM organization_backups WHERE org_id = $1 AND status <> $2",
    )
    .bind(org_id)
    .bind(BackupStatus::Deleted)
    .fetch_one(&mut *tx)
    .await?;
    let backups = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM organization_backups WHERE org_id = $1 AND status <> $4
          ORDER BY created_at DESC LIMIT $2 OFFSET $3"
    )))
    .bind(org_id)
    .bind(limit)
    .bind(offset)
    .bind(BackupStatus::Deleted)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((backups, total))
}

pub async fn find(
    pool: &PgPool,
    org_id: OrgId,
    backup_id: BackupId,
) -> Result<Option<Backup>, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let backup = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM organization_backups WHERE org_id = $1 AND backup_id = $2 AND status <> $3"
    )))
    .bind(org_id)
    .bind(backup_id)
    .bind(BackupStatus::Deleted)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(backup)
}

/// A backup's state and, while it runs, its progress (phase, table, rows, percent).
#[derive(Debug)]
pub struct BackupProgress {
    pub status: BackupStatus,
    pub progress: Option<serde_json::Value>,
    pub error: Option<String>,
}

pub async fn progress(
    pool: &PgPool,
    org_id: OrgId,
    backup_id: BackupId,
) -> Result<Option<BackupProgress>, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let row: Option<(BackupStatus, Option<serde_json::Value>, Option<String>)> = sqlx::query_as(
        "SELECT status, progress, error_message FROM organization_backups
          WHERE org_id = $1 AND backup_id = $2 AND status <> $3",
    )
    .bind(org_id)
    .bind(backup_id)
    .bind(BackupStatus::Deleted)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|(status, progress, error)| BackupProgress {
        status,
        progress,
        error,
    }))
}

/// What the org's last completed whole backup held: rows per table, rows in all, file size.
pub struct LastWholeBackup {
    pub row_counts: serde_json::Value,
    pub total_rows: Option<i64>,
    pub file_size: Option<i64>,
}

pub async fn last_whole(
    pool: &PgPool,
    org_id: OrgId,
) -> Result<Option<LastWholeBackup>, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let row: Option<(serde_json::Value, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT row_counts, total_rows, file_size FROM organization_backups
          WHERE org_id = $1 AND status = $2 AND whole ORDER BY completed_at DESC LIMIT 1",
    )
    .bind(org_id)
    .bind(BackupStatus::Completed)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(
        row.map(|(row_counts, total_rows, file_size)| LastWholeBackup {
            row_counts,
            total_rows,
            file_size,
        }),
    )
}

pub(super) async fn is_completed(
    pool: &PgPool,
    org_id: OrgId,
    backup_id: BackupId,
) -> Result<bool, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let completed = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM organization_backups WHERE org_id = $1 AND backup_id = $2 AND status = $3)",
    )
    .bind(org_id)
    .bind(backup_id)
    .bind(BackupStatus::Completed)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(completed)
}

/// Marks the backup deleted and forgets where its file was.
pub(super) async fn mark_deleted(
    pool: &PgPool,
    org_id: OrgId,
    backup_id: BackupId,
) -> Result<(), sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "UPDATE organization_backups SET status = $2, storage_path = NULL, updated_at = now()
          WHERE backup_id = $1",
    )
    .bind(backup_id)
    .bind(BackupStatus::Deleted)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The org's `limit` newest backups that failed in the last 30 days.
pub async fn recent_failures(
    pool: &PgPool,
    org_id: OrgId,
    limit: i64,
) -> Result<Vec<Backup>, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let backups = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM organization_backups
          WHERE org_id = $1 AND status = $2 AND created_at > now() - interval '30 days'
          ORDER BY created_at DESC LIMIT $3"
    )))
    .bind(org_id)
    .bind(BackupStatus::Failed)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(backups)
}

/// The org's `limit` newest completed backups (the ones a restore can start from).
pub async fn completed(
    pool: &PgPool,
    org_id: OrgId,
    limit: i64,
) -> Result<Vec<Backup>, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let backups = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM organization_backups WHERE org_id = $1 AND status = $2
          ORDER BY completed_at DESC LIMIT $3"
    )))
    .bind(org_id)
    .bind(BackupStatus::Completed)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(backups)
}

/// A verified uploaded archive, kept on the local disk at `storage_path`.
pub struct UploadedBackup<'a> {
    pub backup_id: BackupId,
    pub org_id: OrgId,
    pub storage_path: &'a str,
    pub metadata: &'a orgbackup_engine::BackupMetadata,
    pub encrypted: bool,
    pub size: u64,
    pub sha256: &'a str,
    pub uploaded_by: Option<uuid::Uuid>,
}

/// Records an uploaded archive as a completed backup of the org (`uploaded`).
pub async fn insert_uploaded(
    pool: &PgPool,
    upload: &UploadedBackup<'_>,
) -> Result<(), sqlx::Error> {
    let metadata = upload.metadata;
    let mut tx = org_transaction(pool, upload.org_id).await?;
    sqlx::query(
        "INSERT INTO organization_backups
            (backup_id, org_id, name, backup_type, status, whole, categories, storage_disk, storage_path, is_encrypted,
             file_size, checksum_sha256, total_rows, table_count, file_count, created_by, started_at, completed_at)
         VALUES ($1, $2, $3, $14, $15, $4, $5, 'local', $6, $7, $8, $9, $10, $11, $12, $13, now(), now())",
    )
    .bind(upload.backup_id)
    .bind(upload.org_id)
    .bind(format!(
        "Uploaded backup of {}",
        metadata.started_at.format("%Y-%m-%d %H:%M UTC")
    ))
    .bind(metadata.whole)
    .bind(&metadata.categories)
    .bind(upload.storage_path)
    .bind(upload.encrypted)
    .bind(upload.size as i64)
    .bind(upload.sha256)
    .bind(metadata.total_rows() as i64)
    .bind(metadata.tables.len() as i32)
    .bind(metadata.files.len() as i32)
    .bind(upload.uploaded_by)
    .bind(super::BackupOrigin::Uploaded)
    .bind(BackupStatus::Completed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Where a completed backup is, in whichever org holds it: the org, its storage connection
/// (`None`: the local disk) and its path there. For the operator, who names a backup by id alone.
pub async fn find_completed_anywhere(
    pool: &PgPool,
    backup_id: BackupId,
) -> Result<Option<(OrgId, Option<ConnectionId>, String)>, sqlx::Error> {
    let mut tx = crate::db::system_transaction(pool).await?;
    let stored: Option<(OrgId, Option<ConnectionId>, Option<String>)> = sqlx::query_as(
        "SELECT org_id, storage_connection_id, storage_path FROM organization_backups
          WHERE backup_id = $1 AND status = $2",
    )
    .bind(backup_id)
    .bind(BackupStatus::Completed)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(stored.and_then(|(org, connection, path)| Some((org, connection, path?))))
}
