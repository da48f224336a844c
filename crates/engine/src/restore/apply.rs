//! Applies a classified plan with set-based SQL: deletions children first, then conflict
//! resolutions and inserts parents first, then sequences. Files are the job of `files`.

use super::classify::{action_name, default_action, deletion_filter};
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
) -> Result<Vec<usize>, Error> {
    // Deferrable foreign keys (cycles) are checked at commit, when every row is in place.
    sqlx::query("SET CONSTRAINTS ALL DEFERRED")
        .execute(&mut *conn)
        .await?;
    if request.fire_triggers {
        clear_cycle_references(conn, context, current, targets, request).await?;
    }
    let deleted = delete_rows_not_in_backup(conn, context, current, targets).await?;
    let mut postponed = Vec::new();
    state.tables_done = 0;
    for target in targets {
        let table = &current.tables[target.index];
        state.current_table = Some(table.name.to_string());
        progress.restore(state);
        context.verify(conn).await?;
        // Without triggers no foreign key fires, so no order matters; with them, references
        // into the cycle through non-deferrable nullable keys are written once it is in place.
        let deferred_columns = if request.fire_triggers {
            cycle_columns_to_defer(current, target)
        } else {
            Vec::new()
        };
        resolve_conflicts(conn, current, target, request, &deferred_columns).await?;
        state.rows += insert_new_rows(conn, context, current, target, &deferred_columns).await?;
        if !deferred_columns.is_empty() {
            postponed.push((target, deferred_columns));
        }
        state.tables_done += 1;
    }
    set_postponed_references(conn, context, current, request, postponed).await?;
    move_sequences_forward(conn, current, targets).await?;
    Ok(deleted)
}

/// With foreign keys firing, a row to delete can be the last reference to another row to
/// delete through a non-deferrable, nullable key of a cycle, and a conflicting row to replace
/// can still point at a row to delete: those references are cleared first (and the replaced
/// rows get the backup's once the cycle is written).
async fn clear_cycle_references(
    conn: &mut PgConnection,
    context: &OrgContext<'_>,
    current: &TenantSchema,
    targets: &[Target],
    request: &RestoreRequest,
) -> Result<(), Error> {
    for target in targets {
        let columns = cycle_columns_to_defer(current, target);
        let Some(matched) = super::sql::key_match(target, "t").filter(|_| !columns.is_empty())
        else {
            continue;
        };
        let sets: Vec<String> = columns
            .iter()
            .map(|c| format!("{} = NULL", quote_ident(c)))
            .collect();
        let deleted = if target.full_scope {
            format!("({}) OR ", deletion_filter(current, target))
        } else {
            String::new()
        };
        let sql = format!(
            "UPDATE {live} t SET {sets} WHERE {deleted}EXISTS (SELECT 1 FROM {stg} s WHERE s._class = 'conflict' AND coalesce(s._decision, '{default}') = 'replace' AND {matched})",
            live = current.relation(target.index),
            sets = sets.join(", "),
            stg = target.staging,
            default = action_name(default_action(target, request)),
        );
        context.verify(conn).await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(|e| blocked(e, &current.tables[target.index].name.to_string()))?;
    }
    Ok(())
}

/// Full scope: the org's rows that are not in the backup, children first. Returns the tables
/// that lost rows.
async fn delete_rows_not_in_backup(
    conn: &mut PgConnection,
    context: &OrgContext<'_>,
    current: &TenantSchema,
    targets: &[Target],
) -> Result<Vec<usize>, Error> {
    let mut deleted = Vec::new();
    for target in targets.iter().rev().filter(|t| t.full_scope) {
        let table = &current.tables[target.index];
        let sql = format!(
            "DELETE FROM {} t WHERE {}",
            current.relation(target.index),
            deletion_filter(current, target)
        );
        context.verify(conn).await?;
        let removed = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(|e| blocked(e, &table.name.to_string()))?;
        if removed.rows_affected() > 0 {
            deleted.push(target.index);
        }
    }
    Ok(deleted)
}

