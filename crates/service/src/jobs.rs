//! The job queue, in PostgreSQL: any number of worker processes claim jobs with
//! `FOR UPDATE SKIP LOCKED`, hold a lease they renew while working, and a job whose worker died is
//! taken over once its lease expires. At most one job runs per organization (a unique index).
//! Transient failures are retried with exponential backoff; others fail the job at once.

use crate::backups::{self, CreateBackup};
use crate::config::Settings;
use crate::job_events::JobEnd;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobPayload {
    ProcessBackup {
        backup_id: Uuid,
        categories: Vec<String>,
        encrypt: bool,
        created_by: Option<Uuid>,
    },
    ProcessRestore {
        restore_id: Uuid,
        backup_id: Uuid,
        options: RestoreOptions,
    },
    /// Undoes a restore from its rollback archive (checked and marked `rolling_back` when queued).
    RollbackRestore { restore_id: Uuid, force: bool },
}

/// What a restore job does (the API's request body, validated and permission-checked).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreOptions {
    #[serde(default)]
    pub mode: orgbackup_engine::RestoreMode,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub conflicts: orgbackup_engine::ConflictAction,
    #[serde(default)]
    pub decisions: Vec<orgbackup_engine::RecordDecision>,
}

pub fn conflict_name(action: orgbackup_engine::ConflictAction) -> &'static str {
    match action {
        orgbackup_engine::ConflictAction::Skip => "skip",
        orgbackup_engine::ConflictAction::Replace => "replace",
        orgbackup_engine::ConflictAction::Merge => "merge",
    }
}

impl JobPayload {
    fn kind(&self) -> &'static str {
        match self {
            JobPayload::ProcessBackup { .. } => "process_backup",
            JobPayload::ProcessRestore { .. } => "process_restore",
            JobPayload::RollbackRestore { .. } => "rollback_restore",
        }
    }
}

/// Queues a job in the caller's transaction (so the job exists exactly when the row it works on).
pub async fn enqueue(
    tx: &mut sqlx::PgConnection,
    org_id: Uuid,
    payload: &JobPayload,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO jobs (org_id, kind, payload) VALUES ($1, $2, $3) RETURNING job_id",
    )
    .bind(org_id)
    .bind(payload.kind())
    .bind(serde_json::to_value(payload).expect("payload serializes"))
    .fetch_one(&mut *tx)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct Job {
    pub job_id: Uuid,
    pub org_id: Uuid,
    pub payload: Value,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// What one call of [`try_execute_one`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum ExecutionOutcome {
    EmptyQueue,
    Succeeded(Uuid),
    Retrying(Uuid),
    Failed(Uuid),
}

/// Fails the jobs whose worker died during their last attempt (running, lease expired, no
/// attempt left): taking them over would run them once more than `max_attempts`. Their backup or
/// restore row is settled with the reason, in the same transaction. Returns them, to announce.
async fn give_up_abandoned(pool: &PgPool) -> Result<Vec<Job>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.bypass_org_rls', 'on', true)")
        .execute(&mut *tx)
        .await?;
    let abandoned: Vec<Job> = sqlx::query_as(
        "UPDATE jobs SET status = 'failed', locked_by = NULL, lease_expires_at = NULL, updated_at = now(),
                last_error = coalesce(last_error || '; ', '') || $1
          WHERE status = 'running' AND lease_expires_at < now() AND attempts >= max_attempts
         RETURNING job_id, org_id, payload, attempts, max_attempts",
    )
    .bind(ABANDONED)
    .fetch_all(&mut *tx)
    .await?;
    for job in &abandoned {
        if let Ok(payload) = serde_json::from_value::<JobPayload>(job.payload.clone()) {
            settle_row(&mut tx, &payload, Settle::Failed(ABANDONED)).await?;
        }
    }
    tx.commit().await?;
    Ok(abandoned)
}

const ABANDONED: &str = "the worker running its last attempt stopped before it finished (its lease expired); no attempt is left";

