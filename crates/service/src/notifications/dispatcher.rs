//! Sends due deliveries: claims a batch in a short transaction (attempts + 1, and a lease so a
//! dispatcher that dies mid-send is taken over), sends without any transaction open, then records
//! the outcome: delivered, retried after an exponential backoff, or failed after max_attempts.

use super::email::Mailer;
use super::messages::Message;
use super::webhook::{self, Delivery};
use super::{NotifyError, SendError, settings};
use crate::config::{NotificationSettings, Settings};
use crate::db::{org_transaction, system_transaction};
use crate::ids::OrgId;
use crate::states::DeliveryStatus;
use serde_json::Value;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const BATCH: i64 = 50;

#[derive(sqlx::FromRow)]
struct Claimed {
    delivery_id: Uuid,
    org_id: OrgId,
    event: String,
    channel: String,
    target: String,
    payload: Value,
    attempts: i32,
    max_attempts: i32,
}

/// How long a claim lasts: longer than any one send can take.
fn lease_seconds(config: &NotificationSettings) -> f64 {
    (config
        .webhook_timeout_seconds
        .max(config.smtp_timeout_seconds)
        + 60) as f64
}

/// Delay before attempt `attempts + 1`: base * 2^(attempts - 1), capped.
fn backoff(config: &NotificationSettings, attempts: i32) -> u64 {
    let exponent = attempts.saturating_sub(1).clamp(0, 20) as u32;
    config
        .retry_base_seconds
        .saturating_mul(1u64 << exponent)
        .min(config.retry_max_seconds)
}

async fn claim(pool: &PgPool, config: &NotificationSettings) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut tx = system_transaction(pool).await?;
    // A claim whose last attempt never reported back (its process died) is given up here.
    sqlx::query(
        "UPDATE notification_deliveries
            SET status = $1,
                last_error = coalesce(last_error || '; ', '') || 'no outcome of the last attempt was recorded'
          WHERE status = $2 AND next_attempt_at <= now() AND attempts >= max_attempts",
    )
    .bind(DeliveryStatus::Failed)
    .bind(DeliveryStatus::Pending)
    .execute(&mut *tx)
    .await?;
    let claimed = sqlx::query_as(
        "UPDATE notification_deliveries
            SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
          WHERE delivery_id IN (
                SELECT delivery_id FROM notification_deliveries
                 WHERE status = $3 AND next_attempt_at <= now() AND attempts < max_attempts
                 ORDER BY next_attempt_at
                 LIMIT $2
                   FOR UPDATE SKIP LOCKED)
         RETURNING delivery_id, org_id, event, channel, target, payload, attempts, max_attempts",
    )
    .bind(lease_seconds(config))
    .bind(BATCH)
    .bind(DeliveryStatus::Pending)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// The org's current webhook URL and secret (opened with the master key). Deliveries go to the
