//! The seed corpus, made on the spot (nothing binary is committed): small valid archives, plain
//! and encrypted, carrying real orgbackup metadata, their manifests, and a few forged archives
//! at the edge of what the reader refuses. `cargo run --no-default-features --bin seed` writes
//! them to `corpus/<target>/` for `cargo fuzz`; `tests/replay.rs` runs them directly.

use crate::key;
use orgbackup_archive::{ArchiveReader, ArchiveWriter, EncryptionSetup, WriterOptions, forge};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Cursor;

pub struct Seed {
    pub target: &'static str,
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// Whether the target must accept it (so the fuzzer starts from inputs that reach deep).
    pub valid: bool,
}

const CHUNK: &str = "tables/0001-orgs/000001.copy";
const FILE: &str = "files/media/logo.png";

fn entries() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (CHUNK, b"o1\tAcme\t2026-01-01 00:00:00+00\n".to_vec()),
        (FILE, (0..200u32).map(|i| (i * 37 % 251) as u8).collect()),
        ("tables/0001-orgs/000002.copy", Vec::new()),
    ]
}

/// Backup metadata as orgbackup writes it (crates/engine/src/metadata.rs), for the entries
/// above.
fn metadata() -> Value {
    let file = &entries()[1].1;
    json!({
        "backup_id": "00000000-0000-4000-8000-000000000001",
        "org": {"id": "o1", "name": "Acme"},
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:01Z",
        "tool_version": "0.1.0", "source": {"database": "app", "server_version": "15.0"},
        "data_format": "postgresql-copy-text", "categories": ["core"], "whole": true,
        "added_for_dependencies": [], "org_table": {"schema": "public", "name": "orgs"},
        "org_setting": "app.current_org_id",
        "tables": [{
            "name": {"schema": "public", "name": "orgs"}, "category": "core",
            "ownership": {"kind": "direct", "column": "id", "column_type": "text"},
            "columns": [
                {"name": "id", "data_type": "text", "not_null": true},
                {"name": "name", "data_type": "text", "not_null": true},
                {"name": "created_at", "data_type": "timestamp with time zone", "not_null": false}
            ],
            "primary_key": ["id"],
            "data_columns": ["id", "name", "created_at"], "row_count": 1, "data_bytes": 31,
            "chunks": [CHUNK, "tables/0001-orgs/000002.copy"]
        }],
        "files": [{"path": "media/logo.png", "entry": FILE, "size": file.len(),
                   "sha256": hex::encode(Sha256::digest(file)),
                   "table": {"schema": "public", "name": "orgs"}}],
        "missing_files": [], "global_tables": []
    })
}

fn write(entries: &[(&str, Vec<u8>)], encrypted: bool, backup: Value) -> Vec<u8> {
    let options = WriterOptions {
        compression_level: 3,
        encryption: encrypted.then(|| EncryptionSetup {
            key_id: "master:fuzz".into(),
            key: key(),
        }),
    };
    let mut writer = ArchiveWriter::new(Vec::new(), options).expect("writing to memory");
    for (path, data) in entries {
        writer
            .add_entry(path, data.len() as u64, &mut data.as_slice())
            .expect("a valid entry");
    }
    writer.finish(backup).expect("writing to memory").0
}

/// The `manifest` target's input for `archive`: its manifest's offset, then its JSON.
fn manifest_input(archive: &[u8]) -> Vec<u8> {
    let reader = ArchiveReader::open(Cursor::new(archive), &|_| Some(key())).expect("valid");
    let offset: u64 = reader
        .manifest()
        .entries
        .iter()
        .map(|e| e.compressed_size)
        .sum();
    let mut input = offset.to_le_bytes().to_vec();
    input.extend(serde_json::to_vec(reader.manifest()).expect("serializes"));
    input
}

/// A plain archive whose single data entry is named `manifest.json` (refused).
fn entry_named_manifest() -> Vec<u8> {
    let content = b"x";
    let frame = forge::member("manifest.json", 1, content);
    let manifest = json!({
        "format": "orgbackup-archive", "format_version": 1, "created_at": "2026-01-01T00:00:00Z",
        "entries": [{"path": "manifest.json", "size": 1,
                     "sha256": hex::encode(Sha256::digest(content)),
                     "offset": 0, "compressed_size": frame.len()}],
        "backup": {},
    });
    forge::plain(&frame, &serde_json::to_vec(&manifest).expect("serializes"))
}

/// A plain archive whose entry declares a terabyte in its manifest and its header (refused:
/// the frame ends long before).
fn huge_declared_size() -> Vec<u8> {
    let frame = forge::member("files/big.bin", 1 << 40, b"tiny");
    let manifest = json!({
        "format": "orgbackup-archive", "format_version": 1, "created_at": "2026-01-01T00:00:00Z",
        "entries": [{"path": "files/big.bin", "size": 1u64 << 40, "sha256": "00",
                     "offset": 0, "compressed_size": frame.len()}],
        "backup": metadata(),
    });
    forge::plain(&frame, &serde_json::to_vec(&manifest).expect("serializes"))
}

pub fn seeds() -> Vec<Seed> {
    let plain = write(&entries(), false, metadata());
    let sealed = write(&entries(), true, metadata());
    let empty = write(&[], false, json!({}));
    let seed = |target, name, bytes: &Vec<u8>, valid| Seed {
        target,
        name,
        bytes: bytes.clone(),
        valid,
    };
    vec![
        seed("archive_reader", "plain", &plain, true),
        seed("archive_reader", "encrypted", &sealed, true),
        seed("archive_reader", "empty", &empty, true),
        seed(
            "archive_reader",
            "entry-named-manifest",
            &entry_named_manifest(),
            false,
        ),
        seed(
            "archive_reader",
            "huge-declared-size",
            &huge_declared_size(),
            false,
        ),
        seed("manifest", "plain", &manifest_input(&plain), true),
        seed("manifest", "encrypted", &manifest_input(&sealed), true),
        seed("manifest", "empty", &manifest_input(&empty), true),
        seed("upload_verify", "plain", &plain, true),
        seed("upload_verify", "encrypted", &sealed, true),
        seed("upload_verify", "not-orgbackup-metadata", &empty, false),
        seed(
            "upload_verify",
            "huge-declared-size",
            &huge_declared_size(),
            false,
        ),
    ]
}
