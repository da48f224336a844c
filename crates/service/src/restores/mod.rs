//! Restores recorded in `backup_restores`: apply with a rollback archive kept for
//! `restore.rollback_hours`, rollback within that window, and cleanup of expired rollback archives.

use crate::archives::FileArchive;
use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{OrgId, RestoreId};
use crate::jobs::Retry;
use crate::keys::{self, KeyError};
use crate::storage::{LocalStorage, StorageError};
use chrono::{DateTime, Duration, Utc};
use orgbackup_engine::restore::{apply_retrying, changes_since};
use orgbackup_engine::{Progress, RestoreMode, RestorePlan, RestoreRequest};
use serde_json::json;
use sqlx::PgPool;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

pub mod queue;

pub use crate::states::RestoreStatus;
pub use queue::{QueueError, QueuedRestore, RestoreAsked, RollbackRefused, request_rollback};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Engine(#[from] orgbackup_engine::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("restore {0} does not exist for this organization")]
    NotFound(RestoreId),
    #[error("restore {restore_id} cannot be rolled back: {reason}")]
    NotRollbackable {
        restore_id: RestoreId,
        reason: String,
    },
    #[error(
        "{changes} rows of the restored tables were inserted or changed after the restore; rolling back discards them. Pass --force to roll back anyway"
    )]
    ChangesSince { changes: u64 },
}

impl RestoreError {
    /// When the job queue should try the restore again (see [`Retry`]).
    pub fn retry(&self) -> Retry {
        match self {
            RestoreError::Engine(engine) => Retry::of_engine(engine),
            RestoreError::Storage(storage) => Retry::later_if(storage.is_retryable()),
            RestoreError::Sql(sql) => Retry::of_sql(sql),
            _ => Retry::Never,
        }
    }
}

pub struct AppliedRestore {
    pub restore_id: RestoreId,
    pub plan: RestorePlan,
    pub committed: bool,
    pub rollback_expires_at: Option<DateTime<Utc>>,
    pub files_written: u64,
}

/// The `restore_type` recorded on a restore's row.
fn restore_type(mode: RestoreMode, categories: &[String]) -> &'static str {
    match (mode, categories.is_empty()) {
        (RestoreMode::Full | RestoreMode::Exact, _) => "full",
        (RestoreMode::Merge, false) => "selective",
        (RestoreMode::Merge, true) => "merge",
    }
}

/// Applies a restore of `source` (an archive file) into `org_id`, recording it, and keeps the
/// rollback archive. A dry run records nothing.
pub async fn apply_restore(
    pool: &PgPool,
    settings: &Settings,
    archive: &mut FileArchive,
    source: &Path,
    org_id: OrgId,
    request: &RestoreRequest,
    progress: Arc<dyn Progress>,
) -> Result<AppliedRestore, RestoreError> {
    apply_restore_as(
        pool,
        settings,
        archive,
        source,
        org_id,
        request,
        RestoreId::random(),
        progress,
    )
    .await
}

/// [`apply_restore`] recording under `restore_id` (a `pending` row queued by the API, or new).
#[allow(clippy::too_many_arguments)]
pub async fn apply_restore_as(
    pool: &PgPool,
    settings: &Settings,
    archive: &mut FileArchive,
    source: &Path,
    org_id: OrgId,
    request: &RestoreRequest,
    restore_id: RestoreId,
    progress: Arc<dyn Progress>,
) -> Result<AppliedRestore, RestoreError> {
    cleanup_expired_rollbacks(pool, &settings.storage).await?;
    if request.dry_run {
        let outcome = apply_retrying::<_, std::io::Sink, _>(
            pool,
            &settings.tenancy,
            archive,
            request,
            || Ok(None),
            progress,
        )
        .await?;
        return Ok(AppliedRestore {
            restore_id: RestoreId::from(Uuid::nil()),
            plan: outcome.plan,
            committed: false,
            rollback_expires_at: None,
            files_written: 0,
        });
    }
    mark_running(pool, org_id, restore_id, request, source).await?;

    let storage = LocalStorage::new(&settings.storage.local_root);
    let encryption = match keys::master_key(&settings.encryption)? {
        Some(_) => Some(keys::encryption_setup(pool, settings, org_id).await?),
        None => None,
    };
    let relative = format!(
        "rollbacks/{org_id}/{restore_id}.tar.zst{}",
        if encryption.is_some() { ".enc" } else { "" }
    );
    let outcome = async {
        let mut request = request.clone();
        request.target_org_id = Some(org_id.into());
        request.rollback_encryption = encryption;
        // A new rollback file for each attempt (a restore that lost a race is tried again);
        // the half-written one of a failed attempt is removed before the next is created.
        let mut partial = None;
        let outcome = apply_retrying(
            pool,
            &settings.tenancy,
            archive,
            &request,
            || {
                partial = None;
                let (file, writer) = storage.create(&relative).map_err(|e| {
                    orgbackup_engine::Error::Output(std::io::Error::other(e.to_string()))
                })?;
                partial = Some(file);
                Ok(Some(writer))
            },
            progress,
        )
        .await?;
        let rollback = outcome.rollback.expect("a rollback output was given");
        partial
            .expect("a rollback file was created")
            .commit(rollback.output, &rollback.summary.sha256)?;
        Ok::<_, RestoreError>((outcome.plan, outcome.transaction_xid, outcome.files_written))
    }
    .await;
    match outcome {
        Ok((plan, xid, files_written)) => {
            let expires = Utc::now() + Duration::hours(i64::from(settings.restore.rollback_hours));
            mark_completed(pool, org_id, restore_id, &plan, &relative, expires, xid).await?;
            Ok(AppliedRestore {
                restore_id,
                plan,
                committed: true,
                rollback_expires_at: Some(expires),
                files_written,
            })
        }
        Err(error) => {
            mark_failed(pool, org_id, restore_id, &error).await?;
            Err(error)
        }
    }
}

