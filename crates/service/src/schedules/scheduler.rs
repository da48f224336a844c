//! Runs due schedules: queues their backups as jobs. Any number of scheduler instances (in every
//! `serve` and `worker`, and `orgbackup schedule run-due`) may run at once: a pass claims due rows
//! with `FOR UPDATE SKIP LOCKED` and moves their `next_run_at` in the same transaction that queues
//! the backup, so each due run is queued by exactly one of them.
//!
//! A schedule that missed several runs (the service was down) runs once: its next run is the first
//! one after *now*. A run the plan refuses (monthly backups used up, storage full, frequency no
//! longer in the plan) queues nothing and says why in `last_error`; the schedule stays active and
//! tries again at its next run.

use super::{COLUMNS, Schedule, timing};
use crate::audit::{self, Entry, Outcome};
use crate::backups::{self, CreateBackup, QueuedBackup};
use crate::config::Settings;
use crate::ids::{BackupId, OrgId, ScheduleId};
use crate::plans::LimitError;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Due schedules claimed per pass; a full batch is followed at once by another pass.
pub const BATCH: i64 = 100;

/// What one due schedule did in a pass.
#[derive(Debug)]
pub struct ScheduleRun {
    pub schedule_id: ScheduleId,
    pub org_id: OrgId,
    pub name: String,
    pub outcome: RunOutcome,
    /// `None` when the schedule was paused because it can no longer be computed.
    pub next_run_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub enum RunOutcome {
    Queued {
        backup_id: BackupId,
        job_id: Uuid,
    },
    /// The plan refused this run; the schedule runs again at its next time.
    Refused(String),
    /// The stored timing no longer computes (e.g. a zone left the tz database): paused.
    Paused(String),
}

/// One pass: claims up to `limit` due schedules and queues a backup for each the plan allows.
#[tracing::instrument(skip(pool, settings))]
pub async fn run_due(
    pool: &PgPool,
    settings: &Settings,
    limit: i64,
) -> Result<Vec<ScheduleRun>, sqlx::Error> {
    let mut tx = crate::db::system_transaction(pool).await?;
    // The database's clock decides what is due, so it also decides what comes next.
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *tx)
        .await?;
    let due: Vec<Schedule> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM backup_schedules
          WHERE is_active AND next_run_at <= now()
          ORDER BY next_run_at
          FOR UPDATE SKIP LOCKED
          LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    // The quota locks of the orgs of this pass, held until it commits: an API request for one of
    // them waits, so a plan's count and the backup queued after it cannot race with one queued
    // through the API. Taken in one order (by org id), so two passes cannot deadlock.
    let mut orgs: Vec<OrgId> = due.iter().map(|s| s.org_id).collect();
    orgs.sort();
    orgs.dedup();
    for org in orgs {
        crate::plans::lock_backup_quota(&mut tx, org).await?;
    }
    // Backups this pass queued, which `plans::usage` (another connection) cannot see yet.
    let mut queued: HashMap<OrgId, i64> = HashMap::new();
    let mut runs = Vec::with_capacity(due.len());
    for schedule in due {
        let run = run_one(&mut tx, pool, &settings.plans, &schedule, now, &mut queued).await?;
        runs.push(run);
    }
    tx.commit().await?;
    for run in &runs {
        audit::record(pool, &audit_entry(run)).await;
        // A scheduled backup that did not happen is a failed backup for the people relying on it.
        if let RunOutcome::Refused(reason) | RunOutcome::Paused(reason) = &run.outcome {
            crate::job_events::notify(
                pool,
                settings,
                run.org_id,
                crate::notifications::Event::BackupFailed,
                serde_json::json!({"schedule_id": run.schedule_id, "backup_name": run.name, "error": reason}),
            )
            .await;
        }
    }
    Ok(runs)
}

fn audit_entry(run: &ScheduleRun) -> Entry<'static> {
    let entry = |outcome| {
        Entry::system(run.org_id, "scheduler", "schedule.run", outcome)
            .entity("schedule", run.schedule_id)
    };
    match &run.outcome {
        RunOutcome::Queued { backup_id, .. } => {
            entry(Outcome::Success).detail("backup_id", backup_id.to_string())
        }
        RunOutcome::Refused(reason) | RunOutcome::Paused(reason) => {
            entry(Outcome::Failure).detail("error", reason.clone())
        }
    }
}