/// What a job's end means for the row it works on.
enum Settle<'a> {
    /// The job runs again later: the row waits as `pending`, with the last failure.
    Retry(&'a str),
    /// The job is over and failed: a row still pending or running fails with the reason.
    Failed(&'a str),
}

/// Settles the backup or restore row of a job that ended or will be retried, whatever path the
/// job took (a panic-free early return, a lost connection while recording the outcome, a dead
/// worker): a row never stays `running` after its job. In a transaction that bypasses RLS.
async fn settle_row(
    conn: &mut sqlx::PgConnection,
    payload: &JobPayload,
    settle: Settle<'_>,
) -> Result<(), sqlx::Error> {
    let (sql, id, reason) = match (payload, settle) {
        (JobPayload::ProcessBackup { backup_id, .. }, Settle::Retry(reason)) => (
            "UPDATE organization_backups
                SET status = 'pending', error_message = $2, storage_path = NULL, progress = NULL, updated_at = now()
              WHERE backup_id = $1 AND status IN ('running', 'failed')",
            *backup_id,
            format!("will be retried after: {reason}"),
        ),
        (JobPayload::ProcessBackup { backup_id, .. }, Settle::Failed(reason)) => (
            "UPDATE organization_backups
                SET status = 'failed', error_message = $2, storage_path = NULL, progress = NULL,
                    completed_at = now(), updated_at = now()
              WHERE backup_id = $1 AND status IN ('pending', 'running')",
            *backup_id,
            reason.to_string(),
        ),
        (JobPayload::ProcessRestore { restore_id, .. }, Settle::Retry(reason)) => (
            "UPDATE backup_restores SET status = 'pending', error_message = $2, progress = NULL, updated_at = now()
              WHERE restore_id = $1 AND status IN ('running', 'failed')",
            *restore_id,
            format!("will be retried after: {reason}"),
        ),
        (JobPayload::ProcessRestore { restore_id, .. }, Settle::Failed(reason)) => (
            "UPDATE backup_restores
                SET status = 'failed', error_message = $2, progress = NULL, completed_at = now(), updated_at = now()
              WHERE restore_id = $1 AND status IN ('pending', 'running')",
            *restore_id,
            reason.to_string(),
        ),
        // A rollback is not retried; one that did not finish leaves the restore as it was.
        (JobPayload::RollbackRestore { restore_id, .. }, Settle::Failed(reason) | Settle::Retry(reason)) => (
            "UPDATE backup_restores SET status = 'completed', error_message = $2, progress = NULL, updated_at = now()
              WHERE restore_id = $1 AND status = 'rolling_back'",
            *restore_id,
            reason.to_string(),
        ),
    };
    sqlx::query(sql)
        .bind(id)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// [`settle_row`] in a transaction of its own.
async fn settle(
    pool: &PgPool,
    payload: &JobPayload,
    settle: Settle<'_>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.bypass_org_rls', 'on', true)")
        .execute(&mut *tx)
        .await?;
    settle_row(&mut tx, payload, settle).await?;
    tx.commit().await
}

/// Claims the next runnable job: queued and due, or running with an expired lease (its worker
/// died) and an attempt left. Another running job of the same org makes the claim skip it.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    lease_seconds: u32,
) -> Result<Option<Job>, sqlx::Error> {
    for _ in 0..5 {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT set_config('app.bypass_org_rls', 'on', true)")
            .execute(&mut *tx)
            .await?;
        let claimed = sqlx::query_as(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1,
                    lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
              WHERE job_id = (
                    SELECT j.job_id FROM jobs j
                     WHERE ((j.status = 'queued' AND j.run_after <= now())
                            OR (j.status = 'running' AND j.lease_expires_at < now()
                                AND j.attempts < j.max_attempts))
                       AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.org_id = j.org_id AND r.status = 'running'
                                          AND r.job_id <> j.job_id AND r.lease_expires_at >= now())
                     ORDER BY j.run_after
                     FOR UPDATE SKIP LOCKED
                     LIMIT 1)
             RETURNING job_id, org_id, payload, attempts, max_attempts",
        )
        .bind(worker)
        .bind(f64::from(lease_seconds))
        .fetch_optional(&mut *tx)
        .await;
        match claimed {
            Ok(job) => {
                tx.commit().await?;
                return Ok(job);
            }
            // Two workers raced for jobs of one org: the unique index said no; look again.
            Err(sqlx::Error::Database(e)) if e.constraint() == Some("jobs_one_running_per_org") => {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

async fn set_outcome(
    pool: &PgPool,
    job: &Job,
    worker: &str,
    sql: &str,
    error: Option<String>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.bypass_org_rls', 'on', true)")
        .execute(&mut *tx)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(job.job_id)
        .bind(worker)
        .bind(error)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Claims and runs one job. Public so tests can drain the queue deterministically.
pub async fn try_execute_one(
    pool: &PgPool,
    settings: &Settings,
    worker: &str,
) -> Result<ExecutionOutcome, sqlx::Error> {
    let lease = settings.jobs.lease_seconds.max(1);
    for job in give_up_abandoned(pool).await? {
        tracing::warn!(job_id = %job.job_id, org_id = %job.org_id, "a job's last attempt was abandoned");
        if let Ok(payload) = serde_json::from_value::<JobPayload>(job.payload.clone()) {
            crate::job_events::announce(
                pool,
                settings,
                job.org_id,
                &payload,
                JobEnd::Failed(ABANDONED),
            )
            .await;
        }
    }
    let Some(job) = claim(pool, worker, lease).await? else {
        return Ok(ExecutionOutcome::EmptyQueue);
    };
    let heartbeat = {
        let pool = pool.clone();
        let (job_id, worker) = (job.job_id, worker.to_string());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(
                    u64::from(lease) * 1000 / 3,
                ))
                .await;
                let renewed = async {
                    let mut tx = pool.begin().await?;
                    sqlx::query("SELECT set_config('app.bypass_org_rls', 'on', true)")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3)
                          WHERE job_id = $1 AND locked_by = $2 AND status = 'running'",
                    )
                    .bind(job_id)
                    .bind(&worker)
                    .bind(f64::from(lease))
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await
                }
                .await;
                if let Err(error) = renewed {
                    tracing::warn!(%error, "could not renew a job lease");
                }
            }
        })
    };
    let payload: Option<JobPayload> = serde_json::from_value(job.payload.clone()).ok();
    // Announced once: a retry or a takeover continues the same operation.
    if let Some(payload) = payload.as_ref().filter(|_| job.attempts <= 1) {
        crate::job_events::announce(pool, settings, job.org_id, payload, JobEnd::Started).await;
    }
    let result = execute(pool, settings, &job).await;
    heartbeat.abort();
    let will_retry = |retryable: bool| retryable && job.attempts < job.max_attempts;
    if let Some(payload) = &payload {
        match &result {
            Ok(()) => {}
            Err((error, retryable)) if will_retry(*retryable) => {
                settle(pool, payload, Settle::Retry(error)).await?
            }
            Err((error, _)) => settle(pool, payload, Settle::Failed(error)).await?,
        }
    }
    if let Some(payload) = &payload {
        let end = match &result {
            Ok(()) => Some(JobEnd::Completed),
            Err((_, retryable)) if will_retry(*retryable) => None,
            Err((error, _)) => Some(JobEnd::Failed(error)),
        };
        if let Some(end) = end {
            crate::job_events::announce(pool, settings, job.org_id, payload, end).await;
        }
    }
    let outcome = match result {
        Ok(()) => {
            set_outcome(pool, &job, worker, "UPDATE jobs SET status = 'succeeded', locked_by = NULL, lease_expires_at = NULL, last_error = $3, updated_at = now() WHERE job_id = $1 AND locked_by = $2", None).await?;
            ExecutionOutcome::Succeeded(job.job_id)
        }
        Err((error, retryable)) if will_retry(retryable) => {
            let base = i64::from(settings.jobs.retry_base_seconds);
            let backoff = Duration::seconds(base * 2i64.pow(job.attempts.clamp(1, 10) as u32 - 1));
            let sql = format!(
                "UPDATE jobs SET status = 'queued', locked_by = NULL, lease_expires_at = NULL, last_error = $3,
                        run_after = now() + interval '{} seconds', updated_at = now()
                  WHERE job_id = $1 AND locked_by = $2",
                backoff.num_seconds()
            );
            set_outcome(pool, &job, worker, &sql, Some(error)).await?;
            ExecutionOutcome::Retrying(job.job_id)
        }
        Err((error, _)) => {
            set_outcome(pool, &job, worker, "UPDATE jobs SET status = 'failed', locked_by = NULL, lease_expires_at = NULL, last_error = $3, updated_at = now() WHERE job_id = $1 AND locked_by = $2", Some(error)).await?;
            ExecutionOutcome::Failed(job.job_id)
        }
    };
    Ok(outcome)
}

