//! Backup schedules of one organization: create, list, show, update, delete. Every query runs in
//! the org's transaction; `next_run_at` is computed here on every change, and by the
//! [`scheduler`] after every run.
//!
//! A schedule is checked when it is saved: the timing ([`timing`]), the plan's allowed frequencies
//! (`plans.*.schedule_frequencies`), the categories against the discovered ones, and a master key
//! when it encrypts. The plan is checked again at every run, so a downgrade stops the runs it no
//! longer allows.

pub mod scheduler;
pub mod timing;

pub use timing::{Frequency, ScheduleError, ScheduleSpec};

use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{BackupId, ConnectionId, OrgId, ScheduleId};
use crate::plans::LimitError;
use crate::storage::StorageError;
use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum SchedulesError {
    #[error(transparent)]
    Timing(#[from] ScheduleError),
    #[error(
        "the {plan} plan does not allow {frequency} schedules (it allows: {allowed}); choose one of those or upgrade the plan"
    )]
    FrequencyNotInPlan {
        plan: String,
        frequency: Frequency,
        allowed: String,
    },
    #[error("unknown category `{unknown}`; the categories are: {known}")]
    UnknownCategory { unknown: String, known: String },
    #[error(
        "an encrypted schedule needs a master key (encryption.master_key), which this service has not been configured with"
    )]
    EncryptionUnavailable,
    #[error("a schedule needs a name and a frequency (hourly, daily, weekly, monthly or custom)")]
    Incomplete,
    #[error("a schedule named `{0}` already exists in this organization; choose another name")]
    DuplicateName(String),
    #[error("schedule {0} not found")]
    NotFound(ScheduleId),
    #[error(transparent)]
    Plan(#[from] LimitError),
    #[error(transparent)]
    Destination(#[from] StorageError),
    #[error("cannot discover the tenant tables: {0}")]
    Discovery(#[from] orgbackup_engine::Error),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A row of `backup_schedules`.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub schedule_id: ScheduleId,
    pub org_id: OrgId,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::config::plans::Frequency))]
    pub frequency: String,
    pub cron_expression: Option<String>,
    #[serde(serialize_with = "hours_and_minutes")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "02:30"))]
    pub time_of_day: Option<NaiveTime>,
    pub day_of_week: Option<i16>,
    pub day_of_month: Option<i16>,
    pub timezone: String,
    pub categories: Vec<String>,
    pub storage_connection_id: Option<ConnectionId>,
    pub encrypt: bool,
    pub is_active: bool,
    pub last_run_at: Option<DateTime<Utc>>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_backup_id: Option<BackupId>,
    pub last_error: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str = "schedule_id, org_id, name, frequency, cron_expression, time_of_day, day_of_week,
    day_of_month, timezone, categories, storage_connection_id, encrypt, is_active, last_run_at, next_run_at,
    last_backup_id, last_error, created_by, created_at, updated_at";

/// `02:30`, as it is written in requests.
fn hours_and_minutes<S: serde::Serializer>(
    time: &Option<NaiveTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.collect_str(&time.format("%H:%M")),
        None => serializer.serialize_none(),
    }
}

impl Schedule {
    pub fn spec(&self) -> Result<ScheduleSpec, ScheduleError> {
        Ok(ScheduleSpec {
            frequency: self.frequency.parse()?,
            time_of_day: self.time_of_day,
            day_of_week: self.day_of_week,
            day_of_month: self.day_of_month,
            timezone: self.timezone.clone(),
            cron_expression: self.cron_expression.clone(),
        })
    }
}

/// What a user asks for. On create, `name` and `frequency` are required and `timezone` defaults
/// to UTC; on update, an absent field keeps its value.
#[derive(Debug, Default)]
pub struct ScheduleInput {
    pub name: Option<String>,
    pub frequency: Option<Frequency>,
    pub time_of_day: Option<NaiveTime>,
    pub day_of_week: Option<i64>,
    pub day_of_month: Option<i64>,
    pub timezone: Option<String>,
    pub cron_expression: Option<String>,
    /// Empty = the whole org.
    pub categories: Option<Vec<String>>,
    /// A storage connection's id or name, or `local` (the default).
    pub destination: Option<String>,
    pub encrypt: Option<bool>,
    pub is_active: Option<bool>,
}

/// A schedule as it will be stored.
struct Checked {
    name: String,
    spec: ScheduleSpec,
    categories: Vec<String>,
    storage_connection_id: Option<ConnectionId>,
    encrypt: bool,
    is_active: bool,
    next_run_at: DateTime<Utc>,
}

fn small(value: i64, out_of_range: fn(i64) -> ScheduleError) -> Result<i16, ScheduleError> {
    i16::try_from(value).map_err(|_| out_of_range(value))
}

