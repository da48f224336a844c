//! What each fuzz target does with its input, as plain functions: `cargo fuzz` calls them from
//! `fuzz_targets/`, and on stable `tests/replay.rs` and the `replay` tool run the seeds and any
//! saved corpus or crash through them. A function panics only when the code under test breaks a
//! promise (a panic of its own, an entry read differently from what verification passed, a path
//! outside the allowed shape); refusing the input is the expected outcome for most of them.

pub mod seeds;

use orgbackup_archive::{
    ArchiveManifest, ArchiveReader, EntryRecord, Error, KeyEncryptionKey, MANIFEST_PATH, forge,
    validate_path,
};
use orgbackup_engine::BackupMetadata;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{self, Cursor, Read, Write};

/// How one input fared: refused (with the reason, for the replay test to check), or accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Refused(String),
    Accepted,
}

/// What a fuzz target does with one input.
pub type Target = fn(&[u8]) -> Verdict;

/// The targets by name, as `cargo fuzz run NAME` and the corpus folders call them.
pub const TARGETS: [(&str, Target); 3] = [
    ("archive_reader", archive_reader),
    ("manifest", manifest),
    ("upload_verify", upload_verify),
];

/// The upload's default `upload.max_expansion` (crates/service/src/config.rs).
pub const MAX_EXPANSION: u64 = 100;

/// The one key the targets know, for every key id an encrypted input names: so inputs get past
/// the envelope into the segments, the trailer and the manifest.
pub fn key() -> KeyEncryptionKey {
    KeyEncryptionKey::from_bytes([7; 32])
}

fn open(data: &[u8]) -> Result<ArchiveReader<Cursor<&[u8]>>, Error> {
    let key = key();
    ArchiveReader::open(Cursor::new(data), &move |_| Some(key.clone()))
}

/// Arbitrary bytes opened as an archive: verified in full, then every entry read by name.
/// Once verification passes, every entry must read back with exactly its recorded size and
/// SHA-256.
pub fn archive_reader(data: &[u8]) -> Verdict {
    let mut reader = match open(data) {
        Ok(reader) => reader,
        Err(e) => return Verdict::Refused(e.to_string()),
    };
    check_paths(reader.manifest());
    let verified = reader.verify(&mut |_, _| {});
    let records = reader.manifest().entries.clone();
    for record in &records {
        let read = read_entry(&mut reader, record);
        if verified.is_ok() {
            let (size, sha256) = read.unwrap_or_else(|e| {
                panic!("verified, yet entry `{}` cannot be read: {e}", record.path)
            });
            assert_eq!(size, record.size, "entry `{}` size", record.path);
            assert_eq!(sha256, record.sha256, "entry `{}` SHA-256", record.path);
        }
    }
    match verified {
        Ok(_) => Verdict::Accepted,
        Err(e) => Verdict::Refused(e.to_string()),
    }
}

/// Arbitrary bytes as a manifest: the first 8 bytes (little-endian) say where the manifest
/// frame starts, the rest is its JSON. An accepted manifest has safe, unique paths whose frames
/// tile the stream up to that offset; and the reader, which takes its manifest through the same
/// parser, opens an archive holding these bytes exactly when the parser accepts them.
pub fn manifest(data: &[u8]) -> Verdict {
    let (offset, json) = match data.split_first_chunk::<8>() {
        Some((offset, json)) => (u64::from_le_bytes(*offset), json),
        None => (0, data),
    };
    let verdict = match ArchiveManifest::parse(json, offset) {
        Ok(manifest) => {
            check_paths(&manifest);
            let mut end = 0u64;
            for entry in &manifest.entries {
                assert_eq!(entry.offset, end, "entries must tile the stream");
                assert!(entry.compressed_size > 0);
                end = end.checked_add(entry.compressed_size).expect("validated");
            }
            assert_eq!(end, offset, "entries must end where the manifest starts");
            let _ = manifest.unpacked_size();
            Verdict::Accepted
        }
        Err(e) => Verdict::Refused(e.to_string()),
    };
    let archive = forge::plain(&[], json);
    let opened = ArchiveReader::open(Cursor::new(&archive[..]), &|_| None).is_ok();
    assert_eq!(
        opened,
        ArchiveManifest::parse(json, 0).is_ok(),
        "the reader and the parser disagree"
    );
    verdict
}

