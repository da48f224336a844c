//! The restore wizard: choose a backup -> compatibility analysis -> categories, mode and default
//! conflict action -> the plan, with every conflicting row shown as backup value next to current
//! value and a decision per row -> confirmation (for a full restore: what will change, the org's
//! name typed back and the password re-entered) -> progress -> result with the rollback button.
//!
//! Starting and rolling back go through the API's handlers: the same permissions (a full restore
//! needs `backup.restore_full`; without it the option is neither shown nor accepted), audit
//! entries and jobs.

use super::form::{field, pairs};
use super::session::WebUser;
use super::{Layout, Tr, WebError, WebResult, render};
use crate::http::AppState;
use crate::http::error::AppError;
use crate::http::extract::{AppJson, AppPath};
use crate::http::restores as api;
use askama::Template;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use orgbackup_engine::{
    BackupMetadata, CompatibilityReport, ConflictAction, ConflictRecord, RecordDecision,
    RestoreMode, RestorePlan, RestoreRequest,
};
use orgbackup_service::backups::BackupStatus;
use orgbackup_service::db::org_transaction;
use orgbackup_service::jobs::RestoreOptions;
use orgbackup_service::permissions::Permission;
use orgbackup_service::restores::{self, RestoreState, RestoreStatus};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Conflicting rows shown per table on the plan page.
const CONFLICTS_SHOWN: usize = 50;

fn action_name(action: ConflictAction) -> &'static str {
    orgbackup_service::jobs::conflict_name(action)
}

fn parse_action(text: &str) -> Option<ConflictAction> {
    match text {
        "skip" => Some(ConflictAction::Skip),
        "replace" => Some(ConflictAction::Replace),
        "merge" => Some(ConflictAction::Merge),
        _ => None,
    }
}

/// What the wizard carries from step to step (query string or hidden fields).
#[derive(Clone, Debug, Default)]
pub struct Choices {
    pub categories: Vec<String>,
    pub full: bool,
    pub conflicts: ConflictAction,
    pub decisions: Vec<RecordDecision>,
}

impl Choices {
    fn read(fields: &[(String, String)]) -> WebResult<Self> {
        let mut choices = Choices::default();
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let mut actions: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in fields {
            match name.as_str() {
                "categories" => choices.categories.push(value.clone()),
                "mode" => choices.full = value == "full",
                "conflicts" => choices.conflicts = parse_action(value).unwrap_or_default(),
                "decisions" if !value.is_empty() => {
                    choices.decisions = serde_json::from_str(value).map_err(|e| {
                        WebError::App(AppError::Invalid {
                            code: "invalid_body",
                            message: format!("the decisions field is not valid: {e}"),
                        })
                    })?;
                }
                other => {
                    if let Some(n) = other.strip_prefix("record.") {
                        keys.insert(n.to_string(), value.clone());
                    } else if let Some(n) = other.strip_prefix("decision.") {
                        actions.insert(n.to_string(), value.clone());
                    }
                }
            }
        }
        // One radio group per shown conflict: "default" follows the bulk choice.
        for (n, action) in actions {
            let (Some(action), Some(record)) = (parse_action(&action), keys.get(&n)) else {
                continue;
            };
            let record: RecordKey = serde_json::from_str(record).map_err(|e| {
                WebError::App(AppError::Invalid {
                    code: "invalid_body",
                    message: format!("a conflict's key is not valid: {e}"),
                })
            })?;
            choices
                .decisions
                .retain(|d| !(d.table == record.table && d.key == record.key));
            choices.decisions.push(RecordDecision {
                table: record.table,
                key: record.key,
                action,
            });
        }
        Ok(choices)
    }

    fn mode(&self) -> RestoreMode {
        if self.full {
            RestoreMode::Full
        } else {
            RestoreMode::Merge
        }
    }

    pub fn conflicts_name(&self) -> &'static str {
        action_name(self.conflicts)
    }

    pub fn decisions_json(&self) -> String {
        serde_json::to_string(&self.decisions).unwrap_or_else(|_| "[]".into())
    }

    /// The decision taken for one shown conflict, if any ("default" otherwise).
    pub fn decision_for(&self, record: &ConflictRecord) -> &'static str {
        self.decisions
            .iter()
            .find(|d| d.table == record.table && d.key == record.key)
            .map_or("default", |d| action_name(d.action))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RecordKey {
    table: String,
    key: BTreeMap<String, String>,
}

/// The key of a shown conflict, as the hidden field that names it.
fn record_key(record: &ConflictRecord) -> String {
    serde_json::to_string(&RecordKey {
        table: record.table.clone(),
        key: record.key.clone(),
    })
    .unwrap_or_default()
}

