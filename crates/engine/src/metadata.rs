//! What a backup says about itself: stored as the `backup` value of the archive manifest
//! (docs/FORMAT.md), so `inspect` and restore analysis read it without touching the data.

use crate::discovery::TenantTable;
use crate::ident::QualifiedName;
use crate::org_id::OrgId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The encoding of table data entries: PostgreSQL `COPY ... TO STDOUT` text format, one row per
/// line, columns in the order of `TableRecord::data_columns`.
pub const DATA_FORMAT: &str = "postgresql-copy-text";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupMetadata {
    pub backup_id: String,
    pub org: OrgInfo,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub tool_version: String,
    pub source: SourceInfo,
    pub data_format: String,
    /// Categories asked for (every category when the backup is whole).
    pub categories: Vec<String>,
    pub whole: bool,
    /// Tables outside the asked categories, included because selected tables reference them.
    pub added_for_dependencies: Vec<QualifiedName>,
    pub org_table: QualifiedName,
    pub org_setting: String,
    /// In dependency order (parents first).
    pub tables: Vec<TableRecord>,
    pub files: Vec<FileRecord>,
    /// Files referenced by rows but absent from disk when the backup ran.
    pub missing_files: Vec<String>,
    /// Files referenced by rows that the backup refused to read (a path leaving the files root or
    /// the org's own files, a symlink, not a regular file), each with the reason. Absent from
    /// archives written before it existed.
    #[serde(default)]
    pub skipped_files: Vec<SkippedFile>,
    /// Global (shared) tables seen at backup time; foreign keys into them are checked on restore.
    pub global_tables: Vec<QualifiedName>,
}

impl BackupMetadata {
    /// Rows of every table. Counts come from the manifest, so from an uploaded file too: the sum
    /// saturates at what a BIGINT column can hold instead of overflowing (a panic in a debug
    /// build, a negative count stored in a release one).
    pub fn total_rows(&self) -> u64 {
        self.tables
            .iter()
            .fold(0u64, |total, t| total.saturating_add(t.row_count))
            .min(i64::MAX as u64)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrgInfo {
    pub id: OrgId,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceInfo {
    pub database: String,
    pub server_version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableRecord {
    /// The table's schema snapshot at backup time.
    #[serde(flatten)]
    pub table: TenantTable,
    /// The columns present in the data, in order (stored generated columns are left out).
    pub data_columns: Vec<String>,
    pub row_count: u64,
    /// Bytes of COPY text.
    pub data_bytes: u64,
    /// Archive entry paths holding the rows, in order; each holds whole rows.
    pub chunks: Vec<String>,
    /// Rows that reach this org through one ownership path and another org through another:
    /// in no backup, counted here so the loss is never silent (docs: README, "Ownership").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ambiguous_rows: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    /// Path relative to the files root, as stored in the referencing row.
    pub path: String,
    /// The archive entry holding the file: usually `files/<path>`, but a path that is not a valid
    /// entry name (a backslash) or that would collide gets another one. Read this, never derive it.
    pub entry: String,
    pub size: u64,
    pub sha256: String,
    pub table: QualifiedName,
}

/// A referenced file that was not backed up or restored, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SkippedFile {
    pub table: QualifiedName,
    /// The path as written in the row (or in the archive's `files[]`).
    pub path: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seen writing the `upload_verify` fuzz target: an uploaded manifest with two tables of
    /// `u64::MAX` rows made the count overflow.
    #[test]
    fn row_counts_from_a_hostile_manifest_add_up_without_overflow() {
        let table = serde_json::json!({
            "name": {"schema": "public", "name": "t"}, "category": "core",
            "ownership": {"kind": "direct", "column": "org_id", "column_type": "uuid"},
            "columns": [], "data_columns": [], "row_count": u64::MAX, "data_bytes": 0, "chunks": [],
        });
        let metadata: BackupMetadata = serde_json::from_value(serde_json::json!({
            "backup_id": "b", "org": {"id": "o", "name": "O"},
            "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:00Z",
            "tool_version": "0", "source": {"database": "d", "server_version": "15"},
            "data_format": "postgresql-copy-text", "categories": [], "whole": true,
            "added_for_dependencies": [], "org_table": {"schema": "public", "name": "orgs"},
            "org_setting": "app.current_org_id", "tables": [table.clone(), table],
            "files": [], "missing_files": [], "global_tables": [],
        }))
        .unwrap();
        assert_eq!(metadata.total_rows(), i64::MAX as u64);
        assert_eq!(metadata.total_rows() as i64, i64::MAX);
    }
}
