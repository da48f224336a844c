//! The worker: claims jobs from the queue (`crate::jobs`) and runs them, backups, restores and
//! rollbacks, renewing the job's lease while it works, then settles the job and its row and
//! announces the outcome. Above every feature it runs; nothing below imports it.

use crate::backups::{self, CreateBackup};
use crate::config::Settings;
use crate::ids::{BackupId, OrgId, RestoreId};
use crate::job_events::JobEnd;
use crate::jobs::{
    ABANDONED, Job, JobError, JobPayload, JobStatus, RestoreOptions, Retry, Settle, claim,
    end_attempt, give_up_abandoned, renew_lease, settle,
};
use chrono::Duration;
use futures::FutureExt;
use sqlx::PgPool;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use uuid::Uuid;

/// What one call of [`try_execute_one`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum ExecutionOutcome {
    EmptyQueue,
    Succeeded(Uuid),
    Retrying(Uuid),
    Failed(Uuid),
}

/// Claims and runs one job. Public so tests can drain the queue deterministically.
pub async fn try_execute_one(
    pool: &PgPool,
    settings: &Settings,
    worker: &str,
) -> Result<ExecutionOutcome, sqlx::Error> {
    let lease = settings.jobs.lease_seconds.max(1);
    fail_abandoned(pool, settings).await?;
    let Some(job) = claim(pool, worker, lease).await? else {
        return Ok(ExecutionOutcome::EmptyQueue);
    };
    let heartbeat = Heartbeat::start(pool, job.job_id, worker, lease);
    let payload: Option<JobPayload> = serde_json::from_value(job.payload.clone()).ok();
    // Announced once: a retry or a takeover continues the same operation.
    if let Some(payload) = payload.as_ref().filter(|_| job.attempts <= 1) {
        crate::job_events::announce(pool, settings, job.org_id, payload, JobEnd::Started).await;
    }
    // Every event of the job carries its ids (in JSON logs, under `spans`).
    let span = tracing::info_span!("job", job_id = %job.job_id, org_id = %job.org_id, attempt = job.attempts);
    let started = std::time::Instant::now();
    let result = unless_panicked(tracing::Instrument::instrument(
        execute(pool, settings, &job),
        span,
    ))
    .await;
    drop(heartbeat);
    let will_retry =
        |error: &JobError| error.retry != Retry::Never && job.attempts < job.max_attempts;
    if let Some(payload) = &payload {
        match &result {
            Ok(()) => {}
            Err(error) if will_retry(error) => {
                settle(pool, payload, Settle::Retry(&error.reason)).await?
            }
            Err(error) => settle(pool, payload, Settle::Failed(&error.reason)).await?,
        }
    }
    if let Some(payload) = &payload {
        let end = match &result {
            Ok(()) => Some(JobEnd::Completed),
            Err(error) if will_retry(error) => None,
            Err(error) => Some(JobEnd::Failed(&error.reason)),
        };
        if let Some(end) = end {
            crate::job_events::announce(pool, settings, job.org_id, payload, end).await;
        }
    }
    let outcome = match result {
        Ok(()) => {
            end_attempt(pool, &job, worker, JobStatus::Succeeded, None, None).await?;
            ExecutionOutcome::Succeeded(job.job_id)
        }
        Err(error) if will_retry(&error) => {
            let retry_in = Some(retry_delay(&settings.jobs, &job, error.retry).num_seconds());
            end_attempt(
                pool,
                &job,
                worker,
                JobStatus::Queued,
                Some(&error.reason),
                retry_in,
            )
            .await?;
            ExecutionOutcome::Retrying(job.job_id)
        }
        Err(error) => {
            end_attempt(
                pool,
                &job,
                worker,
                JobStatus::Failed,
                Some(&error.reason),
                None,
            )
            .await?;
            ExecutionOutcome::Failed(job.job_id)
        }
    };
    let ended = match outcome {
        ExecutionOutcome::Succeeded(_) => crate::metrics::JobOutcome::Succeeded,
        ExecutionOutcome::Retrying(_) => crate::metrics::JobOutcome::Retrying,
        _ => crate::metrics::JobOutcome::Failed,
    };
    let elapsed = Some(started.elapsed());
    crate::metrics::record_job_end(pool, &job, payload.as_ref(), ended, elapsed).await;
    Ok(outcome)
}

/// How long a failed job waits before its next attempt: nothing after a lost race, else the
/// queue's backoff, doubling with each attempt.
fn retry_delay(jobs: &crate::config::JobSettings, job: &Job, retry: Retry) -> Duration {
    match retry {
        Retry::Now => Duration::zero(),
        Retry::Later | Retry::Never => {
            let base = i64::from(jobs.retry_base_seconds);
            Duration::seconds(base * 2i64.pow(job.attempts.clamp(1, 10) as u32 - 1))
        }
    }
}