/// current URL: a delivery queued before the URL changed would not verify at the old endpoint,
/// whose secret was replaced with it.
async fn webhook_endpoint(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
) -> Result<(String, String), SendError> {
    let mut tx = org_transaction(pool, org_id)
        .await
        .map_err(NotifyError::from)?;
    let row: Option<(Option<String>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT webhook_url, webhook_secret_encrypted FROM backup_settings WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(NotifyError::from)?;
    tx.commit().await.map_err(NotifyError::from)?;
    let Some((Some(url), Some(sealed))) = row else {
        return Err(SendError::WebhookRemoved);
    };
    let key = crate::keys::master_key(&settings.encryption)
        .map_err(NotifyError::from)?
        .ok_or(NotifyError::NoMasterKey)?;
    Ok((url, settings::open_secret(&key, org_id, &sealed)?))
}

struct Channels {
    mailer: Result<Mailer, SendError>,
    http: reqwest::Client,
}

async fn send(
    pool: &PgPool,
    settings: &Settings,
    channels: &Channels,
    delivery: &Claimed,
) -> Result<(), SendError> {
    match delivery.channel.as_str() {
        "email" => {
            let mailer = channels.mailer.as_ref().map_err(|e| match e {
                SendError::EmailNotConfigured => SendError::EmailNotConfigured,
                other => SendError::BadConfig(other.to_string()),
            })?;
            let message: Message = serde_json::from_value(delivery.payload["message"].clone())
                .map_err(|e| SendError::BadConfig(format!("stored message: {e}")))?;
            mailer.send(&delivery.target, &message).await
        }
        _ => {
            let (url, secret) = webhook_endpoint(pool, settings, delivery.org_id).await?;
            let body = serde_json::to_vec(&delivery.payload).expect("JSON values serialize");
            let request = Delivery {
                url: &url,
                delivery_id: delivery.delivery_id,
                event: &delivery.event,
                secret: &secret,
                body: &body,
            };
            webhook::send(&channels.http, &settings.network, &request).await
        }
    }
}

async fn record(
    pool: &PgPool,
    config: &NotificationSettings,
    delivery: &Claimed,
    outcome: Result<(), SendError>,
) -> Result<(), sqlx::Error> {
    let mut tx = org_transaction(pool, delivery.org_id).await?;
    let query = match &outcome {
        Ok(()) => sqlx::query(
            "UPDATE notification_deliveries SET status = $2, delivered_at = now(), last_error = NULL
              WHERE delivery_id = $1",
        )
        .bind(delivery.delivery_id)
        .bind(DeliveryStatus::Delivered),
        Err(error) if error.is_permanent() || delivery.attempts >= delivery.max_attempts => {
            sqlx::query(
                "UPDATE notification_deliveries SET status = $3, last_error = $2 WHERE delivery_id = $1",
            )
            .bind(delivery.delivery_id)
            .bind(error.to_string())
            .bind(DeliveryStatus::Failed)
        }
        Err(error) => sqlx::query(
            "UPDATE notification_deliveries
                SET next_attempt_at = now() + make_interval(secs => $3), last_error = $2
              WHERE delivery_id = $1",
        )
        .bind(delivery.delivery_id)
        .bind(error.to_string())
        .bind(backoff(config, delivery.attempts) as f64),
    };
    query.execute(&mut *tx).await?;
    tx.commit().await?;
    if let Err(error) = outcome {
        tracing::warn!(
            delivery_id = %delivery.delivery_id,
            org_id = %delivery.org_id,
            channel = %delivery.channel,
            attempt = delivery.attempts,
            %error,
            "notification delivery failed"
        );
    }
    Ok(())
}

/// One pass: sends every delivery due now (in batches) and returns how many were delivered.
pub async fn deliver_due(pool: &PgPool, settings: &Settings) -> Result<usize, NotifyError> {
    let config = &settings.notifications;
    let channels = Channels {
        mailer: Mailer::from_settings(config),
        http: webhook::client(&settings.network, config.webhook_timeout_seconds),
    };
    let mut delivered = 0;
    loop {
        let batch = claim(pool, config).await?;
        for delivery in &batch {
            let outcome = send(pool, settings, &channels, delivery).await;
            delivered += usize::from(outcome.is_ok());
            record(pool, config, delivery, outcome).await?;
        }
        if (batch.len() as i64) < BATCH {
            return Ok(delivered);
        }
    }
}

/// Runs [`deliver_due`] every `notifications.dispatch_interval_seconds` until `shutdown`.
pub async fn run_dispatcher(
    pool: PgPool,
    settings: Arc<Settings>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let interval = settings.notifications.dispatch_interval_seconds;
    if interval == 0 {
        return;
    }
    while !*shutdown.borrow() {
        if let Err(error) = deliver_due(&pool, &settings).await {
            tracing::error!(%error, "notification dispatch failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(interval)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let config = NotificationSettings::default();
        let delays: Vec<u64> = (1..=9).map(|n| backoff(&config, n)).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(&config, 10_000), 3600);
    }
}
