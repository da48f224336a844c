//! Periodic work for every org, run by `serve` and `worker` every `retention.interval_seconds`:
//! retention (expired backups deleted, expiring notices sent, quota warning level lowered) and
//! expired rollback archives.
//! Several processes may run it at once: every deletion and notice is claimed by one of them.

use crate::config::Settings;
use crate::ids::OrgId;
use crate::notifications::Event;
use crate::retention::{self, RetentionError, RetentionOutcome};
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;

/// Applies retention to one org and sends the expiring notices it claimed.
pub async fn retain_org(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
) -> Result<RetentionOutcome, RetentionError> {
    let outcome = retention::apply(pool, settings, org_id).await?;
    for backup in &outcome.notices_due {
        let data = json!({
            "backup_id": backup.backup_id,
            "backup_name": backup.name,
            "size_bytes": backup.file_size,
            "expires_at": backup.expires_at,
        });
        crate::job_events::notify(pool, settings, org_id, Event::BackupExpiring, data).await;
    }
    if !outcome.expired.is_empty()
        && let Err(error) = crate::notifications::check_storage_quota(pool, settings, org_id).await
    {
        // Freed storage lowers the remembered warning level, so a later climb warns again.
        tracing::error!(%org_id, %error, "could not check the storage quota");
    }
    Ok(outcome)
}

async fn run_once(pool: &PgPool, settings: &Settings) {
    match retention::orgs_with_backups(pool).await {
        Ok(orgs) => {
            for org_id in orgs {
                match retain_org(pool, settings, org_id).await {
                    Ok(outcome) if !outcome.expired.is_empty() => tracing::info!(
                        %org_id,
                        expired = outcome.expired.len(),
                        bytes_freed = outcome.bytes_freed,
                        "retention deleted expired backups"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::error!(%org_id, %error, "retention failed"),
                }
            }
        }
        Err(error) => tracing::error!(%error, "retention could not list organizations"),
    }
    if let Err(error) = crate::restores::cleanup_expired_rollbacks(pool, &settings.storage).await {
        tracing::error!(%error, "could not clean up expired rollback archives");
    }
}

/// Runs housekeeping until `shutdown` turns true (immediately once, then every interval).
pub async fn run_housekeeping(
    pool: PgPool,
    settings: Arc<Settings>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let interval = settings.retention.interval_seconds;
    if interval == 0 {
        return;
    }
    while !*shutdown.borrow() {
        run_once(&pool, &settings).await;
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(interval)) => {}
            _ = shutdown.changed() => {}
        }
    }
}
