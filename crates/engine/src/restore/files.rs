//! The backup's files, restored only for the rows this restore writes. An archive is untrusted:
//! its `files[]` may name any path, so a file is written only when
//! - its path stays inside the files root and the target org's own files (`tenancy.files_prefix`),
//! - a row of its table that this restore writes references it, and that row is the org's now,
//! - no symlink stands anywhere on its way (see `confined`).
//!
//! Other entries are not written and are reported in the plan's `skipped_files`. Every file that
//! is written goes to a temporary file next to its destination, checked against its SHA-256
//! while it is written, all before the transaction commits: a damaged entry fails the restore
//! with nothing committed. After COMMIT the temporary files are renamed into place; a rename
//! that fails then is a warning of a completed (and rollback-able) restore.

use super::staging::Target;
use super::{RestorePlan, RestoreRequest};
use crate::confined::{self, PathProblem, RelativePath, TempFile, WriteRefused};
use crate::discovery::TenantSchema;
use crate::error::Error;
use crate::extract::org_files_prefix;
use crate::ident::{QualifiedName, quote_ident};
use crate::metadata::{BackupMetadata, FileRecord, SkippedFile};
use crate::org_id::OrgId;
use crate::tenancy::TenancyConfig;
use orgbackup_archive::ArchiveReader;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

/// Files written under temporary names, waiting for the transaction to commit. Dropped without
/// [`StagedFiles::commit`] (a failure, a dry run), they are removed.
#[derive(Debug, Default)]
pub(crate) struct StagedFiles {
    root: PathBuf,
    temps: Vec<TempFile>,
}

impl StagedFiles {
    /// Moves every file into place; returns how many were, and a warning for each that was not.
    pub(super) fn commit(mut self) -> (u64, Vec<String>) {
        let mut written = 0;
        let mut warnings = Vec::new();
        for temp in std::mem::take(&mut self.temps) {
            match confined::commit(&self.root, &temp) {
                Ok(()) => written += 1,
                Err(e) => {
                    confined::discard(&self.root, &temp);
                    warnings.push(format!(
                        "file `{}` could not be put in place after the rows were committed ({e}); its previous version, if any, is unchanged; roll the restore back or restore the file again",
                        temp.path()
                    ));
                }
            }
        }
        (written, warnings)
    }
}

impl Drop for StagedFiles {
    fn drop(&mut self) {
        for temp in self.temps.drain(..).rev() {
            confined::discard(&self.root, &temp);
        }
    }
}

/// Chooses, checks and writes the files of this restore (inside its transaction, after the rows
/// were applied); reports the entries it does not write in `plan.skipped_files`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn stage<R: Read + Seek>(
    conn: &mut PgConnection,
    config: &TenancyConfig,
    current: &TenantSchema,
    targets: &[Target],
    request: &RestoreRequest,
    archive: &mut ArchiveReader<R>,
    backup: &BackupMetadata,
    target_org: &OrgId,
    plan: &mut RestorePlan,
) -> Result<StagedFiles, Error> {
    let Some(root) = &request.files_root else {
        return Ok(StagedFiles::default());
    };
    let prefix = org_files_prefix(config, target_org)?;
    let referenced = referenced_paths(conn, config, current, targets, request).await?;
    let mut staged = StagedFiles {
        root: root.clone(),
        temps: Vec::new(),
    };
    let mut seen: HashSet<RelativePath> = HashSet::new();
    for file in &backup.files {
        let Some(paths) = referenced.get(&file.table) else {
            if targets.iter().any(|t| t.record.table.name == file.table) {
                skip(
                    plan,
                    file,
                    "its table has no file reference column in tenancy.file_references",
                );
            }
            continue;
        };
        let relative = match RelativePath::parse(&file.path) {
            Ok(relative) => relative,
            Err(problem) => {
                skip(plan, file, &problem.to_string());
                continue;
            }
        };
        if let Some(prefix) = &prefix
            && !relative.starts_with(prefix)
        {
            let problem = PathProblem::OutsidePrefix {
                prefix: prefix.to_string(),
            };
            skip(plan, file, &problem.to_string());
            continue;
        }
        if !paths.contains(&file.path) {
            skip(
                plan,
                file,
                &format!(
                    "no row of {} that this restore writes references it",
                    file.table
                ),
            );
            continue;
        }
        if !seen.insert(relative.clone()) {
            skip(plan, file, "the archive lists this file twice");
            continue;
        }
        check_entry(archive, file)?;
        let (output, temp) = match confined::create_temp(root, &relative) {
            Ok(created) => created,
            Err(WriteRefused::Problem(problem)) => {
                skip(plan, file, &problem.to_string());
                continue;
            }
            Err(WriteRefused::Io(source)) => {
                return Err(Error::File {
                    path: file.path.clone(),
                    source,
                });
            }
        };
        staged.temps.push(temp);
        write_verified(archive, file, output)?;
    }
    Ok(staged)
}

