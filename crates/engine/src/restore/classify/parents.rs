//! Rows whose parent row will not exist after the restore: `missing_parent` (a tenant parent,
//! neither restored nor kept) and `missing_global` (a global row that is gone).

use crate::catalog::ForeignKey;
use crate::discovery::TenantSchema;
use crate::error::Error;
use crate::ident::quote_ident;
use crate::restore::sql::{staged, staged_as};
use crate::restore::staging::Target;
use sqlx::PgConnection;
use std::collections::HashSet;

/// One missing-parent check: an UPDATE of `table`'s staging rows, depending on `parent`'s.
struct ParentCheck {
    sql: String,
    table: String,
    parent: Option<String>,
}

/// Marks rows whose parent will not exist, repeating until nothing changes (a missing parent
/// makes its children missing too, through self-references and cycles as well).
pub(super) async fn mark_missing_parents(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[Target],
) -> Result<(), Error> {
    let mut statements = Vec::new();
    for target in targets {
        let table = &current.tables[target.index];
        for fk in &table.foreign_keys {
            if fk.references == current.org_table
                || !fk
                    .columns
                    .iter()
                    .all(|c| target.loaded().any(|l| &l.name == c))
            {
                continue;
            }
            statements.push(parent_check(current, targets, target, fk));
        }
    }
    rerun_until_settled(conn, &statements).await
}

/// The check of one foreign key of `target`: its rows (to insert or overwrite) whose parent is
/// nowhere it may be.
fn parent_check(
    current: &TenantSchema,
    targets: &[Target],
    target: &Target,
    fk: &ForeignKey,
) -> ParentCheck {
    let not_null: Vec<String> = fk
        .columns
        .iter()
        .map(|c| format!("s.{} IS NOT NULL", quote_ident(c)))
        .collect();
    let (present, class, parent_staging) = match current.table_index(&fk.references) {
        Some(parent_index) => {
            let staged_parent = targets.iter().find(|t| t.index == parent_index);
            (
                tenant_parent_places(current, target, fk, parent_index, staged_parent),
                "missing_parent",
                staged_parent.map(|p| p.staging.clone()),
            )
        }
        None => {
            let matched: Vec<String> = fk
                .columns
                .iter()
                .zip(&fk.referenced_columns)
                .map(|(c, r)| format!("p.{} = {}", quote_ident(r), staged(target, c)))
                .collect();
            (
                vec![format!(
                    "EXISTS (SELECT 1 FROM {} p WHERE {})",
                    fk.references.quoted(),
                    matched.join(" AND ")
                )],
                "missing_global",
                None,
            )
        }
    };
    // NOT EXISTS, ANDed (not NOT (a OR b)): the planner turns each into a hashed anti-join.
    let absent: Vec<String> = present.iter().map(|p| format!("NOT {p}")).collect();
    ParentCheck {
        sql: format!(
            "UPDATE {} s SET _class = '{class}' WHERE s._class IN ('insert', 'conflict') AND {} AND {}",
            target.staging,
            not_null.join(" AND "),
            absent.join(" AND ")
        ),
        table: target.staging.clone(),
        parent: parent_staging,
    }
}

/// `EXISTS` conditions, one per place a tenant parent of a `target` row may be after the restore
/// (the parent table `parent_index`, staged as `staged_parent` when restored too).
fn tenant_parent_places(
    current: &TenantSchema,
    target: &Target,
    fk: &ForeignKey,
    parent_index: usize,
    staged_parent: Option<&Target>,
) -> Vec<String> {
    let table = &current.tables[target.index];
    let mut options = Vec::new();
    if let Some(parent) = staged_parent {
        let matched: Vec<String> = fk
            .columns
            .iter()
            .zip(&fk.referenced_columns)
            .map(|(c, r)| format!("{} = {}", staged_as(parent, r, "p"), staged(target, c)))
            .collect();
        options.push(format!(
            "EXISTS (SELECT 1 FROM {} p WHERE p._class IN ('insert', 'identical', 'conflict') AND {})",
            parent.staging,
            matched.join(" AND ")
        ));
    }
    let matched: Vec<String> = fk
        .columns
        .iter()
        .zip(&fk.referenced_columns)
        .map(|(c, r)| format!("p.{} = {}", quote_ident(r), staged(target, c)))
        .collect();
    // A full restore deletes the parent's live rows that are not in the backup.
    if !staged_parent.is_some_and(|p| p.full_scope) {
        options.push(format!(
            "EXISTS (SELECT 1 FROM {} p WHERE {} AND {})",
            current.relation(parent_index),
            matched.join(" AND "),
            current.org_filter(parent_index, "p")
        ));
    }
    // A key that is not how the row belongs to its org may point at a row of
    // another org (a task of A tagged with B's label): the backup held that
    // reference, so an existing parent is enough. A full restore deletes only
    // this org's rows, so rows of other orgs stay valid parents.
    let ownership_key = table
        .ownership
        .paths()
        .iter()
        .any(|path| path.foreign_key == fk.name);
    if !ownership_key {
        options.push(format!(
            "EXISTS (SELECT 1 FROM {} p WHERE {} AND ({}) IS NOT TRUE)",
            current.relation(parent_index),
            matched.join(" AND "),
            current.org_filter(parent_index, "p")
        ));
    }
    // A shared row (NULL org) is every org's parent; a restore never deletes it.
    if ownership_key && current.tables[parent_index].ownership.nullable() {
        options.push(format!(
            "EXISTS (SELECT 1 FROM {} p WHERE {} AND NOT ({}))",
            current.relation(parent_index),
            matched.join(" AND "),
            current.owned_filter(parent_index, "p")
        ));
    }
    options
}

/// Runs the checks until a pass changes no row.
async fn rerun_until_settled(
    conn: &mut PgConnection,
    statements: &[ParentCheck],
) -> Result<(), Error> {
    // Parents first, so one pass settles most rows; later passes only re-check rows whose staged
    // parent table changed in the pass before (self-references, cycles).
    let mut changed: Option<HashSet<String>> = None;
    for _pass in 0..10_000 {
        let mut now_changed = HashSet::new();
        for check in statements {
            let rerun = match &changed {
                None => true,
                Some(tables) => check.parent.as_ref().is_some_and(|p| tables.contains(p)),
            };
            if !rerun {
                continue;
            }
            let rows = sqlx::query(sqlx::AssertSqlSafe(check.sql.clone()))
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if rows > 0 {
                now_changed.insert(check.table.clone());
            }
        }
        if now_changed.is_empty() {
            return Ok(());
        }
        changed = Some(now_changed);
    }
    Err(Error::Restore(
        "missing-parent analysis did not settle".into(),
    ))
}
