//! Restore of one organization from an archive: plan, then apply, in one transaction.
//!
//! 1. The backup's rows of the selected tables are loaded with `COPY FROM` into temporary staging
//!    tables (`staging`).
//! 2. Every staged row is classified against the live table by key (`classify`): new, identical,
//!    conflicting (same key, other values), owned by ANOTHER org (reported, never touched), or
//!    unrestorable because a parent row (tenant or global) is missing.
//! 3. The counts are the plan. A plan-only run ends there and rolls back.
//! 4. Otherwise the org's current rows of those tables are saved as a rollback archive (a backup
//!    taken inside the same transaction), then set-based SQL applies the plan in dependency order
//!    (`apply`), sequences move forward. The files of the restored rows are written to temporary
//!    files and verified (`files`); then the transaction commits, or nothing happens, and the
//!    files are moved into place.
//!
//! Every statement runs with the org setting set, so row-level security is a second wall.

mod apply;
mod classify;
mod context;
mod files;
mod references;
mod sql;
mod staging;
mod transaction;
mod triggers;

use crate::discovery::{self, TenantSchema};
use crate::error::Error;
use crate::extract::BackupOutcome;
use crate::ident::QualifiedName;
use crate::metadata::SkippedFile;
use crate::org_id::OrgId;
use crate::progress::Progress;
use crate::tenancy::TenancyConfig;
use orgbackup_archive::{ArchiveReader, EncryptionSetup};
pub use references::BlockedDeletion;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// How the backup meets the org's current rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RestoreMode {
    /// Backup rows are added; existing rows stay; conflicts follow the conflict strategy.
    #[default]
    Merge,
    /// The org's rows in the tables of the chosen categories become exactly the backup's: rows
    /// missing from the backup are deleted, conflicting rows replaced. Tables pulled in only as
    /// dependencies are merged.
    Full,
    /// Like `Full`, for every table restored, dependencies included. Used by rollback.
    Exact,
}

/// What to do with a conflicting row (same key, other values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConflictAction {
    /// Keep the current row.
    #[default]
    Skip,
    /// Overwrite the current row with the backup's.
    Replace,
    /// Column by column: keep the current value unless it is NULL, then take the backup's; for
    /// two JSON objects, the backup's keys are added where the current object lacks them.
    Merge,
}

/// A decision for one conflicting row, by table and key (key values as text, by column name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordDecision {
    pub table: String,
    pub key: BTreeMap<String, String>,
    pub action: ConflictAction,
}

#[derive(Clone, Debug, Default)]
pub struct RestoreRequest {
    /// The org whose rows are written. `None` = the backup's own org.
    pub target_org_id: Option<OrgId>,
    /// Restoring another org's backup must be asked for explicitly.
    pub allow_other_org: bool,
    /// Categories to restore (closed over dependencies); empty = every category in the backup.
    pub categories: Vec<String>,
    pub mode: RestoreMode,
    /// Full and exact restores replace and delete rows: they must be confirmed explicitly.
    pub confirm_full: bool,
    pub conflicts: ConflictAction,
    pub decisions: Vec<RecordDecision>,
    /// Where restored files are written (and current ones saved from); `None` skips files.
    pub files_root: Option<PathBuf>,
    /// Apply everything, count exactly, then roll back.
    pub dry_run: bool,
    /// How the rollback archive is encrypted (it holds the org's data too).
    pub rollback_encryption: Option<EncryptionSetup>,
    /// A plan also lists up to this many conflicting rows per table, with the backup's and the
    /// current values side by side (for a per-record decision).
    pub conflict_samples: usize,
    /// Fire user triggers while writing (off by default: a restore writes the backup's values
    /// exactly, with no side effects; see `triggers`).
    pub fire_triggers: bool,
}

/// The plan of one table, counted in staging. After an apply, `applied` says what was done.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TablePlan {
    pub table: QualifiedName,
    pub category: String,
    /// Whether this restore deletes the org's rows that are not in the backup (full / exact).
    pub full_scope: bool,
    pub backup_rows: u64,
    pub insert: u64,
    pub identical: u64,
    pub conflict: u64,
    /// Rows whose key belongs to another organization: reported, never written.
    pub other_org: u64,
    /// Rows whose parent row (in the org) is neither in the database nor restored.
    pub missing_parent: u64,
    /// Rows not written because a unique constraint's value is held today by another row of the
    /// org that the restore keeps (a holder outside the org is counted in `other_org`).
    #[serde(default)]
    pub unique_taken: u64,
    /// Rows that reference a global (shared) row that no longer exists.
    pub missing_global: u64,
    /// Current rows the restore deletes (full scope only).
    pub delete: u64,
    /// Conflicts resolved by replace / merge / skip (decisions included).
    pub replace: u64,
    pub merge: u64,
    pub skip: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RestorePlan {
    pub source_org_id: OrgId,
    pub target_org_id: OrgId,
    pub mode: RestoreMode,
    pub categories: Vec<String>,
    pub tables: Vec<TablePlan>,
    /// Decisions that matched no conflicting row.
    pub unmatched_decisions: u64,
    pub files: u64,
    /// Conflicting rows with both versions (only when asked for with `conflict_samples`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<ConflictRecord>,
    /// Files of the backup this restore did not write, with the reason (a path outside the org's
    /// files, no restored row referencing it, a symlink in the way).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_files: Vec<SkippedFile>,
    /// What went wrong after the rows were committed (a file that could not be moved into place):
    /// the restore is completed, and can be rolled back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// User triggers of the restored tables that the restore does not fire (`schema.table:
    /// trigger`); empty when triggers are fired (`fire_triggers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_triggers: Vec<String>,
    /// Rows this full restore does not write that reference rows it would delete (a cascade
    /// would remove or change them, a plain key would refuse): a restore with any is refused
    /// before writing; restore their categories too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_deletions: Vec<BlockedDeletion>,
}

