//! The restore wizard: choose a backup -> compatibility analysis -> categories, mode and default
//! conflict action -> the plan, with every conflicting row shown as backup value next to current
//! value and a decision per row -> confirmation (for a full restore: what will change, the org's
//! name typed back and the password re-entered) -> progress -> result with the rollback button.
//!
//! Starting and rolling back go through the API's handlers: the same permissions (a full restore
//! needs `backup.restore_full`; without it the option is neither shown nor accepted), audit
//! entries and jobs.

mod choose;
mod confirm;
mod plan;
mod status;

pub use choose::{choose, upload};
pub use confirm::{confirm, start};
pub use plan::{analyze, plan};
pub use status::{progress, rollback, status};

use super::session::WebUser;
use super::{WebError, WebResult};
use crate::http::AppState;
use crate::http::error::AppError;
use orgbackup_engine::{ConflictAction, ConflictRecord, RecordDecision, RestoreMode};
use orgbackup_service::ids::{BackupId, OrgId};
use orgbackup_service::permissions::Permission;
use std::collections::BTreeMap;

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

/// Opens one of the org's backups (fetched to a local copy when it lives remotely).
async fn open_backup(
    state: &AppState,
    org: OrgId,
    backup_id: BackupId,
) -> WebResult<(
    orgbackup_service::storage::LocalCopy,
    orgbackup_service::archives::FileArchive,
)> {
    let (destination, path) =
        orgbackup_service::backups::locate_completed(&state.pool, &state.settings, org, backup_id)
            .await
            .map_err(AppError::from)?
            .ok_or(WebError::NotFound)?;
    let copy = destination
        .fetch(&state.settings.storage, &path)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let archive = orgbackup_service::archives::open(&state.settings, copy.path(), None)
        .await
        .map_err(WebError::Internal)?;
    Ok((copy, archive))
}
