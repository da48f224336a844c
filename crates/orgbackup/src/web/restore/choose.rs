//! Step 1: choose one of the org's completed backups, or upload a backup file.

use crate::http::AppState;
use crate::http::error::AppError;
use crate::web::session::WebUser;
use crate::web::{Layout, Tr, WebError, WebResult, render};
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use orgbackup_service::backups::BackupStatus;
use orgbackup_service::db::org_transaction;
use orgbackup_service::ids::BackupId;
use orgbackup_service::permissions::Permission;

#[derive(sqlx::FromRow)]
pub struct BackupChoice {
    pub backup_id: BackupId,
    pub name: String,
    pub backup_type: String,
    pub file_size: Option<i64>,
    pub total_rows: Option<i64>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Template)]
#[template(path = "restore_choose.html")]
struct ChoosePage {
    t: Tr,
    l: Layout,
    backups: Vec<BackupChoice>,
    can_upload: bool,
}

pub async fn choose(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    if !user.can(Permission::Restore) {
        return Err(WebError::App(AppError::Forbidden(Permission::Restore)));
    }
    let org = user.org_id();
    let mut tx = org_transaction(&state.pool, org).await?;
    let backups = sqlx::query_as(
        "SELECT backup_id, name, backup_type, file_size, total_rows, completed_at FROM organization_backups
          WHERE org_id = $1 AND status = $2 ORDER BY completed_at DESC LIMIT 100",
    )
    .bind(org)
    .bind(BackupStatus::Completed)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let page = ChoosePage {
        t: Tr::new(user.locale),
        l: Layout::of(&state, &user, "restore").await?,
        backups,
        can_upload: user.can(Permission::Upload),
    };
    Ok(render(&page))
}

/// The upload form of the first step: an external backup file, checked exactly as the API's
/// upload checks it, then analyzed like any other backup. The CSRF field comes before the file,
/// so a forged form is refused before a byte of the file is stored.
pub async fn upload(
    State(state): State<AppState>,
    user: WebUser,
    mut form: axum::extract::Multipart,
) -> WebResult<Response> {
    let bad_form = |e: axum::extract::multipart::MultipartError| {
        WebError::App(AppError::Invalid {
            code: "upload_interrupted",
            message: format!("the upload form could not be read: {e}"),
        })
    };
    let mut csrf = None;
    let mut sha256 = None;
    while let Some(field) = form.next_field().await.map_err(bad_form)? {
        match field.name() {
            Some("_csrf") => csrf = Some(field.text().await.map_err(bad_form)?),
            Some("sha256") => sha256 = Some(field.text().await.map_err(bad_form)?),
            Some("file") => {
                user.check_csrf(csrf.as_deref())?;
                let received =
                    crate::http::upload::receive(&state, &user.caller, field, sha256.take())
                        .await?;
                let id = received.backup_id;
                return Ok(Redirect::to(&format!("/restore/{id}")).into_response());
            }
            _ => {}
        }
    }
    Err(WebError::App(AppError::Invalid {
        code: "invalid_backup",
        message: "the form carried no file".into(),
    }))
}
