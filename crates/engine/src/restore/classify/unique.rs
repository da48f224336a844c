//! Rows a unique constraint or index (other than the row key) keeps out: `taken_own` and
//! `taken_other`.

use super::{action_name, default_action, deletion_filter};
use crate::catalog::UniqueIndex;
use crate::discovery::TenantSchema;
use crate::error::Error;
use crate::ident::quote_ident;
use crate::restore::RestoreRequest;
use crate::restore::sql::{key_match, staged};
use crate::restore::staging::Target;
use sqlx::PgConnection;

/// Rows that would break a unique constraint or unique index other than the row key: a value
/// another row holds today (a globally unique slug taken since the backup). Checked for the
/// rows to insert and the conflicts to overwrite, against every live row the restore keeps.
/// `taken_other`: the holder is not the org's row (counted `other_org`); `taken_own`: the org's
/// own row holds it (counted `unique_taken`). Neither is written.
pub(super) async fn mark_unique_clashes(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[Target],
    request: &RestoreRequest,
) -> Result<(), Error> {
    for target in targets {
        let table = &current.tables[target.index];
        let default_action = action_name(default_action(target, request));
        let loaded = |cols: &[String]| cols.iter().all(|c| target.loaded().any(|l| &l.name == c));
        let mut checks = Vec::new();
        for unique in table.primary_key.iter().chain(table.unique_keys.iter()) {
            if Some(unique) == target.key.as_ref() || !loaded(unique) {
                continue;
            }
            checks.push(UniqueCheck {
                same_value: unique
                    .iter()
                    .map(|c| format!("t.{} = {}", quote_ident(c), staged(target, c)))
                    .collect(),
                present: unique
                    .iter()
                    .map(|c| format!("s.{} IS NOT NULL", quote_ident(c)))
                    .collect(),
            });
        }
        for (n, index) in table.unique_indexes.iter().enumerate() {
            if !loaded(&index.columns) {
                continue;
            }
            checks.push(stage_index_values(conn, target, n, index).await?);
        }
        for check in checks {
            let mut holder = check.same_value;
            if let Some(same_row) = key_match(target, "t") {
                holder.push(format!("NOT ({same_row})"));
            }
            if target.full_scope {
                holder.push(format!(
                    "({}) IS NOT TRUE",
                    deletion_filter(current, target)
                ));
            }
            let holder = holder.join(" AND ");
            let present = if check.present.is_empty() {
                "true".to_string()
            } else {
                check.present.join(" AND ")
            };
            let sql = format!(
                "UPDATE {stg} s SET _class = CASE WHEN EXISTS (SELECT 1 FROM {live} t WHERE {holder} AND ({org}) IS TRUE) THEN 'taken_own' ELSE 'taken_other' END
                  WHERE (s._class = 'insert' OR (s._class = 'conflict' AND coalesce(s._decision, $1) <> 'skip'))
                    AND {present}
                    AND EXISTS (SELECT 1 FROM {live} t WHERE {holder})",
                stg = target.staging,
                live = current.relation(target.index),
                org = current.org_filter(target.index, "t"),
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(default_action)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// When a staged row (alias `s`) and a live row (alias `t`) hold the same value of a unique
/// key: `same_value` conditions over both; `present` over `s` (a key with a NULL binds nothing,
/// unless NULLS NOT DISTINCT).
struct UniqueCheck {
    same_value: Vec<String>,
    present: Vec<String>,
}

/// A partial or expression unique index: its key values (and whether its predicate holds) are
/// computed for every staged row into extra staging columns `_u<n>_<k>` and `_up<n>`, then
/// compared with the live rows' own, where the index's SQL (today's catalog's, over bare
/// column names) reads the live row: the innermost FROM, `t`, so the index itself serves it.
async fn stage_index_values(
    conn: &mut PgConnection,
    target: &Target,
    n: usize,
    index: &UniqueIndex,
) -> Result<UniqueCheck, Error> {
    let element_columns: Vec<String> = (0..index.elements.len())
        .map(|k| format!("_u{n}_{k}"))
        .collect();
    let mut added: Vec<String> = element_columns
        .iter()
        .zip(&index.element_types)
        .map(|(column, data_type)| format!("ADD COLUMN {column} {data_type}"))
        .collect();
    let mut computed: Vec<String> = index.elements.iter().map(|e| format!("({e})")).collect();
    let mut assigned = element_columns.clone();
    if let Some(predicate) = &index.predicate {
        added.push(format!("ADD COLUMN _up{n} boolean"));
        computed.push(format!("({predicate})"));
        assigned.push(format!("_up{n}"));
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE {} {}",
        target.staging,
        added.join(", ")
    )))
    .execute(&mut *conn)
    .await?;
    // The staged row's values as the table's own columns, so the index's SQL reads them.
    let row: Vec<String> = target
        .loaded()
        .map(|c| format!("{} AS {}", staged(target, &c.name), quote_ident(&c.name)))
        .collect();
    let sql = format!(
        "UPDATE {} s SET ({}) = (SELECT {} FROM (SELECT {}) x) WHERE s._class IN ('insert', 'conflict')",
        target.staging,
        assigned.join(", "),
        computed.join(", "),
        row.join(", ")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            Error::Restore(format!(
                "checking the unique index {} of {} for the backup's rows failed: {e}",
                index.name, target.record.table.name
            ))
        })?;
    let compare = if index.nulls_not_distinct {
        "IS NOT DISTINCT FROM"
    } else {
        "="
    };
    let mut same_value: Vec<String> = index
        .elements
        .iter()
        .zip(&element_columns)
        .map(|(element, column)| format!("({element}) {compare} s.{column}"))
        .collect();
    if let Some(predicate) = &index.predicate {
        same_value.push(format!("({predicate}) AND s._up{n}"));
    }
    let present = if index.nulls_not_distinct {
        Vec::new()
    } else {
        element_columns
            .iter()
            .map(|column| format!("s.{column} IS NOT NULL"))
            .collect()
    };
    Ok(UniqueCheck {
        same_value,
        present,
    })
}
