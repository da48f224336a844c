//! The writer thread of a backup: turns the messages the COPY side sends into archive entries
//! (table chunks and referenced files), and writes the manifest once the metadata arrives.

use super::BackupOutcome;
use crate::confined::{self, PathProblem, RelativePath};
use crate::error::Error;
use crate::ident::QualifiedName;
use crate::metadata::{BackupMetadata, FileRecord, SkippedFile};
use orgbackup_archive::{ArchiveWriter, WriterOptions, validate_path};
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

pub(super) enum Message {
    Chunk { table: usize, data: Vec<u8> },
    File { path: String, table: usize },
    Finish(Box<BackupMetadata>),
}

/// Where referenced files are read from.
pub(super) struct FilesSource {
    pub root: PathBuf,
    pub prefix: Option<RelativePath>,
}

impl FilesSource {
    /// The path a row names, if the backup may read it: inside the root and the org's prefix.
    fn check(&self, path: &str) -> Result<RelativePath, PathProblem> {
        let relative = RelativePath::parse(path)?;
        match &self.prefix {
            Some(prefix) if !relative.starts_with(prefix) => Err(PathProblem::OutsidePrefix {
                prefix: prefix.to_string(),
            }),
            _ => Ok(relative),
        }
    }
}

/// What the writer thread needs besides its output and the messages.
pub(super) struct ArchiveTarget {
    pub files_source: Option<FilesSource>,
    /// The archive's size limit in bytes, if any.
    pub limit: Option<u64>,
    /// The backup's tables, in the order `Message::Chunk { table }` counts them.
    pub table_names: Vec<QualifiedName>,
    pub archive_bytes: Arc<AtomicU64>,
}

/// The writer thread: turns messages into archive entries.
pub(super) fn write_archive<W: Write>(
    output: W,
    options: WriterOptions,
    mut receiver: mpsc::Receiver<Message>,
    target: ArchiveTarget,
) -> Result<BackupOutcome<W>, Error> {
    let mut archive = ArchiveInProgress {
        writer: ArchiveWriter::new(output, options)?,
        chunk_paths: vec![Vec::new(); target.table_names.len()],
        files: Vec::new(),
        missing_files: Vec::new(),
        skipped_files: Vec::new(),
        seen_paths: HashSet::new(),
        seen_files: HashSet::new(),
        entry_names: HashSet::new(),
        numbered_entries: 0,
        target,
    };
    while let Some(message) = receiver.blocking_recv() {
        match message {
            Message::Chunk { table, data } => archive.add_chunk(table, data)?,
            Message::File { path, table } => archive.add_file(path, table)?,
            Message::Finish(metadata) => return archive.finish(metadata),
        }
    }
    Err(Error::Cancelled)
}

/// The entries written so far, and what the manifest will say about them.
struct ArchiveInProgress<W: Write> {
    writer: ArchiveWriter<W>,
    /// Per table, its chunks' entry names in order.
    chunk_paths: Vec<Vec<String>>,
    files: Vec<FileRecord>,
    missing_files: Vec<String>,
    skipped_files: Vec<SkippedFile>,
    /// Paths as rows spell them, so each is looked at once.
    seen_paths: HashSet<String>,
    /// Paths as resolved, so two spellings of one file store it once.
    seen_files: HashSet<RelativePath>,
    entry_names: HashSet<String>,
    numbered_entries: u64,
    target: ArchiveTarget,
}

impl<W: Write> ArchiveInProgress<W> {
    fn add_chunk(&mut self, table: usize, data: Vec<u8>) -> Result<(), Error> {
        let path = format!(
            "tables/{:04}-{}/{:06}.copy",
            table + 1,
            sanitize(&self.target.table_names[table].name),
            self.chunk_paths[table].len() + 1
        );
        self.writer
            .add_entry(&path, data.len() as u64, &mut data.as_slice())?;
        self.chunk_paths[table].push(path);
        self.check_limit()
    }