/// Inserts the staged rows classified `insert`, with `deferred_columns` left NULL for now.
/// Returns how many.
async fn insert_new_rows(
    conn: &mut PgConnection,
    context: &OrgContext<'_>,
    current: &TenantSchema,
    target: &Target,
    deferred_columns: &[String],
) -> Result<u64, Error> {
    let table = &current.tables[target.index];
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
    let insert = format!(
        "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} s WHERE s._class = 'insert'",
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
        .map_err(|e| write_failed(e, "writing", &table.name.to_string()))?;
    Ok(inserted.rows_affected())
}

/// Cycles through non-deferrable, nullable keys: the rows went in with those columns NULL;
/// now that every table of the cycle is written, the references are set.
/// The conflicting rows replaced or merged get theirs the same way.
async fn set_postponed_references(
    conn: &mut PgConnection,
    context: &OrgContext<'_>,
    current: &TenantSchema,
    request: &RestoreRequest,
    postponed: Vec<(&Target, Vec<String>)>,
) -> Result<(), Error> {
    for (target, columns) in postponed {
        let Some(matched) = super::sql::key_match(target, "t") else {
            continue;
        };
        for action in [
            None,
            Some(ConflictAction::Replace),
            Some(ConflictAction::Merge),
        ] {
            let sets: Vec<String> = columns
                .iter()
                .map(|c| {
                    let value = match action {
                        Some(ConflictAction::Merge) => merged_value(target, c, "t"),
                        _ => staged(target, c),
                    };
                    format!("{} = {value}", quote_ident(c))
                })
                .collect();
            let rows = match action {
                None => "s._class = 'insert'".to_string(),
                Some(action) => format!(
                    "s._class = 'conflict' AND coalesce(s._decision, '{}') = '{}'",
                    action_name(default_action(target, request)),
                    action_name(action)
                ),
            };
            let sql = format!(
                "UPDATE {} t SET {} FROM {} s WHERE {rows} AND {matched}",
                current.relation(target.index),
                sets.join(", "),
                target.staging
            );
            context.verify(conn).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
                .map_err(|e| {
                    write_failed(
                        e,
                        "setting the cycle references of",
                        &current.tables[target.index].name.to_string(),
                    )
                })?;
        }
    }
    Ok(())
}

/// A failed deletion, named by its real cause: a foreign key that still points at the rows is
/// the usual one, but a trigger (enabled ALWAYS, so it fires even during a restore), a rule or a
/// permission can refuse a deletion too.
fn blocked(error: sqlx::Error, table: &str) -> Error {
    let referenced = matches!(
        &error,
        sqlx::Error::Database(e) if e.code().as_deref() == Some("23503")
    );
    let message = if referenced {
        format!(
            "a full restore must delete rows of {table} that are not in the backup, but other rows still reference them ({}); nothing was changed; include the referencing categories or use a merge restore",
            describe(&error)
        )
    } else {
        format!(
            "a full restore must delete rows of {table} that are not in the backup, and the database refused: {}; nothing was changed",
            describe(&error)
        )
    };
    Error::RestoreWrite {
        message,
        source: error,
    }
}

/// A failed write of `table` (insert, update), with the database's own message.
fn write_failed(error: sqlx::Error, what: &str, table: &str) -> Error {
    Error::RestoreWrite {
        message: format!(
            "{what} {table} failed: {}; nothing was changed",
            describe(&error)
        ),
        source: error,
    }
}

/// The database's message with its SQLSTATE, constraint and context (a trigger's or function's
/// name is in the context), so the cause is named, not guessed.
fn describe(error: &sqlx::Error) -> String {
    let sqlx::Error::Database(db) = error else {
        return error.to_string();
    };
    let mut text = db.message().to_string();
    if let Some(code) = db.code() {
        text.push_str(&format!(" (SQLSTATE {code})"));
    }
    if let Some(constraint) = db.constraint() {
        text.push_str(&format!(", constraint {constraint}"));
    }
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        if let Some(detail) = pg.detail() {
            text.push_str(&format!(", {detail}"));
        }
        if let Some(context) = pg.r#where() {
            text.push_str(&format!(", in {}", context.replace('\n', "; ")));
        }
    }
    text
}

