//! `orgbackup schedule ...`: create, list, show, update, delete, and run-due (one scheduler pass).

use anyhow::bail;
use chrono::NaiveTime;
use clap::{Args, Subcommand};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::config::Settings;
use orgbackup_service::ids::{OrgId, ScheduleId};
use orgbackup_service::schedules::scheduler::{self, RunOutcome};
use orgbackup_service::schedules::timing::parse_time_of_day;
use orgbackup_service::schedules::{self, Frequency, Schedule, ScheduleInput, ScheduleView};
use orgbackup_service::{db, orgs};
use sqlx::PgPool;

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Create a schedule; prints it with its next runs.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        fields: ScheduleFields,
        #[arg(long)]
        json: bool,
    },
    /// List an organization's schedules with their next run.
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a schedule (id or name) with its next five runs.
    Show {
        schedule: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a schedule (id or name); fields not given keep their value.
    Update {
        schedule: String,
        #[arg(long)]
        org: String,
        /// Rename.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: ScheduleFields,
        /// Pause (false) or resume (true).
        #[arg(long)]
        active: Option<bool>,
        /// Back up the whole org again (clears --categories).
        #[arg(long, conflicts_with = "categories")]
        whole: bool,
    },
    /// Delete a schedule (id or name); its backups stay.
    Delete {
        schedule: String,
        #[arg(long)]
        org: String,
    },
    /// One scheduler pass: queue a backup for every due schedule (what `serve` and `worker` do
    /// every scheduler.interval_seconds). Safe to run from several hosts at once.
    RunDue {
        /// At most this many schedules.
        #[arg(long, default_value_t = scheduler::BATCH)]
        limit: i64,
    },
}

#[derive(Args)]
pub struct ScheduleFields {
    /// hourly, daily, weekly, monthly or custom (cron).
    #[arg(long)]
    frequency: Option<Frequency>,
    /// Local time HH:MM (hourly: only the minute counts). Default 00:00.
    #[arg(long, visible_alias = "time-of-day", value_parser = time_of_day)]
    time: Option<NaiveTime>,
    /// Weekly: 0 = Sunday .. 6 = Saturday, or sun, mon, ..., sat.
    #[arg(long, value_parser = weekday)]
    day_of_week: Option<i64>,
    /// Monthly: 1..31; past the month's end, the month's last day.
    #[arg(long)]
    day_of_month: Option<i64>,
    /// IANA time zone, e.g. Europe/Berlin. Default UTC.
    #[arg(long)]
    timezone: Option<String>,
    /// Custom: five cron fields, e.g. "30 2 * * 1-5".
    #[arg(long)]
    cron: Option<String>,
    /// Categories to back up (comma separated); default: everything.
    #[arg(long, value_delimiter = ',')]
    categories: Option<Vec<String>>,
    /// Encrypt the backups.
    #[arg(long)]
    encrypt: Option<bool>,
    /// A storage connection (id or name), or `local`.
    #[arg(long)]
    destination: Option<String>,
}

fn time_of_day(text: &str) -> Result<NaiveTime, String> {
    parse_time_of_day(text).map_err(|e| e.to_string())
}

fn weekday(text: &str) -> Result<i64, String> {
    const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let lower = text.trim().to_ascii_lowercase();
    NAMES
        .iter()
        .position(|n| lower.starts_with(n))
        .map(|i| i as i64)
        .or_else(|| lower.parse().ok())
        .ok_or_else(|| {
            format!("`{text}` is not a weekday: use 0 = Sunday .. 6 = Saturday, or sun .. sat")
        })
}

impl ScheduleFields {
    fn into_input(self, name: Option<String>) -> ScheduleInput {
        ScheduleInput {
            name,
            frequency: self.frequency,
            time_of_day: self.time,
            day_of_week: self.day_of_week,
            day_of_month: self.day_of_month,
            timezone: self.timezone,
            cron_expression: self.cron,
            categories: self.categories,
            destination: self.destination,
            encrypt: self.encrypt,
            is_active: None,
        }
    }
}

