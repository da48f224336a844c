//! Which tables a restore writes, how the backup's columns map onto today's, and the staging
//! tables the backup's rows are loaded into with `COPY FROM`.

use super::{RestoreMode, RestoreProgress, RestoreRequest};
use crate::discovery::{TenantSchema, TenantTable};
use crate::error::Error;
use crate::ident::quote_ident;
use crate::metadata::{BackupMetadata, TableRecord};
use crate::progress::Progress;
use orgbackup_archive::ArchiveReader;
use sqlx::PgConnection;
use std::io::{Read, Seek};

/// One column of the backup's data.
#[derive(Clone, Debug)]
pub(super) struct StagedColumn {
    pub name: String,
    /// The type the archive says the column had at backup time. Untrusted text: it is only ever
    /// passed to PostgreSQL as a bound parameter (to resolve it), never spliced into SQL.
    pub backup_type: String,
    /// Today's type when the column still exists and is written (not generated), as the catalog
    /// spells it.
    pub today_type: Option<String>,
    /// The staging column's type, spelled by today's catalog (`format_type`): today's type when
    /// the backup's is the same, else the backup's type as the catalog resolved it, else `text`
    /// for a column that is no longer written. Set by [`resolve_staging_types`].
    pub staging_type: String,
}

/// A table the restore writes.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// Index into today's `TenantSchema::tables`.
    pub index: usize,
    pub record: TableRecord,
    pub staging: String,
    pub columns: Vec<StagedColumn>,
    /// The columns rows are matched on (today's primary key, else a unique key of NOT NULL
    /// columns), if any; without one, rows are matched by whole row, with multiplicity.
    pub key: Option<Vec<String>>,
    /// Rows of the org missing from the backup are deleted (full / exact restores).
    pub full_scope: bool,
}

impl Target {
    /// Columns written to the live table.
    pub fn loaded(&self) -> impl Iterator<Item = &StagedColumn> {
        self.columns.iter().filter(|c| c.today_type.is_some())
    }
}

/// Today's tables of the asked categories (closed over dependencies) that the backup holds, in
/// dependency order.
pub(super) fn targets(
    current: &TenantSchema,
    backup: &BackupMetadata,
    request: &RestoreRequest,
) -> Result<Vec<Target>, Error> {
    let selection = current.select(&request.categories)?;
    for record in &backup.tables {
        let wanted =
            request.categories.is_empty() || request.categories.contains(&record.table.category);
        if wanted && current.table_index(&record.table.name).is_none() {
            return Err(Error::Restore(format!(
                "table {} is in the backup but no longer exists (or is no longer a tenant table); restore other categories, or recreate it",
                record.table.name
            )));
        }
    }
    let mut targets = Vec::new();
    for index in selection.tables {
        let table = &current.tables[index];
        let Some(record) = backup.tables.iter().find(|r| r.table.name == table.name) else {
            continue;
        };
        let columns = staged_columns(record, table);
        refuse_unfillable_columns(record, table)?;
        let key = row_key(table, &columns);
        let full_scope = match request.mode {
            RestoreMode::Merge => false,
            RestoreMode::Exact => true,
            RestoreMode::Full => {
                selection.categories.contains(&table.category)
                    && !selection.added_for_dependencies.contains(&table.name)
            }
        };
        targets.push(Target {
            index,
            record: record.clone(),
            staging: format!("pg_temp.restore_{}", targets.len() + 1),
            columns,
            key,
            full_scope,
        });
    }
    Ok(targets)
}

/// The backup's data columns, each with its type then and now.
fn staged_columns(record: &TableRecord, table: &TenantTable) -> Vec<StagedColumn> {
    record
        .data_columns
        .iter()
        .map(|name| {
            let backup_type = record
                .table
                .columns
                .iter()
                .find(|c| &c.name == name)
                .map(|c| c.data_type.clone())
                .unwrap_or_else(|| "text".into());
            let today_type = table
                .columns
                .iter()
                .find(|c| &c.name == name && !c.generated)
                .map(|c| c.data_type.clone());
            let staging_type = today_type.clone().unwrap_or_else(|| "text".into());
            StagedColumn {
                name: name.clone(),
                backup_type,
                today_type,
                staging_type,
            }
        })
        .collect()
}

/// A column added since the backup that PostgreSQL cannot fill makes every backup row fail.
fn refuse_unfillable_columns(record: &TableRecord, table: &TenantTable) -> Result<(), Error> {
    for column in &table.columns {
        let filled = column.default.is_some()
            || column.identity.is_some()
            || column.generated
            || !column.not_null;
        if !filled && !record.data_columns.contains(&column.name) {
            return Err(Error::Restore(format!(
                "column {}.{} was added since the backup and is NOT NULL without a default: the backup's rows cannot be inserted; give it a default or make it nullable",
                table.name, column.name
            )));
        }
    }
    Ok(())
}

