//! A requester asks for a backup: checked (permission, categories, encryption, destination),
//! then queued for a worker under the org's plan limits. The API, the pages and any other edge
//! call the same functions, so the checks, the limits and the audit entries are the same.
//!
//! [`request`] does it all. The API calls its steps itself to put its idempotency record in the
//! transaction that queues the backup: [`check`], then [`queue`] in its transaction, then
//! [`audit_queued`] once committed (or [`audit_refused`] once rolled back).

use super::CreateBackup;
use crate::audit::{self, Denied, Entry, Outcome, Requester};
use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{BackupId, ConnectionId};
use crate::jobs::{self, JobPayload};
use crate::permissions::Permission;
use crate::plans::{self, LimitError};
use crate::storage::{StorageError, connections};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What the requester asks for.
#[derive(Debug, Default, Clone)]
pub struct BackupAsked {
    /// Default: a name with the date.
    pub name: Option<String>,
    /// Categories to back up; empty: the whole organization.
    pub categories: Vec<String>,
    pub encrypt: bool,
    /// A storage connection's id or name, or `local`; `None`: the org's default destination.
    pub destination: Option<String>,
}

/// A backup, queued: a worker makes it.
#[derive(Debug, Clone, Copy)]
pub struct QueuedBackup {
    pub backup_id: BackupId,
    pub job_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("unknown category `{unknown}`; the categories are: {}", known.join(", "))]
    UnknownCategory { unknown: String, known: Vec<String> },
    #[error("encrypted backups need a master key, which this service has not been configured with")]
    EncryptionUnavailable,
    /// The plan refuses one more backup now (the denial is in the audit log).
    #[error(transparent)]
    Limit(LimitError),
    /// The org's plan is not configured: the service's configuration is wrong.
    #[error("the organization's plan cannot be read: {0}")]
    PlanUnreadable(LimitError),
    /// The destination asked for does not exist or cannot be read.
    #[error(transparent)]
    Destination(#[from] StorageError),
    #[error("could not read the schema: {0}")]
    Discovery(#[from] orgbackup_engine::Error),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A request that passed the checks that need no lock, with its destination resolved.
#[derive(Debug)]
pub struct CheckedBackup {
    asked: BackupAsked,
    destination: Option<ConnectionId>,
}

/// Refuses, before anything is recorded, a requester without `backup.create`, a category the
/// schema does not have, an encrypted backup on a service without a master key and a destination
/// the org does not have.
pub async fn check(
    pool: &PgPool,
    settings: &Settings,
    requester: &Requester,
    asked: BackupAsked,
) -> Result<CheckedBackup, RequestError> {
    audit::require(pool, requester, Permission::Create, "backup.create").await?;
    let known = {
        let mut conn = pool.acquire().await?;
        orgbackup_engine::discover(&mut conn, &settings.tenancy)
            .await?
            .categories()
    };
    if let Some(unknown) = asked.categories.iter().find(|c| !known.contains(c)) {
        return Err(RequestError::UnknownCategory {
            unknown: unknown.clone(),
            known,
        });
    }
    if asked.encrypt && settings.encryption.master_key.is_none() {
        return Err(RequestError::EncryptionUnavailable);
    }
    let org_id = requester.principal.org_id;
    let destination = connections::resolve(pool, org_id, asked.destination.as_deref()).await?;
    Ok(CheckedBackup { asked, destination })
}

/// Queues the backup in the caller's transaction, under the org's quota lock: concurrent
/// requests take turns, and each one sees the backups the previous ones queued. On a refusal,
/// the caller ends its transaction, then records the refusal with [`audit_refused`].
pub async fn queue(
    tx: &mut PgConnection,
    settings: &Settings,
    requester: &Requester,
    checked: CheckedBackup,
) -> Result<QueuedBackup, RequestError> {
    let org_id = requester.principal.org_id;
    plans::lock_backup_quota(tx, org_id).await?;
    let usage =
        plans::usage_in(tx, &settings.plans, org_id)
            .await
            .map_err(|error| match error {
                LimitError::Sql(error) => RequestError::Sql(error),
                other => RequestError::PlanUnreadable(other),
            })?;
    usage.check_new_backup().map_err(RequestError::Limit)?;
    let CheckedBackup { asked, destination } = checked;
    let request = CreateBackup {
        name: asked.name,
        categories: asked.categories,
        encrypt: asked.encrypt,
        created_by: requester.principal.user_id,
        destination,
        ..CreateBackup::new(org_id)
    };
    Ok(enqueue(tx, &request).await?)
}

/// Records the backup as `pending` (manual, or scheduled when it has a schedule) and queues the
/// job that makes it, in the caller's transaction. No checks: the callers made them.
pub async fn enqueue(
    tx: &mut PgConnection,
    request: &CreateBackup,
) -> Result<QueuedBackup, sqlx::Error> {
    let backup_id = BackupId::random();
    super::queue_backup(tx, request, backup_id).await?;
    let payload = JobPayload::ProcessBackup {
        backup_id,
        categories: request.categories.clone(),
        encrypt: request.encrypt,
        created_by: request.created_by,
    };
    let job_id = jobs::enqueue(tx, request.org_id, &payload).await?;
    Ok(QueuedBackup { backup_id, job_id })
}

/// Records a refusal of the plan (other refusals are not the requester's to see in the log).
/// Called once the transaction of [`queue`] is over: it takes a connection of its own, and a
/// request holding one while waiting for another could exhaust the pool under load.
pub async fn audit_refused(pool: &PgPool, requester: &Requester, error: &RequestError) {
    if let RequestError::Limit(limit) = error {
        audit::record(
            pool,
            &Entry::new(requester, "backup.create", Outcome::Denied).detail("limit", limit.code()),
        )
        .await;
    }
}

/// The audit entry of a queued backup, once its transaction is committed.
pub async fn audit_queued(pool: &PgPool, requester: &Requester, queued: &QueuedBackup) {
    audit::record(
        pool,
        &Entry::new(requester, "backup.create", Outcome::Success)
            .entity("backup", queued.backup_id),
    )
    .await;
}

/// Checks and queues a backup, and records it: the whole use case, for edges that keep no
/// record of their own in the transaction.
pub async fn request(
    pool: &PgPool,
    settings: &Settings,
    requester: &Requester,
    asked: BackupAsked,
) -> Result<QueuedBackup, RequestError> {
    let checked = check(pool, settings, requester, asked).await?;
    let mut tx = org_transaction(pool, requester.principal.org_id).await?;
    let queued = match queue(&mut tx, settings, requester, checked).await {
        Ok(queued) => queued,
        Err(error) => {
            drop(tx);
            audit_refused(pool, requester, &error).await;
            return Err(error);
        }
    };
    tx.commit().await?;
    audit_queued(pool, requester, &queued).await;
    Ok(queued)
}
