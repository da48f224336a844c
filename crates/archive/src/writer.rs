//! Writes an archive as a stream: entries go out as they are added, so memory stays bounded by
//! one copy buffer and zstd's window whatever the archive's size.

use crate::envelope::{EncryptionSetup, SegmentEncryptor};
use crate::error::{Error, Result};
use crate::manifest::{
    ArchiveManifest, EntryRecord, FORMAT_NAME, FORMAT_VERSION, MANIFEST_PATH, validate_path,
};
use crate::tar;
use crate::trailer::Trailer;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{self, Read, Write};

const COPY_BUFFER: usize = 256 * 1024;
/// Two zero blocks end a tar stream; they get a zstd frame of their own.
const END_OF_TAR: [u8; 1024] = [0; 1024];

#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// zstd level, 1 (fastest) to 19; 3 is zstd's default.
    pub compression_level: i32,
    pub encryption: Option<EncryptionSetup>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            compression_level: 3,
            encryption: None,
        }
    }
}

/// What a finished archive is, as stored next to it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveSummary {
    /// Bytes of the file.
    pub size: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    pub entry_count: usize,
    pub encrypted: bool,
    pub key_id: Option<String>,
}

/// Counts and hashes the bytes of the file itself.
struct FileLayer<W> {
    inner: W,
    written: u64,
    hasher: Sha256,
}

impl<W: Write> Write for FileLayer<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Sink<W: Write> {
    Plain(FileLayer<W>),
    Encrypted(Box<SegmentEncryptor<FileLayer<W>>>),
}

/// Counts and hashes the plain stream (before encryption): offsets and the trailer's checksum.
struct PlainLayer<W: Write> {
    sink: Sink<W>,
    position: u64,
    hasher: Sha256,
}

impl<W: Write> Write for PlainLayer<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = match &mut self.sink {
            Sink::Plain(w) => w.write(data)?,
            Sink::Encrypted(w) => w.write(data)?,
        };
        self.hasher.update(&data[..n]);
        self.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Plain(w) => w.flush(),
            Sink::Encrypted(w) => w.flush(),
        }
    }
}

pub struct ArchiveWriter<W: Write> {
    plain: PlainLayer<W>,
    entries: Vec<EntryRecord>,
    /// Paths written so far: a reader refuses a path listed twice, so the writer does too.
    paths: HashSet<String>,
    compression_level: i32,
    created_at: DateTime<Utc>,
    key_id: Option<String>,
    buffer: Vec<u8>,
}

impl<W: Write> ArchiveWriter<W> {
    pub fn new(output: W, options: WriterOptions) -> Result<Self> {
        let file = FileLayer {
            inner: output,
            written: 0,
            hasher: Sha256::new(),
        };
        let (sink, key_id) = match &options.encryption {
            Some(setup) => (
                Sink::Encrypted(Box::new(SegmentEncryptor::new(file, setup)?)),
                Some(setup.key_id.clone()),
            ),
            None => (Sink::Plain(file), None),
        };
        Ok(Self {
            plain: PlainLayer {
                sink,
                position: 0,
                hasher: Sha256::new(),
            },
            entries: Vec::new(),
            paths: HashSet::new(),
            // zstd's "ultra" levels (20-22) need windows larger than readers accept.
            compression_level: options.compression_level.clamp(1, 19),
            created_at: Utc::now(),
            key_id,
            buffer: vec![0; COPY_BUFFER],
        })
    }

    /// Bytes written to the output so far (what a size quota counts).
    pub fn bytes_written(&self) -> u64 {
        match &self.plain.sink {
            Sink::Plain(w) => w.written,
            Sink::Encrypted(w) => w.get_ref().written,
        }
    }

