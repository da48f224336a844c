//! Rows a full restore does not write that reference rows it deletes: another category's rows
//! reached by `ON DELETE CASCADE`, another org's rows through a key that is not ownership, rows
//! of tables outside the tenant schemas. A restore must not remove, change or orphan them, so
//! the plan counts them (`RestorePlan::blocked_deletions`) and a restore with any refuses before
//! writing anything: the referencing categories must be restored too.
//!
//! A referencing row counts with the value it will hold after the restore: a row the restore
//! deletes does not count, and one it replaces counts with the backup's reference. When user
//! triggers fire, a foreign key's action (or an immediate check) runs at the deletion, before
//! any row is replaced: then today's reference counts, unless the key is a deferrable
//! `NO ACTION` one, checked at commit.

use super::RestoreRequest;
use super::apply::cycle_columns_to_defer;
use super::classify::{action_name, default_action, deletion_filter};
use super::sql::{key_match, merged_value, staged};
use super::staging::Target;
use crate::discovery::TenantSchema;
use crate::error::Error;
use crate::ident::{QualifiedName, quote_ident};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// Rows outside a full restore's writes that reference rows it would delete.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedDeletion {
    /// The table whose rows the restore would delete.
    pub table: QualifiedName,
    /// The referencing table and its foreign key.
    pub referencing_table: QualifiedName,
    pub foreign_key: String,
    /// What PostgreSQL would do to the referencing rows: `cascade` (delete them), `set null`,
    /// `set default`, `restrict` or `no action` (refuse the deletion).
    pub on_delete: String,
    pub rows: u64,
}

/// A foreign key into a tenant table, from any table of the database.
#[derive(sqlx::FromRow)]
pub(super) struct Reference {
    pub name: String,
    pub child_schema: String,
    pub child_name: String,
    pub partitioned: bool,
    pub columns: Vec<String>,
    pub referenced: Vec<String>,
    pub on_delete: String,
    pub deferrable: bool,
}

impl Reference {
    pub fn child(&self) -> QualifiedName {
        QualifiedName::new(self.child_schema.clone(), self.child_name.clone())
    }

    /// The child table to read, its own rows only unless partitioned.
    pub fn relation(&self) -> String {
        if self.partitioned {
            self.child().quoted()
        } else {
            format!("ONLY {}", self.child().quoted())
        }
    }

    fn action(&self) -> &'static str {
        match self.on_delete.as_str() {
            "c" => "cascade",
            "n" => "set null",
            "d" => "set default",
            "r" => "restrict",
            _ => "no action",
        }
    }
}

/// Every foreign key that references `table` (a partitioned child's copies on its partitions
/// left out).
pub(super) async fn references_to(
    conn: &mut PgConnection,
    table: &QualifiedName,
) -> Result<Vec<Reference>, Error> {
    let references = sqlx::query_as(
        "SELECT con.conname::text AS name, n.nspname::text AS child_schema,
                c.relname::text AS child_name, c.relkind = 'p' AS partitioned,
                ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                       ORDER BY k.ord) AS columns,
                ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
                        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
                       ORDER BY k.ord) AS referenced,
                con.confdeltype::text AS on_delete, con.condeferrable AS deferrable
           FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE con.contype = 'f' AND con.conparentid = 0 AND con.confrelid = $1::regclass
          ORDER BY 1",
    )
    .bind(table.quoted())
    .fetch_all(&mut *conn)
    .await?;
    Ok(references)
}

/// For every full-scope table with rows to delete, the rows elsewhere that still reference them
/// after the restore. `deleting` is true for the tables whose plan deletes rows.
pub(super) async fn blocked_deletions(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[Target],
    request: &RestoreRequest,
    deleting: impl Fn(usize) -> bool,
) -> Result<Vec<BlockedDeletion>, Error> {
    let mut blocked = Vec::new();
    for parent in targets.iter().filter(|t| t.full_scope && deleting(t.index)) {
        let parent_table = &current.tables[parent.index];
        for reference in references_to(conn, &parent_table.name).await? {
            let child_target = current
                .table_index(&reference.child())
                .and_then(|index| targets.iter().find(|t| t.index == index));
            let at_deletion =
                request.fire_triggers && (reference.on_delete != "a" || !reference.deferrable);
            let sql = surviving_references(
                current,
                parent,
                child_target,
                &reference,
                request,
                at_deletion,
            );
            let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *conn)
                .await?;
            if rows > 0 {
                blocked.push(BlockedDeletion {
                    table: parent_table.name.clone(),
                    referencing_table: reference.child(),
                    foreign_key: reference.name.clone(),
                    on_delete: reference.action().to_string(),
                    rows: rows as u64,
                });
            }
        }
    }
    Ok(blocked)
}

