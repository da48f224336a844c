//! What the service measures, for Prometheus. Two sources:
//!
//! - counters and histograms recorded as a job's attempt ends ([`record_job_end`]), through the
//!   `metrics` facade: a no-op unless the process installed a recorder (the `orgbackup` binary
//!   does when `metrics.listen` is set), so each process exposes the jobs it ran;
//! - gauges read from the service's tables when scraped ([`collect`], then
//!   [`Snapshot::record`]): the queue, jobs by state, each org's newest good backup, storage
//!   used, notification deliveries. The same in every process.
//!
//! Every name and label is documented in docs/DEPLOY.md, "Metrics".

use crate::ids::{BackupId, OrgId};
use crate::jobs::{Job, JobPayload};
use crate::states::{BackupStatus, DeliveryStatus, JobStatus, KeyStatus};
use ::metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use sqlx::{PgExecutor, PgPool};
use std::time::Duration;

pub const BACKUPS_TOTAL: &str = "orgbackup_backups_total";
pub const RESTORES_TOTAL: &str = "orgbackup_restores_total";
pub const JOB_ATTEMPTS_TOTAL: &str = "orgbackup_job_attempts_total";
pub const JOB_DURATION_SECONDS: &str = "orgbackup_job_duration_seconds";
pub const JOB_ARCHIVE_BYTES: &str = "orgbackup_job_archive_bytes";

pub const JOBS: &str = "orgbackup_jobs";
pub const QUEUE_DEPTH: &str = "orgbackup_queue_depth";
pub const QUEUE_OLDEST_AGE_SECONDS: &str = "orgbackup_queue_oldest_age_seconds";
pub const NEWEST_GOOD_BACKUP_AGE_SECONDS: &str = "orgbackup_org_newest_good_backup_age_seconds";
pub const ACTIVE_SCHEDULES: &str = "orgbackup_org_active_schedules";
pub const STORAGE_USED_BYTES: &str = "orgbackup_storage_used_bytes";
pub const NOTIFICATION_DELIVERIES: &str = "orgbackup_notification_deliveries";
pub const DATABASE_UP: &str = "orgbackup_database_up";

/// Bucket bounds of [`JOB_DURATION_SECONDS`]: 0.1 s to 6 h.
pub const DURATION_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0,
];
/// Bucket bounds of [`JOB_ARCHIVE_BYTES`]: 1 MB to 100 GB.
pub const BYTES_BUCKETS: &[f64] = &[1e6, 1e7, 1e8, 1e9, 1e10, 1e11];

/// The job kinds and states reported as [`JOBS`] (0 when there are none).
const JOB_KINDS: [&str; 3] = ["process_backup", "process_restore", "rollback_restore"];
/// The deliveries reported as [`NOTIFICATION_DELIVERIES`] (0 when there are none).
const DELIVERY_STATES: [DeliveryStatus; 2] = [DeliveryStatus::Pending, DeliveryStatus::Failed];

/// Describes the counters and histograms (`# HELP` lines) on the current recorder, and starts
/// the counters of every plan, kind and outcome at 0: a series that appears only with its first
/// failure would be missed by `increase()` in an alert.
pub fn describe_job_metrics(plans: &[&str]) {
    for plan in plans {
        for outcome in ["completed", "failed"] {
            counter!(BACKUPS_TOTAL, "plan" => plan.to_string(), "outcome" => outcome).increment(0);
            counter!(RESTORES_TOTAL, "plan" => plan.to_string(), "outcome" => outcome).increment(0);
        }
    }
    for kind in JOB_KINDS {
        for outcome in [
            JobOutcome::Succeeded,
            JobOutcome::Retrying,
            JobOutcome::Failed,
        ] {
            counter!(JOB_ATTEMPTS_TOTAL, "kind" => kind, "outcome" => outcome.as_str())
                .increment(0);
        }
    }
    describe_counter!(
        BACKUPS_TOTAL,
        Unit::Count,
        "Backups made by the queue that ended, by the org's plan and outcome (completed, failed)"
    );
    describe_counter!(
        RESTORES_TOTAL,
        Unit::Count,
        "Restores run by the queue that ended, by the org's plan and outcome (completed, failed)"
    );
    describe_counter!(
        JOB_ATTEMPTS_TOTAL,
        Unit::Count,
        "Job attempts this process ended, by kind and outcome (succeeded, retrying, failed)"
    );
    describe_histogram!(
        JOB_DURATION_SECONDS,
        Unit::Seconds,
        "How long job attempts ran in this process, by kind and outcome"
    );
    describe_histogram!(
        JOB_ARCHIVE_BYTES,
        Unit::Bytes,
        "Size of the archive a succeeded job wrote (backup) or read (restore), by kind"
    );
}

