//! A restore writes data, not side effects: user triggers do not fire (audit rows, `updated_at`
//! rewrites, validation of values the backup legitimately holds), unless asked for.
//!
//! The restore's writes run with `session_replication_role = replica` for its transaction only.
//! That also stops PostgreSQL's own foreign-key triggers, so the engine checks both directions
//! itself: parents of every written row in classification (`missing_parent`), and, after a full
//! restore deleted rows, that no row anywhere still references a deleted one.
//!
//! Setting the role needs a superuser or, on PostgreSQL 15+, `GRANT SET ON PARAMETER
//! session_replication_role TO <role>`; without it the restore fails with that advice (or set
//! `restore.fire_triggers = true`).

use super::staging::Target;
use crate::discovery::TenantSchema;
use crate::error::Error;
use crate::ident::quote_ident;
use sqlx::PgConnection;

/// User triggers on the restored tables that a restore without triggers does not fire
/// (`schema.table: name`). Triggers enabled ALWAYS or REPLICA still fire and are not listed.
pub(super) async fn skipped(
    conn: &mut PgConnection,
    current: &TenantSchema,
    targets: &[Target],
) -> Result<Vec<String>, Error> {
    let tables: Vec<String> = targets
        .iter()
        .map(|t| current.tables[t.index].name.quoted())
        .collect();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s.%s: %s', n.nspname, c.relname, t.tgname)
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE NOT t.tgisinternal AND t.tgenabled = 'O'
            AND t.tgrelid = ANY (SELECT x::regclass FROM unnest($1::text[]) x)
          ORDER BY 1",
    )
    .bind(&tables)
    .fetch_all(&mut *conn)
    .await?;
    Ok(names)
}

/// Stops user (and foreign-key) triggers for the rest of the transaction.
pub(super) async fn suspend(conn: &mut PgConnection) -> Result<(), Error> {
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            Error::Restore(format!(
                "a restore writes the backup's rows without firing triggers, which needs permission to set session_replication_role ({e}); grant it (PostgreSQL 15+: GRANT SET ON PARAMETER session_replication_role TO <role>) or set restore.fire_triggers = true"
            ))
        })?;
    Ok(())
}

pub(super) async fn resume(conn: &mut PgConnection) -> Result<(), Error> {
    sqlx::query("SET LOCAL session_replication_role = origin")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Fails when a row of any table still references a row the restore deleted from `deleted`
/// (what PostgreSQL's foreign keys would have refused, or cascaded into tables outside the
/// restore, had they fired). The plan already refuses such restores (`references`): this is
/// the check on the rows as written.
pub(super) async fn refuse_orphans(
    conn: &mut PgConnection,
    current: &TenantSchema,
    deleted: &[usize],
) -> Result<(), Error> {
    for &index in deleted {
        let parent = &current.tables[index];
        let references = super::references::references_to(conn, &parent.name).await?;
        for reference in references {
            let present: Vec<String> = reference
                .columns
                .iter()
                .map(|c| format!("c.{} IS NOT NULL", quote_ident(c)))
                .collect();
            let matched: Vec<String> = reference
                .columns
                .iter()
                .zip(&reference.referenced)
                .map(|(c, r)| format!("p.{} = c.{}", quote_ident(r), quote_ident(c)))
                .collect();
            let child = reference.relation();
            let sql = format!(
                "SELECT count(*) FROM {child} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
                present.join(" AND "),
                current.relation(index),
                matched.join(" AND ")
            );
            let orphans: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *conn)
                .await?;
            if orphans > 0 {
                return Err(Error::Restore(format!(
                    "a full restore must delete rows of {} that are not in the backup, but {orphans} rows of {} still reference them (foreign key {}); nothing was changed; include the referencing categories or use a merge restore",
                    parent.name,
                    reference.child(),
                    reference.name
                )));
            }
        }
    }
    Ok(())
}