/// Runs a job; an error says whether trying again later may help.
async fn execute(pool: &PgPool, settings: &Settings, job: &Job) -> Result<(), (String, bool)> {
    let payload: JobPayload = serde_json::from_value(job.payload.clone())
        .map_err(|e| (format!("unreadable job: {e}"), false))?;
    match payload {
        JobPayload::ProcessBackup {
            backup_id,
            categories,
            encrypt,
            created_by,
        } => {
            // The archive may use what is left of the plan's storage, and no more.
            let usage = crate::plans::usage(pool, &settings.plans, job.org_id)
                .await
                .map_err(|e| (e.to_string(), true))?;
            let request = CreateBackup {
                org_id: job.org_id,
                name: None,
                categories,
                encrypt,
                created_by,
                max_archive_bytes: Some(usage.storage_left()),
                // The destination was recorded on the queued row.
                destination: None,
                // So was the schedule.
                schedule_id: None,
                retry_on_transient: job.attempts < job.max_attempts,
            };
            let progress = Arc::new(crate::progress_store::ProgressStore::start(
                pool.clone(),
                job.org_id,
                crate::progress_store::ProgressRow::Backup(backup_id),
            ));
            let result =
                backups::run_backup_row(pool, settings, &request, backup_id, progress.clone())
                    .await;
            progress.stop().await;
            result.map(|_| ()).map_err(|e| {
                let retryable = e.is_retryable();
                (e.to_string(), retryable)
            })
        }
        JobPayload::ProcessRestore {
            restore_id,
            backup_id,
            options,
        } => execute_restore(pool, settings, job.org_id, restore_id, backup_id, options).await,
        JobPayload::RollbackRestore { restore_id, force } => {
            execute_rollback(pool, settings, job.org_id, restore_id, force).await
        }
    }
}

