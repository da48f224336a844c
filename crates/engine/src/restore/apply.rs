//! Applies a classified plan with set-based SQL: deletions children first, then conflict
//! resolutions and inserts parents first, then sequences. Files are the job of `files`.

use super::classify::{action_name, deletion_filter, reinserts_identical};
use super::context::OrgContext;
use super::sql::{merged_value, staged};
use super::staging::Target;
use super::{ConflictAction, RestoreProgress, RestoreRequest};
use crate::discovery::TenantSchema;
use crate::error::Error;
use crate::ident::quote_ident;
use crate::progress::Progress;
use sqlx::PgConnection;

pub(super) async fn apply(
    conn: &mut PgConnection,
    context: &OrgContext<'_>,
    current: &TenantSchema,
    targets: &[Target],
    request: &RestoreRequest,
    state: &mut RestoreProgress,
    progress: &dyn Progress,
) -> Result<(), Error> {
    // Deferrable foreign keys (cycles) are checked at commit, when every row is in place.
    sqlx::query("SET CONSTRAINTS ALL DEFERRED")
        .execute(&mut *conn)
        .await?;
    for target in targets.iter().rev().filter(|t| t.full_scope) {
        let table = &current.tables[target.index];
        let sql = format!(
            "DELETE FROM {} t WHERE {}",
            current.relation(target.index),
            deletion_filter(current, target)
        );
        context.verify(conn).await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(|e| blocked(e, &table.name.to_string()))?;
    }
    let mut postponed = Vec::new();
    state.tables_done = 0;
    for target in targets {
        let table = &current.tables[target.index];
        state.current_table = Some(table.name.to_string());
        progress.restore(state);
        context.verify(conn).await?;
        resolve_conflicts(conn, target, request, &current.relation(target.index)).await?;
        let deferred_columns = cycle_columns_to_defer(current, target);
        let columns: Vec<_> = target.loaded().map(|c| c.name.clone()).collect();
        let values: Vec<String> = columns
            .iter()
            .map(|c| {
                if deferred_columns.contains(c) {
                    "NULL".into()
                } else {
                    staged(target, c)
                }
            })
            .collect();
        let classes = if reinserts_identical(target) {
            "'insert', 'identical'"
        } else {
            "'insert'"
        };
        let insert = format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} s WHERE s._class IN ({classes})",
            table.name.quoted(),
            columns
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", "),
            values.join(", "),
            target.staging
        );
        context.verify(conn).await?;
        let inserted = sqlx::query(sqlx::AssertSqlSafe(insert))
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::Restore(format!("writing {} failed: {e}", table.name)))?;
        state.rows += inserted.rows_affected();
        if !deferred_columns.is_empty() {
            postponed.push((target, deferred_columns));
        }
        state.tables_done += 1;
    }
    // Cycles through non-deferrable, nullable keys: the rows went in with those columns NULL;
    // now that every table of the cycle is written, the references are set.
    for (target, columns) in postponed {
        let Some(matched) = super::sql::key_match(target, "t") else {
            continue;
        };
        let sets: Vec<String> = columns
            .iter()
            .map(|c| format!("{} = {}", quote_ident(c), staged(target, c)))
            .collect();
        let sql = format!(
            "UPDATE {} t SET {} FROM {} s WHERE s._class = 'insert' AND {matched}",
            current.relation(target.index),
            sets.join(", "),
            target.staging
        );
        context.verify(conn).await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await?;
    }
    move_sequences_forward(conn, current, targets).await
}

fn blocked(error: sqlx::Error, table: &str) -> Error {
    Error::Restore(format!(
        "a full restore must delete rows of {table} that are not in the backup, but other rows still reference them ({error}); include the referencing categories or use a merge restore"
    ))
}

async fn resolve_conflicts(
    conn: &mut PgConnection,
    target: &Target,
    request: &RestoreRequest,
    live: &str,
) -> Result<(), Error> {
    let Some(matched) = super::sql::key_match(target, "t") else {
        return Ok(());
    };
    let key = target.key.clone().unwrap_or_default();
    let columns: Vec<&str> = target
        .loaded()
        .map(|c| c.name.as_str())
        .filter(|c| !key.iter().any(|k| k == c))
        .collect();
    if columns.is_empty() {
        return Ok(());
    }
    let default = if target.full_scope {
        ConflictAction::Replace
    } else {
        request.conflicts
    };
    for action in [ConflictAction::Replace, ConflictAction::Merge] {
        let sets: Vec<String> = columns
            .iter()
            .map(|c| {
                let value = match action {
                    ConflictAction::Merge => merged_value(target, c, "t"),
                    _ => staged(target, c),
                };
                format!("{} = {value}", quote_ident(c))
            })
            .collect();
        let sql = format!(
            "UPDATE {live} t SET {} FROM {} s WHERE s._class = 'conflict' AND coalesce(s._decision, $1) = $2 AND {matched}",
            sets.join(", "),
            target.staging
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(action_name(default))
            .bind(action_name(action))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Columns of non-deferrable, nullable foreign keys into the same cycle of tables: written NULL
/// first, set once the whole cycle is in place.
fn cycle_columns_to_defer(current: &TenantSchema, target: &Target) -> Vec<String> {
    let table = &current.tables[target.index];
    let Some(group) = table.cycle_group else {
        return Vec::new();
    };
    table
        .foreign_keys
        .iter()
        .filter(|fk| !fk.deferrable)
        .filter(|fk| {
            current
                .table_index(&fk.references)
                .is_some_and(|i| current.tables[i].cycle_group == Some(group))
        })
        .filter(|fk| {
            fk.columns.iter().all(|c| {
                table
                    .columns
                    .iter()
                    .any(|col| &col.name == c && !col.not_null)
            })
        })
        .flat_map(|fk| fk.columns.clone())
        .collect()
}

/// Identity and serial sequences move forward past the restored values; never back.
async fn move_sequences_forward(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[Target],
) -> Result<(), Error> {
    for target in targets {
        let table = &current.tables[target.index];
        for column in table.columns.iter().filter(|c| c.sequence.is_some()) {
            let sequence = column.sequence.as_deref().expect("filtered");
            let sql = format!(
                "SELECT setval($1::regclass, m) FROM (SELECT max({col}) AS m FROM {live}) x, {sequence} q WHERE m IS NOT NULL AND m >= q.last_value",
                col = quote_ident(&column.name),
                live = table.name.quoted(),
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(sequence)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}
