//! Storage destinations of the org: the connections with their status, the default, adding an
//! S3 bucket, and connecting Dropbox, Google Drive or OneDrive with OAuth2 (the browser goes to
//! the provider and comes back to `/api/v1/storage/oauth/callback`, which returns here).
//! Everything needs `backup.schedule`, as through the API.

use super::form::{field, pairs};
use super::session::WebUser;
use super::{Layout, Tr, WebResult, render};
use crate::http::AppState;
use crate::http::error::AppError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::permissions::Permission;
use orgbackup_service::storage::connections::{self, Connection, OAuthBinding};
use orgbackup_service::storage::{Provider, S3Credentials, S3Settings, StorageError};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "storage.html")]
struct StoragePage {
    t: Tr,
    l: Layout,
    connections: Vec<Connection>,
    notice: String,
    error: String,
}

impl StoragePage {
    fn has_default(&self) -> bool {
        self.connections.iter().any(|c| c.is_default)
    }
}

#[derive(Deserialize, Default)]
pub struct Notice {
    connected: Option<String>,
}

async fn page(
    state: &AppState,
    user: &WebUser,
    notice: String,
    error: String,
) -> WebResult<Response> {
    user.caller
        .require(state, Permission::Schedule, "storage.list")
        .await?;
    let view = StoragePage {
        t: Tr::new(user.locale),
        l: Layout::of(state, user, "storage").await?,
        connections: connections::list(&state.pool, user.org_id())
            .await
            .map_err(AppError::from)?,
        notice,
        error,
    };
    Ok(render(&view))
}

pub async fn index(
    State(state): State<AppState>,
    user: WebUser,
    Query(notice): Query<Notice>,
) -> WebResult<Response> {
    let t = Tr::new(user.locale);
    let notice = notice
        .connected
        .map(|name| t.with("storage-connected", "name", &name))
        .unwrap_or_default();
    page(&state, &user, notice, String::new()).await
}

/// A storage error the user can fix is shown on the page; the rest are error pages.
async fn shown(state: &AppState, user: &WebUser, error: StorageError) -> WebResult<Response> {
    match AppError::from(error) {
        AppError::Invalid { message, .. }
        | AppError::Conflict(message)
        | AppError::StorageUnavailable(message) => page(state, user, String::new(), message).await,
        other => Err(other.into()),
    }
}

pub async fn add_s3(
    State(state): State<AppState>,
    user: WebUser,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    user.caller
        .require(&state, Permission::Schedule, "storage.connect")
        .await?;
    let text = |name: &str| field(&fields, name).unwrap_or_default().trim().to_string();
    let optional = |name: &str| Some(text(name)).filter(|v| !v.is_empty());
    let name = text("name");
    let settings = S3Settings {
        bucket: text("bucket"),
        region: text("region"),
        endpoint: optional("endpoint"),
        prefix: optional("prefix"),
    };
    let credentials = S3Credentials {
        access_key_id: text("access_key_id"),
        secret_access_key: text("secret_access_key"),
    };
    let test = field(&fields, "test").is_some();
    match connections::add_s3(
        &state.pool,
        &state.settings,
        user.org_id(),
        &name,
        settings,
        &credentials,
        test,
    )
    .await
    {
        Ok(connection) => {
            audit::record(
                &state.pool,
                &Entry::new(&user.caller, "storage.connect", Outcome::Success)
                    .entity("storage_connection", connection.connection_id)
                    .detail("provider", "s3"),
            )
            .await;
            Ok(
                Redirect::to(&format!("/settings/storage?connected={}", urlencode(&name)))
                    .into_response(),
            )
        }
        Err(error) => shown(&state, &user, error).await,
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Sends the browser to the provider's consent page.
pub async fn connect(
    State(state): State<AppState>,
    user: WebUser,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    user.caller
        .require(&state, Permission::Schedule, "storage.connect")
        .await?;
    let provider = match field(&fields, "provider") {
        Some("dropbox") => Provider::Dropbox,
        Some("google_drive") => Provider::GoogleDrive,
        Some("onedrive") => Provider::OneDrive,
        _ => return Err(super::WebError::NotFound),
    };
    let folder = field(&fields, "folder")
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or("/orgbackup");
    let started_by = OAuthBinding::Session(user.session_hash().to_string());
    match connections::authorize_url(
        &state.pool,
        &state.settings,
        provider,
        user.org_id(),
        field(&fields, "name").unwrap_or_default(),
        folder,
        &started_by,
    )
    .await
    {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(error) => shown(&state, &user, error).await,
    }
}

/// `action` = test | default | remove, on one connection.
pub async fn change(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    let org = user.org_id();
    let t = Tr::new(user.locale);
    let result = match field(&fields, "action") {
        Some("test") => {
            user.caller
                .require(&state, Permission::Schedule, "storage.test")
                .await?;
            let connection = match connections::find(&state.pool, org, &id).await {
                Ok(c) => c,
                Err(error) => return shown(&state, &user, error).await,
            };
            let tested = match connections::open(
                &state.pool,
                &state.settings,
                org,
                connection.connection_id,
            )
            .await
            {
                Ok(destination) => destination.test().await,
                Err(error) => Err(error),
            };
            tested.map(|()| t.with("storage-test-ok", "name", &connection.name))
        }
        Some("default") => {
            user.caller
                .require(&state, Permission::Schedule, "storage.default")
                .await?;
            connections::set_default(&state.pool, org, Some(&id))
                .await
                .map(|_| t.t("storage-default-set"))
        }
        Some("remove") => {
            user.caller
                .require(&state, Permission::Schedule, "storage.disconnect")
                .await?;
            connections::remove(&state.pool, org, &id)
                .await
                .map(|_| t.t("storage-removed"))
        }
        _ => return Err(super::WebError::NotFound),
    };
    match result {
        Ok(notice) => {
            audit::record(
                &state.pool,
                &Entry::new(&user.caller, "storage.change", Outcome::Success)
                    .entity("storage_connection", &id)
                    .detail("action", field(&fields, "action").unwrap_or_default()),
            )
            .await;
            page(&state, &user, notice, String::new()).await
        }
        Err(error) => shown(&state, &user, error).await,
    }
}
