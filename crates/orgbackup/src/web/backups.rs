//! Backup pages: the list with the create form, one backup's details, its live progress and its
//! download. Creating and downloading call the same use cases as the API (`backups::request`,
//! `backups::download`), so the plan limits, permissions and audit entries are the same.

use super::session::WebUser;
use super::{Layout, Tr, WebError, WebResult, render};
use crate::http::AppState;
use crate::http::error::AppError;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use orgbackup_service::backups::records::LastWholeBackup;
use orgbackup_service::backups::{self, Backup, BackupAsked, BackupStatus};
use orgbackup_service::ids::{BackupId, OrgId};
use orgbackup_service::permissions::Permission;
use orgbackup_service::states::ConnectionStatus;
use std::collections::BTreeMap;

/// A category offered by the create form, with what the last whole backup found in it.
pub struct CategoryChoice {
    pub name: String,
    pub tables: i64,
    /// Rows in the org's last completed backup, when there is one.
    pub rows: Option<i64>,
    /// The category's share of that backup's file size.
    pub bytes: Option<i64>,
}

#[derive(Template)]
#[template(path = "backups.html")]
struct BackupsPage {
    t: Tr,
    l: Layout,
    backups: Vec<Backup>,
    categories: Vec<CategoryChoice>,
    can_create: bool,
    encryption_available: bool,
    destinations: Vec<orgbackup_service::storage::connections::Connection>,
}

async fn category_choices(state: &AppState, org: OrgId) -> WebResult<Vec<CategoryChoice>> {
    let schema = {
        let mut conn = state.pool.acquire().await?;
        orgbackup_engine::discover(&mut conn, &state.settings.tenancy)
            .await
            .map_err(|e| WebError::Internal(e.into()))?
    };
    let last = backups::records::last_whole(&state.pool, org).await?;
    let mut choices: BTreeMap<String, CategoryChoice> = BTreeMap::new();
    for table in &schema.tables {
        let choice = choices
            .entry(table.category.clone())
            .or_insert_with(|| CategoryChoice {
                name: table.category.clone(),
                tables: 0,
                rows: last.as_ref().map(|_| 0),
                bytes: None,
            });
        choice.tables += 1;
        if let (Some(rows), Some(last)) = (&mut choice.rows, &last) {
            *rows += last.row_counts[table.name.to_string()]
                .as_i64()
                .unwrap_or(0);
        }
    }
    if let Some(LastWholeBackup {
        total_rows: Some(total_rows),
        file_size: Some(size),
        ..
    }) = last.filter(|l| l.total_rows.unwrap_or(0) > 0)
    {
        for choice in choices.values_mut() {
            choice.bytes = choice.rows.map(|rows| size * rows / total_rows);
        }
    }
    Ok(choices.into_values().collect())
}

pub async fn index(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    let org = user.org_id();
    // The newest hundred: older ones are reached through the API's pages.
    let (backups, _) = backups::records::page(&state.pool, org, 100, 0).await?;
    let page = BackupsPage {
        t: Tr::new(user.locale),
        categories: category_choices(&state, org).await?,
        can_create: user.can(Permission::Create),
        encryption_available: state.settings.encryption.master_key.is_some(),
        destinations: orgbackup_service::storage::connections::list(&state.pool, org)
            .await
            .map_err(|e| WebError::Internal(e.into()))?
            .into_iter()
            .filter(|c| c.status == ConnectionStatus::Active)
            .collect(),
        l: Layout::of(&state, &user, "backups").await?,
        backups,
    };
    Ok(render(&page))
}

/// The create form: `categories` repeats (one per checked box).
pub async fn create(
    State(state): State<AppState>,
    user: WebUser,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let mut csrf = None;
    let mut request = BackupAsked::default();
    // Repeated keys (`categories=a&categories=b`) are not supported by `Form` into a struct.
    for (key, value) in super::form::pairs(&body) {
        match key.as_str() {
            "_csrf" => csrf = Some(value),
            "name" if !value.trim().is_empty() => request.name = Some(value.trim().to_string()),
            "categories" => request.categories.push(value),
            "encrypt" => request.encrypt = value == "on",
            "destination" if !value.is_empty() => request.destination = Some(value),
            _ => {}
        }
    }
    user.check_csrf(csrf.as_deref())?;
    if let Some(name) = &request.name {
        crate::http::extract::check_name("backup name", name)?;
    }
    let queued = backups::request(&state.pool, &state.settings, &user.caller, request)
        .await
        .map_err(AppError::from)?;
    let id = queued.backup_id;
    Ok(Redirect::to(&format!("/backups/{id}")).into_response())
}

/// One table of a backup, from its row counts.
pub struct TableRows {
    pub table: String,
    pub rows: i64,
}

#[derive(Template)]
#[template(path = "backup.html")]
struct BackupPage {
    t: Tr,
    l: Layout,
    backup: Backup,
    tables: Vec<TableRows>,
    can_download: bool,
    running: bool,
}

pub async fn show(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<BackupId>,
) -> WebResult<Response> {
    let backup = backups::records::find(&state.pool, user.org_id(), id)
        .await?
        .ok_or(WebError::NotFound)?;
    let tables = backup
        .row_counts
        .as_ref()
        .and_then(|v| v.as_object())
        .map(|counts| {
            counts
                .iter()
                .map(|(table, rows)| TableRows {
                    table: table.clone(),
                    rows: rows.as_i64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    let page = BackupPage {
        t: Tr::new(user.locale),
        l: Layout::of(&state, &user, "backups").await?,
        running: backup.status.is_in_progress(),
        can_download: user.can(Permission::Download) && backup.status == BackupStatus::Completed,
        backup,
        tables,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "backup_progress.html")]
struct ProgressFragment {
    t: Tr,
    status: BackupStatus,
    percent: i64,
    table: String,
    rows: i64,
    bytes: i64,
    error: String,
}

/// The progress box, polled by htmx every second while the backup runs. When the backup ends,
/// the fragment stops polling and asks the page to reload (`HX-Refresh`) to show the result.
pub async fn progress(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<BackupId>,
) -> WebResult<Response> {
    let org = user.org_id();
    let backups::records::BackupProgress {
        status,
        progress,
        error,
    } = backups::records::progress(&state.pool, org, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let progress = progress.unwrap_or_default();
    let number = |key: &str| progress[key].as_f64().unwrap_or(0.0) as i64;
    let running = status.is_in_progress();
    let fragment = ProgressFragment {
        t: Tr::new(user.locale),
        percent: if status == BackupStatus::Completed {
            100
        } else {
            number("percent").clamp(0, 100)
        },
        table: progress["current_table"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        rows: number("rows"),
        bytes: number("bytes"),
        error: error.unwrap_or_default(),
        status,
    };
    let mut response = render(&fragment);
    if !running {
        response
            .headers_mut()
            .insert("HX-Refresh", axum::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

pub async fn download(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<BackupId>,
) -> WebResult<Response> {
    let download = backups::download(&state.pool, &state.settings, &user.caller, id)
        .await
        .map_err(AppError::from)?;
    Ok(crate::http::backups::file_response(download))
}