/// Runs a job; an error says when trying again may help.
async fn execute(pool: &PgPool, settings: &Settings, job: &Job) -> Result<(), JobError> {
    let payload: JobPayload = serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::never(format!("unreadable job: {e}")))?;
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
                .map_err(|e| JobError::new(e.to_string(), Retry::Later))?;
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
            result
                .map(|_| ())
                .map_err(|e| JobError::new(e.to_string(), e.retry()))
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
    org_id: OrgId,
    restore_id: RestoreId,
    backup_id: BackupId,
    options: RestoreOptions,
) -> Result<(), JobError> {
    let fail = |reason: String| JobError::never(reason);
    let storage_failure = |e: crate::storage::StorageError| {
        JobError::new(e.to_string(), Retry::later_if(e.is_retryable()))
    };
    let (destination, path) = crate::storage::locate(pool, settings, org_id, backup_id)
        .await
        .map_err(storage_failure)?
        .ok_or_else(|| fail(format!("backup {backup_id} has no file")))?;
    // The archive reader seeks: a remote archive is fetched to a temporary file first.
    let copy = destination
        .fetch(&settings.storage, &path)
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
        target_org_id: Some(org_id.into()),
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
    result
        .map(|_| ())
        .map_err(|e| JobError::new(e.to_string(), e.retry()))
}

async fn execute_rollback(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    restore_id: RestoreId,
    force: bool,
) -> Result<(), JobError> {
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
    Err(JobError::never(reason))
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

/// The task renewing a job's lease; aborted when dropped.
/// Fails (and announces) the jobs whose worker died during their last attempt.
async fn fail_abandoned(pool: &PgPool, settings: &Settings) -> Result<(), sqlx::Error> {
    for job in give_up_abandoned(pool).await? {
        tracing::warn!(job_id = %job.job_id, org_id = %job.org_id, "a job's last attempt was abandoned");
        let payload = serde_json::from_value::<JobPayload>(job.payload.clone()).ok();
        if let Some(payload) = &payload {
            let end = JobEnd::Failed(ABANDONED);
            crate::job_events::announce(pool, settings, job.org_id, payload, end).await;
        }
        let failed = crate::metrics::JobOutcome::Failed;
        crate::metrics::record_job_end(pool, &job, payload.as_ref(), failed, None).await;
    }
    Ok(())
}

/// Renews a running job's lease every third of it. Aborted when dropped, however the job ends:
/// a heartbeat that outlived its job would renew the lease forever and block the org's other
/// jobs.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    fn start(pool: &PgPool, job_id: Uuid, worker: &str, lease: u32) -> Self {
        let (pool, worker) = (pool.clone(), worker.to_string());
        Self(tokio::spawn(async move {
            loop {
                let third = std::time::Duration::from_millis(u64::from(lease) * 1000 / 3);
                tokio::time::sleep(third).await;
                if let Err(error) = renew_lease(&pool, job_id, &worker, lease).await {
                    tracing::warn!(%error, "could not renew a job lease");
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A job's work, where a panic (a bug) fails the job for good instead of unwinding through the
/// worker: the job and its row are settled as failed with the panic's message, and the worker
/// takes the next job.
async fn unless_panicked(
    work: impl std::future::Future<Output = Result<(), JobError>>,
) -> Result<(), JobError> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            tracing::error!(%message, "a job panicked");
            Err(JobError::never(format!(
                "the job stopped on an internal error ({message}); nothing more will be tried; please report it"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_panicking_job_fails_without_retry_and_its_heartbeat_stops() {
        let beats = Arc::new(AtomicUsize::new(0));
        let heartbeat = Heartbeat(tokio::spawn({
            let beats = beats.clone();
            async move {
                loop {
                    beats.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
        }));
        let result = unless_panicked(async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            panic!("index out of bounds");
        })
        .await;
        drop(heartbeat);
        let error = result.expect_err("a panic is a failure");
        assert!(error.reason.contains("index out of bounds"), "{error}");
        assert_eq!(error.retry, Retry::Never);
        assert!(
            beats.load(Ordering::SeqCst) > 0,
            "the heartbeat ran during the job"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let after_drop = beats.load(Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            beats.load(Ordering::SeqCst),
            after_drop,
            "no beat after the job ended"
        );
    }

    #[tokio::test]
    async fn a_job_that_does_not_panic_keeps_its_result() {
        assert_eq!(unless_panicked(async { Ok(()) }).await, Ok(()));
        assert_eq!(
            unless_panicked(async { Err(JobError::new("disk full", Retry::Later)) }).await,
            Err(JobError::new("disk full", Retry::Later))
        );
    }
}