pub async fn run(settings: &Settings, command: ScheduleCommand) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    match command {
        ScheduleCommand::Create {
            org,
            name,
            fields,
            json,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let input = fields.into_input(Some(name));
            let created = schedules::create(&pool, settings, org.org_id, input, None).await?;
            record(&pool, &created, "schedule.create").await;
            print_view(&schedules::view(created), json)?;
        }
        ScheduleCommand::List { org, json } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let views: Vec<ScheduleView> = schedules::list(&pool, org.org_id)
                .await?
                .into_iter()
                .map(schedules::view)
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            }
            for view in views.iter().filter(|_| !json) {
                let s = &view.schedule;
                println!(
                    "{}  {:<8} {:<24} {:<8} next {}{}",
                    s.schedule_id,
                    s.frequency,
                    s.name,
                    if s.is_active { "active" } else { "paused" },
                    view.next_runs
                        .first()
                        .map_or("-".to_string(), |r| r.local.clone()),
                    s.last_error
                        .as_deref()
                        .map_or(String::new(), |e| format!("  (last run: {e})")),
                );
            }
        }
        ScheduleCommand::Show {
            schedule,
            org,
            json,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let found = find(&pool, org.org_id, &schedule).await?;
            print_view(&schedules::view(found), json)?;
        }
        ScheduleCommand::Update {
            schedule,
            org,
            name,
            fields,
            active,
            whole,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let id = find(&pool, org.org_id, &schedule).await?.schedule_id;
            let mut input = fields.into_input(name);
            input.is_active = active;
            if whole {
                input.categories = Some(Vec::new());
            }
            let updated = schedules::update(&pool, settings, org.org_id, id, input).await?;
            record(&pool, &updated, "schedule.update").await;
            print_view(&schedules::view(updated), false)?;
        }
        ScheduleCommand::Delete { schedule, org } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let found = find(&pool, org.org_id, &schedule).await?;
            schedules::delete(&pool, org.org_id, found.schedule_id).await?;
            record(&pool, &found, "schedule.delete").await;
            println!("schedule {} ({}) deleted", found.schedule_id, found.name);
        }
        ScheduleCommand::RunDue { limit } => {
            let runs = scheduler::run_due(&pool, settings, limit).await?;
            for run in &runs {
                let next = run.next_run_at.map_or("-".to_string(), |t| t.to_rfc3339());
                match &run.outcome {
                    RunOutcome::Queued { backup_id, job_id } => println!(
                        "{}  {}: queued backup {backup_id} (job {job_id}); next run {next}",
                        run.schedule_id, run.name
                    ),
                    RunOutcome::Refused(reason) | RunOutcome::Paused(reason) => println!(
                        "{}  {}: not run: {reason}; next run {next}",
                        run.schedule_id, run.name
                    ),
                }
            }
            println!("{} due schedules run", runs.len());
        }
    }
    Ok(())
}

/// A schedule of the org by id or exact name.
async fn find(pool: &PgPool, org_id: OrgId, id_or_name: &str) -> anyhow::Result<Schedule> {
    if let Ok(id) = id_or_name.parse::<ScheduleId>() {
        return Ok(schedules::get(pool, org_id, id).await?);
    }
    let all = schedules::list(pool, org_id).await?;
    match all.into_iter().find(|s| s.name == id_or_name) {
        Some(schedule) => Ok(schedule),
        None => bail!(
            "this organization has no schedule `{id_or_name}` (see `orgbackup schedule list --org ...`)"
        ),
    }
}

async fn record(pool: &PgPool, schedule: &Schedule, action: &str) {
    audit::record(
        pool,
        &Entry::system(schedule.org_id, "cli", action, Outcome::Success)
            .entity("schedule", schedule.schedule_id),
    )
    .await;
}

fn print_view(view: &ScheduleView, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(view)?);
        return Ok(());
    }
    let s = &view.schedule;
    println!("schedule {} ({})", s.schedule_id, s.name);
    let when = match (s.frequency.as_str(), s.cron_expression.as_deref()) {
        ("custom", Some(cron)) => format!("cron `{cron}`"),
        (frequency, _) => {
            let at = s
                .time_of_day
                .map_or("00:00".to_string(), |t| t.format("%H:%M").to_string());
            let on = match (s.day_of_week, s.day_of_month) {
                (Some(day), _) => format!(" on weekday {day} (0 = Sunday)"),
                (_, Some(day)) => format!(" on day {day}"),
                _ => String::new(),
            };
            format!("{frequency}{on} at {at}")
        }
    };
    println!("  when        {when}, {}", s.timezone);
    println!(
        "  backs up    {}{}{}",
        if s.categories.is_empty() {
            "the whole org".to_string()
        } else {
            s.categories.join(", ")
        },
        if s.encrypt { ", encrypted" } else { "" },
        s.storage_connection_id
            .map_or(String::new(), |c| format!(", to connection {c}"))
    );
    println!(
        "  state       {}",
        if s.is_active { "active" } else { "paused" }
    );
    if let Some(last) = s.last_run_at {
        println!(
            "  last run    {} {}",
            last.format("%Y-%m-%d %H:%M:%S UTC"),
            match (&s.last_backup_id, &s.last_error) {
                (_, Some(error)) => format!("not run: {error}"),
                (Some(backup), None) => format!("backup {backup}"),
                (None, None) => String::new(),
            }
        );
    }
    for run in &view.next_runs {
        println!(
            "  next run    {}  ({} UTC)",
            run.local,
            run.utc.format("%Y-%m-%d %H:%M")
        );
    }
    Ok(())
}
