//! Notifications of backup, restore, retention and quota events, by email, signed webhook and
//! in-app, in the org's language.
//!
//! [`notify`] records everything an event causes in one transaction: the in-app row and one
//! `notification_deliveries` row per email recipient and for the webhook (an outbox). The
//! dispatcher ([`deliver_due`], [`run_dispatcher`]) sends due deliveries without holding a
//! transaction over the network and retries failures with exponential backoff.

mod dispatcher;
mod email;
mod event;
mod inbox;
mod messages;
mod settings;
mod webhook;

pub use dispatcher::{deliver_due, run_dispatcher};
pub use event::{ALL as ALL_EVENTS, Event};
pub use inbox::{Page, list as list_in_app, mark_read};
pub use settings::{OrgSettings, SettingsChange, get as get_settings, update as update_settings};

use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::OrgId;
use chrono::Utc;
use messages::render;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    InvalidSettings(String),
    #[error(
        "a webhook needs the master key to store its secret: set encryption.master_key (ORGBACKUP__ENCRYPTION__MASTER_KEY) to the output of `orgbackup keygen`"
    )]
    NoMasterKey,
    #[error(
        "the webhook secret cannot be opened with the configured master key (was the master key changed?); set the webhook URL again to get a new secret"
    )]
    SecretUnreadable,
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Plan(#[from] crate::plans::LimitError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Why one delivery attempt failed; `last_error` shows it. Permanent failures are not retried.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "email is not configured: set notifications.smtp_host (ORGBACKUP__NOTIFICATIONS__SMTP_HOST)"
    )]
    EmailNotConfigured,
    #[error("invalid email configuration: {0}")]
    BadConfig(String),
    #[error("`{0}` is not a valid email address")]
    BadRecipient(String),
    #[error("SMTP: {detail}")]
    Smtp { permanent: bool, detail: String },
    #[error("webhook: {0}")]
    Webhook(String),
    /// The URL's address is not one the service connects to (`network.allow_private`).
    #[error("webhook refused: {0}")]
    WebhookRefused(String),
    #[error("the organization has no webhook any more")]
    WebhookRemoved,
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::Smtp { permanent, .. } => *permanent,
            SendError::Webhook(_) => false,
            // A database error may pass; a configuration or key problem will not fix itself
            // between two attempts, and the error says what to change.
            SendError::Notify(NotifyError::Sql(_)) => false,
            _ => true,
        }
    }
}

/// Records what `event` causes for the org, per its settings (defaults when it has none): an
/// in-app notification and one pending delivery per email recipient and for the webhook, all in
/// one transaction. `data` holds what the texts show (backup_name, size_bytes, error, ...);
/// missing keys are left out of the texts.
pub async fn notify(
    pool: &PgPool,
    org_id: OrgId,
    event: Event,
    data: serde_json::Value,
) -> Result<(), NotifyError> {
    let mut tx = org_transaction(pool, org_id).await?;
    notify_in(&mut tx, org_id, event, &data).await?;
    tx.commit().await?;
    Ok(())
}

/// [`notify`] in the caller's org transaction, so the notice commits with what caused it.
#[tracing::instrument(skip(conn, data), fields(%org_id, %event))]
pub async fn notify_in(
    conn: &mut PgConnection,
    org_id: OrgId,
    event: Event,
    data: &Value,
) -> Result<(), NotifyError> {
    let org = settings::load(conn, org_id).await?;
    if !org.wants(event) {
        return Ok(());
    }
    if org.in_app {
        sqlx::query("INSERT INTO notifications (org_id, event, data) VALUES ($1, $2, $3)")
            .bind(org_id)
            .bind(event.as_str())
            .bind(data)
            .execute(&mut *conn)
            .await?;
    }
    let payload = json!({
        "event": event,
        "org_id": org_id,
        "occurred_at": Utc::now(),
        "data": data,
        "message": render(event, org.locale, data),
    });
    let targets = org
        .email_recipients
        .iter()
        .map(|to| ("email", to.as_str()))
        .chain(org.webhook_url.as_deref().map(|url| ("webhook", url)));
    for (channel, target) in targets {
        sqlx::query(
            "INSERT INTO notification_deliveries (org_id, event, channel, target, locale, payload)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org_id)
        .bind(event.as_str())
        .bind(channel)
        .bind(target)
        .bind(org.locale.as_str())
        .bind(&payload)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The quota warning thresholds, in percent of the plan's storage.
const QUOTA_LEVELS: [i16; 2] = [95, 80];

/// The highest threshold `percent` has reached (0 = none).
fn quota_level(percent: f64) -> i16 {
    QUOTA_LEVELS
        .into_iter()
        .find(|level| percent >= f64::from(*level))
        .unwrap_or(0)
}

/// Sends `storage_quota_warning` when the org's backups reach 80% and again at 95% of its plan's
/// storage, once each: the level sent is remembered, and lowered (without a notice) when usage
/// falls back under it, so crossing it again warns again.
pub async fn check_storage_quota(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
) -> Result<(), NotifyError> {
    let usage = crate::plans::usage(pool, &settings.plans, org_id).await?;
    let quota = usage.limits.storage_bytes;
    let percent = if quota == 0 {
        100.0
    } else {
        usage.storage_used as f64 * 100.0 / quota as f64
    };
    let level = quota_level(percent);
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query("INSERT INTO backup_settings (org_id) VALUES ($1) ON CONFLICT (org_id) DO NOTHING")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    // Locked, so two processes checking at once send one warning.
    let sent: i16 = sqlx::query_scalar(
        "SELECT quota_warning_level FROM backup_settings WHERE org_id = $1 FOR UPDATE",
    )
    .bind(org_id)
    .fetch_one(&mut *tx)
    .await?;
    if level != sent {
        sqlx::query("UPDATE backup_settings SET quota_warning_level = $2 WHERE org_id = $1")
            .bind(org_id)
            .bind(level)
            .execute(&mut *tx)
            .await?;
    }
    if level > sent {
        // The name only makes the texts friendlier: a failure to read it must not cost the warning.
        let org_name = crate::orgs::resolve(pool, &settings.tenancy, &org_id.to_string())
            .await
            .ok()
            .map(|org| org.name);
        let data = json!({
            "org_name": org_name,
            "used_bytes": usage.storage_used,
            "quota_bytes": quota,
            "percent": (percent * 10.0).round() / 10.0,
            "level": level,
            "plan": usage.plan,
        });
        notify_in(&mut tx, org_id, Event::StorageQuotaWarning, &data).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_levels_are_80_and_95_percent() {
        assert_eq!(quota_level(0.0), 0);
        assert_eq!(quota_level(79.9), 0);
        assert_eq!(quota_level(80.0), 80);
        assert_eq!(quota_level(94.99), 80);
        assert_eq!(quota_level(95.0), 95);
        assert_eq!(quota_level(130.0), 95);
    }

    #[test]
    fn only_configuration_and_key_problems_and_5xx_smtp_answers_are_permanent() {
        assert!(SendError::EmailNotConfigured.is_permanent());
        assert!(!SendError::Webhook("500".into()).is_permanent());
        assert!(
            !SendError::Smtp {
                permanent: false,
                detail: String::new()
            }
            .is_permanent()
        );
        assert!(!SendError::Notify(NotifyError::Sql(sqlx::Error::PoolTimedOut)).is_permanent());
    }
}