/// Records the restore as running (a new row, or the queued one).
async fn mark_running(
    pool: &PgPool,
    org_id: OrgId,
    restore_id: RestoreId,
    request: &RestoreRequest,
    source: &Path,
) -> Result<(), sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "INSERT INTO backup_restores (restore_id, org_id, restore_type, conflict_resolution, selected_categories,
                                      status, decisions, source_path, started_at)
         VALUES ($1, $2, $3, $4, $5, $8, $6, $7, now())
         ON CONFLICT (restore_id) DO UPDATE SET status = excluded.status, started_at = now(), error_message = NULL, updated_at = now()",
    )
    .bind(restore_id)
    .bind(org_id)
    .bind(restore_type(request.mode, &request.categories))
    .bind(if request.decisions.is_empty() { crate::jobs::conflict_name(request.conflicts) } else { "per_record" })
    .bind(&request.categories)
    .bind(json!(request.decisions))
    .bind(source.display().to_string())
    .bind(RestoreStatus::Running)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a committed restore: its plan, rollback archive and window, and transaction id (which
/// later tells which rows changed since).
async fn mark_completed(
    pool: &PgPool,
    org_id: OrgId,
    restore_id: RestoreId,
    plan: &RestorePlan,
    rollback_path: &str,
    rollback_expires_at: DateTime<Utc>,
    xid: Option<String>,
) -> Result<(), sqlx::Error> {
    // A completed restore with warnings carries them as its message, like a failed rollback
    // does: the API and the web show it next to the status.
    let warnings = (!plan.warnings.is_empty()).then(|| plan.warnings.join("; "));
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "UPDATE backup_restores SET status = $8, plan = $2, result = $2, rollback_path = $3,
                rollback_expires_at = $4, transaction_xid = $5, source_org_id = $6::uuid,
                error_message = $7, completed_at = now(), updated_at = now()
          WHERE restore_id = $1",
    )
    .bind(restore_id)
    .bind(json!(plan))
    .bind(rollback_path)
    .bind(rollback_expires_at)
    .bind(xid)
    .bind(plan.source_org_id.as_str())
    .bind(warnings)
    .bind(RestoreStatus::Completed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

async fn mark_failed(
    pool: &PgPool,
    org_id: OrgId,
    restore_id: RestoreId,
    error: &RestoreError,
) -> Result<(), sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "UPDATE backup_restores SET status = $3, error_message = $2, completed_at = now(), updated_at = now()
          WHERE restore_id = $1",
    )
    .bind(restore_id)
    .bind(error.to_string())
    .bind(RestoreStatus::Failed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// One line of an org's restore list.
#[derive(Debug, sqlx::FromRow)]
pub struct RestoreListItem {
    pub restore_id: RestoreId,
    pub restore_type: String,
    pub status: RestoreStatus,
    pub created_at: DateTime<Utc>,
    pub rollback_path: Option<String>,
    pub rollback_expires_at: Option<DateTime<Utc>>,
}

pub async fn list_restores(
    pool: &PgPool,
    org_id: OrgId,
) -> Result<Vec<RestoreListItem>, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let rows = sqlx::query_as(
        "SELECT restore_id, restore_type, status, created_at, rollback_path, rollback_expires_at
           FROM backup_restores WHERE org_id = $1 ORDER BY created_at DESC",
    )
    .bind(org_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// A restore as its status page and the API show it.
#[derive(Debug, sqlx::FromRow)]
pub struct RestoreState {
    pub status: RestoreStatus,
    /// The plan it ran (or runs): a serialized [`RestorePlan`].
    pub plan: Option<serde_json::Value>,
    /// While it runs: phase, table, rows, percent.
    pub progress: Option<serde_json::Value>,
    pub error_message: Option<String>,
    rollback_expires_at: Option<DateTime<Utc>>,
    rollback_path: Option<String>,
}

impl RestoreState {
    /// Until when it can be rolled back: `None` once its rollback archive is gone.
    pub fn rollback_until(&self) -> Option<DateTime<Utc>> {
        self.rollback_path.as_ref().and(self.rollback_expires_at)
    }
}

/// One of the org's restores, `None` when the org has no such restore.
pub async fn state(
    pool: &PgPool,
    org_id: OrgId,
    restore_id: RestoreId,
) -> Result<Option<RestoreState>, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let row = sqlx::query_as(
        "SELECT status, plan, progress, error_message, rollback_expires_at, rollback_path
           FROM backup_restores WHERE org_id = $1 AND restore_id = $2",
    )
    .bind(org_id)
    .bind(restore_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

#[derive(sqlx::FromRow)]
struct RestoreRow {
    status: RestoreStatus,
    rollback_path: Option<String>,
    rollback_expires_at: Option<DateTime<Utc>>,
    transaction_xid: Option<String>,
    plan: Option<serde_json::Value>,
}

/// What a rollback will use, once its checks passed.
struct RollbackReady {
    path: String,
    plan: RestorePlan,
    changes: u64,
}

/// Checks that restore `restore_id` can be rolled back now: its status is one of `statuses`, its
/// archive is within the window, and (unless `force`) no row changed since the restore.
async fn prepare_rollback(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    restore_id: RestoreId,
    force: bool,
    statuses: &[RestoreStatus],
) -> Result<RollbackReady, RestoreError> {
    cleanup_expired_rollbacks(pool, &settings.storage).await?;
    let mut tx = org_transaction(pool, org_id).await?;
    let row: Option<RestoreRow> = sqlx::query_as(
        "SELECT status, rollback_path, rollback_expires_at, transaction_xid, plan FROM backup_restores
          WHERE restore_id = $1 AND org_id = $2",
    )
    .bind(restore_id)
    .bind(org_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let row = row.ok_or(RestoreError::NotFound(restore_id))?;
    let refuse = |reason: String| RestoreError::NotRollbackable { restore_id, reason };
    if !statuses.contains(&row.status) {
        return Err(refuse(format!("its status is {}", row.status)));
    }
    let (Some(path), Some(expires)) = (row.rollback_path, row.rollback_expires_at) else {
        return Err(refuse(
            "its rollback archive has expired and was removed".into(),
        ));
    };
    if expires < Utc::now() {
        return Err(refuse(format!("the rollback window closed at {expires}")));
    }
    let plan: RestorePlan = serde_json::from_value(row.plan.unwrap_or_default())
        .map_err(|e| refuse(format!("its plan cannot be read ({e})")))?;
    let changes = match &row.transaction_xid {
        Some(xid) => changes_since(pool, &settings.tenancy, org_id, &plan.categories, xid).await?,
        None => 0,
    };
    if changes > 0 && !force {
        return Err(RestoreError::ChangesSince { changes });
    }
    Ok(RollbackReady {
        path,
        plan,
        changes,
    })
}

/// The checks of a rollback, without doing it: the API answers them at once, then queues the
/// rollback as a job ([`queue_rollback`]).
pub async fn check_rollback(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    restore_id: RestoreId,
    force: bool,
) -> Result<(), RestoreError> {
    prepare_rollback(
        pool,
        settings,
        org_id,
        restore_id,
        force,
        &[RestoreStatus::Completed],
    )
    .await
    .map(|_| ())
}

/// Marks the restore `rolling_back` and queues its rollback job, in one transaction; refused when
/// another request got there first.
pub async fn queue_rollback(
    pool: &PgPool,
    org_id: OrgId,
    restore_id: RestoreId,
    force: bool,
) -> Result<Uuid, RestoreError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let marked = sqlx::query(
        "UPDATE backup_restores SET status = $3, error_message = NULL, updated_at = now()
          WHERE restore_id = $1 AND org_id = $2 AND status = $4",
    )
    .bind(restore_id)
    .bind(org_id)
    .bind(RestoreStatus::RollingBack)
    .bind(RestoreStatus::Completed)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if marked == 0 {
        return Err(RestoreError::NotRollbackable {
            restore_id,
            reason: "it is being rolled back already".into(),
        });
    }
    let job_id = crate::jobs::enqueue(
        &mut tx,
        org_id,
        &crate::jobs::JobPayload::RollbackRestore { restore_id, force },
    )
    .await?;
    tx.commit().await?;
    Ok(job_id)
}

/// A queued rollback that failed: the restore stands (completed), with the reason.
pub async fn rollback_failed(
    pool: &PgPool,
    org_id: OrgId,
    restore_id: RestoreId,
    reason: &str,
) -> Result<(), RestoreError> {
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "UPDATE backup_restores SET status = $4, error_message = $3, progress = NULL, updated_at = now()
          WHERE restore_id = $1 AND org_id = $2 AND status = $5",
    )
    .bind(restore_id)
    .bind(org_id)
    .bind(reason)
    .bind(RestoreStatus::Completed)
    .bind(RestoreStatus::RollingBack)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Returns the org to its state before restore `restore_id`. Refuses when rows changed since the
/// restore, unless `force`.
pub async fn rollback(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    restore_id: RestoreId,
    force: bool,
    progress: Arc<dyn Progress>,
) -> Result<(u64, RestorePlan), RestoreError> {
    let RollbackReady {
        path,
        plan,
        changes,
    } = prepare_rollback(
        pool,
        settings,
        org_id,
        restore_id,
        force,
        &[RestoreStatus::Completed, RestoreStatus::RollingBack],
    )
    .await?;
    let refuse = |reason: String| RestoreError::NotRollbackable { restore_id, reason };
    let storage = LocalStorage::new(&settings.storage.local_root);
    let file = storage.absolute(&path);
    let mut archive = crate::archives::open(settings, &file, None)
        .await
        .map_err(|e| {
            refuse(format!(
                "its rollback archive cannot be opened: {}",
                crate::errors::error_chain(&e)
            ))
        })?;
    let request = RestoreRequest {
        target_org_id: Some(org_id.into()),
        categories: plan.categories.clone(),
        mode: RestoreMode::Exact,
        confirm_full: true,
        files_root: settings.backup.files_root.clone(),
        fire_triggers: settings.restore.fire_triggers,
        ..Default::default()
    };
    let outcome = apply_retrying::<_, std::io::Sink, _>(
        pool,
        &settings.tenancy,
        &mut archive,
        &request,
        || Ok(None),
        progress,
    )
    .await?;
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "UPDATE backup_restores SET status = $2, rolled_back_at = now(), rollback_path = NULL, updated_at = now()
          WHERE restore_id = $1",
    )
    .bind(restore_id)
    .bind(RestoreStatus::RolledBack)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(format!("{}.sha256", file.display()));
    crate::job_events::notify(
        pool,
        settings,
        org_id,
        crate::notifications::Event::RestoreRolledBack,
        serde_json::json!({"restore_id": restore_id}),
    )
    .await;
    Ok((changes, outcome.plan))
}

/// Deletes rollback archives past their window (every org: runs with the RLS bypass).
pub async fn cleanup_expired_rollbacks(
    pool: &PgPool,
    storage: &crate::config::StorageSettings,
) -> Result<u64, RestoreError> {
    let mut tx = crate::db::system_transaction(pool).await?;
    let expired: Vec<(RestoreId, String)> = sqlx::query_as(
        "WITH expired AS (
             SELECT restore_id, rollback_path FROM backup_restores
              WHERE rollback_path IS NOT NULL AND rollback_expires_at < now() FOR UPDATE)
         UPDATE backup_restores r SET rollback_path = NULL, updated_at = now()
           FROM expired e WHERE r.restore_id = e.restore_id
         RETURNING e.restore_id, e.rollback_path",
    )
    .fetch_all(&mut *tx)
    .await?;
    let storage = LocalStorage::new(&storage.local_root);
    for (restore_id, path) in &expired {
        if let Err(error) = storage.remove(path) {
            tracing::warn!(%restore_id, error = %error, "could not remove an expired rollback archive");
        }
    }
    tx.commit().await?;
    Ok(expired.len() as u64)
}
