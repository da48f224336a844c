//! Plan limits: backups per month, storage, retention. Checked before a backup is queued, and
//! enforced while it streams (the archive may not outgrow what is left of the storage quota).

pub use crate::config::plans::{PlanLimits, default_plans};
use crate::db::org_transaction;
use crate::ids::OrgId;
use crate::states::BackupStatus;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(
        "the {plan} plan allows {limit} backups per month and {used} were made this month; upgrade the plan or wait until next month"
    )]
    MonthlyBackups { plan: String, limit: u32, used: i64 },
    #[error(
        "the {plan} plan's storage of {quota} bytes is used up ({used} bytes in backups); delete backups or upgrade the plan"
    )]
    StorageFull { plan: String, quota: u64, used: u64 },
    #[error("plan `{0}` is not configured (plans: free, basic, pro, enterprise)")]
    UnknownPlan(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

impl LimitError {
    /// The stable code of a refusal, as the API answers it and the audit log records it.
    pub fn code(&self) -> &'static str {
        match self {
            LimitError::MonthlyBackups { .. } => "plan_backup_limit",
            LimitError::StorageFull { .. } => "plan_storage_full",
            LimitError::UnknownPlan(_) => "plan_unknown",
            LimitError::Sql(_) => "internal",
        }
    }
}

/// An org's plan and what it has used.
pub struct Usage {
    pub plan: String,
    pub limits: PlanLimits,
    pub backups_this_month: i64,
    pub storage_used: u64,
}

impl Usage {
    /// Bytes a new backup may still write.
    pub fn storage_left(&self) -> u64 {
        self.limits.storage_bytes.saturating_sub(self.storage_used)
    }

    /// Whether one more backup may be queued now.
    pub fn check_new_backup(&self) -> Result<(), LimitError> {
        if let Some(limit) = self.limits.backups_per_month
            && self.backups_this_month >= i64::from(limit)
        {
            return Err(LimitError::MonthlyBackups {
                plan: self.plan.clone(),
                limit,
                used: self.backups_this_month,
            });
        }
        if self.storage_left() == 0 {
            return Err(LimitError::StorageFull {
                plan: self.plan.clone(),
                quota: self.limits.storage_bytes,
                used: self.storage_used,
            });
        }
        Ok(())
    }
}

pub async fn usage(
    pool: &PgPool,
    plans: &BTreeMap<String, PlanLimits>,
    org_id: OrgId,
) -> Result<Usage, LimitError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let usage = usage_in(&mut tx, plans, org_id).await?;
    tx.commit().await?;
    Ok(usage)
}

/// Serializes, per org, everything that checks the plan and then queues a backup, until the
/// caller's transaction ends. Without it, concurrent requests each count the same backups and
/// all queue one (30 requests with 5 left queued 14). A transaction-scoped advisory lock rather
/// than a row lock: the org may have no row to lock (`org_plans` is optional).
pub async fn lock_backup_quota(conn: &mut PgConnection, org_id: OrgId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('orgbackup backup quota ' || $1, 0))",
    )
    .bind(org_id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// [`usage`] in the caller's org transaction: after [`lock_backup_quota`], the count it returns
/// stays true until the transaction commits what it queued.
pub async fn usage_in(
    conn: &mut PgConnection,
    plans: &BTreeMap<String, PlanLimits>,
    org_id: OrgId,
) -> Result<Usage, LimitError> {
    let plan: Option<String> = sqlx::query_scalar("SELECT plan FROM org_plans WHERE org_id = $1")
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?;
    let (count, used): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE created_at >= date_trunc('month', now()) AND status = ANY($2)),
                coalesce(sum(file_size) FILTER (WHERE status = $3), 0)::bigint
           FROM organization_backups WHERE org_id = $1",
    )
    .bind(org_id)
    .bind([
        BackupStatus::Pending,
        BackupStatus::Running,
        BackupStatus::Completed,
    ])
    .bind(BackupStatus::Completed)
    .fetch_one(&mut *conn)
    .await?;
    let plan = plan.unwrap_or_else(|| "free".into());
    let limits = plans
        .get(&plan)
        .cloned()
        .ok_or_else(|| LimitError::UnknownPlan(plan.clone()))?;
    Ok(Usage {
        plan,
        limits,
        backups_this_month: count,
        storage_used: used.max(0) as u64,
    })
}

pub async fn set_plan(pool: &PgPool, org_id: OrgId, plan: &str) -> Result<(), LimitError> {
    if !default_plans().contains_key(plan) {
        return Err(LimitError::UnknownPlan(plan.to_string()));
    }
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "INSERT INTO org_plans (org_id, plan) VALUES ($1, $2) ON CONFLICT (org_id) DO UPDATE SET plan = excluded.plan, updated_at = now()",
    )
    .bind(org_id)
    .bind(plan)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::plans::Frequency;

    const MB: u64 = 1_000_000;

    fn usage(plan: &str, count: i64, used: u64) -> Usage {
        Usage {
            plan: plan.into(),
            limits: default_plans()[plan].clone(),
            backups_this_month: count,
            storage_used: used,
        }
    }

    #[test]
    fn the_free_plan_allows_two_backups_a_month_within_500_mb() {
        assert!(usage("free", 1, 0).check_new_backup().is_ok());
        let error = usage("free", 2, 0)
            .check_new_backup()
            .unwrap_err()
            .to_string();
        assert!(error.contains("2 backups per month"), "{error}");
        assert!(usage("free", 0, 500 * MB).check_new_backup().is_err());
        assert_eq!(usage("free", 0, 100 * MB).storage_left(), 400 * MB);
    }

    #[test]
    fn schedules_are_daily_on_basic_all_but_custom_on_pro_and_all_on_enterprise() {
        let plans = default_plans();
        assert!(
            Frequency::ALL
                .iter()
                .all(|f| !plans["free"].allows_schedule(*f))
        );
        assert_eq!(plans["basic"].schedule_frequencies, [Frequency::Daily]);
        assert!(plans["pro"].allows_schedule(Frequency::Hourly));
        assert!(!plans["pro"].allows_schedule(Frequency::Custom));
        assert!(
            Frequency::ALL
                .iter()
                .all(|f| plans["enterprise"].allows_schedule(*f))
        );
    }

    #[test]
    fn a_configured_plan_without_schedule_frequencies_has_no_schedules() {
        let limits: PlanLimits = serde_json::from_str(
            r#"{"backups_per_month": 3, "storage_bytes": 1, "retention_days": 1}"#,
        )
        .unwrap();
        assert!(limits.schedule_frequencies.is_empty());
        let limits: PlanLimits = serde_json::from_str(
            r#"{"backups_per_month": 3, "storage_bytes": 1, "retention_days": 1, "schedule_frequencies": ["daily", "custom"]}"#,
        )
        .unwrap();
        assert!(limits.allows_schedule(Frequency::Custom));
    }

    #[test]
    fn pro_and_enterprise_have_no_monthly_limit() {
        assert!(usage("pro", 10_000, 0).check_new_backup().is_ok());
        assert_eq!(default_plans()["enterprise"].retention_days, 365);
    }
}
