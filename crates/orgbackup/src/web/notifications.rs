//! The in-app notifications of the org, and its notification settings (events, email recipients,
//! webhook, language), changed with `backup.schedule` like through the API.

use super::form;
use super::session::WebUser;
use super::{Layout, Tr, WebError, WebResult, render};
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::notifications::{
    self, ALL_EVENTS, NotifyError, OrgSettings, SettingsChange,
};
use orgbackup_service::permissions::Permission;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "notifications.html")]
struct InboxPage {
    t: Tr,
    l: Layout,
    page: notifications::Page,
}

pub async fn inbox(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    let page = notifications::list_in_app(&state.pool, user.org_id(), 1, 50, false).await?;
    let view = InboxPage {
        t: Tr::new(user.locale),
        l: Layout::of(&state, &user, "notifications").await?,
        page,
    };
    Ok(render(&view))
}

pub async fn mark_read(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    user.check_csrf(form::field(&form::pairs(&body), "_csrf"))?;
    if !notifications::mark_read(&state.pool, user.org_id(), id).await? {
        return Err(WebError::NotFound);
    }
    Ok(Redirect::to("/notifications").into_response())
}

#[derive(Template)]
#[template(path = "notification_settings.html")]
struct SettingsPage {
    t: Tr,
    l: Layout,
    settings: OrgSettings,
    can_change: bool,
    saved: bool,
    error: String,
    webhook_secret: String,
}

impl SettingsPage {
    fn events(&self) -> Vec<(&'static str, bool)> {
        ALL_EVENTS
            .iter()
            .map(|e| (e.as_str(), self.settings.wants(*e)))
            .collect()
    }

    fn recipients(&self) -> String {
        self.settings.email_recipients.join("\n")
    }
}

async fn settings_page(
    state: &AppState,
    user: &WebUser,
    saved: bool,
    error: String,
    webhook_secret: String,
) -> WebResult<Response> {
    let page = SettingsPage {
        t: Tr::new(user.locale),
        l: Layout::of(state, user, "notifications").await?,
        settings: notifications::get_settings(&state.pool, user.org_id()).await?,
        can_change: user.can(Permission::Schedule),
        saved,
        error,
        webhook_secret,
    };
    Ok(render(&page))
}

pub async fn settings(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    settings_page(&state, &user, false, String::new(), String::new()).await
}

pub async fn save_settings(
    State(state): State<AppState>,
    user: WebUser,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = form::pairs(&body);
    let field = |name: &str| form::field(&fields, name).map(str::to_string);
    user.check_csrf(field("_csrf").as_deref())?;
    user.caller
        .require(&state, Permission::Schedule, "notifications.settings")
        .await?;
    let current = notifications::get_settings(&state.pool, user.org_id()).await?;
    let webhook = field("webhook_url").unwrap_or_default().trim().to_string();
    // A new secret only when the URL changes or a new one is asked for.
    let webhook_url = if field("new_secret").is_some()
        || current.webhook_url.as_deref().unwrap_or_default() != webhook
    {
        Some(Some(webhook))
    } else {
        None
    };
    let change = SettingsChange {
        events: Some(form::all(&fields, "events")),
        email_recipients: Some(
            field("email_recipients")
                .unwrap_or_default()
                .split([',', '\n', ' '])
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        webhook_url,
        in_app: Some(field("in_app").is_some()),
        locale: field("locale"),
        expiring_notice_days: field("expiring_notice_days").and_then(|d| d.trim().parse().ok()),
    };
    match notifications::update_settings(&state.pool, &state.settings, user.org_id(), change).await
    {
        Ok(updated) => {
            audit::record(
                &state.pool,
                &Entry::new(&user.caller, "notifications.settings", Outcome::Success),
            )
            .await;
            settings_page(
                &state,
                &user,
                true,
                String::new(),
                updated.webhook_secret.unwrap_or_default(),
            )
            .await
        }
        Err(error @ (NotifyError::InvalidSettings(_) | NotifyError::NoMasterKey)) => {
            settings_page(&state, &user, false, error.to_string(), String::new()).await
        }
        Err(other) => Err(WebError::Internal(other.into())),
    }
}
