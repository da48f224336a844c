//! The seed corpus, made on the spot (nothing binary is committed): small valid archives, plain
//! and encrypted, carrying real orgbackup metadata, their manifests, and a few forged archives
//! at the edge of what the reader refuses. `cargo run --no-default-features --bin seed` writes
//! them to `corpus/<target>/` for `cargo fuzz`; `tests/replay.rs` runs them directly.

use crate::key;
use orgbackup_archive::{ArchiveReader, ArchiveWriter, EncryptionSetup, WriterOptions, forge};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::sync::OnceLock;

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

/// The seed entries as members with a fixed header time, so that a manifest written once keeps
/// matching them: the stream before the manifest, and the manifest's `entries`.
fn fixed_body() -> &'static (Vec<u8>, Value) {
    static BODY: OnceLock<(Vec<u8>, Value)> = OnceLock::new();
    BODY.get_or_init(|| {
        let mut body = Vec::new();
        let mut records = Vec::new();
        for (path, content) in entries() {
            let frame = forge::member(path, content.len() as u64, &content);
            records.push(json!({
                "path": path, "size": content.len(),
                "sha256": hex::encode(Sha256::digest(&content)),
                "offset": body.len(), "compressed_size": frame.len(),
            }));
            body.extend(frame);
        }
        (body, Value::Array(records))
    })
}

/// A plain archive of the seed entries with `json` as its manifest, checksums all valid.
pub fn archive_with_manifest(json: &[u8]) -> Vec<u8> {
    forge::plain(&fixed_body().0, json)
}

/// The `upload_verify` target's structured input: a manifest for [`archive_with_manifest`].
fn upload_manifest_input(backup: Value) -> Vec<u8> {
    let manifest = json!({
        "format": "orgbackup-archive", "format_version": 1, "created_at": "2026-01-01T00:00:00Z",
        "entries": fixed_body().1, "backup": backup,
    });
    let mut input = vec![1];
    input.extend(serde_json::to_vec_pretty(&manifest).expect("serializes"));
    input
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

/// The upload's input for a file sent as is.
fn as_is(file: &[u8]) -> Vec<u8> {
    let mut input = vec![0];
    input.extend_from_slice(file);
    input
}

pub fn seeds() -> Vec<Seed> {
    let plain = write(&entries(), false, metadata());
    // Once made the upload's row count overflow (two tables of u64::MAX rows).
    let mut many_rows = metadata();
    let mut table = many_rows["tables"][0].clone();
    table["row_count"] = json!(u64::MAX);
    many_rows["tables"] = json!([table.clone(), table]);
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
        seed("upload_verify", "plain", &as_is(&plain), true),
        seed("upload_verify", "encrypted", &as_is(&sealed), true),
        seed(
            "upload_verify",
            "not-orgbackup-metadata",
            &as_is(&empty),
            false,
        ),
        seed(
            "upload_verify",
            "huge-declared-size",
            &as_is(&huge_declared_size()),
            false,
        ),
        seed(
            "upload_verify",
            "manifest",
            &upload_manifest_input(metadata()),
            true,
        ),
        seed(
            "upload_verify",
            "manifest-many-rows",
            &upload_manifest_input(many_rows),
            true,
        ),
        seed(
            "upload_verify",
            "manifest-not-metadata",
            &upload_manifest_input(json!({"org": 1})),
            false,
        ),
    ]
}
