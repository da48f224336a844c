//! The job queue, in PostgreSQL: any number of worker processes claim jobs with
//! `FOR UPDATE SKIP LOCKED`, hold a lease they renew while working, and a job whose worker died is
//! taken over once its lease expires. At most one job runs per organization (a unique index).
//! Transient failures are retried with exponential backoff; others fail the job at once.

use crate::ids::{BackupId, OrgId, RestoreId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::system_transaction;
use crate::states::{BackupStatus, RestoreStatus};

pub use crate::states::JobStatus;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobPayload {
    ProcessBackup {
        backup_id: BackupId,
        categories: Vec<String>,
        encrypt: bool,
        created_by: Option<Uuid>,
    },
    ProcessRestore {
        restore_id: RestoreId,
        backup_id: BackupId,
        options: RestoreOptions,
    },
    /// Undoes a restore from its rollback archive (checked and marked `rolling_back` when queued).
    RollbackRestore { restore_id: RestoreId, force: bool },
}

/// What a restore job does (the API's request body, validated and permission-checked).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    org_id: OrgId,
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
    pub org_id: OrgId,
    pub payload: Value,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Fails the jobs whose worker died during their last attempt (running, lease expired, no
/// attempt left): taking them over would run them once more than `max_attempts`. Their backup or
/// restore row is settled with the reason, in the same transaction. Returns them, to announce.
pub(crate) async fn give_up_abandoned(pool: &PgPool) -> Result<Vec<Job>, sqlx::Error> {
    let mut tx = system_transaction(pool).await?;
    let abandoned: Vec<Job> = sqlx::query_as(
        "UPDATE jobs SET status = $2, locked_by = NULL, lease_expires_at = NULL, updated_at = now(),
                last_error = coalesce(last_error || '; ', '') || $1
          WHERE status = $3 AND lease_expires_at < now() AND attempts >= max_attempts
         RETURNING job_id, org_id, payload, attempts, max_attempts",
    )
    .bind(ABANDONED)
    .bind(JobStatus::Failed)
    .bind(JobStatus::Running)
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

pub(crate) const ABANDONED: &str = "the worker running its last attempt stopped before it finished (its lease expired); no attempt is left";

/// What a job's end means for the row it works on.
pub(crate) enum Settle<'a> {
    /// The job runs again later: the row waits as `pending`, with the last failure.
    Retry(&'a str),
    /// The job is over and failed: a row still pending or running fails with the reason.
    Failed(&'a str),
}

/// Settles the backup or restore row of a job that ended or will be retried, whatever path the
/// job took (a panic-free early return, a lost connection while recording the outcome, a dead
/// worker): a row never stays `running` after its job. In a transaction that bypasses RLS.
pub(crate) async fn settle_row(
    conn: &mut sqlx::PgConnection,
    payload: &JobPayload,
    settle: Settle<'_>,
) -> Result<(), sqlx::Error> {
    use BackupStatus as B;
    use RestoreStatus as R;
    let retried = |reason: &str| format!("will be retried after: {reason}");
    let query = match (payload, settle) {
        (JobPayload::ProcessBackup { backup_id, .. }, Settle::Retry(reason)) => sqlx::query(
            "UPDATE organization_backups
                SET status = $3, error_message = $2, storage_path = NULL, progress = NULL, updated_at = now()
              WHERE backup_id = $1 AND status = ANY($4)",
        )
        .bind(*backup_id)
        .bind(retried(reason))
        .bind(B::Pending)
        .bind([B::Running, B::Failed]),
        (JobPayload::ProcessBackup { backup_id, .. }, Settle::Failed(reason)) => sqlx::query(
            "UPDATE organization_backups
                SET status = $3, error_message = $2, storage_path = NULL, progress = NULL,
                    completed_at = now(), updated_at = now()
              WHERE backup_id = $1 AND status = ANY($4)",
        )
        .bind(*backup_id)
        .bind(reason.to_string())
        .bind(B::Failed)
        .bind(B::IN_PROGRESS),
        (JobPayload::ProcessRestore { restore_id, .. }, Settle::Retry(reason)) => sqlx::query(
            "UPDATE backup_restores SET status = $3, error_message = $2, progress = NULL, updated_at = now()
              WHERE restore_id = $1 AND status = ANY($4)",
        )
        .bind(*restore_id)
        .bind(retried(reason))
        .bind(R::Pending)
        .bind([R::Running, R::Failed]),
        (JobPayload::ProcessRestore { restore_id, .. }, Settle::Failed(reason)) => sqlx::query(
            "UPDATE backup_restores
                SET status = $3, error_message = $2, progress = NULL, completed_at = now(), updated_at = now()
              WHERE restore_id = $1 AND status = ANY($4)",
        )
        .bind(*restore_id)
        .bind(reason.to_string())
        .bind(R::Failed)
        .bind([R::Pending, R::Running]),
        // A rollback is not retried; one that did not finish leaves the restore as it was.
        (
            JobPayload::RollbackRestore { restore_id, .. },
            Settle::Failed(reason) | Settle::Retry(reason),
        ) => sqlx::query(
            "UPDATE backup_restores SET status = $3, error_message = $2, progress = NULL, updated_at = now()
              WHERE restore_id = $1 AND status = ANY($4)",
        )
        .bind(*restore_id)
        .bind(reason.to_string())
        .bind(R::Completed)
        .bind([R::RollingBack]),
    };
    query.execute(&mut *conn).await?;
    Ok(())
}

/// [`settle_row`] in a transaction of its own.
pub(crate) async fn settle(
    pool: &PgPool,
    payload: &JobPayload,
    settle: Settle<'_>,
) -> Result<(), sqlx::Error> {
    let mut tx = system_transaction(pool).await?;
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
        let mut tx = system_transaction(pool).await?;
        let claimed = sqlx::query_as(
            "UPDATE jobs SET status = $3, attempts = attempts + 1, locked_by = $1,
                    lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
              WHERE job_id = (
                    SELECT j.job_id FROM jobs j
                     WHERE ((j.status = $4 AND j.run_after <= now())
                            OR (j.status = $3 AND j.lease_expires_at < now()
                                AND j.attempts < j.max_attempts))
                       AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.org_id = j.org_id AND r.status = $3
                                          AND r.job_id <> j.job_id AND r.lease_expires_at >= now())
                     ORDER BY j.run_after
                     FOR UPDATE SKIP LOCKED
                     LIMIT 1)
             RETURNING job_id, org_id, payload, attempts, max_attempts",
        )
        .bind(worker)
        .bind(f64::from(lease_seconds))
        .bind(JobStatus::Running)
        .bind(JobStatus::Queued)
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

/// Ends a job's attempt on its row: the lease released, the status `next`, the last error kept;
/// `retry_in_seconds` moves a requeued job's `run_after`. Only the worker holding the lease can.
pub(crate) async fn end_attempt(
    pool: &PgPool,
    job: &Job,
    worker: &str,
    next: JobStatus,
    error: Option<&str>,
    retry_in_seconds: Option<i64>,
) -> Result<(), sqlx::Error> {
    let mut tx = system_transaction(pool).await?;
    sqlx::query(
        "UPDATE jobs SET status = $3, locked_by = NULL, lease_expires_at = NULL, last_error = $4,
                run_after = coalesce(now() + make_interval(secs => $5), run_after), updated_at = now()
          WHERE job_id = $1 AND locked_by = $2",
    )
    .bind(job.job_id)
    .bind(worker)
    .bind(next)
    .bind(error)
    .bind(retry_in_seconds.map(|seconds| seconds as f64))
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Pushes a running job's lease forward (its worker is alive); nothing when another took it.
pub(crate) async fn renew_lease(
    pool: &PgPool,
    job_id: Uuid,
    worker: &str,
    lease_seconds: u32,
) -> Result<(), sqlx::Error> {
    let mut tx = system_transaction(pool).await?;
    sqlx::query(
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3)
          WHERE job_id = $1 AND locked_by = $2 AND status = $4",
    )
    .bind(job_id)
    .bind(worker)
    .bind(f64::from(lease_seconds))
    .bind(JobStatus::Running)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Lets other workers take over the running jobs of these (stopping) workers at once, instead of
/// waiting for their leases to lapse. Returns how many jobs were released.
pub async fn release_leases(pool: &PgPool, workers: &[String]) -> Result<u64, sqlx::Error> {
    let mut tx = system_transaction(pool).await?;
    let released = sqlx::query(
        "UPDATE jobs SET lease_expires_at = now() - interval '1 second', updated_at = now()
          WHERE status = $2 AND locked_by = ANY($1)",
    )
    .bind(workers)
    .bind(JobStatus::Running)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(released)
}

/// When a job whose attempt failed is tried again (while it has attempts left).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// At once: the attempt lost a race with a concurrent transaction (a serialization failure,
    /// a deadlock), which is over by now; nothing was changed.
    Now,
    /// After the queue's backoff: the database or a destination was down and may come back.
    Later,
    /// Never: the same job would fail the same way (a refused destination, a missing key, an
    /// unreadable archive, a bug).
    Never,
}

impl Retry {
    /// For an error that is either worth another try after the backoff, or not.
    pub fn later_if(retryable: bool) -> Self {
        if retryable {
            Retry::Later
        } else {
            Retry::Never
        }
    }

    pub fn of_sql(error: &sqlx::Error) -> Self {
        let lost_race = matches!(error, sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("40001" | "40P01")));
        match lost_race {
            true => Retry::Now,
            false => Retry::later_if(orgbackup_engine::is_transient(error)),
        }
    }

    pub fn of_engine(error: &orgbackup_engine::Error) -> Self {
        match error.lost_race() {
            true => Retry::Now,
            false => Retry::later_if(error.is_retryable()),
        }
    }
}

/// Why a job's attempt failed, and when it may be tried again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct JobError {
    pub reason: String,
    pub retry: Retry,
}

impl JobError {
    pub fn new(reason: impl Into<String>, retry: Retry) -> Self {
        Self {
            reason: reason.into(),
            retry,
        }
    }

    pub fn never(reason: impl Into<String>) -> Self {
        Self::new(reason, Retry::Never)
    }
}

#[cfg(test)]
mod payload_tests {
    use super::JobPayload;
    use serde_json::json;

    /// The payloads in the jobs table were written when the ids were plain UUIDs: they read the
    /// same, and a payload writes the same JSON.
    #[test]
    fn stored_payloads_read_and_write_the_same_json() {
        let stored = [
            json!({"kind": "process_backup", "backup_id": "6f1c1b9e-8f0a-4a57-9d0b-3d7f1e2a4b5c",
                   "categories": ["crm"], "encrypt": true,
                   "created_by": "0b7d2f4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"}),
            json!({"kind": "process_restore", "restore_id": "1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
                   "backup_id": "6f1c1b9e-8f0a-4a57-9d0b-3d7f1e2a4b5c",
                   "options": {"mode": "full", "categories": [], "conflicts": "replace",
                               "decisions": []}}),
            json!({"kind": "rollback_restore", "restore_id": "1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
                   "force": false}),
        ];
        for value in stored {
            let payload: JobPayload = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&payload).unwrap(), value);
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use super::Retry;
    use std::borrow::Cow;

    /// A database error with a SQLSTATE, as PostgreSQL would send it.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn database(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Coded(code)))
    }

    #[test]
    fn a_lost_race_is_retried_now_a_lost_connection_later_a_bad_statement_never() {
        assert_eq!(Retry::of_sql(&database("40001")), Retry::Now);
        assert_eq!(Retry::of_sql(&database("40P01")), Retry::Now);
        assert_eq!(Retry::of_sql(&database("57P01")), Retry::Later);
        assert_eq!(Retry::of_sql(&sqlx::Error::PoolTimedOut), Retry::Later);
        assert_eq!(Retry::of_sql(&database("23505")), Retry::Never);
        assert_eq!(Retry::of_sql(&sqlx::Error::RowNotFound), Retry::Never);
        let engine = orgbackup_engine::Error::Database(database("40001"));
        assert_eq!(Retry::of_engine(&engine), Retry::Now);
        let engine = orgbackup_engine::Error::Database(database("08006"));
        assert_eq!(Retry::of_engine(&engine), Retry::Later);
    }
}
