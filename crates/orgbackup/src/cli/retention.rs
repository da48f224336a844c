//! `orgbackup retention ...` (plan, run, set) and `orgbackup backup pin|unpin`.

use crate::terminal::human_bytes;
use clap::Subcommand;
use orgbackup_service::config::Settings;
use orgbackup_service::ids::{BackupId, OrgId};
use orgbackup_service::retention::{self, RetentionPlan};
use orgbackup_service::{db, orgs};
use sqlx::PgPool;

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Show what retention would delete now, and what it keeps and why (changes nothing).
    Plan {
        /// One organization (id or name); default: every org with backups.
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete expired backups now (what `serve` and `worker` do every retention.interval_seconds).
    Run {
        #[arg(long)]
        org: Option<String>,
    },
    /// Keep an org's backups for fewer days than its plan does.
    Set {
        #[arg(long)]
        org: String,
        /// Days (at most the plan's retention).
        #[arg(
            long,
            conflicts_with = "plan_default",
            required_unless_present = "plan_default"
        )]
        days: Option<u32>,
        /// Go back to the plan's retention.
        #[arg(long)]
        plan_default: bool,
    },
}

async fn target_orgs(
    pool: &PgPool,
    settings: &Settings,
    org: Option<&str>,
) -> anyhow::Result<Vec<OrgId>> {
    Ok(match org {
        Some(org) => vec![orgs::resolve(pool, &settings.tenancy, org).await?.org_id],
        None => retention::orgs_with_backups(pool).await?,
    })
}

fn print_plan(plan: &RetentionPlan) {
    println!(
        "org {}: {} plan, backups kept {} days; {} to delete ({}), {} kept past retention, {} expiring soon",
        plan.org_id,
        plan.plan,
        plan.retention_days,
        plan.expire.len(),
        human_bytes(plan.bytes_freed),
        plan.kept.len(),
        plan.expiring_soon.len()
    );
    let date = |b: &retention::RetainedBackup| b.completed_at.format("%Y-%m-%d %H:%M UTC");
    for backup in &plan.expire {
        println!(
            "  delete  {}  {}  {}",
            backup.backup_id,
            date(backup),
            backup.name
        );
    }
    for retention::KeptBackup { backup, reason } in &plan.kept {
        println!(
            "  keep    {}  {}  {} ({reason})",
            backup.backup_id,
            date(backup),
            backup.name
        );
    }
    for backup in &plan.expiring_soon {
        let expires = backup
            .expires_at
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
        println!(
            "  expires {}  {}  {} (on {})",
            backup.backup_id,
            date(backup),
            backup.name,
            expires.unwrap_or_default()
        );
    }
}

pub async fn run(settings: &Settings, command: RetentionCommand) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    match command {
        RetentionCommand::Plan { org, json } => {
            let mut plans = Vec::new();
            for org_id in target_orgs(&pool, settings, org.as_deref()).await? {
                plans.push(retention::plan(&pool, settings, org_id).await?);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&plans)?);
            } else {
                plans.iter().for_each(print_plan);
            }
        }
        RetentionCommand::Run { org } => {
            for org_id in target_orgs(&pool, settings, org.as_deref()).await? {
                let outcome =
                    orgbackup_service::housekeeping::retain_org(&pool, settings, org_id).await?;
                println!(
                    "org {org_id}: {} backups deleted ({}), {} expiring notices sent",
                    outcome.expired.len(),
                    human_bytes(outcome.bytes_freed),
                    outcome.notices_due.len()
                );
            }
            let rollbacks =
                orgbackup_service::restores::cleanup_expired_rollbacks(&pool, &settings.storage)
                    .await?;
            println!("{rollbacks} expired rollback archives removed");
        }
        RetentionCommand::Set {
            org,
            days,
            plan_default: _,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            retention::set_org_retention(&pool, settings, org.org_id, days).await?;
            match days {
                Some(days) => println!("{}: backups are kept {days} days", org.name),
                None => println!("{}: backups are kept as long as the plan says", org.name),
            }
        }
    }
    Ok(())
}

/// `orgbackup backup pin|unpin ID --org ORG`.
pub async fn pin(
    settings: &Settings,
    org: &str,
    backup_id: BackupId,
    pinned: bool,
) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    let org = orgs::resolve(&pool, &settings.tenancy, org).await?;
    retention::set_pinned(&pool, org.org_id, backup_id, pinned).await?;
    if pinned {
        println!("backup {backup_id} pinned: retention keeps it until it is unpinned");
    } else {
        println!("backup {backup_id} unpinned: retention applies to it again");
    }
    Ok(())
}
