//! Backup of one organization: every selected table read with COPY in one REPEATABLE READ
//! snapshot, streamed in bounded chunks to an archive writer running on its own thread (so
//! compression and encryption overlap with reading), then the org's files.
//!
//! Memory is bounded by `chunk_size * (CHANNEL_DEPTH + 2)` whatever the org's size.

use crate::discovery::{self, TenantSchema};
use crate::error::Error;
use crate::ident::{QualifiedName, quote_ident};
use crate::metadata::{BackupMetadata, DATA_FORMAT, FileRecord, OrgInfo, SourceInfo, TableRecord};
use crate::progress::{BackupProgress, Progress};
use crate::tenancy::TenancyConfig;
use chrono::Utc;
use futures::TryStreamExt;
use orgbackup_archive::{ArchiveSummary, ArchiveWriter, EncryptionSetup, WriterOptions};
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

const CHANNEL_DEPTH: usize = 3;

/// What to back up and how.
#[derive(Debug)]
pub struct BackupRequest {
    pub backup_id: String,
    /// The organization's key, as text (a uuid for CMIS).
    pub org_id: String,
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
    pub fn new(backup_id: impl Into<String>, org_id: impl Into<String>) -> Self {
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

enum Message {
    Chunk { table: usize, data: Vec<u8> },
    File { path: String, table: usize },
    Finish(Box<BackupMetadata>),
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
        .bind(&request.org_id)
        .execute(&mut *conn)
        .await?;
    let schema = discovery::discover(conn, config).await?;
    let org = find_org(conn, &schema, config, &request.org_id).await?;
    let selection = schema.select(&request.categories)?;
    let (database, server_version): (String, String) =
        sqlx::query_as("SELECT current_database()::text, current_setting('server_version')")
            .fetch_one(&mut *conn)
            .await?;

    let mut metadata = BackupMetadata {
        backup_id: request.backup_id.clone(),
        org,
        started_at,
        finished_at: started_at,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source: SourceInfo {
            database,
            server_version,
        },
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
                }
            })
            .collect(),
        files: Vec::new(),
        missing_files: Vec::new(),
        global_tables: schema.global_tables.clone(),
    };

    let (sender, receiver) = mpsc::channel::<Message>(CHANNEL_DEPTH);
    let archive_bytes = Arc::new(AtomicU64::new(0));
    let writer = {
        let options = WriterOptions {
            compression_level: request.compression_level,
            encryption: request.encryption.clone(),
        };
        let files_root = request.files_root.clone();
        let limit = request.max_archive_bytes;
        let table_names: Vec<QualifiedName> = metadata
            .tables
            .iter()
            .map(|t| t.table.name.clone())
            .collect();
        let archive_bytes = archive_bytes.clone();
        tokio::task::spawn_blocking(move || {
            write_archive(
                output,
                options,
                receiver,
                files_root,
                limit,
                table_names,
                archive_bytes,
            )
        })
    };

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
        // The writer's own error, if any, explains a closed channel better than the send failure.
        return Err(match writer.await {
            Ok(Err(writer_error)) => writer_error,
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
    org_id: &str,
) -> Result<OrgInfo, Error> {
    let sql = format!(
        "SELECT {name}::text FROM {table} WHERE {key}::text = $1",
        name = quote_ident(&config.org_name_column),
        table = schema.org_table.quoted(),
        key = quote_ident(&schema.org_table_key),
    );
    let name: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?;
    match name {
        Some(name) => Ok(OrgInfo {
            id: org_id.to_string(),
            name,
        }),
        None => Err(Error::OrgNotFound {
            org_id: org_id.to_string(),
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
            name.quoted(),
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

/// The writer thread: turns messages into archive entries.
fn write_archive<W: Write>(
    output: W,
    options: WriterOptions,
    mut receiver: mpsc::Receiver<Message>,
    files_root: Option<PathBuf>,
    limit: Option<u64>,
    table_names: Vec<QualifiedName>,
    archive_bytes: Arc<AtomicU64>,
) -> Result<BackupOutcome<W>, Error> {
    let mut writer = ArchiveWriter::new(output, options)?;
    let mut chunk_paths: Vec<Vec<String>> = vec![Vec::new(); table_names.len()];
    let mut files: Vec<FileRecord> = Vec::new();
    let mut missing_files: Vec<String> = Vec::new();
    let mut seen_files: HashSet<String> = HashSet::new();
    // Entry path -> index in `files` of the record that archived it.
    let mut archived_entries: HashMap<String, usize> = HashMap::new();
    let check_limit = |writer: &ArchiveWriter<W>| -> Result<(), Error> {
        archive_bytes.store(writer.bytes_written(), Ordering::Relaxed);
        match limit {
            Some(limit) if writer.bytes_written() > limit => {
                Err(Error::SizeLimitExceeded { limit })
            }
            _ => Ok(()),
        }
    };
    while let Some(message) = receiver.blocking_recv() {
        match message {
            Message::Chunk { table, data } => {
                let path = format!(
                    "tables/{:04}-{}/{:06}.copy",
                    table + 1,
                    sanitize(&table_names[table].name),
                    chunk_paths[table].len() + 1
                );
                writer.add_entry(&path, data.len() as u64, &mut data.as_slice())?;
                chunk_paths[table].push(path);
                check_limit(&writer)?;
            }
            Message::File { path, table } => {
                if !seen_files.insert(path.clone()) {
                    continue;
                }
                let root = files_root
                    .as_deref()
                    .expect("file paths are only sent with a files root");
                let entry = file_entry_path(&path);
                // Two stored paths can name one file (`a/x.png`, `a/./x.png`): it is archived
                // once (an archive never lists a path twice) and both rows point at it.
                if let Some(&first) = archived_entries.get(&entry) {
                    let first: FileRecord = files[first].clone();
                    files.push(FileRecord {
                        path,
                        table: table_names[table].clone(),
                        ..first
                    });
                    continue;
                }
                match open_org_file(root, &path)? {
                    Some((mut file, size)) => {
                        let record = writer.add_entry(&entry, size, &mut file)?;
                        archived_entries.insert(entry.clone(), files.len());
                        files.push(FileRecord {
                            path,
                            entry,
                            size: record.size,
                            sha256: record.sha256,
                            table: table_names[table].clone(),
                        });
                        check_limit(&writer)?;
                    }
                    None => missing_files.push(path),
                }
            }
            Message::Finish(mut metadata) => {
                for (record, chunks) in metadata.tables.iter_mut().zip(chunk_paths) {
                    record.chunks = chunks;
                }
                metadata.files = files;
                metadata.missing_files = missing_files;
                let value = serde_json::to_value(&*metadata).expect("metadata serializes");
                let (output, summary) = writer.finish(value)?;
                return Ok(BackupOutcome {
                    output,
                    summary,
                    metadata: *metadata,
                });
            }
        }
    }
    Err(Error::Cancelled)
}

/// Opens a referenced file, refusing paths that would leave the files root (absolute paths,
/// `..`, or symlinks pointing outside): a row's path is data, and data is not trusted.
fn open_org_file(root: &Path, path: &str) -> Result<Option<(std::fs::File, u64)>, Error> {
    let relative = Path::new(path);
    let escapes = relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    let file_error = |source| Error::File {
        path: path.to_string(),
        source,
    };
    if escapes || path.is_empty() {
        return Err(file_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a file reference must be a relative path inside the files root (no `..`, no leading `/`)",
        )));
    }
    let full = root.join(relative);
    let canonical = match full.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(e)),
    };
    let canonical_root = root.canonicalize().map_err(file_error)?;
    if !canonical.starts_with(&canonical_root) {
        return Err(file_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the file is a link pointing outside the files root",
        )));
    }
    let file = std::fs::File::open(&canonical).map_err(file_error)?;
    let size = file.metadata().map_err(file_error)?.len();
    Ok(Some((file, size)))
}