fn skip(plan: &mut RestorePlan, file: &FileRecord, reason: &str) {
    tracing::warn!(path = %file.path, reason, "file of the backup not restored");
    plan.skipped_files.push(SkippedFile {
        table: file.table.clone(),
        path: file.path.clone(),
        reason: reason.to_string(),
    });
}

/// The file's entry must exist and be the one its record describes.
fn check_entry<R: Read + Seek>(archive: &ArchiveReader<R>, file: &FileRecord) -> Result<(), Error> {
    let damaged = |detail: String| {
        Error::Archive(orgbackup_archive::Error::EntryCorrupt {
            path: file.entry.clone(),
            detail,
        })
    };
    match archive.manifest().entry(&file.entry) {
        None => Err(damaged(format!(
            "file `{}` names this entry, which the archive does not hold",
            file.path
        ))),
        Some(entry) if entry.sha256 != file.sha256 || entry.size != file.size => {
            Err(damaged(format!(
                "file `{}` records another size or SHA-256 than the entry",
                file.path
            )))
        }
        Some(_) => Ok(()),
    }
}

/// Copies the entry into `output`, hashing as it goes; fails unless the SHA-256 is the recorded
/// one (the entry reader checks the manifest's too) and the data reached the disk.
fn write_verified<R: Read + Seek>(
    archive: &mut ArchiveReader<R>,
    file: &FileRecord,
    mut output: std::fs::File,
) -> Result<(), Error> {
    let mut entry = archive.open_entry(&file.entry)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let file_error = |source| Error::File {
        path: file.path.clone(),
        source,
    };
    loop {
        let n = match entry.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Archive(orgbackup_archive::Error::from_io(e))),
        };
        hasher.update(&buffer[..n]);
        output.write_all(&buffer[..n]).map_err(file_error)?;
    }
    let actual = hex::encode(hasher.finalize());
    if actual != file.sha256 {
        return Err(Error::Archive(
            orgbackup_archive::Error::EntryChecksumMismatch {
                path: file.entry.clone(),
                expected: file.sha256.clone(),
                actual,
            },
        ));
    }
    output.sync_all().map_err(file_error)
}

/// Per restored table with a file reference column: the paths referenced by the rows this
/// restore writes (inserted, re-inserted or resolved by replace / merge, not skipped conflicts)
/// that are the target org's rows now.
async fn referenced_paths(
    conn: &mut PgConnection,
    config: &TenancyConfig,
    current: &TenantSchema,
    targets: &[Target],
    request: &RestoreRequest,
) -> Result<HashMap<QualifiedName, HashSet<String>>, Error> {
    let default_schema = config
        .schemas
        .first()
        .map(String::as_str)
        .unwrap_or("public");
    let mut referenced: HashMap<QualifiedName, HashSet<String>> = HashMap::new();
    for reference in &config.file_references {
        let name = QualifiedName::parse(&reference.table, default_schema);
        let Some(target) = targets.iter().find(|t| t.record.table.name == name) else {
            continue;
        };
        let paths = referenced.entry(name).or_default();
        if !target.loaded().any(|c| c.name == reference.column) {
            continue;
        }
        let default = super::classify::default_action(target, request);
        let column = quote_ident(&reference.column);
        let sql = format!(
            "SELECT DISTINCT s.{column}::text FROM {staging} s
              WHERE s.{column} IS NOT NULL
                AND (s._class IN ('insert', 'identical')
                     OR (s._class = 'conflict' AND coalesce(s._decision, $1) <> 'skip'))
                AND EXISTS (SELECT 1 FROM {live} t WHERE {org} AND t.{column}::text = s.{column}::text)",
            staging = target.staging,
            live = current.tables[target.index].name.quoted(),
            org = current.org_filter(target.index, "t"),
        );
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(super::classify::action_name(default))
            .fetch_all(&mut *conn)
            .await?;
        paths.extend(rows);
    }
    Ok(referenced)
}