/// How a job's attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    /// Failed for a transient reason; the job runs again later.
    Retrying,
    /// Failed for good.
    Failed,
}

impl JobOutcome {
    fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Retrying => "retrying",
            JobOutcome::Failed => "failed",
        }
    }
}

/// Records a job attempt that ended: the attempt, its duration (`None` for a job failed because
/// its worker died) and, when it succeeded, the size of its archive, by kind; and for a backup or
/// restore that is over, the counter of its org's plan. Best effort: the plan and the size are
/// read from the database, and a failure to read them is logged, never the job's.
pub async fn record_job_end(
    pool: &PgPool,
    job: &Job,
    payload: Option<&JobPayload>,
    outcome: JobOutcome,
    elapsed: Option<Duration>,
) {
    let kind = job
        .payload
        .get("kind")
        .and_then(|kind| kind.as_str())
        .unwrap_or("unknown")
        .to_string();
    counter!(JOB_ATTEMPTS_TOTAL, "kind" => kind.clone(), "outcome" => outcome.as_str())
        .increment(1);
    if let Some(elapsed) = elapsed {
        histogram!(JOB_DURATION_SECONDS, "kind" => kind.clone(), "outcome" => outcome.as_str())
            .record(elapsed.as_secs_f64());
    }
    let (counter_name, backup_id) = match payload {
        Some(JobPayload::ProcessBackup { backup_id, .. }) => (BACKUPS_TOTAL, *backup_id),
        Some(JobPayload::ProcessRestore { backup_id, .. }) => (RESTORES_TOTAL, *backup_id),
        _ => return,
    };
    if outcome == JobOutcome::Retrying {
        return;
    }
    let (plan, size) = match plan_and_archive_size(pool, job.org_id, backup_id).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, job_id = %job.job_id, "could not read a job's plan for the metrics");
            ("unknown".to_string(), None)
        }
    };
    let ended = if outcome == JobOutcome::Succeeded {
        "completed"
    } else {
        "failed"
    };
    counter!(counter_name, "plan" => plan, "outcome" => ended).increment(1);
    if let (JobOutcome::Succeeded, Some(size)) = (outcome, size) {
        histogram!(JOB_ARCHIVE_BYTES, "kind" => kind).record(size as f64);
    }
}

