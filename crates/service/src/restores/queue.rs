//! A requester asks for a restore of a completed backup, or for the rollback of a restore: checked
//! (permissions, the backup, the rollback's conditions) and queued for a worker. The API and the
//! pages call these, so the checks and the audit entries are the same on both.
//!
//! [`request`] does it all. The API calls its steps itself to put its idempotency record in the
//! transaction that queues the restore: [`check`], then [`queue`], then [`audit_queued`].

use super::{RestoreError, RestoreStatus};
use crate::audit::{self, Denied, Entry, Outcome, Requester};
use crate::backups;
use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{BackupId, RestoreId};
use crate::jobs::{self, JobPayload, RestoreOptions};
use crate::permissions::Permission;
use crate::storage::StorageError;
use orgbackup_engine::RestoreMode;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What the requester asks for: a completed backup of the org, restored how.
#[derive(Debug, Clone)]
pub struct RestoreAsked {
    pub backup_id: BackupId,
    pub options: RestoreOptions,
}

/// A restore (or its rollback), queued: a worker runs it.
#[derive(Debug, Clone, Copy)]
pub struct QueuedRestore {
    pub restore_id: RestoreId,
    pub job_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("backup {0} is not a completed backup of this organization")]
    BackupNotFound(BackupId),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Refuses a requester without `backup.restore` (and `backup.restore_full` for a mode other than
/// merge) and a backup that is not one of the org's completed backups.
pub async fn check(
    pool: &PgPool,
    settings: &Settings,
    requester: &Requester,
    asked: &RestoreAsked,
) -> Result<(), QueueError> {
    audit::require(pool, requester, Permission::Restore, "restore.start").await?;
    if asked.options.mode != RestoreMode::Merge {
        audit::require(pool, requester, Permission::RestoreFull, "restore.start").await?;
    }
    let org_id = requester.principal.org_id;
    backups::locate_completed(pool, settings, org_id, asked.backup_id)
        .await?
        .ok_or(QueueError::BackupNotFound(asked.backup_id))?;
    Ok(())
}

/// Records the restore as `pending` and queues its job, in the caller's transaction.
pub async fn queue(
    tx: &mut PgConnection,
    requester: &Requester,
    asked: RestoreAsked,
) -> Result<QueuedRestore, sqlx::Error> {
    let org_id = requester.principal.org_id;
    let options = asked.options;
    let restore_type = super::restore_type(options.mode, &options.categories);
    let conflict_resolution = match options.decisions.is_empty() {
        true => jobs::conflict_name(options.conflicts),
        false => "per_record",
    };
    let restore_id = RestoreId::random();
    sqlx::query(
        "INSERT INTO backup_restores (restore_id, org_id, backup_id, restore_type, conflict_resolution, selected_categories,
                                      status, decisions, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $9, $7, $8)",
    )
    .bind(restore_id)
    .bind(org_id)
    .bind(asked.backup_id)
    .bind(restore_type)
    .bind(conflict_resolution)
    .bind(&options.categories)
    .bind(json!(options.decisions))
    .bind(requester.principal.user_id)
    .bind(RestoreStatus::Pending)
    .execute(&mut *tx)
    .await?;
    let payload = JobPayload::ProcessRestore {
        restore_id,
        backup_id: asked.backup_id,
        options,
    };
    let job_id = jobs::enqueue(tx, org_id, &payload).await?;
    Ok(QueuedRestore { restore_id, job_id })
}

/// The audit entry of a queued restore, once its transaction is committed.
pub async fn audit_queued(pool: &PgPool, requester: &Requester, queued: &QueuedRestore) {
    audit::record(
        pool,
        &Entry::new(requester, "restore.start", Outcome::Success)
            .entity("restore", queued.restore_id),
    )
    .await;
}

/// Checks and queues a restore, and records it.
pub async fn request(
    pool: &PgPool,
    settings: &Settings,
    requester: &Requester,
    asked: RestoreAsked,
) -> Result<QueuedRestore, QueueError> {
    check(pool, settings, requester, &asked).await?;
    let mut tx = org_transaction(pool, requester.principal.org_id).await?;
    let queued = queue(&mut tx, requester, asked).await?;
    tx.commit().await?;
    audit_queued(pool, requester, &queued).await;
    Ok(queued)
}

/// Checks a rollback now (the restore exists, can be rolled back, and no row changed since it
/// unless `force`), then queues it; needs `backup.restore`.
pub async fn request_rollback(
    pool: &PgPool,
    settings: &Settings,
    requester: &Requester,
    restore_id: RestoreId,
    force: bool,
) -> Result<QueuedRestore, RollbackRefused> {
    audit::require(pool, requester, Permission::Restore, "restore.rollback").await?;
    let org_id = requester.principal.org_id;
    super::check_rollback(pool, settings, org_id, restore_id, force).await?;
    let job_id = super::queue_rollback(pool, org_id, restore_id, force).await?;
    audit::record(
        pool,
        &Entry::new(requester, "restore.rollback", Outcome::Success)
            .entity("restore", restore_id)
            .detail("force", force),
    )
    .await;
    Ok(QueuedRestore { restore_id, job_id })
}

/// Why a rollback was not queued.
#[derive(Debug, thiserror::Error)]
pub enum RollbackRefused {
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Not found, not rollbackable, or rows changed since (see [`RestoreError`]).
    #[error(transparent)]
    Restore(#[from] RestoreError),
}