/// Replaces or merges the conflicting rows as decided; `postponed` columns (cycle references
/// set after the cycle is written) are left as they are.
async fn resolve_conflicts(
    conn: &mut PgConnection,
    current: &TenantSchema,
    target: &Target,
    request: &RestoreRequest,
    postponed: &[String],
) -> Result<(), Error> {
    let Some(matched) = super::sql::key_match(target, "t") else {
        return Ok(());
    };
    let table = &current.tables[target.index];
    let live = current.relation(target.index);
    let key = target.key.clone().unwrap_or_default();
    let mut columns: Vec<&str> = target
        .loaded()
        .map(|c| c.name.as_str())
        .filter(|c| !key.iter().any(|k| k == c) && !postponed.iter().any(|p| p == c))
        .collect();
    // A GENERATED ALWAYS identity column cannot be UPDATEd to a value. It is left out where the
    // conflicting rows already hold the backup's value (the usual case: identities do not change);
    // otherwise it is made BY DEFAULT for this transaction only, and ALWAYS again right after.
    let always: Vec<String> = columns
        .iter()
        .filter(|c| {
            table
                .columns
                .iter()
                .any(|col| col.name == **c && col.identity.as_deref() == Some("always"))
        })
        .map(|c| c.to_string())
        .collect();
    let mut relaxed = Vec::new();
    for column in &always {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {live} t JOIN {} s ON {matched} WHERE s._class = 'conflict' AND t.{} IS DISTINCT FROM {})",
            target.staging,
            quote_ident(column),
            staged(target, column)
        );
        let differs: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?;
        if differs {
            relaxed.push(column.clone());
        } else {
            columns.retain(|c| c != column);
        }
    }
    if columns.is_empty() {
        return Ok(());
    }
    for column in &relaxed {
        set_identity(conn, table, column, "BY DEFAULT").await?;
    }
    let default = default_action(target, request);
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
            .await
            .map_err(|e| {
                write_failed(
                    e,
                    "updating the conflicting rows of",
                    &table.name.to_string(),
                )
            })?;
    }
    for column in &relaxed {
        set_identity(conn, table, column, "ALWAYS").await?;
    }
    Ok(())
}

async fn set_identity(
    conn: &mut PgConnection,
    table: &crate::discovery::TenantTable,
    column: &str,
    kind: &str,
) -> Result<(), Error> {
    let sql = format!(
        "ALTER TABLE {} ALTER COLUMN {} SET GENERATED {kind}",
        table.name.quoted(),
        quote_ident(column)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            Error::Restore(format!(
                "restoring the values of {}.{column} (GENERATED ALWAYS AS IDENTITY) needs the column made BY DEFAULT for the restore's transaction, which failed: {e}; run the restore as the table's owner",
                table.name
            ))
        })?;
    Ok(())
}

/// Columns of non-deferrable, nullable foreign keys into the same cycle of tables: written NULL
/// first, set once the whole cycle is in place.
pub(super) fn cycle_columns_to_defer(current: &TenantSchema, target: &Target) -> Vec<String> {
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
            // Forward is the direction of the increment: a descending sequence moves to the
            // smallest restored value, never up (its next value would collide).
            let sql = format!(
                "SELECT setval($1::regclass, CASE WHEN i.inc > 0 THEN x.hi ELSE x.lo END)
                   FROM (SELECT max({col}) AS hi, min({col}) AS lo FROM {live}) x,
                        (SELECT seqincrement AS inc FROM pg_sequence WHERE seqrelid = $1::regclass) i,
                        {sequence} q
                  WHERE CASE WHEN i.inc > 0 THEN x.hi >= q.last_value ELSE x.lo <= q.last_value END",
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
