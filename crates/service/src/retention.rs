//! Retention: completed backups older than the org's retention (its plan's, or a shorter per-org
//! setting) are deleted from storage and marked `expired`. Two backups are never deleted by
//! retention: a pinned one, and the org's newest completed backup (losing every backup because the
//! org stopped making new ones would turn a policy into data loss).
//!
//! Every run first computes a [`RetentionPlan`]; `plan` shows it (the dry run), `apply` executes the
//! same computation. Rows are marked before files are removed, so a crash in between leaves an
//! unused file, never a "completed" backup without its file.

use crate::audit::{self, Entry, Outcome};
use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{BackupId, ConnectionId, OrgId};
use crate::states::BackupStatus;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Plan(#[from] crate::plans::LimitError),
    #[error(
        "a retention of {requested} days is longer than the {plan} plan keeps backups ({allowed} days); choose at most {allowed}, or upgrade the plan"
    )]
    LongerThanPlan {
        requested: u32,
        plan: String,
        allowed: u32,
    },
    #[error("the retention must be at least 1 day")]
    Zero,
    #[error("backup {0} not found, or not completed")]
    BackupNotFound(BackupId),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// One backup as retention sees it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetainedBackup {
    pub backup_id: BackupId,
    pub name: String,
    pub completed_at: DateTime<Utc>,
    pub file_size: Option<i64>,
    pub pinned: bool,
    #[sqlx(skip)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub expiry_notice_sent_at: Option<DateTime<Utc>>,
}

/// A backup past retention that is kept, and why.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeptBackup {
    #[serde(flatten)]
    pub backup: RetainedBackup,
    pub reason: &'static str,
}

/// What retention does to one org now (the dry-run view).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionPlan {
    pub org_id: OrgId,
    pub plan: String,
    /// Days a backup is kept: the plan's, or the org's shorter setting.
    pub retention_days: u32,
    /// Deleted by this run.
    pub expire: Vec<RetainedBackup>,
    /// Past retention but kept: pinned, or the newest completed backup.
    pub kept: Vec<KeptBackup>,
    /// Expiring within the org's notice period (a `backup_expiring` notice is due once for each).
    pub expiring_soon: Vec<RetainedBackup>,
    pub bytes_freed: u64,
}

/// What one applied run did.
#[derive(Debug, Serialize)]
pub struct RetentionOutcome {
    pub org_id: OrgId,
    pub expired: Vec<BackupId>,
    pub bytes_freed: u64,
    /// Backups whose expiring notice this run claimed (sent by the caller's notifier).
    pub notices_due: Vec<RetainedBackup>,
}

struct OrgRetention {
    plan: String,
    plan_days: u32,
    org_days: Option<u32>,
    notice_days: u32,
}

