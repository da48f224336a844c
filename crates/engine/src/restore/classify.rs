//! Classifies every staged row against the live tables, and counts the plan.
//!
//! Classes: `insert` (key not in the table), `identical`, `conflict` (same key, same org, other
//! values), `other_org` (the key belongs to another organization: never written),
//! `missing_parent` / `missing_global` (a referenced row is neither in the database for this org
//! nor restored, or a global row is gone: not written, reported), `taken_own` / `taken_other`
//! (a unique constraint's value is held today by another row, of the org or not: not written).
//! A live row with the staged key whose ownership cannot be placed today (its ownership key was
//! set NULL) is no row of the org: `other_org`.

mod parents;
mod unique;

use super::sql::{key_match, live_image, same_values, staged, staged_image};
use super::staging::Target;
use super::{ConflictAction, RestorePlan, RestoreRequest, TablePlan};
use crate::discovery::{Ownership, TenantSchema};
use crate::error::Error;
use crate::ident::quote_ident;
use crate::metadata::BackupMetadata;
use crate::org_id::OrgId;
use parents::mark_missing_parents;
use sqlx::PgConnection;
use unique::mark_unique_clashes;

/// Rows of directly owned tables must carry the backup's org (an archive carrying another org's
/// rows is refused); for a restore into another org they are re-labelled.
pub(super) async fn check_org_ids(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[Target],
    source: &OrgId,
    target_org: &OrgId,
) -> Result<(), Error> {
    for target in targets {
        let Ownership::Direct {
            column,
            column_type,
            ..
        } = &current.tables[target.index].ownership
        else {
            continue;
        };
        let check = format!(
            "SELECT count(*) FROM {} s WHERE s.{col}::text IS DISTINCT FROM $1",
            target.staging,
            col = quote_ident(column)
        );
        let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(check))
            .bind(source.as_str())
            .fetch_one(&mut *conn)
            .await?;
        if foreign > 0 {
            return Err(Error::Restore(format!(
                "the archive holds {foreign} rows of {} that belong to another organization than the backup's ({source}); the file was altered or is not a single-org backup: refusing to restore it",
                target.record.table.name
            )));
        }
        if target_org != source {
            let relabel = format!(
                "UPDATE {} SET {} = $1::{column_type}",
                target.staging,
                quote_ident(column)
            );
            sqlx::query(sqlx::AssertSqlSafe(relabel))
                .bind(target_org.as_str())
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

pub(super) async fn classify(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[Target],
    request: &RestoreRequest,
) -> Result<(), Error> {
    for target in targets {
        let sql = match key_match(target, "t") {
            // `IS NOT TRUE`, not `NOT`: a row the org filter cannot place (its ownership key is
            // NULL today, so the filter is NULL) is not the org's, whatever other rows exist.
            Some(matched) => format!(
                "UPDATE {stg} s SET _class = CASE WHEN ({org}) IS NOT TRUE THEN 'other_org' WHEN {same} THEN 'identical' ELSE 'conflict' END
                   FROM {live} t WHERE {matched}",
                stg = target.staging,
                org = current.org_filter(target.index, "t"),
                same = same_values(target, "t"),
                live = current.relation(target.index),
            ),
            // Without a key, rows are matched whole and counted: the n-th staged copy of a row is
            // identical when the org has at least n such rows today, new otherwise.
            None => format!(
                "UPDATE {stg} s SET _class = 'identical'
                   FROM (SELECT x.row_id FROM (SELECT s.ctid AS row_id, {image_s} AS image,
                                                     row_number() OVER (PARTITION BY {image_s}) AS n
                                                FROM {stg} s) x
                           JOIN (SELECT {image_t} AS image, count(*) AS live FROM {live} t WHERE {org} GROUP BY 1) l
                             ON l.image = x.image
                          WHERE x.n <= l.live) m
                  WHERE s.ctid = m.row_id",
                stg = target.staging,
                live = current.relation(target.index),
                org = current.org_filter(target.index, "t"),
                image_s = staged_image(target, "s"),
                image_t = live_image(target, "t"),
            ),
        };
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await?;
    }
    record_decisions(conn, targets, request).await?;
    mark_unique_clashes(conn, current, targets, request).await?;
    mark_missing_parents(conn, current, targets).await?;
    // Fresh statistics on `_class`: without them the planner expects no `identical` rows and
    // picks nested loops that are quadratic on large tables.
    for target in targets {
        sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {}", target.staging)))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Stores the per-record decisions on the staged rows they name.
async fn record_decisions(
    conn: &mut PgConnection,
    targets: &[Target],
    request: &RestoreRequest,
) -> Result<(), Error> {
    if request.decisions.is_empty() {
        return Ok(());
    }
    sqlx::query("CREATE TEMP TABLE restore_decisions (table_name text, key text[], action text) ON COMMIT DROP")
        .execute(&mut *conn)
        .await?;
    let (mut tables, mut keys, mut actions) = (Vec::new(), Vec::new(), Vec::new());
    for decision in &request.decisions {
        let target = targets
            .iter()
            .find(|t| t.record.table.name.to_string() == decision.table)
            .ok_or_else(|| {
                Error::Restore(format!(
                    "a decision names table {}, which this restore does not write",
                    decision.table
                ))
            })?;
        let key = target.key.as_ref().ok_or_else(|| {
            Error::Restore(format!(
                "table {} has no key, so its rows cannot be decided one by one",
                decision.table
            ))
        })?;
        let values: Option<Vec<String>> =
            key.iter().map(|k| decision.key.get(k).cloned()).collect();
        let values = values
            .filter(|_| decision.key.len() == key.len())
            .ok_or_else(|| {
                Error::Restore(format!(
                    "a decision for {} must give exactly the key columns {}",
                    decision.table,
                    key.join(", ")
                ))
            })?;
        tables.push(decision.table.clone());
        keys.push(values.join("\u{1f}"));
        actions.push(action_name(decision.action).to_string());
    }
    // Keys travel as unit-separator-joined text: sqlx binds no arrays of arrays.
    sqlx::query(
        "INSERT INTO restore_decisions SELECT t, string_to_array(k, chr(31)), a FROM unnest($1::text[], $2::text[], $3::text[]) AS d(t, k, a)",
    )
    .bind(&tables)
    .bind(&keys)
    .bind(&actions)
    .execute(&mut *conn)
    .await?;
    for target in targets {
        let Some(key) = &target.key else { continue };
        let values: Vec<String> = key
            .iter()
            .map(|k| format!("({})::text", staged(target, k)))
            .collect();
        let sql = format!(
            "UPDATE {} s SET _decision = d.action FROM restore_decisions d
              WHERE d.table_name = $1 AND d.key = ARRAY[{}] AND s._class = 'conflict'",
            target.staging,
            values.join(", ")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(target.record.table.name.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// How a conflict of `target` without a decision of its own is resolved: a full restore makes
/// the rows the backup's.
pub(super) fn default_action(target: &Target, request: &RestoreRequest) -> ConflictAction {
    if target.full_scope {
        ConflictAction::Replace
    } else {
        request.conflicts
    }
}

pub(super) fn action_name(action: ConflictAction) -> &'static str {
    match action {
        ConflictAction::Skip => "skip",
        ConflictAction::Replace => "replace",
        ConflictAction::Merge => "merge",
    }
}

/// Counts the plan from the classified staging tables.
pub(super) async fn count(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[Target],
    backup: &BackupMetadata,
    request: &RestoreRequest,
    target_org: &OrgId,
) -> Result<RestorePlan, Error> {
    let mut tables = Vec::new();
    for target in targets {
        let table = &current.tables[target.index];
        let default_action = action_name(default_action(target, request));
        let sql = format!(
            "SELECT _class, CASE WHEN _class = 'conflict' THEN coalesce(_decision, $1) END, count(*) FROM {} GROUP BY 1, 2",
            target.staging
        );
        let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(default_action)
            .fetch_all(&mut *conn)
            .await?;
        let mut plan = TablePlan {
            table: table.name.clone(),
            category: table.category.clone(),
            full_scope: target.full_scope,
            ..Default::default()
        };
        for (class, action, n) in rows {
            let n = n as u64;
            plan.backup_rows += n;
            match class.as_str() {
                "insert" => plan.insert += n,
                "identical" => plan.identical += n,
                "conflict" => {
                    plan.conflict += n;
                    match action.as_deref() {
                        Some("replace") => plan.replace += n,
                        Some("merge") => plan.merge += n,
                        _ => plan.skip += n,
                    }
                }
                "other_org" | "taken_other" => plan.other_org += n,
                "taken_own" => plan.unique_taken += n,
                "missing_parent" => plan.missing_parent += n,
                _ => plan.missing_global += n,
            }
        }
        if target.full_scope {
            let sql = format!(
                "SELECT count(*) FROM {} t WHERE {}",
                current.relation(target.index),
                deletion_filter(current, target)
            );
            let deleted: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *conn)
                .await?;
            plan.delete = deleted as u64;
        }
        tables.push(plan);
    }
    let unmatched = if request.decisions.is_empty() {
        0
    } else {
        let mut matched = 0i64;
        for target in targets {
            let sql = format!(
                "SELECT count(*) FROM {} WHERE _decision IS NOT NULL",
                target.staging
            );
            matched += sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *conn)
                .await?;
        }
        request.decisions.len() as u64 - matched.max(0) as u64
    };
    let restored: Vec<_> = targets.iter().map(|t| &t.record.table.name).collect();
    Ok(RestorePlan {
        source_org_id: backup.org.id.clone(),
        target_org_id: target_org.clone(),
        mode: request.mode,
        categories: if request.categories.is_empty() {
            let mut all: Vec<String> = tables.iter().map(|t| t.category.clone()).collect();
            all.sort();
            all.dedup();
            all
        } else {
            request.categories.clone()
        },
        files: backup
            .files
            .iter()
            .filter(|f| restored.contains(&&f.table))
            .count() as u64,
        tables,
        unmatched_decisions: unmatched,
        ..Default::default()
    })
}

/// The org's live rows (alias `t`) that a full restore deletes: those whose key is not kept by
/// the backup; for a table without a key, the copies of a row beyond the number the backup
/// holds (the backup's rows are then only inserted where the org has fewer copies).
pub(super) fn deletion_filter(current: &TenantSchema, target: &Target) -> String {
    let org = current.org_filter(target.index, "t");
    match key_match(target, "t") {
        Some(matched) => format!(
            "{org} AND NOT EXISTS (SELECT 1 FROM {} s WHERE s._class IN ({KEPT}) AND {matched})",
            target.staging
        ),
        None => format!(
            "{org} AND (t.tableoid, t.ctid) IN (
                SELECT x.tableoid, x.ctid
                  FROM (SELECT t.tableoid, t.ctid, {image_t} AS image,
                               row_number() OVER (PARTITION BY {image_t}) AS n
                          FROM {live} t WHERE {org}) x
                  LEFT JOIN (SELECT {image_s} AS image, count(*) AS kept FROM {stg} s
                              WHERE s._class = 'identical' GROUP BY 1) k ON k.image = x.image
                 WHERE x.n > coalesce(k.kept, 0))",
            image_t = live_image(target, "t"),
            image_s = staged_image(target, "s"),
            live = current.relation(target.index),
            stg = target.staging,
        ),
    }
}

/// Staged classes whose live row (same key) a full restore keeps: identical, conflicting (then
/// replaced), or left alone because writing it would break a unique constraint.
const KEPT: &str = "'identical', 'conflict', 'taken_own', 'taken_other'";

/// Up to `limit` conflicting rows per table, ordered by key, with the staged (backup) and live
/// (current) values as text. Values go through `row_to_json` so any number of columns works.
pub(super) async fn conflict_samples(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[Target],
    limit: usize,
) -> Result<Vec<super::ConflictRecord>, Error> {
    let mut records = Vec::new();
    for target in targets {
        let (Some(key), Some(matched)) = (&target.key, key_match(target, "t")) else {
            continue;
        };
        let table = &current.tables[target.index];
        let columns: Vec<&str> = target.loaded().map(|c| c.name.as_str()).collect();
        let pick = |alias: &str, value: &dyn Fn(&str) -> String| {
            let fields: Vec<String> = columns
                .iter()
                .map(|c| format!("({})::text AS {}", value(c), quote_ident(c)))
                .collect();
            format!(
                "(SELECT row_to_json(x) FROM (SELECT {}) x) AS {alias}",
                fields.join(", ")
            )
        };
        let key_fields: Vec<String> = key
            .iter()
            .map(|k| format!("({})::text AS {}", staged(target, k), quote_ident(k)))
            .collect();
        let sql = format!(
            "SELECT (SELECT row_to_json(k) FROM (SELECT {keys}) k) AS key, {backup}, {current}
               FROM {stg} s JOIN {live} t ON {matched}
              WHERE s._class = 'conflict' AND {org}
              ORDER BY {order} LIMIT {limit}",
            keys = key_fields.join(", "),
            backup = pick("backup", &|c| staged(target, c)),
            current = pick("current", &|c| format!("t.{}", quote_ident(c))),
            stg = target.staging,
            live = current.relation(target.index),
            org = current.org_filter(target.index, "t"),
            order = key
                .iter()
                .map(|k| staged(target, k))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let rows: Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await?;
        let text_map =
            |value: &serde_json::Value| -> std::collections::BTreeMap<String, Option<String>> {
                value
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
                            .collect()
                    })
                    .unwrap_or_default()
            };
        for (key, backup, live) in rows {
            let backup = text_map(&backup);
            let live = text_map(&live);
            let differs = backup
                .iter()
                .filter(|(column, value)| live.get(*column) != Some(value))
                .map(|(column, _)| column.clone())
                .collect();
            records.push(super::ConflictRecord {
                table: table.name.to_string(),
                key: text_map(&key)
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect(),
                backup,
                current: live,
                differs,
            });
        }
    }
    Ok(records)
}
