//! `GET /api/v1/audit`: the org's audit log, newest first, filterable by action and outcome.

use super::AppState;
use super::auth::Caller;
use super::error::Result;
use super::error::problems;
use super::extract::AppQuery;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use orgbackup_service::db::org_transaction;
use orgbackup_service::permissions::Permission;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

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

/// One entry of the audit log: who did what, to what, with what outcome.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct AuditEntry {
    pub log_id: i64,
    pub actor_user_id: Option<Uuid>,
    pub actor_token_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub outcome: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub created_at: DateTime<Utc>,
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
    caller
        .require(state, Permission::ViewLogs, "audit.view")
        .await?;
    let per_page = filter.per_page.unwrap_or(50).clamp(1, 200);
    let page = filter.page.unwrap_or(1).max(1);
    let org = caller.principal.org_id;
    let blank = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    let mut tx = org_transaction(&state.pool, org).await?;
    let entries: Vec<AuditEntry> = sqlx::query_as(
        "SELECT log_id, actor_user_id, actor_token_id, actor_label, action, entity_type, entity_id, outcome,
                host(ip_address) AS ip_address, user_agent, details, created_at
           FROM backup_audit_logs
          WHERE org_id = $1 AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR outcome = $3)
          ORDER BY log_id DESC LIMIT $4 OFFSET $5",
    )
    .bind(org)
    .bind(blank(&filter.action))
    .bind(blank(&filter.outcome))
    .bind(i64::from(per_page))
    // In i64: `page` can be any u32, and (page - 1) * per_page overflows u32.
    .bind(i64::from(page - 1) * i64::from(per_page))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((entries, page, per_page))
}
