//! Backup of one organization: every selected table read with COPY in one REPEATABLE READ
//! snapshot, streamed in bounded chunks to an archive writer running on its own thread (so
//! compression and encryption overlap with reading), then the org's files.
//!
//! Memory is bounded by `chunk_size * (CHANNEL_DEPTH + 2)` whatever the org's size.

mod writer;

use crate::confined::RelativePath;
use crate::discovery::{self, Selection, TenantSchema};
use crate::error::Error;
use crate::ident::{QualifiedName, quote_ident};
use crate::metadata::{BackupMetadata, DATA_FORMAT, OrgInfo, SourceInfo, TableRecord};
use crate::org_id::OrgId;
use crate::progress::{BackupProgress, Progress};
use crate::tenancy::TenancyConfig;
use chrono::Utc;
use futures::TryStreamExt;
use orgbackup_archive::{ArchiveSummary, EncryptionSetup, WriterOptions};
use sqlx::{PgConnection, PgPool};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::mpsc;
use writer::{ArchiveTarget, FilesSource, Message, write_archive};

const CHANNEL_DEPTH: usize = 3;

/// What to back up and how.
#[derive(Debug)]
pub struct BackupRequest {
    pub backup_id: String,
    /// The organization's key, as text (a uuid for CMIS).
    pub org_id: OrgId,
    /// Categories to include; empty means everything.
    pub categories: Vec<String>,
    /// Where file references resolve; `None` skips files.
    pub files_root: Option<PathBuf>,
    /// Rows are cut into archive entries of about this many bytes of COPY text.
    pub chunk_size: usize,
    pub compression_level: i32,
    pub encryption: Option<EncryptionSetup>,
    /// The backup fails (and leaves nothing) once the archive grows past this many bytes.
    pub max_archive_bytes: Option<u64>,
}

impl BackupRequest {
    pub fn new(backup_id: impl Into<String>, org_id: impl Into<OrgId>) -> Self {
        Self {
            backup_id: backup_id.into(),
            org_id: org_id.into(),
            categories: Vec::new(),
            files_root: None,
            chunk_size: 4 << 20,
            compression_level: 3,
            encryption: None,
            max_archive_bytes: None,
        }
    }
}

/// A finished backup: the writer handed back, the archive's size and checksum, and its metadata.
pub struct BackupOutcome<W> {
    pub output: W,
    pub summary: ArchiveSummary,
    pub metadata: BackupMetadata,
}

/// Backs up one organization into `output`. The caller owns the destination: on error it must
/// discard what was written (the archive is incomplete and has no valid trailer).
#[tracing::instrument(skip_all, fields(org_id = %request.org_id, backup_id = %request.backup_id))]
pub async fn run_backup<W: Write + Send + 'static>(
    pool: &PgPool,
    config: &TenancyConfig,
    request: &BackupRequest,
    output: W,
    progress: Arc<dyn Progress>,
) -> Result<BackupOutcome<W>, Error> {
    let started_at = Utc::now();
    let mut conn = pool.acquire().await?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *conn)
        .await?;
    let result = backup_in_snapshot(&mut conn, config, request, output, progress, started_at).await;
    if result.is_err() {
        // A failure can leave a COPY half read: such a connection must not go back to the pool.
        let _ = conn.close().await;
        return result;
    }
    // Read only: ending the transaction changes nothing.
    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    result
}

pub(crate) async fn backup_in_snapshot<W: Write + Send + 'static>(
    conn: &mut PgConnection,
    config: &TenancyConfig,
    request: &BackupRequest,
    output: W,
    progress: Arc<dyn Progress>,
    started_at: chrono::DateTime<Utc>,
) -> Result<BackupOutcome<W>, Error> {
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(&config.org_setting)
        .bind(request.org_id.as_str())
        .execute(&mut *conn)
        .await?;
    let schema = discovery::discover(conn, config).await?;
    let org = find_org(conn, &schema, config, &request.org_id).await?;
    let selection = schema.select(&request.categories)?;
    let source = source_info(conn).await?;
    let mut metadata = initial_metadata(request, &schema, &selection, org, source, started_at);

    let (sender, receiver) = mpsc::channel::<Message>(CHANNEL_DEPTH);
    let writer = spawn_writer(config, request, &metadata, output, receiver)?;

    let mut state = BackupProgress {
        tables_total: metadata.tables.len(),
        ..Default::default()
    };
    let streamed = stream_tables(
        conn,
        &schema,
        &selection.tables,
        request,
        &sender,
        &mut metadata,
        &mut state,
        &*progress,
    )
    .await;
    let streamed = match streamed {
        Ok(()) if request.files_root.is_some() => {
            stream_file_paths(
                conn,
                &schema,
                &selection.tables,
                config,
                &sender,
                &mut state,
                &*progress,
            )
            .await
        }
        other => other,
    };
    if let Err(error) = streamed {
        drop(sender);
        // The writer's own error, if any, explains a closed channel better than the send failure;
        // but a writer that only saw the channel close (`Cancelled`) explains nothing: the
        // stream's error (e.g. a lost connection, which is retryable) is the cause.
        return Err(match writer.await {
            Ok(Err(writer_error)) if !matches!(writer_error, Error::Cancelled) => writer_error,
            _ => error,
        });
    }
    metadata.finished_at = Utc::now();
    if sender
        .send(Message::Finish(Box::new(metadata)))
        .await
        .is_err()
    {
        drop(sender);
        return Err(join_writer(writer).await.err().unwrap_or(Error::Cancelled));
    }
    drop(sender);
    join_writer(writer).await
}