async fn execute_restore(
    pool: &PgPool,
    settings: &Settings,
    org_id: Uuid,
    restore_id: Uuid,
    backup_id: Uuid,
    options: RestoreOptions,
) -> Result<(), (String, bool)> {
    let fail = |message: String| (message, false);
    let storage_failure = |e: crate::storage::StorageError| {
        let retryable = e.is_retryable();
        (e.to_string(), retryable)
    };
    let (destination, path) = crate::storage::locate(pool, settings, org_id, backup_id)
        .await
        .map_err(storage_failure)?
        .ok_or_else(|| fail(format!("backup {backup_id} has no file")))?;
    // The archive reader seeks: a remote archive is fetched to a temporary file first.
    let copy = destination
        .fetch(settings, &path)
        .await
        .map_err(storage_failure)?;
    let mut archive = crate::archives::open(settings, copy.path(), None)
        .await
        .map_err(|e| fail(crate::errors::error_chain(&e)))?;
    let progress = Arc::new(crate::progress_store::ProgressStore::start(
        pool.clone(),
        org_id,
        crate::progress_store::ProgressRow::Restore(restore_id),
    ));
    let request = orgbackup_engine::RestoreRequest {
        target_org_id: Some(org_id.to_string()),
        categories: options.categories,
        mode: options.mode,
        confirm_full: true,
        conflicts: options.conflicts,
        decisions: options.decisions,
        files_root: settings.backup.files_root.clone(),
        fire_triggers: settings.restore.fire_triggers,
        ..Default::default()
    };
    let result = crate::restores::apply_restore_as(
        pool,
        settings,
        &mut archive,
        // Recorded as the restore's source: where the backup is, not the temporary copy.
        std::path::Path::new(&destination.location(&path)),
        org_id,
        &request,
        restore_id,
        progress.clone(),
    )
    .await;
    progress.stop().await;
    result.map(|_| ()).map_err(|e| {
        use crate::restores::RestoreError;
        let retryable = match &e {
            RestoreError::Engine(engine) => engine.is_retryable(),
            RestoreError::Storage(storage) => storage.is_retryable(),
            RestoreError::Sql(sql) => orgbackup_engine::is_transient(sql),
            _ => false,
        };
        (e.to_string(), retryable)
    })
}

async fn execute_rollback(
    pool: &PgPool,
    settings: &Settings,
    org_id: Uuid,
    restore_id: Uuid,
    force: bool,
) -> Result<(), (String, bool)> {
    let progress = Arc::new(crate::progress_store::ProgressStore::start(
        pool.clone(),
        org_id,
        crate::progress_store::ProgressRow::Restore(restore_id),
    ));
    let result =
        crate::restores::rollback(pool, settings, org_id, restore_id, force, progress.clone())
            .await;
    progress.stop().await;
    let Err(error) = result else { return Ok(()) };
    // Not retried: the restore is put back as it was (completed, still rollbackable) with the
    // reason, and the user decides (e.g. force after changes were made since).
    let reason = crate::errors::error_chain(&anyhow::Error::from(error));
    if let Err(mark) = crate::restores::rollback_failed(pool, org_id, restore_id, &reason).await {
        tracing::error!(%restore_id, error = %mark, "could not record a failed rollback");
    }
    Err((reason, false))
}

/// A worker: runs jobs until `shutdown` resolves, sleeping longer on an empty queue.
pub async fn run_worker(
    pool: PgPool,
    settings: Arc<Settings>,
    worker: String,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let pause = match try_execute_one(&pool, &settings, &worker).await {
            Ok(ExecutionOutcome::EmptyQueue) => std::time::Duration::from_millis(500),
            Ok(_) => std::time::Duration::ZERO,
            Err(error) => {
                tracing::error!(%error, "worker could not reach the job queue");
                std::time::Duration::from_secs(2)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
}