/// The org's plan (`free` without a row) and the size of one of its backups.
async fn plan_and_archive_size(
    pool: &PgPool,
    org_id: OrgId,
    backup_id: BackupId,
) -> Result<(String, Option<i64>), sqlx::Error> {
    let mut tx = crate::db::org_transaction(pool, org_id).await?;
    let found = sqlx::query_as(
        "SELECT coalesce((SELECT plan FROM org_plans WHERE org_id = $1), 'free'),
                (SELECT file_size FROM organization_backups WHERE org_id = $1 AND backup_id = $2)",
    )
    .bind(org_id)
    .bind(backup_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(found)
}

/// The gauges read from the service's tables, at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub jobs: Vec<JobCount>,
    /// Queued jobs that are due (not waiting out a retry's backoff).
    pub queue_depth: i64,
    /// How long the longest-waiting due job has waited for a worker; 0 when none waits.
    pub queue_oldest_age_seconds: f64,
    pub newest_good_backups: Vec<BackupAge>,
    pub active_schedules: Vec<OrgCount>,
    pub storage_used: Vec<StorageUsed>,
    pub deliveries: Vec<DeliveryCount>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct JobCount {
    pub kind: String,
    pub status: JobStatus,
    pub count: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub struct BackupAge {
    pub org_id: OrgId,
    pub age_seconds: f64,
}

#[derive(Debug, sqlx::FromRow)]
pub struct OrgCount {
    pub org_id: OrgId,
    pub count: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub struct StorageUsed {
    pub org_id: OrgId,
    /// `local`, `s3`, `google_drive`, `onedrive` or `dropbox`.
    pub destination: String,
    pub bytes: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub struct DeliveryCount {
    pub channel: String,
    pub status: DeliveryStatus,
    pub count: i64,
}

/// Reads every gauge, in one read-only transaction that sees all orgs, each statement limited
/// to 5 s so a slow database cannot hold a scrape forever.
pub async fn collect(pool: &PgPool) -> Result<Snapshot, sqlx::Error> {
    let mut tx = crate::db::system_transaction(pool).await?;
    sqlx::query("SET TRANSACTION READ ONLY")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT set_config('statement_timeout', '5s', true)")
        .execute(&mut *tx)
        .await?;
    let (queue_depth, queue_oldest_age_seconds) = queue(&mut *tx).await?;
    let snapshot = Snapshot {
        jobs: jobs_by_kind_and_state(&mut *tx).await?,
        queue_depth,
        queue_oldest_age_seconds,
        newest_good_backups: newest_good_backup_ages(&mut *tx).await?,
        active_schedules: active_schedules(&mut *tx).await?,
        storage_used: storage_used(&mut *tx).await?,
        deliveries: deliveries_pending_or_failed(&mut *tx).await?,
    };
    tx.commit().await?;
    Ok(snapshot)
}

pub async fn jobs_by_kind_and_state(e: impl PgExecutor<'_>) -> Result<Vec<JobCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, status, count(*) AS count FROM jobs GROUP BY kind, status ORDER BY kind, status",
    )
    .fetch_all(e)
    .await
}

/// Due queued jobs, and how long the one due longest has waited (seconds).
pub async fn queue(e: impl PgExecutor<'_>) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(run_after)), 0)::float8
           FROM jobs WHERE status = $1 AND run_after <= now()",
    )
    .bind(JobStatus::Queued)
    .fetch_one(e)
    .await
}

/// Per org, the age of its newest good backup: completed, with a file, and not sealed by a
/// revoked (crypto-shredded) org key, so it can still be restored.
pub async fn newest_good_backup_ages(
    e: impl PgExecutor<'_>,
) -> Result<Vec<BackupAge>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.org_id, extract(epoch FROM now() - max(b.completed_at))::float8 AS age_seconds
           FROM organization_backups b
          WHERE b.status = $1 AND b.storage_path IS NOT NULL AND b.completed_at IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM backup_encryption_keys k
                             WHERE k.status = $2 AND k.org_id = b.org_id
                               AND b.encryption_key_id = 'org:' || k.org_id || ':' || k.key_id)
          GROUP BY b.org_id ORDER BY b.org_id",
    )
    .bind(BackupStatus::Completed)
    .bind(KeyStatus::Revoked)
    .fetch_all(e)
    .await
}

/// Orgs with active schedules, and how many: the orgs expected to have a recent backup.
pub async fn active_schedules(e: impl PgExecutor<'_>) -> Result<Vec<OrgCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT org_id, count(*) AS count FROM backup_schedules WHERE is_active
          GROUP BY org_id ORDER BY org_id",
    )
    .fetch_all(e)
    .await
}

/// Bytes of completed backups, per org and destination kind (what plan quotas count).
pub async fn storage_used(e: impl PgExecutor<'_>) -> Result<Vec<StorageUsed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT org_id, storage_disk AS destination, coalesce(sum(file_size), 0)::bigint AS bytes
           FROM organization_backups WHERE status = $1
          GROUP BY org_id, storage_disk ORDER BY org_id, storage_disk",
    )
    .bind(BackupStatus::Completed)
    .fetch_all(e)
    .await
}

