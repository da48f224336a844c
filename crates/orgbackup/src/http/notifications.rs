//! `/api/v1/notifications...`: the org's in-app notifications, and its notification settings.

use super::AppState;
use super::auth::Caller;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, AppQuery, Body};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::notifications::{self, NotifyError, OrgSettings, SettingsChange};
use orgbackup_service::permissions::Permission;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list))
        .route("/notifications/{id}/read", post(read))
        .route(
            "/notifications/settings",
            get(show_settings).put(change_settings),
        )
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    #[serde(default)]
    unread: bool,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<notifications::Page>> {
    let page = notifications::list_in_app(
        &state.pool,
        caller.principal.org_id,
        query.page.unwrap_or(1),
        query.per_page.unwrap_or(20),
        query.unread,
    )
    .await?;
    Ok(Json(page))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<serde_json::Value>> {
    if !notifications::mark_read(&state.pool, caller.principal.org_id, id).await? {
        return Err(AppError::NotFound("notification"));
    }
    Ok(Json(
        serde_json::json!({"notification_id": id, "read": true}),
    ))
}

async fn show_settings(State(state): State<AppState>, caller: Caller) -> Result<Json<OrgSettings>> {
    Ok(Json(
        notifications::get_settings(&state.pool, caller.principal.org_id).await?,
    ))
}

/// Only the fields present change. `webhook_url`: a URL sets it and answers a new secret, once;
/// `null` or `""` removes the webhook.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    events: Option<Vec<String>>,
    email_recipients: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    webhook_url: Option<Option<String>>,
    in_app: Option<bool>,
    locale: Option<String>,
    expiring_notice_days: Option<u32>,
}

/// Tells a `null` apart from an absent field (which `#[serde(default)]` leaves `None`).
fn present<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Serialize)]
struct SettingsAnswer {
    #[serde(flatten)]
    settings: OrgSettings,
    /// Present only in the answer that generated it: it is stored sealed and never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
}

impl From<NotifyError> for AppError {
    fn from(error: NotifyError) -> Self {
        match error {
            NotifyError::InvalidSettings(message) => AppError::Invalid {
                code: "invalid_notification_settings",
                message,
            },
            NotifyError::NoMasterKey => AppError::Invalid {
                code: "webhook_unavailable",
                message: error.to_string(),
            },
            other => AppError::Internal(other.into()),
        }
    }
}

async fn change_settings(
    State(state): State<AppState>,
    caller: Caller,
    body: Body<SettingsBody>,
) -> Result<Json<SettingsAnswer>> {
    caller
        .require(&state, Permission::Schedule, "notifications.settings")
        .await?;
    let AppJson(body) = body?;
    let change = SettingsChange {
        events: body.events,
        email_recipients: body.email_recipients,
        webhook_url: body.webhook_url,
        in_app: body.in_app,
        locale: body.locale,
        expiring_notice_days: body.expiring_notice_days,
    };
    let org = caller.principal.org_id;
    let updated = notifications::update_settings(&state.pool, &state.settings, org, change).await;
    let outcome = if updated.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let generated = updated.as_ref().is_ok_and(|u| u.webhook_secret.is_some());
    audit::record(
        &state.pool,
        &Entry::new(&caller, "notifications.settings", outcome)
            .detail("webhook_secret_generated", generated),
    )
    .await;
    let updated = updated?;
    Ok(Json(SettingsAnswer {
        settings: updated.settings,
        webhook_secret: updated.webhook_secret,
    }))
}
