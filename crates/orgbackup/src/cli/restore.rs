//! `orgbackup restore ...`: analyze, plan, apply, rollback, list, cleanup.

use crate::terminal::TableBar;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use orgbackup_engine::{
    BackupMetadata, ConflictAction, RecordDecision, RestoreMode, RestorePlan, RestoreRequest,
};
use orgbackup_service::archives::{self, FileArchive};
use orgbackup_service::config::Settings;
use orgbackup_service::ids::{BackupId, RestoreId};
use orgbackup_service::{db, orgs, restores};
use sqlx::PgPool;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum RestoreCommand {
    /// Compare a backup's schema with today's, table by table (reads only the manifest).
    Analyze(SourceArgs),
    /// Show exactly what a restore would do (counts per table); changes nothing.
    Plan(RestoreArgs),
    /// Restore. A rollback archive is kept for restore.rollback_hours (default 24).
    Apply(RestoreArgs),
    /// Undo a restore, within its rollback window.
    Rollback {
        restore_id: RestoreId,
        #[arg(long)]
        org: String,
        /// Roll back even though rows changed after the restore (those changes are lost).
        #[arg(long)]
        force: bool,
    },
    /// List an organization's restores.
    List {
        #[arg(long)]
        org: String,
    },
    /// Delete rollback archives whose window has closed.
    Cleanup,
}

