//! What the rest of the service hears about a backup or restore job: an audit entry for each
//! outcome (actor "worker") and the org's notifications. Neither may fail the job it describes:
//! failures to record or notify are logged.

use crate::audit::{self, Entry, Outcome};
use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{BackupId, OrgId};
use crate::jobs::JobPayload;
use crate::notifications::{self, Event};
use serde_json::{Value, json};
use sqlx::PgPool;

/// How a job attempt ended, as far as the org is concerned (a retry is not an end).
pub enum JobEnd<'a> {
    Started,
    Completed,
    Failed(&'a str),
}

/// The org's display name for notification texts; a texts-only nicety, so failures give `None`.
pub async fn org_name(
    pool: &PgPool,
    tenancy: &orgbackup_engine::TenancyConfig,
    org_id: OrgId,
) -> Option<String> {
    crate::orgs::resolve(pool, tenancy, &org_id.to_string())
        .await
        .ok()
        .map(|org| org.name)
}

/// What the notification texts say about a backup (name, size, rows, error).
async fn backup_facts(pool: &PgPool, org_id: OrgId, backup_id: BackupId) -> Value {
    let row = async {
        let mut tx = org_transaction(pool, org_id).await?;
        let row: Option<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT name, file_size, total_rows FROM organization_backups WHERE org_id = $1 AND backup_id = $2",
        )
        .bind(org_id)
        .bind(backup_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    }
    .await;
    match row {
        Ok(Some((name, size, rows))) => {
            json!({"backup_id": backup_id, "backup_name": name, "size_bytes": size, "rows": rows})
        }
        _ => json!({ "backup_id": backup_id }),
    }
}

/// Sends one event to the org's channels; a failure is logged, never returned.
pub async fn notify(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    event: Event,
    mut data: Value,
) {
    if let Some(name) = org_name(pool, &settings.tenancy, org_id).await {
        data["org_name"] = name.into();
    }
    if let Err(error) = notifications::notify(pool, org_id, event, data).await {
        tracing::error!(%org_id, %event, %error, "could not queue a notification");
    }
}

/// Records and announces one moment of a job's life.
pub async fn announce(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    payload: &JobPayload,
    end: JobEnd<'_>,
) {
    let (action, entity, id) = match payload {
        JobPayload::ProcessBackup { backup_id, .. } => ("backup", "backup", backup_id.to_string()),
        JobPayload::ProcessRestore { restore_id, .. } => {
            ("restore", "restore", restore_id.to_string())
        }
        JobPayload::RollbackRestore { restore_id, .. } => {
            ("rollback", "restore", restore_id.to_string())
        }
    };
    let (outcome, moment) = match end {
        JobEnd::Started => (Outcome::Success, "started"),
        JobEnd::Completed => (Outcome::Success, "completed"),
        JobEnd::Failed(_) => (Outcome::Failure, "failed"),
    };
    let mut entry =
        Entry::system(org_id, "worker", &format!("{action}.{moment}"), outcome).entity(entity, id);
    if let JobEnd::Failed(error) = end {
        entry = entry.detail("error", error);
    }
    // A backup starting is routine (its row says so, and nobody is notified of it); a restore
    // starting is about to change the org's data.
    if action == "backup" && moment == "started" {
        return;
    }
    audit::record(pool, &entry).await;
    // A rollback announces itself (restore_rolled_back) when it succeeds; its failure leaves the
    // restore as it was, with the reason on the restore.
    if action == "rollback" {
        return;
    }

    let mut data = match payload {
        JobPayload::ProcessBackup { backup_id, .. } => backup_facts(pool, org_id, *backup_id).await,
        JobPayload::RollbackRestore { .. } => return,
        JobPayload::ProcessRestore {
            restore_id,
            backup_id,
            ..
        } => {
            // The backup's size and rows describe the backup, not what the restore changed.
            let backup = backup_facts(pool, org_id, *backup_id).await;
            json!({"restore_id": restore_id, "backup_id": backup_id, "backup_name": backup["backup_name"]})
        }
    };
    if let JobEnd::Failed(error) = end {
        data["error"] = error.into();
    }
    let event = match (action, end) {
        ("backup", JobEnd::Completed) => Event::BackupCompleted,
        ("backup", _) => Event::BackupFailed,
        (_, JobEnd::Started) => Event::RestoreStarted,
        (_, JobEnd::Completed) => Event::RestoreCompleted,
        (_, JobEnd::Failed(_)) => Event::RestoreFailed,
    };
    notify(pool, settings, org_id, event, data).await;
    if event == Event::BackupCompleted
        && let Err(error) = notifications::check_storage_quota(pool, settings, org_id).await
    {
        tracing::error!(%org_id, %error, "could not check the storage quota");
    }
}
