//! Steps 2 and 3: the compatibility analysis, then the plan with every conflict and a decision per row.

use super::{CONFLICTS_SHOWN, Choices, open_backup, record_key, require_full};
use crate::http::AppState;
use crate::http::error::AppError;
use crate::web::form::pairs;
use crate::web::session::WebUser;
use crate::web::{Layout, Tr, WebError, WebResult, render};
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use orgbackup_engine::{
    BackupMetadata, CompatibilityReport, ConflictRecord, RestorePlan, RestoreRequest,
};
use orgbackup_service::ids::{BackupId, OrgId};
use orgbackup_service::permissions::Permission;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "restore_analyze.html")]
struct AnalyzePage {
    t: Tr,
    l: Layout,
    backup_id: BackupId,
    backup_name: String,
    report: CompatibilityReport,
    can_full: bool,
}

pub async fn analyze(
    State(state): State<AppState>,
    user: WebUser,
    Path(backup_id): Path<BackupId>,
) -> WebResult<Response> {
    user.caller
        .require(&state, Permission::Restore, "restore.analyze")
        .await?;
    let org = user.org_id();
    let (_copy, archive) = open_backup(&state, org, backup_id).await?;
    let metadata: BackupMetadata = serde_json::from_value(archive.manifest().backup.clone())
        .map_err(|e| WebError::Internal(e.into()))?;
    let current = {
        let mut conn = state.pool.acquire().await?;
        orgbackup_engine::discover(&mut conn, &state.settings.tenancy)
            .await
            .map_err(|e| WebError::Internal(e.into()))?
    };
    let backup = crate::http::backups::find(&state, org, backup_id).await?;
    let page = AnalyzePage {
        t: Tr::new(user.locale),
        l: Layout::of(&state, &user, "restore").await?,
        backup_id,
        backup_name: backup.name,
        report: orgbackup_engine::analyze(&metadata, &current),
        can_full: user.can(Permission::RestoreFull),
    };
    Ok(render(&page))
}

/// Conflicts of one table, for the plan page.
pub struct TableConflicts {
    pub table: String,
    pub records: Vec<(usize, ConflictRecord)>,
}

#[derive(Template)]
#[template(path = "restore_plan.html")]
struct PlanPage {
    t: Tr,
    l: Layout,
    backup_id: BackupId,
    backup_name: String,
    choices: Choices,
    plan: RestorePlan,
    conflicts: Vec<TableConflicts>,
}

impl PlanPage {
    fn key_of(&self, record: &ConflictRecord) -> String {
        record_key(record)
    }

    fn actions(&self) -> [&'static str; 4] {
        ["default", "skip", "replace", "merge"]
    }

    /// A column's value as text; `None` for SQL NULL.
    fn cell(&self, values: &BTreeMap<String, Option<String>>, column: &str) -> Option<String> {
        values.get(column).cloned().flatten()
    }

    fn is_decision(&self, record: &ConflictRecord, action: &str) -> bool {
        self.choices.decision_for(record) == action
    }
}

pub(super) async fn compute_plan(
    state: &AppState,
    org: OrgId,
    backup_id: BackupId,
    choices: &Choices,
    samples: usize,
) -> WebResult<RestorePlan> {
    let (_copy, mut archive) = open_backup(state, org, backup_id).await?;
    let request = RestoreRequest {
        target_org_id: Some(org.into()),
        categories: choices.categories.clone(),
        mode: choices.mode(),
        confirm_full: true,
        conflicts: choices.conflicts,
        decisions: choices.decisions.clone(),
        conflict_samples: samples,
        fire_triggers: state.settings.restore.fire_triggers,
        ..Default::default()
    };
    orgbackup_engine::restore::plan(
        &state.pool,
        &state.settings.tenancy,
        &mut archive,
        &request,
        Arc::new(orgbackup_engine::NoProgress),
    )
    .await
    .map_err(|e| {
        WebError::App(AppError::Conflict(crate::terminal::error_chain(
            &anyhow::Error::from(e),
        )))
    })
}

pub async fn plan(
    State(state): State<AppState>,
    user: WebUser,
    Path(backup_id): Path<BackupId>,
    RawQuery(query): RawQuery,
) -> WebResult<Response> {
    user.caller
        .require(&state, Permission::Restore, "restore.plan")
        .await?;
    let choices = Choices::read(&pairs(query.unwrap_or_default().as_bytes()))?;
    require_full(&state, &user, &choices).await?;
    let org = user.org_id();
    let plan = compute_plan(&state, org, backup_id, &choices, CONFLICTS_SHOWN).await?;
    let mut conflicts: Vec<TableConflicts> = Vec::new();
    for (n, record) in plan.conflicts.iter().cloned().enumerate() {
        match conflicts.last_mut() {
            Some(group) if group.table == record.table => group.records.push((n, record)),
            _ => conflicts.push(TableConflicts {
                table: record.table.clone(),
                records: vec![(n, record)],
            }),
        }
    }
    let backup = crate::http::backups::find(&state, org, backup_id).await?;
    let page = PlanPage {
        t: Tr::new(user.locale),
        l: Layout::of(&state, &user, "restore").await?,
        backup_id,
        backup_name: backup.name,
        choices,
        plan,
        conflicts,
    };
    Ok(render(&page))
}