async fn org_retention(
    pool: &PgPool,
    plans: &std::collections::BTreeMap<String, crate::plans::PlanLimits>,
    org_id: OrgId,
) -> Result<OrgRetention, RetentionError> {
    let usage = crate::plans::usage(pool, plans, org_id).await?;
    let mut tx = org_transaction(pool, org_id).await?;
    let row: Option<(Option<i32>, i32)> = sqlx::query_as(
        "SELECT retention_days, expiring_notice_days FROM backup_settings WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let (org_days, notice_days) = row.unwrap_or((None, 3));
    Ok(OrgRetention {
        plan: usage.plan,
        plan_days: usage.limits.retention_days,
        org_days: org_days.map(|d| d.max(1) as u32),
        notice_days: notice_days.max(0) as u32,
    })
}

impl OrgRetention {
    fn days(&self) -> u32 {
        self.org_days
            .map_or(self.plan_days, |d| d.min(self.plan_days))
    }
}

/// Splits completed backups (any order) into expire / kept / expiring soon, as of `now`.
fn classify(
    org_id: OrgId,
    retention: &OrgRetention,
    mut backups: Vec<RetainedBackup>,
    now: DateTime<Utc>,
) -> RetentionPlan {
    let days = retention.days();
    let keep_for = Duration::days(i64::from(days));
    let notice = Duration::days(i64::from(retention.notice_days));
    backups.sort_by_key(|b| std::cmp::Reverse(b.completed_at));
    let mut plan = RetentionPlan {
        org_id,
        plan: retention.plan.clone(),
        retention_days: days,
        expire: Vec::new(),
        kept: Vec::new(),
        expiring_soon: Vec::new(),
        bytes_freed: 0,
    };
    for (index, mut backup) in backups.into_iter().enumerate() {
        let expires_at = backup.completed_at + keep_for;
        backup.expires_at = Some(expires_at);
        let is_newest = index == 0;
        if expires_at <= now {
            if backup.pinned {
                plan.kept.push(KeptBackup {
                    backup,
                    reason: "pinned",
                });
            } else if is_newest {
                plan.kept.push(KeptBackup {
                    backup,
                    reason: "newest completed backup",
                });
            } else {
                plan.bytes_freed += backup.file_size.unwrap_or(0).max(0) as u64;
                plan.expire.push(backup);
            }
        } else if expires_at <= now + notice && !backup.pinned && !is_newest {
            plan.expiring_soon.push(backup);
        }
    }
    plan
}

/// The dry run: what [`apply`] would do to the org now.
pub async fn plan(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
) -> Result<RetentionPlan, RetentionError> {
    let retention = org_retention(pool, &settings.plans, org_id).await?;
    let mut tx = org_transaction(pool, org_id).await?;
    let backups: Vec<RetainedBackup> = sqlx::query_as(
        "SELECT backup_id, name, completed_at, file_size, pinned, expiry_notice_sent_at
           FROM organization_backups
          WHERE org_id = $1 AND status = $2 AND completed_at IS NOT NULL",
    )
    .bind(org_id)
    .bind(BackupStatus::Completed)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(classify(org_id, &retention, backups, Utc::now()))
}

/// Deletes what the plan expires and claims the expiring notices that are due. Safe to run from
/// several processes at once: each row is claimed by one `UPDATE … WHERE status = 'completed'`.
pub async fn apply(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
) -> Result<RetentionOutcome, RetentionError> {
    let plan = plan(pool, settings, org_id).await?;
    let mut outcome = RetentionOutcome {
        org_id,
        expired: Vec::new(),
        bytes_freed: 0,
        notices_due: Vec::new(),
    };
    for backup in &plan.expire {
        let mut tx = org_transaction(pool, org_id).await?;
        let claimed: Option<(Option<String>, Option<ConnectionId>)> = sqlx::query_as(
            "UPDATE organization_backups o SET status = $3, expired_at = now(), storage_path = NULL, updated_at = now()
               FROM (SELECT backup_id, storage_path FROM organization_backups WHERE backup_id = $2 FOR UPDATE) old
              WHERE o.org_id = $1 AND o.backup_id = old.backup_id AND o.status = $4 AND NOT o.pinned
              RETURNING old.storage_path, o.storage_connection_id",
        )
        .bind(org_id)
        .bind(backup.backup_id)
        .bind(BackupStatus::Expired)
        .bind(BackupStatus::Completed)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some((path, connection_id)) = claimed else {
            continue;
        };
        // Deleted where the backup is kept: the local disk or its storage connection.
        if let Some(path) = path
            && let Err(error) = remove_file(pool, settings, org_id, connection_id, &path).await
        {
            tracing::warn!(backup_id = %backup.backup_id, error = %error, "could not remove an expired backup's file");
        }
        outcome.expired.push(backup.backup_id);
        outcome.bytes_freed += backup.file_size.unwrap_or(0).max(0) as u64;
        audit::record(
            pool,
            &Entry::system(org_id, "retention", "backup.expire", Outcome::Success)
                .entity("backup", backup.backup_id)
                .detail("retention_days", plan.retention_days)
                .detail("completed_at", backup.completed_at.to_rfc3339()),
        )
        .await;
    }
    for backup in plan
        .expiring_soon
        .iter()
        .filter(|b| b.expiry_notice_sent_at.is_none())
    {
        let mut tx = org_transaction(pool, org_id).await?;
        let claimed = sqlx::query(
            "UPDATE organization_backups SET expiry_notice_sent_at = now()
              WHERE org_id = $1 AND backup_id = $2 AND expiry_notice_sent_at IS NULL AND status = $3",
        )
        .bind(org_id)
        .bind(backup.backup_id)
        .bind(BackupStatus::Completed)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if claimed == 1 {
            outcome.notices_due.push(backup.clone());
        }
    }
    Ok(outcome)
}

async fn remove_file(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    connection_id: Option<ConnectionId>,
    path: &str,
) -> Result<(), crate::storage::StorageError> {
    crate::storage::open(pool, settings, org_id, connection_id)
        .await?
        .remove(path)
        .await
}

/// Every org that has completed backups (read with the RLS bypass: retention runs for all orgs).
pub async fn orgs_with_backups(pool: &PgPool) -> Result<Vec<OrgId>, RetentionError> {
    let mut tx = crate::db::system_transaction(pool).await?;
    let orgs = sqlx::query_scalar(
        "SELECT DISTINCT org_id FROM organization_backups WHERE status = $1 ORDER BY org_id",
    )
    .bind(BackupStatus::Completed)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(orgs)
}

/// Sets the org's own retention (`None` = the plan's). It may only be shorter than the plan's.
pub async fn set_org_retention(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    days: Option<u32>,
) -> Result<(), RetentionError> {
    let retention = org_retention(pool, &settings.plans, org_id).await?;
    match days {
        Some(0) => return Err(RetentionError::Zero),
        Some(requested) if requested > retention.plan_days => {
            return Err(RetentionError::LongerThanPlan {
                requested,
                plan: retention.plan,
                allowed: retention.plan_days,
            });
        }
        _ => {}
    }
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "INSERT INTO backup_settings (org_id, retention_days) VALUES ($1, $2)
         ON CONFLICT (org_id) DO UPDATE SET retention_days = EXCLUDED.retention_days, updated_at = now()",
    )
    .bind(org_id)
    .bind(days.map(|d| d as i32))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Pins (kept whatever its age) or unpins one of the org's completed backups.
pub async fn set_pinned(
    pool: &PgPool,
    org_id: OrgId,
    backup_id: BackupId,
    pinned: bool,
) -> Result<(), RetentionError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let updated = sqlx::query(
        "UPDATE organization_backups SET pinned = $3, updated_at = now()
          WHERE org_id = $1 AND backup_id = $2 AND status = $4",
    )
    .bind(org_id)
    .bind(backup_id)
    .bind(pinned)
    .bind(BackupStatus::Completed)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if updated == 0 {
        return Err(RetentionError::BackupNotFound(backup_id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(days_ago: i64, pinned: bool, now: DateTime<Utc>) -> RetainedBackup {
        RetainedBackup {
            backup_id: BackupId::random(),
            name: format!("{days_ago} days ago"),
            completed_at: now - Duration::days(days_ago),
            file_size: Some(100),
            pinned,
            expires_at: None,
            expiry_notice_sent_at: None,
        }
    }

    fn retention(plan_days: u32, org_days: Option<u32>) -> OrgRetention {
        OrgRetention {
            plan: "free".into(),
            plan_days,
            org_days,
            notice_days: 3,
        }
    }

    fn names(list: &[RetainedBackup]) -> Vec<&str> {
        list.iter().map(|b| b.name.as_str()).collect()
    }

    #[test]
    fn old_backups_expire_but_pinned_ones_and_the_newest_are_kept() {
        let now = Utc::now();
        let backups = vec![
            backup(30, false, now),
            backup(10, false, now),
            backup(9, true, now),
            backup(5, false, now),
            backup(1, false, now),
        ];
        let plan = classify(
            OrgId::from(uuid::Uuid::nil()),
            &retention(7, None),
            backups,
            now,
        );
        assert_eq!(names(&plan.expire), ["10 days ago", "30 days ago"]);
        assert_eq!(plan.kept.len(), 1);
        assert_eq!(plan.kept[0].reason, "pinned");
        assert_eq!(names(&plan.expiring_soon), ["5 days ago"]);
        assert_eq!(plan.bytes_freed, 200);
    }

    #[test]
    fn the_newest_backup_survives_even_when_everything_is_past_retention() {
        let now = Utc::now();
        let backups = vec![backup(40, false, now), backup(20, false, now)];
        let plan = classify(
            OrgId::from(uuid::Uuid::nil()),
            &retention(7, None),
            backups,
            now,
        );
        assert_eq!(names(&plan.expire), ["40 days ago"]);
        assert_eq!(plan.kept[0].reason, "newest completed backup");
        assert_eq!(plan.kept[0].backup.name, "20 days ago");
    }

    #[test]
    fn an_org_setting_shortens_but_never_lengthens_the_plans_retention() {
        let now = Utc::now();
        let backups = || {
            vec![
                backup(20, false, now),
                backup(4, false, now),
                backup(0, false, now),
            ]
        };
        let shorter = classify(
            OrgId::from(uuid::Uuid::nil()),
            &retention(30, Some(3)),
            backups(),
            now,
        );
        assert_eq!(shorter.retention_days, 3);
        assert_eq!(names(&shorter.expire), ["4 days ago", "20 days ago"]);
        let longer = classify(
            OrgId::from(uuid::Uuid::nil()),
            &retention(7, Some(90)),
            backups(),
            now,
        );
        assert_eq!(longer.retention_days, 7);
        assert_eq!(names(&longer.expire), ["20 days ago"]);
    }
}