async fn source_info(conn: &mut PgConnection) -> Result<SourceInfo, Error> {
    let (database, server_version): (String, String) =
        sqlx::query_as("SELECT current_database()::text, current_setting('server_version')")
            .fetch_one(&mut *conn)
            .await?;
    Ok(SourceInfo {
        database,
        server_version,
    })
}

/// The metadata known before any row is read; counts and entries are filled in as they come.
fn initial_metadata(
    request: &BackupRequest,
    schema: &TenantSchema,
    selection: &Selection,
    org: OrgInfo,
    source: SourceInfo,
    started_at: chrono::DateTime<Utc>,
) -> BackupMetadata {
    BackupMetadata {
        backup_id: request.backup_id.clone(),
        org,
        started_at,
        finished_at: started_at,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source,
        data_format: DATA_FORMAT.to_string(),
        whole: request.categories.is_empty(),
        categories: selection.categories.clone(),
        added_for_dependencies: selection.added_for_dependencies.clone(),
        org_table: schema.org_table.clone(),
        org_setting: schema.org_setting.clone(),
        tables: selection
            .tables
            .iter()
            .map(|&i| {
                let table = schema.tables[i].clone();
                TableRecord {
                    data_columns: table.stored_columns().map(|c| c.name.clone()).collect(),
                    table,
                    row_count: 0,
                    data_bytes: 0,
                    chunks: Vec::new(),
                    ambiguous_rows: 0,
                }
            })
            .collect(),
        files: Vec::new(),
        missing_files: Vec::new(),
        skipped_files: Vec::new(),
        global_tables: schema.global_tables.clone(),
    }
}

/// Starts the writer thread on `output`, fed by `receiver`.
fn spawn_writer<W: Write + Send + 'static>(
    config: &TenancyConfig,
    request: &BackupRequest,
    metadata: &BackupMetadata,
    output: W,
    receiver: mpsc::Receiver<Message>,
) -> Result<tokio::task::JoinHandle<Result<BackupOutcome<W>, Error>>, Error> {
    let options = WriterOptions {
        compression_level: request.compression_level,
        encryption: request.encryption.clone(),
    };
    let files_source = request
        .files_root
        .clone()
        .map(|root| {
            org_files_prefix(config, &request.org_id).map(|prefix| FilesSource { root, prefix })
        })
        .transpose()?;
    let target = ArchiveTarget {
        files_source,
        limit: request.max_archive_bytes,
        table_names: metadata
            .tables
            .iter()
            .map(|t| t.table.name.clone())
            .collect(),
        archive_bytes: Arc::new(AtomicU64::new(0)),
    };
    Ok(tokio::task::spawn_blocking(move || {
        write_archive(output, options, receiver, target)
    }))
}

async fn join_writer<W>(
    writer: tokio::task::JoinHandle<Result<BackupOutcome<W>, Error>>,
) -> Result<BackupOutcome<W>, Error> {
    writer
        .await
        .map_err(|e| Error::Output(std::io::Error::other(e)))?
}