/// Counts the rows of the reference's child that the restore keeps and that, after it (or at
/// the deletion, `at_deletion`), reference a row of `parent` it deletes.
fn surviving_references(
    current: &TenantSchema,
    parent: &Target,
    child: Option<&Target>,
    reference: &Reference,
    request: &RestoreRequest,
    at_deletion: bool,
) -> String {
    // The child's rows with the reference they will hold: replaced and merged conflicts take
    // the backup's (or the merged) value. At the deletion, only the cycle references that apply
    // clears beforehand on rows it replaces (see `apply`) are not today's.
    let keyed = child.and_then(|c| key_match(c, "c").map(|m| (c, m)));
    let values: Vec<String> = reference
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let today = format!("c.{}", quote_ident(column));
            let value = match keyed {
                Some((target, _)) if target.loaded().any(|l| &l.name == column) => {
                    let default = action_name(default_action(target, request));
                    if !at_deletion {
                        format!(
                            "CASE WHEN s._class IS NULL THEN {today} WHEN coalesce(s._decision, '{default}') = 'merge' THEN {} ELSE {} END",
                            merged_value(target, column, "c"),
                            staged(target, column)
                        )
                    } else if cycle_columns_to_defer(current, target).contains(column) {
                        format!(
                            "CASE WHEN coalesce(s._decision, '{default}') = 'replace' AND s._class IS NOT NULL THEN {} ELSE {today} END",
                            staged(target, column)
                        )
                    } else {
                        today
                    }
                }
                _ => today,
            };
            format!("{value} AS _ref{i}")
        })
        .collect();
    let join = match keyed {
        Some((target, matched)) => format!(
            "LEFT JOIN {} s ON {matched} AND s._class = 'conflict' AND coalesce(s._decision, '{}') IN ('replace', 'merge')",
            target.staging,
            action_name(default_action(target, request))
        ),
        None => String::new(),
    };
    let matched: Vec<String> = reference
        .referenced
        .iter()
        .enumerate()
        .map(|(i, column)| format!("t.{} = c._ref{i}", quote_ident(column)))
        .collect();
    let present: Vec<String> = (0..reference.columns.len())
        .map(|i| format!("c._ref{i} IS NOT NULL"))
        .collect();
    // A row the restore deletes does not stay behind.
    let kept = match child.filter(|c| c.full_scope) {
        Some(target) => format!(
            "AND NOT EXISTS (SELECT 1 FROM {} t WHERE ({}) AND t.tableoid = c._oid AND t.ctid = c._ctid)",
            current.relation(target.index),
            deletion_filter(current, target)
        ),
        None => String::new(),
    };
    format!(
        "SELECT count(*) FROM (SELECT c.tableoid AS _oid, c.ctid AS _ctid, {values} FROM {child} c {join}) c
          WHERE {present} {kept}
            AND EXISTS (SELECT 1 FROM {parent_relation} t WHERE ({deleted}) AND {matched})",
        values = values.join(", "),
        child = reference.relation(),
        present = present.join(" AND "),
        parent_relation = current.relation(parent.index),
        deleted = deletion_filter(current, parent),
        matched = matched.join(" AND "),
    )
}

/// The error of a restore that would delete rows others still reference.
pub(super) fn refusal(blocked: &[BlockedDeletion], current: &TenantSchema) -> Error {
    let parts: Vec<String> = blocked
        .iter()
        .map(|b| {
            let category = current
                .table_index(&b.referencing_table)
                .map(|i| format!(" (category {})", current.tables[i].category))
                .unwrap_or_default();
            format!(
                "{} rows of {}{category} reference rows of {} it deletes (foreign key {}, on delete {})",
                b.rows, b.referencing_table, b.table, b.foreign_key, b.on_delete
            )
        })
        .collect();
    Error::Restore(format!(
        "this full restore would delete rows that rows it does not restore still reference: {}; nothing was changed; restore the referencing categories too, or use a merge restore",
        parts.join("; ")
    ))
}