/// The columns rows are matched on: see [`Target::key`].
fn row_key(table: &TenantTable, columns: &[StagedColumn]) -> Option<Vec<String>> {
    let loaded = |cols: &[String]| {
        cols.iter().all(|c| {
            columns
                .iter()
                .any(|s| &s.name == c && s.today_type.is_some())
        })
    };
    // A unique key with a nullable column is no row key: NULLs never match each other, so
    // rows holding them would look new on every restore. Such tables are matched by whole row.
    let not_null = |cols: &[String]| {
        cols.iter().all(|c| {
            table
                .columns
                .iter()
                .any(|col| &col.name == c && col.not_null)
        })
    };
    table
        .primary_key
        .iter()
        .chain(table.unique_keys.iter().filter(|k| not_null(k)))
        .find(|k| loaded(k))
        .cloned()
}

/// Gives every staged column whose type changed since the backup a staging type resolved by
/// today's catalog.
///
/// The archive's type text is untrusted (an uploaded manifest can say anything, e.g.
/// `text CHECK (set_config(...) IS NOT NULL)`), so it never becomes SQL text: it is handed to
/// `to_regtype` as a bound parameter, and the staging column takes the catalog's own spelling of
/// the type found (`format_type`, without the type modifier: today's column applies its own when
/// the staged value is cast into it). A type the catalog does not know is refused. Each lookup
/// runs under a savepoint because PostgreSQL 15's `to_regtype` raises, rather than returns NULL,
/// on text that is not a type name at all.
pub(super) async fn resolve_staging_types(
    conn: &mut PgConnection,
    targets: &mut [Target],
) -> Result<(), Error> {
    for target in targets.iter_mut() {
        let table = target.record.table.name.to_string();
        for column in target.columns.iter_mut() {
            let Some(today) = &column.today_type else {
                // Not written today: staged as text, read by nothing.
                column.staging_type = "text".into();
                continue;
            };
            if column.backup_type == *today {
                column.staging_type = today.clone();
                continue;
            }
            column.staging_type = catalog_type(conn, &column.backup_type)
                .await?
                .ok_or_else(|| {
                    Error::Restore(format!(
                        "column {table}.{} has the type `{}` in the backup, which is not a type of this database: the archive is damaged or was not written by orgbackup for this schema",
                        column.name,
                        column.backup_type.escape_debug()
                    ))
                })?;
        }
    }
    Ok(())
}

/// The catalog's spelling of the type named by `text`, or `None` when `text` names no type.
async fn catalog_type(conn: &mut PgConnection, text: &str) -> Result<Option<String>, Error> {
    sqlx::query("SAVEPOINT orgbackup_type_lookup")
        .execute(&mut *conn)
        .await?;
    // `bit` without a length means bit(1): stage any bit string as `bit varying` instead.
    let found: Result<Option<String>, sqlx::Error> = sqlx::query_scalar(
        "SELECT CASE t.oid WHEN 'bit'::regtype THEN 'bit varying'
                           WHEN 'bit[]'::regtype THEN 'bit varying[]'
                           ELSE format_type(t.oid, NULL) END
           FROM pg_type t WHERE t.oid = to_regtype($1) AND t.typtype <> 'p'",
    )
    .bind(text)
    .fetch_optional(&mut *conn)
    .await;
    match found {
        Ok(found) => {
            sqlx::query("RELEASE SAVEPOINT orgbackup_type_lookup")
                .execute(&mut *conn)
                .await?;
            Ok(found)
        }
        Err(sqlx::Error::Database(_)) => {
            sqlx::query("ROLLBACK TO SAVEPOINT orgbackup_type_lookup")
                .execute(&mut *conn)
                .await?;
            Ok(None)
        }
        Err(other) => Err(other.into()),
    }
}

/// Creates each staging table and loads the backup's rows into it.
pub(super) async fn load<R: Read + Seek>(
    conn: &mut PgConnection,
    archive: &mut ArchiveReader<R>,
    targets: &[Target],
    state: &mut RestoreProgress,
    progress: &dyn Progress,
) -> Result<(), Error> {
    for target in targets {
        state.current_table = Some(target.record.table.name.to_string());
        progress.restore(state);
        let definitions: Vec<String> = target
            .columns
            .iter()
            .map(|c| format!("{} {}", quote_ident(&c.name), c.staging_type))
            .collect();
        let create = format!(
            "CREATE TEMP TABLE {} ({}, _class text NOT NULL DEFAULT 'insert', _decision text) ON COMMIT DROP",
            target.staging.trim_start_matches("pg_temp."),
            definitions.join(", ")
        );
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&mut *conn)
            .await?;
        let names: Vec<String> = target
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect();
        let copy = format!("COPY {} ({}) FROM STDIN", target.staging, names.join(", "));
        let mut sink = conn.copy_in_raw(&copy).await?;
        for chunk in &target.record.chunks {
            let mut data = Vec::new();
            archive
                .open_entry(chunk)?
                .read_to_end(&mut data)
                .map_err(|e| Error::Archive(orgbackup_archive::Error::from_io(e)))?;
            state.rows += data.iter().filter(|&&b| b == b'\n').count() as u64;
            sink.send(data).await?;
        }
        sink.finish().await.map_err(|source| {
            Error::Restore(format!(
                "loading the backup's rows of {} failed: {source}",
                target.record.table.name
            ))
        })?;
        sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {}", target.staging)))
            .execute(&mut *conn)
            .await?;
        state.tables_done += 1;
        progress.restore(state);
    }
    Ok(())
}