/// Arbitrary bytes as an uploaded backup file, checked in the order and with the limits of
/// `receive` in crates/orgbackup/src/http/upload.rs (open with the server's keys, refuse a declared
/// expansion above `upload.max_expansion`, verify in full, read the manifest's `backup` as
/// orgbackup backup metadata), then the values the handler stores taken from the metadata.
/// That check is private to the binary crate, so its steps are repeated here: keep them in step.
///
/// The first byte chooses what the rest is. Even: the uploaded file as is. Odd: a manifest's
/// JSON, sealed into an archive with the seed entries and valid checksums (which a fuzzer cannot
/// forge), so that mutations reach the checks behind verification.
pub fn upload_verify(data: &[u8]) -> Verdict {
    match data.split_first() {
        Some((mode, json)) if mode & 1 == 1 => check_upload(&seeds::archive_with_manifest(json)),
        Some((_, file)) => check_upload(file),
        None => check_upload(data),
    }
}

fn check_upload(data: &[u8]) -> Verdict {
    let size = data.len() as u64;
    let mut archive = match open(data) {
        Ok(archive) => archive,
        Err(e) => return Verdict::Refused(format!("invalid_backup: {e}")),
    };
    check_paths(archive.manifest());
    let unpacked = archive.manifest().unpacked_size();
    if unpacked > size.saturating_mul(MAX_EXPANSION) {
        return Verdict::Refused(format!("decompression_bomb: {unpacked} bytes declared"));
    }
    if let Err(e) = archive.verify(&mut |_, _| {}) {
        return Verdict::Refused(format!("invalid_backup: {e}"));
    }
    let metadata: BackupMetadata = match serde_json::from_value(archive.manifest().backup.clone()) {
        Ok(metadata) => metadata,
        Err(e) => return Verdict::Refused(format!("invalid_backup: {e}")),
    };
    // What the handler binds into its INSERT: none of it may panic or go negative.
    let name = format!(
        "Uploaded backup of {}",
        metadata.started_at.format("%Y-%m-%d %H:%M UTC")
    );
    assert!(!name.is_empty());
    assert!(i64::try_from(metadata.total_rows()).is_ok(), "total_rows");
    assert!(i32::try_from(metadata.tables.len()).is_ok());
    assert!(i32::try_from(metadata.files.len()).is_ok());
    Verdict::Accepted
}

/// Every path handed out is in the allowed shape, is not the manifest's name, and is listed
/// once.
fn check_paths(manifest: &ArchiveManifest) {
    let mut seen = HashSet::new();
    for entry in &manifest.entries {
        if let Err(e) = validate_path(&entry.path) {
            panic!("an accepted manifest names {:?}: {e}", entry.path);
        }
        assert!(
            std::path::Path::new(&entry.path)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "{:?}",
            entry.path
        );
        assert_ne!(entry.path, MANIFEST_PATH);
        assert!(seen.insert(&entry.path), "`{}` listed twice", entry.path);
    }
}

/// Reads one entry to its end (one byte past its declared size, which it must refuse to give),
/// hashing instead of keeping it: a small input may expand a lot.
fn read_entry(
    reader: &mut ArchiveReader<Cursor<&[u8]>>,
    record: &EntryRecord,
) -> Result<(u64, String), Error> {
    let entry = reader.open_entry(&record.path)?;
    assert_eq!(entry.record(), record, "open_entry found another record");
    let mut hashing = HashingSink(Sha256::new());
    let size = io::copy(&mut entry.take(record.size.saturating_add(1)), &mut hashing)
        .map_err(Error::from_io)?;
    Ok((size, hex::encode(hashing.0.finalize())))
}

struct HashingSink(Sha256);

impl Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
