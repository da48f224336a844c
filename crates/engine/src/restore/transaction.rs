//! One restore attempt inside its transaction: the steps, in the order they must run, from
//! loading the staging tables to staging the files just before COMMIT.

use super::context::OrgContext;
use super::{
    RestoreOutcome, RestorePlan, RestoreProgress, RestoreRequest, apply, classify, files,
    references, sql, staging, triggers,
};
use crate::discovery::{self, TenantSchema};
use crate::error::Error;
use crate::extract::{BackupOutcome, BackupRequest, backup_in_snapshot};
use crate::metadata::BackupMetadata;
use crate::org_id::OrgId;
use crate::progress::{NoProgress, Progress};
use crate::tenancy::TenancyConfig;
use orgbackup_archive::ArchiveReader;
use sqlx::{PgConnection, PgPool};
use std::io::{Read, Seek, Write};
use std::sync::Arc;

pub(super) async fn run<R: Read + Seek + Send, W: Write + Send + 'static>(
    pool: &PgPool,
    config: &TenancyConfig,
    archive: &mut ArchiveReader<R>,
    request: &RestoreRequest,
    rollback_output: Option<W>,
    progress: Arc<dyn Progress>,
    apply_changes: bool,
) -> Result<RestoreOutcome<W>, Error> {
    let backup: BackupMetadata = serde_json::from_value(archive.manifest().backup.clone())
        .map_err(|e| Error::Restore(format!("the archive is not an orgbackup backup: {e}")))?;
    let source = backup.org.id.clone();
    let target = request
        .target_org_id
        .clone()
        .unwrap_or_else(|| source.clone());
    if target != source && !request.allow_other_org {
        return Err(Error::Restore(format!(
            "this backup belongs to organization {source} ({}); restoring it into {target} must be asked for explicitly (--into-other-org)",
            backup.org.name
        )));
    }

    let mut conn = pool.acquire().await?;
    // REPEATABLE READ: a row changed by someone else meanwhile makes the restore fail (and change
    // nothing) instead of silently overwriting that change.
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *conn)
        .await?;
    let result = in_transaction(
        &mut conn,
        config,
        archive,
        &backup,
        request,
        &target,
        rollback_output,
        progress,
        apply_changes,
    )
    .await;
    match result {
        Ok(mut outcome) if apply_changes && !request.dry_run => {
            // Every file is already written and verified: if COMMIT fails, dropping them removes
            // them; after it, only renames are left, and one that fails is a warning.
            let staged = std::mem::take(&mut outcome.staged_files);
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            outcome.committed = true;
            let (written, warnings) = staged.commit();
            outcome.files_written = written;
            outcome.plan.warnings.extend(warnings);
            Ok(outcome)
        }
        Ok(mut outcome) => {
            // A dry run wrote and verified the files too; none of them is kept.
            drop(std::mem::take(&mut outcome.staged_files));
            sqlx::query("ROLLBACK").execute(&mut *conn).await?;
            Ok(outcome)
        }
        Err(error) => {
            // A failure can leave a COPY half sent: close the connection rather than reuse it
            // (closing ends the transaction, so nothing is written).
            let _ = conn.close().await;
            Err(error)
        }
    }
}
#[allow(clippy::too_many_arguments)]
async fn in_transaction<R: Read + Seek + Send, W: Write + Send + 'static>(
    conn: &mut PgConnection,
    config: &TenancyConfig,
    archive: &mut ArchiveReader<R>,
    backup: &BackupMetadata,
    request: &RestoreRequest,
    target: &OrgId,
    rollback_output: Option<W>,
    progress: Arc<dyn Progress>,
    apply_changes: bool,
) -> Result<RestoreOutcome<W>, Error> {
    let context = OrgContext {
        setting: &config.org_setting,
        org_id: target,
    };
    context.assert(conn).await?;
    let current = discovery::discover(conn, config).await?;
    let mut targets = staging::targets(&current, backup, request)?;
    refuse_incompatible(backup, &current, &targets)?;
    staging::resolve_staging_types(conn, &mut targets).await?;
    let mut state = RestoreProgress {
        phase: "loading",
        tables_total: targets.len(),
        ..Default::default()
    };
    staging::load(conn, archive, &targets, &mut state, &*progress).await?;
    context.verify(conn).await?;
    let mut plan = classify_and_count(conn, &current, &targets, backup, request, target).await?;
    if apply_changes && !plan.blocked_deletions.is_empty() {
        return Err(references::refusal(&plan.blocked_deletions, &current));
    }
    if !apply_changes {
        if request.conflict_samples > 0 {
            plan.conflicts =
                classify::conflict_samples(conn, &current, &targets, request.conflict_samples)
                    .await?;
        }
        return Ok(RestoreOutcome {
            plan,
            committed: false,
            rollback: None,
            transaction_xid: None,
            files_written: 0,
            attempts: 1,
            staged_files: Default::default(),
        });
    }

    context.verify(conn).await?;
    let rollback = match rollback_output {
        Some(output) => {
            state.phase = "saving rollback";
            progress.restore(&state);
            Some(save_rollback(conn, config, request, &plan, target, output).await?)
        }
        None => None,
    };
    state.phase = "applying";
    progress.restore(&state);
    write_rows(
        conn, &context, &current, &targets, request, &mut state, &*progress,
    )
    .await?;
    context.verify(conn).await?;
    let xid = transaction_xid(conn).await?;
    // Last step before COMMIT, so that nothing fails between writing the files and committing.
    state.phase = "writing files";
    progress.restore(&state);
    let staged_files = files::stage(
        conn, config, &current, &targets, request, archive, backup, target, &mut plan,
    )
    .await?;
    Ok(RestoreOutcome {
        plan,
        committed: false,
        rollback,
        transaction_xid: Some(xid),
        files_written: 0,
        attempts: 1,
        staged_files,
    })
}