async fn find_org(
    conn: &mut PgConnection,
    schema: &TenantSchema,
    config: &TenancyConfig,
    org_id: &OrgId,
) -> Result<OrgInfo, Error> {
    let sql = format!(
        "SELECT {name}::text FROM {table} WHERE {key}::text = $1",
        name = quote_ident(&config.org_name_column),
        table = schema.org_table.quoted(),
        key = quote_ident(&schema.org_table_key),
    );
    let name: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(org_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    match name {
        Some(name) => Ok(OrgInfo {
            id: org_id.clone(),
            name,
        }),
        None => Err(Error::OrgNotFound {
            org_id: org_id.clone(),
            org_table: schema.org_table.clone(),
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn stream_tables(
    conn: &mut PgConnection,
    schema: &TenantSchema,
    tables: &[usize],
    request: &BackupRequest,
    sender: &mpsc::Sender<Message>,
    metadata: &mut BackupMetadata,
    state: &mut BackupProgress,
    progress: &dyn Progress,
) -> Result<(), Error> {
    for (position, &index) in tables.iter().enumerate() {
        let table = &schema.tables[index];
        state.current_table = Some(table.name.to_string());
        progress.backup(state);
        let sql = format!("COPY ({}) TO STDOUT", schema.extract_query(index));
        let extract_error = |source| Error::Extract {
            table: table.name.clone(),
            source,
        };
        let mut stream = conn.copy_out_raw(&sql).await.map_err(extract_error)?;
        let mut buffer = Vec::with_capacity(request.chunk_size + (64 << 10));
        let record = &mut metadata.tables[position];
        while let Some(bytes) = stream.try_next().await.map_err(extract_error)? {
            let rows = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            record.row_count += rows;
            record.data_bytes += bytes.len() as u64;
            state.rows += rows;
            state.bytes_read += bytes.len() as u64;
            buffer.extend_from_slice(&bytes);
            if buffer.len() >= request.chunk_size {
                let data = std::mem::replace(
                    &mut buffer,
                    Vec::with_capacity(request.chunk_size + (64 << 10)),
                );
                send(
                    sender,
                    Message::Chunk {
                        table: position,
                        data,
                    },
                )
                .await?;
                progress.backup(state);
            }
        }
        if !buffer.is_empty() || record.row_count == 0 {
            // An empty table still gets one (empty) chunk, so every table has an entry.
            send(
                sender,
                Message::Chunk {
                    table: position,
                    data: buffer,
                },
            )
            .await?;
        }
        drop(stream);
        if let Some(ambiguous) = schema.ambiguous_filter(index, "t") {
            let sql = format!(
                "SELECT count(*) FROM {} t WHERE {ambiguous}",
                schema.relation(index)
            );
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *conn)
                .await
                .map_err(extract_error)?;
            metadata.tables[position].ambiguous_rows = count as u64;
        }
        state.tables_done += 1;
        progress.backup(state);
    }
    state.current_table = None;
    Ok(())
}

async fn stream_file_paths(
    conn: &mut PgConnection,
    schema: &TenantSchema,
    tables: &[usize],
    config: &TenancyConfig,
    sender: &mpsc::Sender<Message>,
    state: &mut BackupProgress,
    progress: &dyn Progress,
) -> Result<(), Error> {
    let default_schema = config
        .schemas
        .first()
        .map(String::as_str)
        .unwrap_or("public");
    for reference in &config.file_references {
        let name = QualifiedName::parse(&reference.table, default_schema);
        let Some(position) = tables.iter().position(|&i| schema.tables[i].name == name) else {
            continue;
        };
        let index = tables[position];
        if !schema.tables[index]
            .columns
            .iter()
            .any(|c| c.name == reference.column)
        {
            return Err(Error::Config(format!(
                "file reference {}.{}: the table has no such column; fix tenancy.file_references",
                name, reference.column
            )));
        }
        state.current_table = Some(format!("files of {name}"));
        progress.backup(state);
        let column = quote_ident(&reference.column);
        let sql = format!(
            "COPY (SELECT DISTINCT t.{column}::text FROM {} t WHERE t.{column} IS NOT NULL AND {}) TO STDOUT",
            schema.relation(index),
            schema.org_filter(index, "t")
        );
        let mut stream = conn
            .copy_out_raw(&sql)
            .await
            .map_err(|source| Error::Extract {
                table: name.clone(),
                source,
            })?;
        let mut pending = Vec::new();
        while let Some(bytes) = stream.try_next().await.map_err(|source| Error::Extract {
            table: name.clone(),
            source,
        })? {
            pending.extend_from_slice(&bytes);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let path = decode_copy_text(&line[..line.len() - 1]);
                state.files += 1;
                send(
                    sender,
                    Message::File {
                        path,
                        table: position,
                    },
                )
                .await?;
            }
        }
        progress.backup(state);
    }
    Ok(())
}

async fn send(sender: &mpsc::Sender<Message>, message: Message) -> Result<(), Error> {
    // A closed channel means the writer stopped on an error, which the caller then reports.
    sender.send(message).await.map_err(|_| Error::Cancelled)
}

/// Undoes COPY text escaping of one field (`\\`, `\t`, `\n`, `\r`, and friends).
fn decode_copy_text(field: &[u8]) -> String {
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'b') => out.push(8),
            Some(b'f') => out.push(12),
            Some(b'v') => out.push(11),
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The organization's own directory under the files root (`tenancy.files_prefix`), if the
/// layout has one.
pub(crate) fn org_files_prefix(
    config: &TenancyConfig,
    org_id: &OrgId,
) -> Result<Option<RelativePath>, Error> {
    if config.files_prefix.is_empty() {
        return Ok(None);
    }
    RelativePath::org_prefix(&config.files_prefix, org_id.as_str())
        .map(Some)
        .map_err(|problem| {
            Error::Config(format!(
                "tenancy.files_prefix `{}` for organization {org_id}: {problem}; it must name a directory inside the files root",
                config.files_prefix
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_copy_text_undoes_escapes() {
        assert_eq!(decode_copy_text(br"a\\b\tc\nd"), "a\\b\tc\nd");
        assert_eq!(decode_copy_text(b"plain/path.png"), "plain/path.png");
    }
}
