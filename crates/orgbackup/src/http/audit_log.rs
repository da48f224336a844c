//! `GET /api/v1/audit`: the org's audit log, newest first, filterable by action and outcome.

use super::AppState;
use super::auth::Caller;
use super::error::problems;
use super::error::{AppError, Result};
use super::extract::AppQuery;
use axum::Json;
use axum::extract::State;
pub(crate) use orgbackup_service::audit::AuditEntry;
use orgbackup_service::audit::{self, AuditFilter, ReadError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Filter {
    /// Only this action, e.g. `backup.create` (blank: all).
    pub action: Option<String>,
    /// Only this outcome: `success`, `failure` or `denied` (blank: all).
    pub outcome: Option<String>,
    /// From 1 (default 1).
    pub page: Option<u32>,
    /// 1 to 200 (default 50).
    pub per_page: Option<u32>,
}

/// One page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
struct AuditPage {
    data: Vec<AuditEntry>,
    page: u32,
    per_page: u32,
}

/// The organization's audit log, newest first. Needs `backup.view_logs`.
#[utoipa::path(get, path = "/audit", tag = "audit", params(Filter),
    responses((status = 200, body = AuditPage), (status = 403, response = problems::Forbidden)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(filter): AppQuery<Filter>,
) -> Result<Json<AuditPage>> {
    let (data, page, per_page) = entries(&state, &caller, &filter).await?;
    Ok(Json(AuditPage {
        data,
        page,
        per_page,
    }))
}

/// One page of the caller's org's audit log, newest first (needs `backup.view_logs`).
pub(crate) async fn entries(
    state: &AppState,
    caller: &Caller,
    filter: &Filter,
) -> Result<(Vec<AuditEntry>, u32, u32)> {
    let per_page = filter.per_page.unwrap_or(50).clamp(1, 200);
    let page = filter.page.unwrap_or(1).max(1);
    fn blank(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|v| !v.trim().is_empty())
    }
    let only = AuditFilter {
        action: blank(&filter.action),
        outcome: blank(&filter.outcome),
    };
    // In i64: `page` can be any u32, and (page - 1) * per_page overflows u32.
    let offset = i64::from(page - 1) * i64::from(per_page);
    let entries = audit::entries(&state.pool, caller, &only, i64::from(per_page), offset)
        .await
        .map_err(|error| match error {
            ReadError::Denied(denied) => AppError::from(denied),
            ReadError::Sql(error) => error.into(),
        })?;
    Ok((entries, page, per_page))
}