/// Classifies the staged rows and counts the plan, with what stands in its way: key clashes
/// with another org, triggers not fired, deletions other rows still need.
async fn classify_and_count(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[staging::Target],
    backup: &BackupMetadata,
    request: &RestoreRequest,
    target: &OrgId,
) -> Result<RestorePlan, Error> {
    classify::check_org_ids(conn, current, targets, &backup.org.id, target).await?;
    classify::classify(conn, current, targets, request).await?;
    let mut plan = classify::count(conn, current, targets, backup, request, target).await?;
    if *target != backup.org.id {
        let clashes = plan.total(|t| t.other_org);
        if clashes > 0 {
            return Err(Error::Restore(format!(
                "{clashes} rows of this backup have keys that already belong to another organization; a backup can be restored into another organization only when no key clashes"
            )));
        }
    }
    if !request.fire_triggers {
        plan.skipped_triggers = triggers::skipped(conn, current, targets).await?;
    }
    let deleting: Vec<usize> = targets
        .iter()
        .zip(&plan.tables)
        .filter(|(_, table)| table.delete > 0)
        .map(|(target, _)| target.index)
        .collect();
    plan.blocked_deletions =
        references::blocked_deletions(conn, current, targets, request, |index| {
            deleting.contains(&index)
        })
        .await?;
    Ok(plan)
}

/// The org's current rows of the restored categories (and their files), backed up inside this
/// transaction: what a rollback restores.
async fn save_rollback<W: Write + Send + 'static>(
    conn: &mut PgConnection,
    config: &TenancyConfig,
    request: &RestoreRequest,
    plan: &RestorePlan,
    target: &OrgId,
    output: W,
) -> Result<BackupOutcome<W>, Error> {
    let mut snapshot =
        BackupRequest::new(format!("rollback-{}", uuid::Uuid::new_v4()), target.clone());
    snapshot.categories = plan.categories.clone();
    snapshot.files_root = request.files_root.clone();
    snapshot.encryption = request.rollback_encryption.clone();
    let started = chrono::Utc::now();
    backup_in_snapshot(
        conn,
        config,
        &snapshot,
        output,
        Arc::new(NoProgress),
        started,
    )
    .await
}

/// Applies the plan, with user triggers suspended unless asked for, then checks what only the
/// written rows can show.
async fn write_rows(
    conn: &mut PgConnection,
    context: &OrgContext<'_>,
    current: &TenantSchema,
    targets: &[staging::Target],
    request: &RestoreRequest,
    state: &mut RestoreProgress,
    progress: &dyn Progress,
) -> Result<(), Error> {
    if !request.fire_triggers {
        triggers::suspend(conn).await?;
    }
    let deleted = apply::apply(conn, context, current, targets, request, state, progress).await?;
    if !request.fire_triggers {
        triggers::refuse_orphans(conn, current, &deleted).await?;
        triggers::resume(conn).await?;
    }
    refuse_unowned_rows(conn, current, targets).await
}

/// The restore's transaction id, in the 32-bit form rows carry in xmin.
async fn transaction_xid(conn: &mut PgConnection) -> Result<String, Error> {
    let xid: String = sqlx::query_scalar("SELECT txid_current()::text")
        .fetch_one(&mut *conn)
        .await?;
    Ok((xid.parse::<u64>().unwrap_or(0) & 0xffff_ffff).to_string())
}

/// Every row a restore inserted into a table whose ownership is nullable (any path, or a
/// nullable org column) must now belong to the org: an archive (uploaded, so untrusted) cannot
/// write rows that no org owns, shared rows, or rows reaching another org through another path.
/// Checked on the live rows after apply, so parents restored in the same run count.
async fn refuse_unowned_rows(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[staging::Target],
) -> Result<(), Error> {
    for target in targets {
        if !current.tables[target.index].ownership.nullable() {
            continue;
        }
        let Some(matched) = sql::key_match(target, "t") else {
            continue;
        };
        let check = format!(
            "SELECT count(*) FROM {} t JOIN {} s ON {matched} WHERE s._class = 'insert' AND ({}) IS NOT TRUE",
            current.relation(target.index),
            target.staging,
            current.org_filter(target.index, "t")
        );
        let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(check))
            .fetch_one(&mut *conn)
            .await?;
        if foreign > 0 {
            return Err(Error::Restore(format!(
                "{foreign} rows of {} in the archive would belong to no organization, be shared, or reach another organization once written: the archive was altered or does not match this database; nothing was written",
                target.record.table.name
            )));
        }
    }
    Ok(())
}

/// A restore writes no table that analysis finds incompatible; the error carries its reasons.
fn refuse_incompatible(
    backup: &BackupMetadata,
    current: &TenantSchema,
    targets: &[staging::Target],
) -> Result<(), Error> {
    let report = crate::analyze::analyze(backup, current);
    let reasons: Vec<String> = report
        .tables
        .iter()
        .filter(|t| t.status == crate::analyze::Compatibility::Incompatible)
        .filter(|t| {
            targets
                .iter()
                .any(|target| target.record.table.name == t.table)
        })
        .flat_map(|t| {
            t.issues
                .iter()
                .filter(|i| i.severity == crate::analyze::Compatibility::Incompatible)
        })
        .map(|i| i.message.clone())
        .collect();
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Error::Restore(format!(
            "the backup does not fit today's schema (see `orgbackup restore analyze`): {}",
            reasons.join("; ")
        )))
    }
}
