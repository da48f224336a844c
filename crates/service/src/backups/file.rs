//! A backup's file, as a requester reaches it: downloading it (streamed from wherever it is, never
//! buffered) and deleting it. The API and the pages call these, so the permission, the state
//! checks and the audit entry are the same on both.

use super::BackupStatus;
use super::records::{self, Backup};
use crate::audit::{self, Denied, Entry, Outcome, Requester};
use crate::config::Settings;
use crate::ids::{BackupId, OrgId};
use crate::permissions::Permission;
use crate::storage::{self, ByteStream, StorageError};
use sqlx::PgPool;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("backup {0} does not exist for this organization")]
    NotFound(BackupId),
    #[error("backup {backup_id} is {status} and has no file to download")]
    NoFile {
        backup_id: BackupId,
        status: BackupStatus,
    },
    #[error("backup {backup_id} is {status}; wait for it to finish")]
    InProgress {
        backup_id: BackupId,
        status: BackupStatus,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A completed backup's file, open for reading.
pub struct Download {
    pub backup: Backup,
    /// The file's name, for `Content-Disposition`.
    pub file_name: String,
    pub length: u64,
    pub stream: ByteStream,
}

/// Opens a completed backup's file for the requester (needs `backup.download`).
pub async fn download(
    pool: &PgPool,
    settings: &Settings,
    requester: &Requester,
    backup_id: BackupId,
) -> Result<Download, FileError> {
    audit::require(pool, requester, Permission::Download, "backup.download").await?;
    let org_id = requester.principal.org_id;
    let backup = records::find(pool, org_id, backup_id)
        .await?
        .ok_or(FileError::NotFound(backup_id))?;
    if backup.status != BackupStatus::Completed {
        return Err(FileError::NoFile {
            backup_id,
            status: backup.status,
        });
    }
    let (destination, path) = storage::locate(pool, settings, org_id, backup_id)
        .await?
        .ok_or(FileError::NotFound(backup_id))?;
    let (length, stream) = destination.read(&path).await?;
    audit::record(
        pool,
        &Entry::new(requester, "backup.download", Outcome::Success).entity("backup", backup_id),
    )
    .await;
    let file_name = path.rsplit('/').next().unwrap_or("backup").to_string();
    Ok(Download {
        backup,
        file_name,
        length,
        stream,
    })
}

/// Deletes a backup and its file (needs `backup.create`); refused while it is being made.
pub async fn delete(
    pool: &PgPool,
    settings: &Settings,
    requester: &Requester,
    backup_id: BackupId,
) -> Result<(), FileError> {
    audit::require(pool, requester, Permission::Create, "backup.delete").await?;
    let org_id = requester.principal.org_id;
    let backup = records::find(pool, org_id, backup_id)
        .await?
        .ok_or(FileError::NotFound(backup_id))?;
    if backup.status.is_in_progress() {
        return Err(FileError::InProgress {
            backup_id,
            status: backup.status,
        });
    }
    // Opened before the row forgets the path: a destination that cannot be opened (connection
    // expired, master key changed) refuses the delete rather than leave an unreachable file.
    let stored = storage::locate(pool, settings, org_id, backup_id).await?;
    records::mark_deleted(pool, org_id, backup_id).await?;
    if let Some((destination, path)) = stored
        && let Err(error) = destination.remove(&path).await
    {
        // The row says deleted: a file left behind is only wasted space, not a visible backup.
        tracing::warn!(%backup_id, %error, "could not remove a deleted backup's file");
    }
    audit::record(
        pool,
        &Entry::new(requester, "backup.delete", Outcome::Success).entity("backup", backup_id),
    )
    .await;
    Ok(())
}

/// Where one of the org's completed backups is: its destination and its path there. Restores
/// and analyses read only completed backups.
pub async fn locate_completed(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    backup_id: BackupId,
) -> Result<Option<(storage::Destination, String)>, StorageError> {
    if !records::is_completed(pool, org_id, backup_id).await? {
        return Ok(None);
    }
    storage::locate(pool, settings, org_id, backup_id).await
}