/// Merges `input` over `current` (nothing, on create) and checks the result.
async fn check(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    current: Option<&Schedule>,
    input: ScheduleInput,
) -> Result<Checked, SchedulesError> {
    let current_spec = current.map(Schedule::spec).transpose()?;
    let name = input
        .name
        .or_else(|| current.map(|c| c.name.clone()))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or(SchedulesError::Incomplete)?;
    let frequency = input
        .frequency
        .or(current_spec.as_ref().map(|s| s.frequency))
        .ok_or(SchedulesError::Incomplete)?;
    let spec = ScheduleSpec {
        frequency,
        time_of_day: input
            .time_of_day
            .or(current_spec.as_ref().and_then(|s| s.time_of_day)),
        day_of_week: match input.day_of_week {
            Some(day) => Some(small(day, ScheduleError::WeekdayOutOfRange)?),
            None => current_spec.as_ref().and_then(|s| s.day_of_week),
        },
        day_of_month: match input.day_of_month {
            Some(day) => Some(small(day, ScheduleError::DayOfMonthOutOfRange)?),
            None => current_spec.as_ref().and_then(|s| s.day_of_month),
        },
        timezone: input
            .timezone
            .or(current_spec.as_ref().map(|s| s.timezone.clone()))
            .unwrap_or_else(|| "UTC".into()),
        cron_expression: input
            .cron_expression
            .or(current_spec.and_then(|s| s.cron_expression)),
    }
    .normalized();
    spec.validate()?;
    let is_active = input
        .is_active
        .or(current.map(|c| c.is_active))
        .unwrap_or(true);
    // A paused schedule may keep a frequency the plan no longer allows; it is checked on resume.
    if is_active {
        let usage = crate::plans::usage(pool, &settings.plans, org_id).await?;
        if !usage.limits.allows_schedule(frequency) {
            let allowed: Vec<&str> = usage
                .limits
                .schedule_frequencies
                .iter()
                .map(|f| f.as_str())
                .collect();
            return Err(SchedulesError::FrequencyNotInPlan {
                plan: usage.plan,
                frequency,
                allowed: if allowed.is_empty() {
                    "none".into()
                } else {
                    allowed.join(", ")
                },
            });
        }
    }
    let categories = match input.categories {
        Some(categories) => {
            check_categories(pool, &settings.tenancy, &categories).await?;
            categories
        }
        None => current.map(|c| c.categories.clone()).unwrap_or_default(),
    };
    let encrypt = input
        .encrypt
        .or(current.map(|c| c.encrypt))
        .unwrap_or(false);
    if encrypt && settings.encryption.master_key.is_none() {
        return Err(SchedulesError::EncryptionUnavailable);
    }
    let storage_connection_id = match input.destination.as_deref() {
        Some(requested) => {
            crate::storage::connections::resolve(pool, org_id, Some(requested)).await?
        }
        None => current.and_then(|c| c.storage_connection_id),
    };
    let next_run_at = timing::next_run_after(&spec, Utc::now())?;
    Ok(Checked {
        name,
        spec,
        categories,
        storage_connection_id,
        encrypt,
        is_active,
        next_run_at,
    })
}

async fn check_categories(
    pool: &PgPool,
    tenancy: &orgbackup_engine::TenancyConfig,
    categories: &[String],
) -> Result<(), SchedulesError> {
    if categories.is_empty() {
        return Ok(());
    }
    let known = {
        let mut conn = pool.acquire().await?;
        orgbackup_engine::discover(&mut conn, tenancy)
            .await?
            .categories()
    };
    match categories.iter().find(|c| !known.contains(c)) {
        Some(unknown) => Err(SchedulesError::UnknownCategory {
            unknown: unknown.clone(),
            known: known.join(", "),
        }),
        None => Ok(()),
    }
}

/// The unique (org_id, name) index answers a taken name.
fn duplicate_name(error: sqlx::Error, name: &str) -> SchedulesError {
    let constraint = error.as_database_error().and_then(|e| e.constraint());
    if constraint == Some("backup_schedules_org_id_name_key") {
        SchedulesError::DuplicateName(name.to_string())
    } else {
        error.into()
    }
}

#[tracing::instrument(skip(pool, settings, input), fields(%org_id))]
pub async fn create(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    input: ScheduleInput,
    created_by: Option<Uuid>,
) -> Result<Schedule, SchedulesError> {
    let checked = check(pool, settings, org_id, None, input).await?;
    let spec = &checked.spec;
    let mut tx = org_transaction(pool, org_id).await?;
    let schedule = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO backup_schedules
            (org_id, name, frequency, cron_expression, time_of_day, day_of_week, day_of_month, timezone,
             categories, storage_connection_id, encrypt, is_active, next_run_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         RETURNING {COLUMNS}"
    )))
    .bind(org_id)
    .bind(&checked.name)
    .bind(spec.frequency.as_str())
    .bind(&spec.cron_expression)
    .bind(spec.time_of_day)
    .bind(spec.day_of_week)
    .bind(spec.day_of_month)
    .bind(&spec.timezone)
    .bind(&checked.categories)
    .bind(checked.storage_connection_id)
    .bind(checked.encrypt)
    .bind(checked.is_active)
    .bind(checked.next_run_at)
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| duplicate_name(e, &checked.name))?;
    tx.commit().await?;
    Ok(schedule)
}

