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

/// Claims the next runnable job: queued and due, or running with an expired lease (its worker
/// died). Another running job of the same org makes the claim skip it.
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
                            OR (j.status = 'running' AND j.lease_expires_at < now()))
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
    if let Some(payload) = &payload {
        let end = match &result {
            Ok(()) => Some(JobEnd::Completed),
            Err((_, retryable)) if *retryable && job.attempts < job.max_attempts => None,
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
        Err((error, retryable)) if retryable && job.attempts < job.max_attempts => {
            let backoff = Duration::seconds(5 * 2i64.pow(job.attempts.clamp(0, 10) as u32));
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
        .map_err(|e| fail(crate::terminal::error_chain(&e)))?;
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
        let retryable =
            matches!(&e, crate::restores::RestoreError::Engine(engine) if engine.is_retryable());
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
    let reason = crate::terminal::error_chain(&anyhow::Error::from(error));
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
