//! Restore analysis: compares a backup's schema snapshot (from its manifest alone) with today's
//! schema, table by table, and says what a restore can do and what a person should fix first.
//!
//! Each table's [`ColumnPlan`] is exact, so restore can build its staging tables and INSERTs
//! from it: `load` and `dropped` split the backup's data columns, `load` and `filled_by_default`
//! split today's columns.

use crate::discovery::{Ownership, TenantSchema, TenantTable};
use crate::ident::QualifiedName;
use crate::metadata::{BackupMetadata, TableRecord};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Ordered: the worst status wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Compatibility {
    Compatible,
    Warnings,
    Incompatible,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    TableRemoved,
    ColumnRemoved,
    NotNullColumnAdded,
    TypeChanged,
    NotNullAdded,
    BecameGenerated,
    /// Generated at backup time (so not in the data), a plain column today.
    NoLongerGenerated,
    PrimaryKeyChanged,
    PrimaryKeyAdded,
    NoPrimaryKey,
    ForeignKeyAdded,
    ForeignKeyRetargeted,
    OwnershipChanged,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaIssue {
    /// `Warnings` or `Incompatible`.
    pub severity: Compatibility,
    pub kind: IssueKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
}

/// How the backup's columns meet today's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnPlan {
    /// Data columns written on restore (they exist today and are not generated), in data order.
    pub load: Vec<String>,
    /// Data columns gone today or generated today: their values are discarded.
    pub dropped: Vec<String>,
    /// Today's columns the backup does not write, in table order: PostgreSQL fills them (NULL,
    /// default, identity or generation expression). Empty when the table is gone.
    pub filled_by_default: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TableCompatibility {
    pub table: QualifiedName,
    /// Today's category (the backup's when the table is gone).
    pub category: String,
    pub status: Compatibility,
    pub issues: Vec<SchemaIssue>,
    pub column_plan: ColumnPlan,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryCompatibility {
    pub category: String,
    /// The worst status of its tables.
    pub status: Compatibility,
    pub tables: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompatibilityReport {
    /// The worst status of all tables (compatible when the backup has none).
    pub status: Compatibility,
    /// In the backup's order (parents first).
    pub tables: Vec<TableCompatibility>,
    /// In alphabetical order.
    pub categories: Vec<CategoryCompatibility>,
    /// Tenant tables of today, in the categories the backup covers, that the backup does not
    /// hold: a restore leaves them as they are.
    pub new_tables: Vec<QualifiedName>,
}

/// Compares every table of `backup` with today's schema. Reads the manifest only, never data.
#[tracing::instrument(skip_all, fields(backup_id = %backup.backup_id))]
pub fn analyze(backup: &BackupMetadata, current: &TenantSchema) -> CompatibilityReport {
    let tables: Vec<TableCompatibility> = backup
        .tables
        .iter()
        .map(|record| match current.table_index(&record.table.name) {
            Some(index) => compare(record, &current.tables[index], &current.org_table),
            None => removed(record),
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
    // A table of a category the backup did not ask for is not new, only not selected.
    let new_tables = current
        .tables
        .iter()
        .filter(|t| backup.whole || backup.categories.contains(&t.category))
        .filter(|t| !backup.tables.iter().any(|r| r.table.name == t.name))
        .map(|t| t.name.clone())
        .collect();
    CompatibilityReport {
        status: worst(tables.iter().map(|t| t.status)),
        tables,
        categories,
        new_tables,
    }
}

fn worst(statuses: impl Iterator<Item = Compatibility>) -> Compatibility {
    statuses.max().unwrap_or(Compatibility::Compatible)
}

fn removed(record: &TableRecord) -> TableCompatibility {
    TableCompatibility {
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
    }
}

fn compare(
    record: &TableRecord,
    today: &TenantTable,
    org_table: &QualifiedName,
) -> TableCompatibility {
    let mut issues = Issues::default();
    let mut plan = ColumnPlan::default();
    plan_backup_columns(record, today, &mut plan, &mut issues);
    plan_columns_filled_by_default(record, today, &mut plan, &mut issues);
    compare_primary_key(&record.table, today, &plan, &mut issues);
    compare_foreign_keys(&record.table, today, org_table, &plan, &mut issues);
    compare_ownership(&record.table, today, &mut issues);
    TableCompatibility {
        table: today.name.clone(),
        category: today.category.clone(),
        status: worst(issues.0.iter().map(|i| i.severity)),
        issues: issues.0,
        column_plan: plan,
    }
}

/// One table's issues, in the order the checks find them (the report lists them so).
#[derive(Default)]
struct Issues(Vec<SchemaIssue>);

impl Issues {
    fn add(
        &mut self,
        severity: Compatibility,
        kind: IssueKind,
        column: Option<&str>,
        message: String,
    ) {
        self.0.push(SchemaIssue {
            severity,
            kind,
            column: column.map(str::to_string),
            message,
        })
    }
}

/// Splits the backup's data columns into `load` and `dropped`, with what each loaded column
/// changed since the backup.
fn plan_backup_columns(
    record: &TableRecord,
    today: &TenantTable,
    plan: &mut ColumnPlan,
    issues: &mut Issues,
) {
    let then = &record.table;
    let name = &today.name;
    for column in &record.data_columns {
        let before = then.columns.iter().find(|c| &c.name == column);
        match today.columns.iter().find(|c| &c.name == column) {
            None => {
                plan.dropped.push(column.clone());
                issues.add(
                    Compatibility::Warnings,
                    IssueKind::ColumnRemoved,
                    Some(column),
                    format!(
                        "column {name}.{column} was removed since the backup: the backup's values of it are discarded; add the column back before restoring if they are needed"
                    ),
                );
            }
            Some(now) if now.generated => {
                plan.dropped.push(column.clone());
                issues.add(
                    Compatibility::Warnings,
                    IssueKind::BecameGenerated,
                    Some(column),
                    format!(
                        "column {name}.{column} is generated now: PostgreSQL recomputes it, the backup's values are not loaded"
                    ),
                );
            }
            Some(now) => {
                plan.load.push(column.clone());
                let Some(before) = before else { continue };
                if before.data_type != now.data_type {
                    issues.add(
                        Compatibility::Warnings,
                        IssueKind::TypeChanged,
                        Some(column),
                        format!(
                            "column {name}.{column} changed type from {} to {}: the backup's values are cast from {} to {}, and the restore fails if one does not convert",
                            before.data_type, now.data_type, before.data_type, now.data_type
                        ),
                    );
                }
                if now.not_null && !before.not_null {
                    issues.add(
                        Compatibility::Warnings,
                        IssueKind::NotNullAdded,
                        Some(column),
                        format!(
                            "column {name}.{column} is NOT NULL now and was nullable at backup time: rows with NULL in {column} are rejected and the restore fails; drop the NOT NULL constraint for the restore if the backup may hold NULLs there"
                        ),
                    );
                }
            }
        }
    }
}

/// Today's columns the backup does not write, and whether PostgreSQL can fill each of them.
fn plan_columns_filled_by_default(
    record: &TableRecord,
    today: &TenantTable,
    plan: &mut ColumnPlan,
    issues: &mut Issues,
) {
    let then = &record.table;
    let name = &today.name;
    for column in today
        .columns
        .iter()
        .filter(|c| !plan.load.contains(&c.name))
    {
        plan.filled_by_default.push(column.name.clone());
        if record.data_columns.contains(&column.name) || column.generated {
            continue; // became generated (reported above), or recomputed as it was
        }
        let filled = !column.not_null || column.default.is_some() || column.identity.is_some();
        let was_generated = then
            .columns
            .iter()
            .any(|c| c.name == column.name && c.generated);
        match (was_generated, filled) {
            (false, true) => {}
            (false, false) => issues.add(
                Compatibility::Incompatible,
                IssueKind::NotNullColumnAdded,
                Some(&column.name),
                format!(
                    "column {name}.{} was added since the backup and is NOT NULL without a default: the backup's rows cannot be inserted; give the column a default or make it nullable, then analyze again",
                    column.name
                ),
            ),
            (true, true) => issues.add(
                Compatibility::Warnings,
                IssueKind::NoLongerGenerated,
                Some(&column.name),
                format!(
                    "column {name}.{} was generated at backup time and is a plain column now: the backup holds no values for it, so restored rows get its default (or NULL)",
                    column.name
                ),
            ),
            (true, false) => issues.add(
                Compatibility::Incompatible,
                IssueKind::NoLongerGenerated,
                Some(&column.name),
                format!(
                    "column {name}.{} was generated at backup time and is a plain NOT NULL column without a default now: the backup holds no values for it, so its rows cannot be inserted; give the column a default or make it nullable, then analyze again",
                    column.name
                ),
            ),
        }
    }
}

/// Rows are matched on the primary key, so a changed key means conflicts cannot be found.
fn compare_primary_key(
    then: &TenantTable,
    today: &TenantTable,
    plan: &ColumnPlan,
    issues: &mut Issues,
) {
    let name = &today.name;
    let sorted = |key: &Vec<String>| {
        let mut key = key.clone();
        key.sort();
        key
    };
    match (&then.primary_key, &today.primary_key) {
        (Some(a), Some(b)) if sorted(a) == sorted(b) => {}
        (None, None) => issues.add(
            Compatibility::Warnings,
            IssueKind::NoPrimaryKey,
            None,
            match today.unique_keys.iter().find(|k| {
                k.iter().all(|c| {
                    plan.load.contains(c)
                        && today
                            .columns
                            .iter()
                            .any(|col| &col.name == c && col.not_null)
                })
            }) {
                Some(key) => format!(
                    "table {name} has no primary key: rows are matched on the unique key ({}) instead",
                    key.join(", ")
                ),
                None => format!(
                    "table {name} has no primary key nor unique key of NOT NULL columns: its rows are matched as whole rows, copy by copy (a changed row is a new row plus, in a full restore, a deleted one); conflicts cannot be detected"
                ),
            },
        ),
        (None, Some(now)) => issues.add(
            Compatibility::Warnings,
            IssueKind::PrimaryKeyAdded,
            None,
            format!(
                "table {name} has a primary key ({}) now and had none at backup time: rows are matched on it, and the restore fails if backup rows share a key",
                now.join(", ")
            ),
        ),
        (Some(before), now) => issues.add(
            Compatibility::Incompatible,
            IssueKind::PrimaryKeyChanged,
            None,
            match now {
                Some(now) => format!(
                    "the primary key of {name} changed from ({}) to ({}): the backup's rows cannot be matched with today's, so conflicts cannot be detected; restore other categories, or restore into a database with the backup's key",
                    before.join(", "),
                    now.join(", ")
                ),
                None => format!(
                    "the primary key ({}) of {name} was removed: the backup's rows cannot be matched with today's, so conflicts cannot be detected; add the key back, or restore other categories",
                    before.join(", ")
                ),
            },
        ),
    }
}

fn compare_foreign_keys(
    then: &TenantTable,
    today: &TenantTable,
    org_table: &QualifiedName,
    plan: &ColumnPlan,
    issues: &mut Issues,
) {
    let name = &today.name;
    // Foreign keys are matched by columns and target, never by constraint name. As in restore,
    // only keys over loaded columns matter (other columns get NULL or their default), and
    // references to the org table are ownership, compared below.
    let checked = today.foreign_keys.iter().filter(|fk| {
        &fk.references != org_table && fk.columns.iter().all(|c| plan.load.contains(c))
    });
    for fk in checked {
        let target = |old: &&crate::catalog::ForeignKey| {
            old.references == fk.references && old.referenced_columns == fk.referenced_columns
        };
        let same_columns: Vec<_> = then
            .foreign_keys
            .iter()
            .filter(|old| old.columns == fk.columns)
            .collect();
        if same_columns.iter().any(target) {
            continue;
        }
        match same_columns.first() {
            None => issues.add(
                Compatibility::Warnings,
                IssueKind::ForeignKeyAdded,
                None,
                format!(
                    "{name}({}) must now reference {}: backup rows without such a parent are reported and not restored",
                    fk.columns.join(", "),
                    fk.references
                ),
            ),
            Some(old) => issues.add(
                Compatibility::Warnings,
                IssueKind::ForeignKeyRetargeted,
                None,
                format!(
                    "{name}({}) referenced {}({}) at backup time and references {}({}) now: backup rows without a parent there are reported and not restored",
                    fk.columns.join(", "),
                    old.references,
                    old.referenced_columns.join(", "),
                    fk.references,
                    fk.referenced_columns.join(", ")
                ),
            ),
        }
    }
}

fn compare_ownership(then: &TenantTable, today: &TenantTable, issues: &mut Issues) {
    let name = &today.name;
    let (owner_then, owner_now) = (owner(then), owner(today));
    if owner_then != owner_now {
        issues.add(
            Compatibility::Incompatible,
            IssueKind::OwnershipChanged,
            None,
            format!(
                "{name} belonged to an organization {owner_then} at backup time and {owner_now} now: its rows cannot be attributed safely; restore other categories, or make the table belong to organizations as before"
            ),
        );
    }
}

/// How rows are tied to an org, by columns and parent table rather than constraint names (a
/// renamed foreign key or a changed org column type changes nothing here).
fn owner(table: &TenantTable) -> String {
    let path = |foreign_key: &str, parent: &crate::ident::QualifiedName| {
        let columns = table
            .foreign_keys
            .iter()
            .find(|fk| fk.name == foreign_key)
            .map_or_else(|| foreign_key.to_string(), |fk| fk.columns.join(", "));
        format!("({columns}) referencing {parent}")
    };
    match &table.ownership {
        Ownership::Direct { column, .. } => format!("directly by column {column}"),
        Ownership::Through {
            foreign_key,
            parent,
        } => format!("through {}", path(foreign_key, parent)),
        Ownership::AnyPath { paths } => format!(
            "through any of {}",
            paths
                .iter()
                .map(|p| path(&p.foreign_key, &p.parent))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The report for people: one line per table (status, table, category), then its issues.
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