    fn add_file(&mut self, path: String, table: usize) -> Result<(), Error> {
        if !self.seen_paths.insert(path.clone()) {
            return Ok(());
        }
        let source = self
            .target
            .files_source
            .as_ref()
            .expect("file paths are only sent with a files root");
        // A path a backup may not read is reported, never a reason to fail the org's
        // whole backup: the path is a row's data, written by whoever wrote the row.
        let opened = source.check(&path).and_then(|relative| {
            if !self.seen_files.insert(relative.clone()) {
                return Ok(None);
            }
            match confined::open_for_read(&source.root, &relative)? {
                Some(file) => Ok(Some((relative, file))),
                None => {
                    self.missing_files.push(path.clone());
                    Ok(None)
                }
            }
        });
        match opened {
            Ok(Some((relative, (mut file, size)))) => {
                let entry =
                    file_entry_name(&relative, &mut self.entry_names, &mut self.numbered_entries);
                let record = self.writer.add_entry(&entry, size, &mut file)?;
                self.files.push(FileRecord {
                    path,
                    entry,
                    size: record.size,
                    sha256: record.sha256,
                    table: self.target.table_names[table].clone(),
                });
                self.check_limit()?;
            }
            Ok(None) => {}
            Err(problem) => {
                tracing::warn!(path = %path, reason = %problem, "referenced file skipped");
                self.skipped_files.push(SkippedFile {
                    table: self.target.table_names[table].clone(),
                    path,
                    reason: problem.to_string(),
                });
            }
        }
        Ok(())
    }

    fn check_limit(&self) -> Result<(), Error> {
        let written = self.writer.bytes_written();
        self.target.archive_bytes.store(written, Ordering::Relaxed);
        match self.target.limit {
            Some(limit) if written > limit => Err(Error::SizeLimitExceeded { limit }),
            _ => Ok(()),
        }
    }

    /// Completes the metadata with what was written, and ends the archive with it.
    fn finish(self, mut metadata: Box<BackupMetadata>) -> Result<BackupOutcome<W>, Error> {
        for (record, chunks) in metadata.tables.iter_mut().zip(self.chunk_paths) {
            record.chunks = chunks;
        }
        metadata.files = self.files;
        metadata.missing_files = self.missing_files;
        metadata.skipped_files = self.skipped_files;
        let value = serde_json::to_value(&*metadata).expect("metadata serializes");
        let (output, summary) = self.writer.finish(value)?;
        Ok(BackupOutcome {
            output,
            summary,
            metadata: *metadata,
        })
    }
}

/// The archive entry of a referenced file: `files/<path>` when that is a valid entry name not
/// used yet; otherwise (a backslash in a name, or two spellings of one path) a numbered one.
/// The manifest's `files[].entry` says which, so readers never derive it from the path.
fn file_entry_name(path: &RelativePath, used: &mut HashSet<String>, next: &mut u64) -> String {
    let natural = format!("files/{path}");
    if validate_path(&natural).is_ok() && used.insert(natural.clone()) {
        return natural;
    }
    loop {
        *next += 1;
        let numbered = format!("files/~orgbackup/{next:06}");
        if used.insert(numbered.clone()) {
            return numbered;
        }
    }
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
    fn file_entries_are_unique_and_valid_entry_names() {
        let mut used = HashSet::new();
        let mut next = 0;
        let mut name =
            |p: &str| file_entry_name(&RelativePath::parse(p).unwrap(), &mut used, &mut next);
        assert_eq!(name("./org/a/./b.png"), "files/org/a/b.png");
        assert_eq!(name("org//a/b.png"), "files/~orgbackup/000001");
        assert_eq!(name(r"org/a\b.png"), "files/~orgbackup/000002");
        assert_eq!(name("~orgbackup/000002"), "files/~orgbackup/000003");
    }

    #[test]
    fn sanitize_keeps_entry_names_portable() {
        assert_eq!(sanitize("We\"ird Name/x"), "We_ird_Name_x");
    }
}