/// Email and webhook deliveries waiting to be sent (or retried), and those that gave up.
pub async fn deliveries_pending_or_failed(
    e: impl PgExecutor<'_>,
) -> Result<Vec<DeliveryCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT channel, status, count(*) AS count FROM notification_deliveries
          WHERE status = ANY($1) GROUP BY channel, status ORDER BY channel, status",
    )
    .bind(DELIVERY_STATES)
    .fetch_all(e)
    .await
}

impl Snapshot {
    /// Sets the gauges, with their descriptions, on the current recorder. The binary records
    /// them into a recorder made for one scrape, so an org or a state that is gone leaves no
    /// stale series behind.
    pub fn record(&self) {
        describe_database_gauges();
        gauge!(DATABASE_UP).set(1.0);
        for kind in JOB_KINDS {
            for &state in JobStatus::ALL {
                if !self
                    .jobs
                    .iter()
                    .any(|j| j.kind == kind && j.status == state)
                {
                    gauge!(JOBS, "kind" => kind, "state" => state.as_str()).set(0.0);
                }
            }
        }
        for job in &self.jobs {
            gauge!(JOBS, "kind" => job.kind.clone(), "state" => job.status.as_str())
                .set(job.count as f64);
        }
        gauge!(QUEUE_DEPTH).set(self.queue_depth as f64);
        gauge!(QUEUE_OLDEST_AGE_SECONDS).set(self.queue_oldest_age_seconds);
        for backup in &self.newest_good_backups {
            gauge!(NEWEST_GOOD_BACKUP_AGE_SECONDS, "org_id" => backup.org_id.to_string())
                .set(backup.age_seconds);
        }
        for org in &self.active_schedules {
            gauge!(ACTIVE_SCHEDULES, "org_id" => org.org_id.to_string()).set(org.count as f64);
        }
        for used in &self.storage_used {
            gauge!(STORAGE_USED_BYTES, "org_id" => used.org_id.to_string(), "destination" => used.destination.clone())
                .set(used.bytes as f64);
        }
        for channel in ["email", "webhook"] {
            for state in DELIVERY_STATES {
                let count = self
                    .deliveries
                    .iter()
                    .find(|d| d.channel == channel && d.status == state)
                    .map_or(0, |d| d.count);
                gauge!(NOTIFICATION_DELIVERIES, "channel" => channel, "state" => state.as_str())
                    .set(count as f64);
            }
        }
    }

    /// What a scrape shows when the tables could not be read: only that.
    pub fn record_unreachable() {
        describe_database_gauges();
        gauge!(DATABASE_UP).set(0.0);
    }
}

fn describe_database_gauges() {
    describe_gauge!(
        DATABASE_UP,
        "1 when this scrape could read the service's tables, else 0 (and no other database gauge)"
    );
    describe_gauge!(
        JOBS,
        Unit::Count,
        "Rows of the job queue, by kind and state"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Queued jobs that are due (not waiting out a retry's backoff)"
    );
    describe_gauge!(
        QUEUE_OLDEST_AGE_SECONDS,
        Unit::Seconds,
        "How long the longest-waiting due job has waited for a worker (0 when none waits)"
    );
    describe_gauge!(
        NEWEST_GOOD_BACKUP_AGE_SECONDS,
        Unit::Seconds,
        "Per org, the age of its newest completed backup that can still be restored"
    );
    describe_gauge!(
        ACTIVE_SCHEDULES,
        Unit::Count,
        "Per org with any, its active backup schedules"
    );
    describe_gauge!(
        STORAGE_USED_BYTES,
        Unit::Bytes,
        "Bytes of completed backups, per org and destination kind"
    );
    describe_gauge!(
        NOTIFICATION_DELIVERIES,
        Unit::Count,
        "Email and webhook deliveries pending (to send or retry) or failed (gave up), by channel"
    );
}