/// The archive entry of a referenced file: `files/` and the path's normal components, so `a/./b`
/// and `a//b` (which [`open_org_file`] accepts) name the same entry.
fn file_entry_path(path: &str) -> String {
    let parts: Vec<String> = Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    format!("files/{}", parts.join("/"))
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_copy_text_undoes_escapes() {
        assert_eq!(decode_copy_text(br"a\\b\tc\nd"), "a\\b\tc\nd");
        assert_eq!(decode_copy_text(b"plain/path.png"), "plain/path.png");
    }

    #[test]
    fn file_entries_use_normal_components_only() {
        assert_eq!(file_entry_path("./org/a/./b.png"), "files/org/a/b.png");
        assert_eq!(file_entry_path("org//b.png"), "files/org/b.png");
    }

    #[test]
    fn sanitize_keeps_entry_names_portable() {
        assert_eq!(sanitize("We\"ird Name/x"), "We_ird_Name_x");
    }

    #[test]
    fn open_org_file_refuses_paths_outside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("ok.txt"), b"hi").unwrap();
        assert!(open_org_file(root.path(), "ok.txt").unwrap().is_some());
        assert!(open_org_file(root.path(), "missing.txt").unwrap().is_none());
        assert!(open_org_file(root.path(), "../etc/passwd").is_err());
        assert!(open_org_file(root.path(), "/etc/passwd").is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/hostname", root.path().join("link")).unwrap();
            assert!(open_org_file(root.path(), "link").is_err());
        }
    }
}
