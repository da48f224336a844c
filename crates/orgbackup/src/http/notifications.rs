//! `/api/v1/notifications...`: the org's in-app notifications, and its notification settings.

use super::AppState;
use super::auth::Caller;
use super::error::problems;
use super::error::{AppError, Result};
use super::extract::{AppJson, AppPath, AppQuery, Body};
use axum::Json;
use axum::extract::State;
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::notifications::{self, NotifyError, OrgSettings, SettingsChange};
use orgbackup_service::permissions::Permission;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(show_settings, change_settings))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// From 1 (default 1).
    page: Option<u32>,
    /// Default 20.
    per_page: Option<u32>,
    /// Only the unread ones.
    #[serde(default)]
    unread: bool,
}

/// The organization's in-app notifications, newest first, in its language. Any token of the
/// organization.
#[utoipa::path(get, path = "/notifications", tag = "notifications", params(ListQuery),
    responses((status = 200, body = notifications::Page)))]
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

/// A notification, marked read.
#[derive(Serialize, ToSchema)]
struct NotificationRead {
    notification_id: Uuid,
    /// `true`.
    read: bool,
}

/// Mark a notification read.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications", params(("id" = Uuid, Path, description = "The notification's id")),
    responses((status = 200, body = NotificationRead), (status = 404, response = problems::NotFound)))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<NotificationRead>> {
    if !notifications::mark_read(&state.pool, caller.principal.org_id, id).await? {
        return Err(AppError::NotFound("notification"));
    }
    Ok(Json(NotificationRead {
        notification_id: id,
        read: true,
    }))
}

/// The organization's notification settings. Any token of the organization.
#[utoipa::path(get, path = "/notifications/settings", tag = "notifications",
    responses((status = 200, body = OrgSettings)))]
async fn show_settings(State(state): State<AppState>, caller: Caller) -> Result<Json<OrgSettings>> {
    Ok(Json(
        notifications::get_settings(&state.pool, caller.principal.org_id).await?,
    ))
}

/// Only the fields present change. `webhook_url`: a URL sets it and answers a new secret, once;
/// `null` or `""` removes the webhook.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotificationSettingsChange)]
struct SettingsBody {
    /// The events to notify of (every channel).
    #[schema(value_type = Option<Vec<orgbackup_service::notifications::Event>>)]
    events: Option<Vec<String>>,
    /// At most 50 addresses.
    email_recipients: Option<Vec<String>>,
    /// An `https://` URL; `null` or `""` removes the webhook.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    webhook_url: Option<Option<String>>,
    in_app: Option<bool>,
    #[schema(value_type = Option<orgbackup_service::i18n::Locale>)]
    locale: Option<String>,
    /// Days before a backup expires that `backup_expiring` is sent (at most 365).
    #[schema(maximum = 365)]
    expiring_notice_days: Option<u32>,
}

/// Tells a `null` apart from an absent field (which `#[serde(default)]` leaves `None`).
fn present<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The settings, changed (with the webhook's secret if this change generated one).
#[derive(Serialize, ToSchema)]
#[schema(as = NotificationSettingsChanged)]
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

/// Change the organization's notification settings. Needs `backup.schedule`.
#[utoipa::path(put, path = "/notifications/settings", tag = "notifications", request_body = SettingsBody,
    responses(
        (status = 200, body = SettingsAnswer),
        (status = 403, response = problems::Forbidden),
        (status = 413, response = problems::TooLarge),
    ))]
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
