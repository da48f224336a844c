//! In-app notifications: listed newest first with their text in the org's language, marked read.

use super::event::Event;
use super::messages::{Message, render};
use super::settings;
use crate::db::org_transaction;
use crate::ids::OrgId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InAppNotification {
    pub notification_id: Uuid,
    pub event: String,
    pub data: Value,
    pub message: Option<Message>,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NotificationPage))]
pub struct Page {
    pub data: Vec<InAppNotification>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
    pub unread: i64,
}

type Row = (Uuid, String, Value, Option<DateTime<Utc>>, DateTime<Utc>);

pub async fn list(
    pool: &PgPool,
    org_id: OrgId,
    page: u32,
    per_page: u32,
    unread_only: bool,
) -> Result<Page, sqlx::Error> {
    let page = page.max(1);
    let per_page = per_page.clamp(1, 100);
    let mut tx = org_transaction(pool, org_id).await?;
    let locale = settings::load(&mut tx, org_id).await?.locale;
    let (total, unread): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE NOT $2 OR read_at IS NULL), count(*) FILTER (WHERE read_at IS NULL)
           FROM notifications WHERE org_id = $1",
    )
    .bind(org_id)
    .bind(unread_only)
    .fetch_one(&mut *tx)
    .await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT notification_id, event, data, read_at, created_at FROM notifications
          WHERE org_id = $1 AND (NOT $2 OR read_at IS NULL)
          ORDER BY created_at DESC, notification_id DESC LIMIT $3 OFFSET $4",
    )
    .bind(org_id)
    .bind(unread_only)
    .bind(i64::from(per_page))
    .bind(i64::from(page - 1) * i64::from(per_page))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let data = rows
        .into_iter()
        .map(|(notification_id, event, data, read_at, created_at)| {
            let message = Event::parse(&event).ok().map(|e| render(e, locale, &data));
            InAppNotification {
                notification_id,
                event,
                data,
                message,
                read_at,
                created_at,
            }
        })
        .collect();
    Ok(Page {
        data,
        page,
        per_page,
        total,
        unread,
    })
}

/// Marks one of the org's notifications read; `false` when the org has no such notification.
pub async fn mark_read(pool: &PgPool, org_id: OrgId, id: Uuid) -> Result<bool, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let found = sqlx::query(
        "UPDATE notifications SET read_at = coalesce(read_at, now())
          WHERE org_id = $1 AND notification_id = $2",
    )
    .bind(org_id)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    tx.commit().await?;
    Ok(found)
}