    /// Adds one entry of exactly `size` bytes read from `content`, as its own zstd frame.
    pub fn add_entry(
        &mut self,
        path: &str,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<EntryRecord> {
        validate_path(path)?;
        if path == MANIFEST_PATH {
            return Err(Error::InvalidPath {
                path: path.into(),
                reason: "the name is reserved for the archive's own manifest",
            });
        }
        if self.paths.contains(path) {
            return Err(Error::InvalidPath {
                path: path.chars().take(200).collect(),
                reason: "the archive already holds an entry of that name",
            });
        }
        let record = self.write_entry(path, size, content)?;
        self.paths.insert(path.to_string());
        self.entries.push(record.clone());
        Ok(record)
    }

    fn write_entry(
        &mut self,
        path: &str,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<EntryRecord> {
        let offset = self.plain.position;
        let header = tar::header_blocks(path, size, self.created_at.timestamp());
        let padding = tar::padding(size);
        let mut encoder =
            zstd::stream::write::Encoder::new(&mut self.plain, self.compression_level)?;
        encoder.include_checksum(true)?;
        encoder.set_pledged_src_size(Some(header.len() as u64 + size + padding as u64))?;
        encoder.write_all(&header)?;
        let mut hasher = Sha256::new();
        let mut remaining = size;
        while remaining > 0 {
            let want = remaining.min(self.buffer.len() as u64) as usize;
            let n = match content.read(&mut self.buffer[..want]) {
                Ok(0) => {
                    return Err(Error::EntryTooShort {
                        path: path.into(),
                        declared: size,
                        actual: size - remaining,
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            hasher.update(&self.buffer[..n]);
            encoder.write_all(&self.buffer[..n])?;
            remaining -= n as u64;
        }
        encoder.write_all(&END_OF_TAR[..padding])?;
        encoder.finish()?;
        Ok(EntryRecord {
            path: path.into(),
            size,
            sha256: hex::encode(hasher.finalize()),
            offset,
            compressed_size: self.plain.position - offset,
        })
    }

    /// Writes the manifest (with `backup` as its description), the end of the tar stream and the
    /// trailer, and returns the output and what the file is.
    pub fn finish(self, backup: serde_json::Value) -> Result<(W, ArchiveSummary)> {
        let manifest = ArchiveManifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            created_at: self.created_at,
            entries: self.entries.clone(),
            backup,
        };
        let json = serde_json::to_vec_pretty(&manifest).expect("the manifest serializes");
        self.finish_with_manifest_json(json.len() as u64, &mut json.as_slice())
    }

    /// Finishes with exactly `size` bytes read from `json` as the manifest, taken as it is: for
    /// tests and fuzz targets that build hostile archives (a padded or lying manifest). Real
    /// archives are finished with [`ArchiveWriter::finish`].
    #[doc(hidden)]
    pub fn finish_with_manifest_json(
        mut self,
        size: u64,
        json: &mut dyn Read,
    ) -> Result<(W, ArchiveSummary)> {
        let entry_count = self.entries.len();
        let manifest_entry = self.write_entry(MANIFEST_PATH, size, json)?;
        let mut end = zstd::stream::write::Encoder::new(&mut self.plain, self.compression_level)?;
        end.write_all(&END_OF_TAR)?;
        end.finish()?;
        let trailer = Trailer {
            format_version: FORMAT_VERSION,
            manifest_offset: manifest_entry.offset,
            manifest_len: manifest_entry.compressed_size,
            stream_sha256: self.plain.hasher.clone().finalize().into(),
        };
        self.plain.write_all(&trailer.encode())?;
        let mut file = match self.plain.sink {
            Sink::Plain(file) => file,
            Sink::Encrypted(encryptor) => encryptor.finish()?,
        };
        file.flush()?;
        let summary = ArchiveSummary {
            size: file.written,
            sha256: hex::encode(file.hasher.finalize()),
            entry_count,
            encrypted: self.key_id.is_some(),
            key_id: self.key_id,
        };
        Ok((file.inner, summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_added_twice_is_refused_and_the_archive_stays_readable() {
        let mut writer = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
        writer.add_entry("files/a.png", 1, &mut &b"1"[..]).unwrap();
        let error = writer
            .add_entry("files/a.png", 1, &mut &b"2"[..])
            .unwrap_err();
        assert!(matches!(error, Error::InvalidPath { .. }), "{error}");
        let (bytes, _) = writer.finish(serde_json::json!({})).unwrap();
        let mut reader =
            crate::ArchiveReader::open(std::io::Cursor::new(bytes), &|_| None).unwrap();
        assert_eq!(reader.manifest().entries.len(), 1);
        reader.verify(&mut |_, _| {}).unwrap();
    }
}