#[tracing::instrument(skip(pool))]
pub async fn list(pool: &PgPool, org_id: OrgId) -> Result<Vec<Schedule>, SchedulesError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let schedules = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM backup_schedules WHERE org_id = $1 ORDER BY name"
    )))
    .bind(org_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(schedules)
}

/// The org's next scheduled run: the schedule's name and when.
pub async fn next_run(
    pool: &PgPool,
    org_id: OrgId,
) -> Result<Option<(String, chrono::DateTime<chrono::Utc>)>, SchedulesError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let next = sqlx::query_as(
        "SELECT name, next_run_at FROM backup_schedules
          WHERE org_id = $1 AND is_active AND next_run_at IS NOT NULL ORDER BY next_run_at LIMIT 1",
    )
    .bind(org_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(next)
}

#[tracing::instrument(skip(pool))]
pub async fn get(pool: &PgPool, org_id: OrgId, id: ScheduleId) -> Result<Schedule, SchedulesError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let schedule: Option<Schedule> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM backup_schedules WHERE org_id = $1 AND schedule_id = $2"
    )))
    .bind(org_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    schedule.ok_or(SchedulesError::NotFound(id))
}

/// Changes the fields given; `next_run_at` is computed again from now.
#[tracing::instrument(skip(pool, settings, input), fields(%org_id, %id))]
pub async fn update(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    id: ScheduleId,
    input: ScheduleInput,
) -> Result<Schedule, SchedulesError> {
    let current = get(pool, org_id, id).await?;
    let checked = check(pool, settings, org_id, Some(&current), input).await?;
    let spec = &checked.spec;
    let mut tx = org_transaction(pool, org_id).await?;
    let schedule: Option<Schedule> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE backup_schedules
            SET name = $3, frequency = $4, cron_expression = $5, time_of_day = $6, day_of_week = $7,
                day_of_month = $8, timezone = $9, categories = $10, storage_connection_id = $11,
                encrypt = $12, is_active = $13, next_run_at = $14, updated_at = now()
          WHERE org_id = $1 AND schedule_id = $2
         RETURNING {COLUMNS}"
    )))
    .bind(org_id)
    .bind(id)
    .bind(&checked.name)
    .bind(spec.frequency.as_str())
    .bind(&spec.cron_expression)
    .bind(spec.time_of_day)
    .bind(spec.day_of_week)
    .bind(spec.day_of_month)
    .bind(&spec.timezone)
    .bind(&checked.categories)
    .bind(checked.storage_connection_id)
    .bind(checked.encrypt)
    .bind(checked.is_active)
    .bind(checked.next_run_at)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| duplicate_name(e, &checked.name))?;
    tx.commit().await?;
    schedule.ok_or(SchedulesError::NotFound(id))
}

/// Deletes a schedule; its backups stay (their `schedule_id` becomes NULL).
#[tracing::instrument(skip(pool))]
pub async fn delete(pool: &PgPool, org_id: OrgId, id: ScheduleId) -> Result<(), SchedulesError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let deleted =
        sqlx::query("DELETE FROM backup_schedules WHERE org_id = $1 AND schedule_id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    tx.commit().await?;
    if deleted == 0 {
        return Err(SchedulesError::NotFound(id));
    }
    Ok(())
}

/// The next `n` runs of a schedule (from now), in UTC and on the schedule's wall clock.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NextRun {
    pub utc: DateTime<Utc>,
    /// RFC 3339 with the zone's offset, e.g. `2026-03-08T03:00:00-04:00`.
    pub local: String,
}

pub fn next_runs(schedule: &Schedule, n: usize) -> Result<Vec<NextRun>, ScheduleError> {
    let spec = schedule.spec()?;
    let zone = spec.zone()?;
    Ok(timing::upcoming(&spec, Utc::now(), n)?
        .into_iter()
        .map(|utc| NextRun {
            utc,
            local: utc.with_timezone(&zone).to_rfc3339(),
        })
        .collect())
}

/// A schedule with its next runs (none while it is paused), as the API and the CLI show it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleView {
    #[serde(flatten)]
    pub schedule: Schedule,
    pub next_runs: Vec<NextRun>,
}

/// How many next runs a view shows.
pub const SHOWN_RUNS: usize = 5;

pub fn view(schedule: Schedule) -> ScheduleView {
    let next_runs = if schedule.is_active {
        // A stored schedule was valid when saved; one that no longer computes shows no runs and
        // is paused by the scheduler with the reason.
        next_runs(&schedule, SHOWN_RUNS).unwrap_or_default()
    } else {
        Vec::new()
    };
    ScheduleView {
        schedule,
        next_runs,
    }
}
