//! After the start: the restore's status, its progress (polled), and the rollback.

use crate::http::AppState;
use crate::http::error::AppError;
use crate::web::form::{field, pairs};
use crate::web::session::WebUser;
use crate::web::{Layout, Tr, WebError, WebResult, render};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use orgbackup_service::ids::RestoreId;
use orgbackup_service::permissions::Permission;
use orgbackup_service::restores::{self, RestoreState, RestoreStatus};

/// One table's counts from a stored plan.
pub struct PlanRow {
    pub table: String,
    pub insert: i64,
    pub replace: i64,
    pub merge: i64,
    pub skip: i64,
    pub delete: i64,
}

#[derive(Template)]
#[template(path = "restore_status.html")]
struct StatusPage {
    t: Tr,
    l: Layout,
    restore_id: RestoreId,
    status: RestoreStatus,
    error: String,
    rows: Vec<PlanRow>,
    rollback_until: Option<DateTime<Utc>>,
    running: bool,
}

async fn restore_state(state: &AppState, user: &WebUser, id: RestoreId) -> WebResult<RestoreState> {
    user.caller
        .require(state, Permission::Restore, "restore.status")
        .await?;
    restores::state(&state.pool, user.org_id(), id)
        .await?
        .ok_or(WebError::NotFound)
}

pub async fn status(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<RestoreId>,
) -> WebResult<Response> {
    let restore = restore_state(&state, &user, id).await?;
    let plan = restore.plan.clone().unwrap_or_default();
    let rows = plan["tables"]
        .as_array()
        .map(|tables| {
            tables
                .iter()
                .map(|t| {
                    let n = |k: &str| t[k].as_i64().unwrap_or(0);
                    PlanRow {
                        table: format!(
                            "{}.{}",
                            t["table"]["schema"].as_str().unwrap_or_default(),
                            t["table"]["name"].as_str().unwrap_or_default()
                        ),
                        insert: n("insert"),
                        replace: n("replace"),
                        merge: n("merge"),
                        skip: n("skip"),
                        delete: n("delete"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let page = StatusPage {
        t: Tr::new(user.locale),
        l: Layout::of(&state, &user, "restore").await?,
        restore_id: id,
        running: restore.status.is_in_progress(),
        error: restore.error_message.clone().unwrap_or_default(),
        rollback_until: restore.rollback_until(),
        status: restore.status,
        rows,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "restore_progress.html")]
struct ProgressFragment {
    t: Tr,
    status: RestoreStatus,
    percent: i64,
    phase: String,
    table: String,
    rows: i64,
}

pub async fn progress(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<RestoreId>,
) -> WebResult<Response> {
    let restore = restore_state(&state, &user, id).await?;
    let progress = restore.progress.unwrap_or_default();
    let fragment = ProgressFragment {
        t: Tr::new(user.locale),
        percent: progress["percent"]
            .as_f64()
            .unwrap_or(0.0)
            .clamp(0.0, 100.0) as i64,
        phase: progress["phase"].as_str().unwrap_or_default().to_string(),
        table: progress["current_table"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        rows: progress["rows"].as_i64().unwrap_or(0),
        status: restore.status,
    };
    let mut response = render(&fragment);
    if !restore.status.is_in_progress() {
        response
            .headers_mut()
            .insert("HX-Refresh", axum::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

pub async fn rollback(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<RestoreId>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    let force = field(&fields, "force") == Some("on");
    restores::request_rollback(&state.pool, &state.settings, &user.caller, id, force)
        .await
        .map_err(AppError::from)?;
    Ok(Redirect::to(&format!("/restores/{id}")).into_response())
}