// long: one decision per due schedule, in order (paused, over the plan, queued), each branch a few lines
async fn run_one(
    tx: &mut PgConnection,
    pool: &PgPool,
    plans: &std::collections::BTreeMap<String, crate::plans::PlanLimits>,
    schedule: &Schedule,
    now: DateTime<Utc>,
    queued: &mut HashMap<OrgId, i64>,
) -> Result<ScheduleRun, sqlx::Error> {
    let run = |outcome, next_run_at| ScheduleRun {
        schedule_id: schedule.schedule_id,
        org_id: schedule.org_id,
        name: schedule.name.clone(),
        outcome,
        next_run_at,
    };
    let spec = schedule.spec();
    let next = spec
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|spec| timing::next_run_after(spec, now));
    let (spec, next) = match (spec, next) {
        (Ok(spec), Ok(next)) => (spec, next),
        (Err(error), _) | (_, Err(error)) => {
            let reason = format!("paused: {error}");
            sqlx::query(
                "UPDATE backup_schedules
                    SET is_active = false, next_run_at = NULL, last_run_at = $2, last_backup_id = NULL,
                        last_error = $3, updated_at = now()
                  WHERE schedule_id = $1",
            )
            .bind(schedule.schedule_id)
            .bind(now)
            .bind(&reason)
            .execute(&mut *tx)
            .await?;
            return Ok(run(RunOutcome::Paused(reason), None));
        }
    };
    if let Some(reason) = refusal(pool, plans, schedule, spec.frequency, queued).await? {
        sqlx::query(
            "UPDATE backup_schedules
                SET last_run_at = $2, next_run_at = $3, last_backup_id = NULL, last_error = $4,
                    updated_at = now()
              WHERE schedule_id = $1",
        )
        .bind(schedule.schedule_id)
        .bind(now)
        .bind(next)
        .bind(&reason)
        .execute(&mut *tx)
        .await?;
        return Ok(run(RunOutcome::Refused(reason), Some(next)));
    }
    // A schedule without a destination of its own follows the org's default at each run.
    let destination = match schedule.storage_connection_id {
        Some(connection) => Some(connection),
        None => crate::storage::connections::resolve(pool, schedule.org_id, None)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "the org's default destination is unreadable: local disk");
                None
            }),
    };
    let request = CreateBackup {
        name: Some(format!(
            "{} {}",
            schedule.name,
            now.format("%Y-%m-%d %H:%M UTC")
        )),
        categories: schedule.categories.clone(),
        encrypt: schedule.encrypt,
        created_by: schedule.created_by,
        destination,
        schedule_id: Some(schedule.schedule_id),
        ..CreateBackup::new(schedule.org_id)
    };
    let QueuedBackup { backup_id, job_id } = backups::request::enqueue(tx, &request).await?;
    *queued.entry(schedule.org_id).or_default() += 1;
    sqlx::query(
        "UPDATE backup_schedules
            SET last_run_at = $2, next_run_at = $3, last_backup_id = $4, last_error = NULL,
                updated_at = now()
          WHERE schedule_id = $1",
    )
    .bind(schedule.schedule_id)
    .bind(now)
    .bind(next)
    .bind(backup_id)
    .execute(&mut *tx)
    .await?;
    Ok(run(RunOutcome::Queued { backup_id, job_id }, Some(next)))
}

/// Why the org's plan refuses this run now, if it does.
async fn refusal(
    pool: &PgPool,
    plans: &std::collections::BTreeMap<String, crate::plans::PlanLimits>,
    schedule: &Schedule,
    frequency: timing::Frequency,
    queued: &HashMap<OrgId, i64>,
) -> Result<Option<String>, sqlx::Error> {
    let mut usage = match crate::plans::usage(pool, plans, schedule.org_id).await {
        Ok(usage) => usage,
        Err(LimitError::Sql(error)) => return Err(error),
        Err(other) => return Ok(Some(other.to_string())),
    };
    if !usage.limits.allows_schedule(frequency) {
        return Ok(Some(format!(
            "the {} plan does not allow {frequency} schedules; change the schedule or upgrade the plan",
            usage.plan
        )));
    }
    usage.backups_this_month += queued.get(&schedule.org_id).copied().unwrap_or(0);
    Ok(usage.check_new_backup().err().map(|e| e.to_string()))
}

/// Runs passes until `shutdown` turns true: one at start, then every
/// `scheduler.interval_seconds` (at once again after a full batch).
pub async fn run_scheduler(
    pool: PgPool,
    settings: Arc<Settings>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let interval = settings.scheduler.interval_seconds;
    if !settings.scheduler.enabled || interval == 0 {
        return;
    }
    while !*shutdown.borrow() {
        let pause = match run_due(&pool, &settings, BATCH).await {
            Ok(runs) => {
                for run in &runs {
                    tracing::info!(schedule_id = %run.schedule_id, org_id = %run.org_id, outcome = ?run.outcome, "schedule ran");
                }
                // A full batch may have left more due schedules behind.
                if runs.len() as i64 >= BATCH {
                    std::time::Duration::ZERO
                } else {
                    std::time::Duration::from_secs(interval)
                }
            }
            Err(error) => {
                tracing::error!(%error, "the scheduler could not claim due schedules");
                std::time::Duration::from_secs(interval)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
}
