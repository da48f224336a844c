//! Restore analysis: compares a backup's schema snapshot (from its manifest alone) with today's
//! schema, table by table, and says what a restore can do and what a person should fix first.

use crate::discovery::{TenantSchema, TenantTable};
use crate::ident::QualifiedName;
use crate::metadata::{BackupMetadata, TableRecord};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Ordered: the worst status wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compatibility {
    Compatible,
    Warnings,
    Incompatible,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    TableRemoved,
    ColumnRemoved,
    NotNullColumnAdded,
    TypeChanged,
    NotNullAdded,
    BecameGenerated,
    PrimaryKeyChanged,
    NoPrimaryKey,
    ForeignKeyAdded,
    ForeignKeyRetargeted,
    OwnershipChanged,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaIssue {
    pub severity: Compatibility,
    pub kind: IssueKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
}

/// How the backup's columns meet today's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnPlan {
    /// Data columns written on restore (they exist today and are not generated), in data order.
    pub load: Vec<String>,
    /// In the backup, gone today (or generated today): their values are discarded.
    pub dropped: Vec<String>,
    /// New today, filled by PostgreSQL (nullable, default, identity or generated).
    pub filled_by_default: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCompatibility {
    pub table: QualifiedName,
    pub category: String,
    pub status: Compatibility,
    pub issues: Vec<SchemaIssue>,
    pub column_plan: ColumnPlan,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCompatibility {
    pub category: String,
    pub status: Compatibility,
    pub tables: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatibilityReport {
    pub status: Compatibility,
    pub tables: Vec<TableCompatibility>,
    pub categories: Vec<CategoryCompatibility>,
    /// Tenant tables of today that the backup does not hold: a restore leaves them as they are.
    pub new_tables: Vec<QualifiedName>,
}

pub fn analyze(backup: &BackupMetadata, current: &TenantSchema) -> CompatibilityReport {
    let tables: Vec<TableCompatibility> = backup
        .tables
        .iter()
        .map(|record| match current.table_index(&record.table.name) {
            Some(index) => compare(record, &current.tables[index]),
            None => TableCompatibility {
                table: record.table.name.clone(),
                category: record.table.category.clone(),
                status: Compatibility::Incompatible,
                issues: vec![SchemaIssue {
                    severity: Compatibility::Incompatible,
                    kind: IssueKind::TableRemoved,
                    column: None,
                    message: format!(
                        "table {} no longer exists (or no longer belongs to an organization): its {} rows cannot be restored; recreate it, or restore other categories",
                        record.table.name, record.row_count
                    ),
                }],
                column_plan: ColumnPlan {
                    dropped: record.data_columns.clone(),
                    ..Default::default()
                },
            },
        })
        .collect();
    let mut categories: Vec<CategoryCompatibility> = Vec::new();
    for table in &tables {
        match categories.iter_mut().find(|c| c.category == table.category) {
            Some(category) => {
                category.status = category.status.max(table.status);
                category.tables += 1;
            }
            None => categories.push(CategoryCompatibility {
                category: table.category.clone(),
                status: table.status,
                tables: 1,
            }),
        }
    }
    categories.sort_by(|a, b| a.category.cmp(&b.category));
    let new_tables = current
        .tables
        .iter()
        .filter(|t| !backup.tables.iter().any(|r| r.table.name == t.name))
        .map(|t| t.name.clone())
        .collect();
    CompatibilityReport {
        status: tables
            .iter()
            .map(|t| t.status)
            .max()
            .unwrap_or(Compatibility::Compatible),
        tables,
        categories,
        new_tables,
    }
}

fn compare(record: &TableRecord, today: &TenantTable) -> TableCompatibility {
    let then = &record.table;
    let name = &today.name;
    let mut issues = Vec::new();
    let mut issue = |severity, kind, column: Option<&str>, message: String| {
        issues.push(SchemaIssue {
            severity,
            kind,
            column: column.map(str::to_string),
            message,
        })
    };
    let mut plan = ColumnPlan::default();
    for column in &record.data_columns {
        let before = then.columns.iter().find(|c| &c.name == column);
        match today.columns.iter().find(|c| &c.name == column) {
            None => {
                plan.dropped.push(column.clone());
                issue(
                    Compatibility::Warnings,
                    IssueKind::ColumnRemoved,
                    Some(column),
                    format!(
                        "column {name}.{column} was removed since the backup: its values are not restored"
                    ),
                );
            }
            Some(now) if now.generated => {
                plan.dropped.push(column.clone());
                issue(
                    Compatibility::Warnings,
                    IssueKind::BecameGenerated,
                    Some(column),
                    format!(
                        "column {name}.{column} is generated now: its values are recomputed, the backup's are not loaded"
                    ),
                );
            }
            Some(now) => {
                plan.load.push(column.clone());
                if let Some(before) = before {
                    if before.data_type != now.data_type {
                        issue(
                            Compatibility::Warnings,
                            IssueKind::TypeChanged,
                            Some(column),
                            format!(
                                "column {name}.{column} changed type from {} to {}: values are cast, and the restore fails if one does not convert",
                                before.data_type, now.data_type
                            ),
                        );
                    }
                    if now.not_null && !before.not_null {
                        issue(
                            Compatibility::Warnings,
                            IssueKind::NotNullAdded,
                            Some(column),
                            format!(
                                "column {name}.{column} is NOT NULL now: backup rows with NULL there make the restore fail"
                            ),
                        );
                    }
                }
            }
        }
    }
    for column in today
        .columns
        .iter()
        .filter(|c| !record.data_columns.contains(&c.name))
    {
        let filled = !column.not_null
            || column.default.is_some()
            || column.identity.is_some()
            || column.generated;
        if filled {
            plan.filled_by_default.push(column.name.clone());
        } else {
            issue(
                Compatibility::Incompatible,
                IssueKind::NotNullColumnAdded,
                Some(&column.name),
                format!(
                    "column {name}.{} was added since the backup and is NOT NULL without a default: the backup's rows cannot be inserted; give the column a default or make it nullable, then analyze again",
                    column.name
                ),
            );
        }
    }
    match (&then.primary_key, &today.primary_key) {
        (Some(a), Some(b)) if a == b => {}
        (None, None) => issue(
            Compatibility::Warnings,
            IssueKind::NoPrimaryKey,
            None,
            format!(
                "table {name} has no primary key: its rows can only be added or replaced as a whole, conflicts cannot be detected"
            ),
        ),
        (before, now) => issue(
            Compatibility::Incompatible,
            IssueKind::PrimaryKeyChanged,
            None,
            format!(
                "the primary key of {name} changed from ({}) to ({}): rows cannot be matched with the backup's",
                before.as_deref().unwrap_or_default().join(", "),
                now.as_deref().unwrap_or_default().join(", ")
            ),
        ),
    }
    for fk in &today.foreign_keys {
        let same_columns = then
            .foreign_keys
            .iter()
            .find(|old| old.columns == fk.columns);
        match same_columns {
            None => issue(
                Compatibility::Warnings,
                IssueKind::ForeignKeyAdded,
                None,
                format!(
                    "{name}({}) must now reference {}: backup rows without such a parent are reported and not restored",
                    fk.columns.join(", "),
                    fk.references
                ),
            ),
            Some(old) if old.references != fk.references => issue(
                Compatibility::Warnings,
                IssueKind::ForeignKeyRetargeted,
                None,
                format!(
                    "{name}({}) referenced {} at backup time and references {} now: rows without a parent there are not restored",
                    fk.columns.join(", "),
                    old.references,
                    fk.references
                ),
            ),
            Some(_) => {}
        }
    }
    if then.ownership != today.ownership {
        issue(
            Compatibility::Incompatible,
            IssueKind::OwnershipChanged,
            None,
            format!(
                "how {name} belongs to an organization changed since the backup: its rows cannot be attributed safely"
            ),
        );
    }
    TableCompatibility {
        table: name.clone(),
        category: today.category.clone(),
        status: issues
            .iter()
            .map(|i| i.severity)
            .max()
            .unwrap_or(Compatibility::Compatible),
        issues,
        column_plan: plan,
    }
}

/// The report for people: one line per table, then its issues.
pub fn render_text(report: &CompatibilityReport) -> String {
    let mut out = String::new();
    for table in &report.tables {
        let _ = writeln!(
            out,
            "{:<13} {:<36} {}",
            label(table.status),
            table.table.to_string(),
            table.category
        );
        for issue in &table.issues {
            let _ = writeln!(out, "    - {}", issue.message);
        }
    }
    for table in &report.new_tables {
        let _ = writeln!(
            out,
            "{:<13} {:<36} not in the backup: left as it is",
            "new",
            table.to_string()
        );
    }
    let _ = writeln!(out, "overall: {}", label(report.status));
    out
}

fn label(status: Compatibility) -> &'static str {
    match status {
        Compatibility::Compatible => "compatible",
        Compatibility::Warnings => "warnings",
        Compatibility::Incompatible => "INCOMPATIBLE",
    }
}