/// A full restore is neither offered nor accepted without `backup.restore_full` (each refusal
/// is audited like the API's).
async fn require_full(state: &AppState, user: &WebUser, choices: &Choices) -> WebResult<()> {
    if choices.full {
        user.caller
            .require(state, Permission::RestoreFull, "restore.full")
            .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
pub struct BackupChoice {
    pub backup_id: Uuid,
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

/// Opens one of the org's backups (fetched to a local copy when it lives remotely).
async fn open_backup(
    state: &AppState,
    org: Uuid,
    backup_id: Uuid,
) -> WebResult<(
    orgbackup_service::storage::LocalCopy,
    orgbackup_service::archives::FileArchive,
)> {
    let (destination, path) = api::stored_backup(state, org, backup_id).await?;
    let copy = destination
        .fetch(&state.settings, &path)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let archive = orgbackup_service::archives::open(&state.settings, copy.path(), None)
        .await
        .map_err(WebError::Internal)?;
    Ok((copy, archive))
}

#[derive(Template)]
#[template(path = "restore_analyze.html")]
struct AnalyzePage {
    t: Tr,
    l: Layout,
    backup_id: Uuid,
    backup_name: String,
    report: CompatibilityReport,
    can_full: bool,
}

pub async fn analyze(
    State(state): State<AppState>,
    user: WebUser,
    Path(backup_id): Path<Uuid>,
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
    let (backup, _) = crate::http::backups::find(&state, org, backup_id).await?;
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
    backup_id: Uuid,
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

async fn compute_plan(
    state: &AppState,
    org: Uuid,
    backup_id: Uuid,
    choices: &Choices,
    samples: usize,
) -> WebResult<RestorePlan> {
    let (_copy, mut archive) = open_backup(state, org, backup_id).await?;
    let request = RestoreRequest {
        target_org_id: Some(org.to_string()),
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
    Path(backup_id): Path<Uuid>,
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
    let (backup, _) = crate::http::backups::find(&state, org, backup_id).await?;
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

#[derive(Template)]
#[template(path = "restore_confirm.html")]
struct ConfirmPage {
    t: Tr,
    l: Layout,
    backup_id: Uuid,
    backup_name: String,
    choices: Choices,
    plan: RestorePlan,
    failed: bool,
}

impl ConfirmPage {
    fn total(&self, field: &str) -> i64 {
        self.plan.total(|t| match field {
            "insert" => t.insert,
            "replace" => t.replace,
            "merge" => t.merge,
            "skip" => t.skip,
            "delete" => t.delete,
            _ => 0,
        }) as i64
    }
}

async fn confirm_page(
    state: &AppState,
    user: &WebUser,
    backup_id: Uuid,
    choices: Choices,
    failed: bool,
) -> WebResult<Response> {
    let org = user.org_id();
    let plan = compute_plan(state, org, backup_id, &choices, 0).await?;
    let (backup, _) = crate::http::backups::find(state, org, backup_id).await?;
    let page = ConfirmPage {
        t: Tr::new(user.locale),
        l: Layout::of(state, user, "restore").await?,
        backup_id,
        backup_name: backup.name,
        choices,
        plan,
        failed,
    };
    Ok(render(&page))
}

/// The plan page posts here: the summary of what will change, and the last checks.
pub async fn confirm(
    State(state): State<AppState>,
    user: WebUser,
    Path(backup_id): Path<Uuid>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    user.caller
        .require(&state, Permission::Restore, "restore.plan")
        .await?;
    let choices = Choices::read(&fields)?;
    require_full(&state, &user, &choices).await?;
    confirm_page(&state, &user, backup_id, choices, false).await
}

/// Queues the restore. A full restore also needs the org's name typed back and the user's
/// password: a second, deliberate step on top of the permission.
pub async fn start(
    State(state): State<AppState>,
    user: WebUser,
    Path(backup_id): Path<Uuid>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    let choices = Choices::read(&fields)?;
    require_full(&state, &user, &choices).await?;
    if choices.full {
        let layout = Layout::of(&state, &user, "restore").await?;
        let typed = field(&fields, "confirm_org").unwrap_or_default().trim();
        let password = field(&fields, "password").unwrap_or_default();
        let user_id = user.caller.principal.user_id.expect("web users are users");
        let password_ok = super::session::password_matches(&state, user_id, password).await?;
        if typed != layout.org_name() || !password_ok {
            orgbackup_service::audit::record(
                &state.pool,
                &orgbackup_service::audit::Entry::new(
                    &user.caller,
                    "restore.start",
                    orgbackup_service::audit::Outcome::Denied,
                )
                .detail("reason", "full restore not confirmed"),
            )
            .await;
            return confirm_page(&state, &user, backup_id, choices, true).await;
        }
    }
    let body = api::StartBody {
        backup_id,
        options: RestoreOptions {
            mode: choices.mode(),
            categories: choices.categories.clone(),
            conflicts: choices.conflicts,
            decisions: choices.decisions.clone(),
        },
    };
    let (_, Json(started)) = api::start(
        State(state),
        user.caller,
        HeaderMap::new(),
        Ok(AppJson(body)),
    )
    .await?;
    let id = started["restore_id"].as_str().unwrap_or_default();
    Ok(Redirect::to(&format!("/restores/{id}")).into_response())
}

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
    restore_id: Uuid,
    status: RestoreStatus,
    error: String,
    rows: Vec<PlanRow>,
    rollback_until: Option<DateTime<Utc>>,
    running: bool,
}

async fn restore_state(state: &AppState, user: &WebUser, id: Uuid) -> WebResult<RestoreState> {
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
    Path(id): Path<Uuid>,
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
    Path(id): Path<Uuid>,
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
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> WebResult<Response> {
    let fields = pairs(&body);
    user.check_csrf(field(&fields, "_csrf"))?;
    let force = field(&fields, "force") == Some("on");
    let (_, Json(_queued)) = api::rollback(
        State(state),
        user.caller,
        AppPath(id),
        Ok(AppJson(api::RollbackBody { force })),
    )
    .await?;
    Ok(Redirect::to(&format!("/restores/{id}")).into_response())
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