/// One conflicting row: its key, the backup's values and the current ones (as text), and the
/// columns that differ.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictRecord {
    pub table: String,
    pub key: BTreeMap<String, String>,
    pub backup: BTreeMap<String, Option<String>>,
    pub current: BTreeMap<String, Option<String>>,
    pub differs: Vec<String>,
}

impl RestorePlan {
    pub fn total(&self, field: impl Fn(&TablePlan) -> u64) -> u64 {
        self.tables.iter().map(field).sum()
    }
}

/// What a restore did.
pub struct RestoreOutcome<W> {
    pub plan: RestorePlan,
    /// True when changes were committed (not a plan, not a dry run).
    pub committed: bool,
    /// The rollback archive: the org's rows of these tables as they were before the restore.
    pub rollback: Option<BackupOutcome<W>>,
    /// The restore's transaction id (32-bit xid), to count changes made after it.
    pub transaction_xid: Option<String>,
    /// Files moved into place after the transaction committed.
    pub files_written: u64,
    /// Attempts it took ([`apply_retrying`] tries again after losing a race; 1 otherwise).
    pub attempts: u32,
    /// Files written and verified under temporary names before COMMIT, moved into place after.
    staged_files: files::StagedFiles,
}

/// Progress of a restore, reported per table and phase.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreProgress {
    pub phase: &'static str,
    pub tables_total: usize,
    pub tables_done: usize,
    pub current_table: Option<String>,
    pub rows: u64,
}

/// Computes the plan without changing anything.
pub async fn plan<R: Read + Seek + Send>(
    pool: &PgPool,
    config: &TenancyConfig,
    archive: &mut ArchiveReader<R>,
    request: &RestoreRequest,
    progress: Arc<dyn Progress>,
) -> Result<RestorePlan, Error> {
    let outcome =
        transaction::run::<R, std::io::Sink>(pool, config, archive, request, None, progress, false)
            .await?;
    Ok(outcome.plan)
}

/// Restores: plan, rollback archive into `rollback_output`, apply, commit (or roll back when
/// `request.dry_run`).
pub async fn apply<R: Read + Seek + Send, W: Write + Send + 'static>(
    pool: &PgPool,
    config: &TenancyConfig,
    archive: &mut ArchiveReader<R>,
    request: &RestoreRequest,
    rollback_output: Option<W>,
    progress: Arc<dyn Progress>,
) -> Result<RestoreOutcome<W>, Error> {
    if matches!(request.mode, RestoreMode::Full | RestoreMode::Exact) && !request.confirm_full {
        return Err(Error::Restore(
            "a full restore deletes and replaces the organization's rows: confirm it explicitly (--confirm-full)".into(),
        ));
    }
    transaction::run(
        pool,
        config,
        archive,
        request,
        rollback_output,
        progress,
        true,
    )
    .await
}

/// How many times a restore is tried when it loses a race with concurrent changes.
pub const RACE_ATTEMPTS: u32 = 3;

/// [`apply`], tried again (up to [`RACE_ATTEMPTS`] in all, on a fresh snapshot each time) when
/// it fails only because a user changed the same rows meanwhile: nothing was written by the
/// failed attempt. `rollback_output` gives a new rollback output for each attempt (the one of a
/// failed attempt is dropped half written). `outcome.attempts` says how many it took.
pub async fn apply_retrying<R, W, F>(
    pool: &PgPool,
    config: &TenancyConfig,
    archive: &mut ArchiveReader<R>,
    request: &RestoreRequest,
    mut rollback_output: F,
    progress: Arc<dyn Progress>,
) -> Result<RestoreOutcome<W>, Error>
where
    R: Read + Seek + Send,
    W: Write + Send + 'static,
    F: FnMut() -> Result<Option<W>, Error>,
{
    let mut attempt = 1;
    loop {
        let output = rollback_output()?;
        match apply(pool, config, archive, request, output, progress.clone()).await {
            Ok(mut outcome) => {
                outcome.attempts = attempt;
                return Ok(outcome);
            }
            Err(error) if error.lost_race() && attempt < RACE_ATTEMPTS => {
                tracing::info!(
                    attempt,
                    %error,
                    "the restore lost a race with concurrent changes and changed nothing; trying again"
                );
                progress.restore(&RestoreProgress {
                    phase: "retrying after concurrent changes",
                    ..Default::default()
                });
                // A short, growing pause lets the competing edit finish.
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
            Err(error) if error.lost_race() => {
                return Err(Error::LostRace {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            Err(error) => return Err(error),
        }
    }
}

/// Rows of the org in the tables of `categories` inserted or updated after the restore whose
/// transaction id is `xid`: what a rollback would discard.
pub async fn changes_since(
    pool: &PgPool,
    config: &TenancyConfig,
    org_id: impl Into<OrgId>,
    categories: &[String],
    xid: &str,
) -> Result<u64, Error> {
    let org_id = org_id.into();
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(&config.org_setting)
        .bind(org_id.as_str())
        .execute(&mut *tx)
        .await?;
    let schema: TenantSchema = discovery::discover(&mut tx, config).await?;
    let selection = schema.select(categories)?;
    let mut total = 0u64;
    for index in selection.tables {
        let sql = format!(
            "SELECT count(*) FROM {} t WHERE {} AND age(t.xmin) < age($1::xid)",
            schema.relation(index),
            schema.org_filter(index, "t")
        );
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(xid)
            .fetch_one(&mut *tx)
            .await?;
        total += count as u64;
    }
    tx.rollback().await?;
    Ok(total)
}