#[derive(Args)]
pub struct SourceArgs {
    /// A backup file, or the id of a backup recorded by this service.
    source: String,
    /// A file holding a base64 key to open an encrypted backup (besides the configured keys).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The organization to restore into (id or name); default: the backup's own.
    #[arg(long)]
    org: Option<String>,
    /// Restore only these categories (comma separated), with the tables they depend on.
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// merge: add the backup's rows, keep current ones; full: make the org's rows of these
    /// categories exactly the backup's (deletes rows not in the backup).
    #[arg(long, default_value = "merge", value_parser = ["merge", "full"])]
    mode: String,
    /// What to do with a row whose key exists with other values (merge mode).
    #[arg(long, default_value = "skip", value_parser = ["skip", "replace", "merge"])]
    conflicts: String,
    /// JSON file of per-record decisions: [{"table": "cmis.posts", "key": {"post_id": "..."}, "action": "replace"}]
    #[arg(long)]
    decisions: Option<PathBuf>,
    /// Required for --mode full.
    #[arg(long)]
    confirm_full: bool,
    /// Allow restoring another organization's backup into --org (refused on any key clash).
    #[arg(long)]
    into_other_org: bool,
    /// Run the whole restore in a transaction that is rolled back: exact counts, no change.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(settings: &Settings, command: RestoreCommand) -> anyhow::Result<ExitCode> {
    let pool = db::connect_migrated(settings).await?;
    match command {
        RestoreCommand::Analyze(args) => analyze(&pool, settings, &args).await?,
        RestoreCommand::Plan(args) => plan_or_apply(&pool, settings, &args, false).await?,
        RestoreCommand::Apply(args) => plan_or_apply(&pool, settings, &args, true).await?,
        RestoreCommand::Rollback {
            restore_id,
            org,
            force,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let bar = Arc::new(TableBar::new());
            let result =
                restores::rollback(&pool, settings, org.org_id, restore_id, force, bar.clone())
                    .await;
            bar.finish();
            let (changes, plan) = result?;
            println!(
                "restore {restore_id} rolled back: {} tables of {} returned to their state before the restore{}",
                plan.tables.len(),
                org.name,
                if changes > 0 {
                    format!(" ({changes} later changes discarded)")
                } else {
                    String::new()
                }
            );
        }
        RestoreCommand::List { org } => list(&pool, settings, &org).await?,
        RestoreCommand::Cleanup => {
            let removed = restores::cleanup_expired_rollbacks(&pool, &settings.storage).await?;
            println!("{removed} expired rollback archives removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The backup file a source names: a path, or a backup id recorded in the service. A backup kept
/// at a remote destination is fetched to a temporary file; returns what to record as the source
/// (a path or a URL) and the local copy to read.
async fn source_path(
    pool: &PgPool,
    settings: &Settings,
    source: &str,
) -> anyhow::Result<(PathBuf, orgbackup_service::storage::LocalCopy)> {
    let path = PathBuf::from(source);
    if path.exists() {
        return Ok((
            path.clone(),
            orgbackup_service::storage::LocalCopy::InPlace(path),
        ));
    }
    let Ok(backup_id) = source.parse::<BackupId>() else {
        bail!("{source} is neither a backup file nor a backup id");
    };
    // The operator names a backup by id alone: found in whichever org holds it.
    let stored =
        orgbackup_service::backups::records::find_completed_anywhere(pool, backup_id).await?;
    let Some((org_id, connection_id, relative)) = stored else {
        bail!("backup {backup_id} does not exist or has no file (is it completed?)");
    };
    let destination =
        orgbackup_service::storage::open(pool, settings, org_id, connection_id).await?;
    let copy = destination.fetch(&settings.storage, &relative).await?;
    Ok((PathBuf::from(destination.location(&relative)), copy))
}

async fn open_source(
    pool: &PgPool,
    settings: &Settings,
    args: &SourceArgs,
) -> anyhow::Result<(PathBuf, FileArchive, BackupMetadata)> {
    let (path, copy) = source_path(pool, settings, &args.source).await?;
    // The reader keeps the file open, so a fetched copy may be unlinked when `copy` drops here.
    let archive = archives::open(settings, copy.path(), args.key_file.as_deref()).await?;
    let metadata: BackupMetadata = serde_json::from_value(archive.manifest().backup.clone())
        .context("the manifest's backup section is not an orgbackup backup description")?;
    Ok((path, archive, metadata))
}

async fn analyze(pool: &PgPool, settings: &Settings, args: &SourceArgs) -> anyhow::Result<()> {
    let (_, _, metadata) = open_source(pool, settings, args).await?;
    let mut conn = pool.acquire().await?;
    let current = orgbackup_engine::discover(&mut conn, &settings.tenancy).await?;
    let report = orgbackup_engine::analyze(&metadata, &current);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", orgbackup_engine::render_text(&report));
    }
    Ok(())
}

async fn plan_or_apply(
    pool: &PgPool,
    settings: &Settings,
    args: &RestoreArgs,
    apply: bool,
) -> anyhow::Result<()> {
    let (path, mut archive, metadata) = open_source(pool, settings, &args.source).await?;
    let target = match &args.org {
        Some(org) => orgs::resolve(pool, &settings.tenancy, org).await?,
        None => orgs::resolve(pool, &settings.tenancy, metadata.org.id.as_str()).await?,
    };
    let decisions: Vec<RecordDecision> = match &args.decisions {
        Some(file) => serde_json::from_str(&std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?)
            .with_context(|| format!("{}: expected [{{\"table\": ..., \"key\": {{...}}, \"action\": \"skip|replace|merge\"}}]", file.display()))?,
        None => Vec::new(),
    };
    let request = RestoreRequest {
        target_org_id: Some(target.org_id.into()),
        allow_other_org: args.into_other_org,
        categories: args.categories.clone(),
        mode: if args.mode == "full" {
            RestoreMode::Full
        } else {
            RestoreMode::Merge
        },
        confirm_full: args.confirm_full,
        conflicts: match args.conflicts.as_str() {
            "replace" => ConflictAction::Replace,
            "merge" => ConflictAction::Merge,
            _ => ConflictAction::Skip,
        },
        decisions,
        files_root: settings.backup.files_root.clone(),
        dry_run: args.dry_run,
        rollback_encryption: None,
        conflict_samples: 0,
        fire_triggers: settings.restore.fire_triggers,
    };
    let bar = Arc::new(TableBar::new());
    if !apply {
        let result = orgbackup_engine::restore::plan(
            pool,
            &settings.tenancy,
            &mut archive,
            &request,
            bar.clone(),
        )
        .await;
        bar.finish();
        print_plan(&result?, args.source.json)?;
        return Ok(());
    }
    let result = restores::apply_restore(
        pool,
        settings,
        &mut archive,
        &path,
        target.org_id,
        &request,
        bar.clone(),
    )
    .await;
    bar.finish();
    let applied = result?;
    print_plan(&applied.plan, args.source.json)?;
    if applied.committed {
        println!(
            "restore {} into {} completed{}; {} files written; roll back with `orgbackup restore rollback {} --org {}` until {}",
            applied.restore_id,
            target.name,
            match applied.plan.warnings.len() {
                0 => String::new(),
                n => format!(" with {n} warnings (above)"),
            },
            applied.files_written,
            applied.restore_id,
            target.org_id,
            applied
                .rollback_expires_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default()
        );
    } else {
        println!(
            "dry run: everything above was applied inside a transaction, then rolled back; nothing changed"
        );
    }
    Ok(())
}

fn print_plan(plan: &RestorePlan, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(plan)?);
        return Ok(());
    }
    println!(
        "{:<32} {:<10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "table",
        "category",
        "backup",
        "insert",
        "identical",
        "conflict",
        "other org",
        "no parent",
        "delete"
    );
    for t in &plan.tables {
        println!(
            "{:<32} {:<10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8}",
            t.table.to_string(),
            t.category,
            t.backup_rows,
            t.insert,
            t.identical,
            t.conflict,
            t.other_org,
            t.missing_parent + t.missing_global,
            if t.full_scope {
                t.delete.to_string()
            } else {
                "-".into()
            }
        );
    }
    println!(
        "conflicts: {} replaced, {} merged, {} kept as they are; {} rows of other organizations left untouched; {} files",
        plan.total(|t| t.replace),
        plan.total(|t| t.merge),
        plan.total(|t| t.skip),
        plan.total(|t| t.other_org),
        plan.files
    );
    let unique_taken = plan.total(|t| t.unique_taken);
    if unique_taken > 0 {
        println!(
            "warning: {unique_taken} rows not written: a unique value of theirs is held today by another row the restore keeps"
        );
    }
    for blocked in &plan.blocked_deletions {
        println!(
            "blocked: {} rows of {} reference rows of {} this restore deletes (foreign key {}, on delete {}); restore the referencing categories too, or use a merge restore",
            blocked.rows,
            blocked.referencing_table,
            blocked.table,
            blocked.foreign_key,
            blocked.on_delete
        );
    }
    if plan.unmatched_decisions > 0 {
        println!(
            "warning: {} decisions matched no conflicting row",
            plan.unmatched_decisions
        );
    }
    for skipped in &plan.skipped_files {
        println!(
            "file not restored: {} ({}): {}",
            skipped.path, skipped.table, skipped.reason
        );
    }
    if !plan.skipped_triggers.is_empty() {
        println!(
            "triggers not fired (a restore writes the backup's values, restore.fire_triggers = false): {}",
            plan.skipped_triggers.join(", ")
        );
    }
    for warning in &plan.warnings {
        println!("warning: {warning}");
    }
    Ok(())
}

async fn list(pool: &PgPool, settings: &Settings, org: &str) -> anyhow::Result<()> {
    let org = orgs::resolve(pool, &settings.tenancy, org).await?;
    let rows = restores::list_restores(pool, org.org_id).await?;
    for row in rows {
        let window = match (&row.rollback_path, row.rollback_expires_at) {
            (Some(_), Some(expires)) => {
                format!("rollback until {}", expires.format("%Y-%m-%d %H:%M UTC"))
            }
            _ => String::new(),
        };
        println!(
            "{}  {:<9} {:<12} {}  {window}",
            row.restore_id,
            row.restore_type,
            row.status,
            row.created_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    Ok(())
}
