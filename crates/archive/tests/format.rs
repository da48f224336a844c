//! The archive format end to end: round trips, standard tools, and damage of every kind.

use orgbackup_archive::{
    ArchiveReader, ArchiveSummary, ArchiveWriter, EncryptionSetup, Envelope, Error,
    KeyEncryptionKey, WriterOptions,
};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read};
use std::process::Command;

fn entries() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "tables/0001-orgs/000001.copy".into(),
            b"a1\tAcme\n".to_vec(),
        ),
        (
            "tables/0002-posts/000001.copy".into(),
            (0..3000u32)
                .flat_map(|i| format!("{i}\tpost {i}\n").into_bytes())
                .collect(),
        ),
        ("tables/0002-posts/000002.copy".into(), Vec::new()),
        (
            format!("files/{}/deep name.bin", "d".repeat(120)),
            noise(70_000),
        ),
    ]
}

/// Incompressible bytes, so that encrypted test archives span several 64 KiB segments.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

fn write(encryption: Option<EncryptionSetup>) -> (Vec<u8>, ArchiveSummary) {
    let mut writer = ArchiveWriter::new(
        Vec::new(),
        WriterOptions {
            compression_level: 3,
            encryption,
        },
    )
    .unwrap();
    for (path, data) in entries() {
        let record = writer
            .add_entry(&path, data.len() as u64, &mut data.as_slice())
            .unwrap();
        assert_eq!(record.sha256, hex::encode(Sha256::digest(&data)));
    }
    writer
        .finish(serde_json::json!({"org": "acme", "rows": 3001}))
        .unwrap()
}

fn setup(key: &KeyEncryptionKey) -> EncryptionSetup {
    EncryptionSetup {
        key_id: "master:test".into(),
        key: key.clone(),
    }
}

fn open(
    bytes: &[u8],
    key: Option<&KeyEncryptionKey>,
) -> Result<ArchiveReader<Cursor<Vec<u8>>>, Error> {
    let key = key.cloned();
    ArchiveReader::open(Cursor::new(bytes.to_vec()), &move |_| key.clone())
}

fn open_and_verify(bytes: &[u8], key: Option<&KeyEncryptionKey>) -> Result<(), Error> {
    open(bytes, key)?.verify(&mut |_, _| {})?;
    Ok(())
}

fn assert_reads_back(bytes: &[u8], key: Option<&KeyEncryptionKey>) {
    let mut reader = open(bytes, key).unwrap();
    assert_eq!(reader.manifest().backup["rows"], 3001);
    assert_eq!(reader.manifest().entries.len(), 4);
    for (path, data) in entries() {
        let mut content = Vec::new();
        reader
            .open_entry(&path)
            .unwrap()
            .read_to_end(&mut content)
            .unwrap();
        assert_eq!(content, data, "{path}");
    }
    let report = reader.verify(&mut |_, _| {}).unwrap();
    assert_eq!(report.entries_checked, 4);
    assert_eq!(
        report.bytes_checked,
        entries().iter().map(|(_, d)| d.len() as u64).sum::<u64>() + json_len(&reader)
    );
}

fn json_len(reader: &ArchiveReader<Cursor<Vec<u8>>>) -> u64 {
    serde_json::to_vec_pretty(reader.manifest()).unwrap().len() as u64
}

#[test]
fn a_plain_archive_reads_back_and_its_summary_describes_the_file() {
    let (bytes, summary) = write(None);
    assert_eq!(summary.size, bytes.len() as u64);
    assert_eq!(summary.sha256, hex::encode(Sha256::digest(&bytes)));
    assert!(!summary.encrypted);
    assert_reads_back(&bytes, None);
    assert_eq!(*open(&bytes, None).unwrap().envelope(), Envelope::Plain);
}

#[test]
fn an_encrypted_archive_reads_back_with_its_key_and_hides_its_content() {
    let key = KeyEncryptionKey::generate();
    let (bytes, summary) = write(Some(setup(&key)));
    assert!(summary.encrypted);
    assert_eq!(summary.key_id.as_deref(), Some("master:test"));
    assert_reads_back(&bytes, Some(&key));
    let reader = open(&bytes, Some(&key)).unwrap();
    assert_eq!(
        *reader.envelope(),
        Envelope::Encrypted {
            key_id: "master:test".into()
        }
    );
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(
        !haystack.contains("tables/0001-orgs"),
        "entry names must not be visible"
    );
    assert!(!haystack.contains("Acme"));
}

#[test]
fn two_encryptions_of_the_same_content_differ() {
    let key = KeyEncryptionKey::generate();
    assert_ne!(write(Some(setup(&key))).0, write(Some(setup(&key))).0);
}

#[test]
fn a_wrong_key_and_a_missing_key_are_named_as_such() {
    let key = KeyEncryptionKey::generate();
    let (bytes, _) = write(Some(setup(&key)));
    let wrong = open(&bytes, Some(&KeyEncryptionKey::generate()))
        .err()
        .unwrap();
    assert!(
        matches!(&wrong, Error::WrongKey { key_id } if key_id == "master:test"),
        "{wrong}"
    );
    assert!(!wrong.is_corruption());
    let envelope = orgbackup_archive::read_envelope(&mut Cursor::new(&bytes)).unwrap();
    assert_eq!(
        envelope,
        Envelope::Encrypted {
            key_id: "master:test".into()
        },
        "the key id is readable without a key"
    );
    let missing = open(&bytes, None).err().unwrap();
    assert!(
        matches!(&missing, Error::MissingKey { key_id } if key_id == "master:test"),
        "{missing}"
    );
}

#[test]
fn a_flipped_byte_anywhere_in_a_plain_archive_is_detected() {
    let (bytes, _) = write(None);
    // Every byte of the small entries, the manifest and the trailer; every 11th of the big file.
    let big = open(&bytes, None).unwrap().manifest().entries[3].clone();
    let (big_start, big_end) = (
        big.offset as usize + 1024,
        (big.offset + big.compressed_size) as usize - 64,
    );
    let positions = (0..big_start)
        .chain((big_start..big_end).step_by(11))
        .chain(big_end..bytes.len());
    for at in positions {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        let error = open_and_verify(&damaged, None)
            .err()
            .unwrap_or_else(|| panic!("flip at {at} went unnoticed"));
        assert!(
            error.is_corruption()
                || matches!(
                    error,
                    Error::NotAnArchive | Error::UnsupportedVersion { .. }
                ),
            "{at}: {error}"
        );
    }
}

#[test]
fn a_flipped_byte_anywhere_in_an_encrypted_archive_is_detected() {
    let key = KeyEncryptionKey::generate();
    let (bytes, _) = write(Some(setup(&key)));
    // Every byte of the header, and a sample of the segments (each flip costs a full decrypt).
    let positions: Vec<usize> = (0..300)
        .chain((300..bytes.len()).step_by(97))
        .chain([bytes.len() - 1])
        .collect();
    for at in positions {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x80;
        let error = open_and_verify(&damaged, Some(&key))
            .err()
            .unwrap_or_else(|| panic!("flip at {at} went unnoticed"));
        let expected = error.is_corruption()
            || matches!(
                error,
                Error::NotAnArchive | Error::WrongKey { .. } | Error::UnsupportedVersion { .. }
            );
        assert!(expected, "{at}: {error}");
    }
}

#[test]
fn a_tampered_segment_is_reported_by_index() {
    let key = KeyEncryptionKey::generate();
    let (mut bytes, _) = write(Some(setup(&key)));
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    let error = open_and_verify(&bytes, Some(&key)).err().unwrap();
    assert!(matches!(error, Error::SegmentTampered { .. }), "{error}");
    assert!(error.to_string().contains("failed authentication"));
}

#[test]
fn every_truncation_is_detected_and_reported_as_truncation() {
    let key = KeyEncryptionKey::generate();
    for (bytes, key) in [
        (write(None).0, None),
        (write(Some(setup(&key))).0, Some(&key)),
    ] {
        for cut in (0..bytes.len()).step_by(37).chain([
            bytes.len() - 1,
            bytes.len() - 16,
            65_536 + 16 + 80,
        ]) {
            let error = open_and_verify(&bytes[..cut], key)
                .err()
                .unwrap_or_else(|| panic!("cut at {cut} went unnoticed"));
            assert!(error.is_corruption(), "cut at {cut}: {error}");
            if cut + 100 < bytes.len() || cut == bytes.len() - 16 {
                assert!(
                    matches!(
                        error,
                        Error::Truncated { .. }
                            | Error::TrailerCorrupt { .. }
                            | Error::SegmentTampered { .. }
                    ),
                    "cut at {cut}: {error}"
                );
            }
        }
    }
}

#[test]
fn an_encrypted_file_cut_at_a_segment_boundary_says_truncated() {
    let key = KeyEncryptionKey::generate();
    let (bytes, _) = write(Some(setup(&key)));
    let header_len = 12 + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let error = open_and_verify(&bytes[..header_len + 65_536 + 16], Some(&key))
        .err()
        .unwrap();
    assert!(matches!(error, Error::Truncated { .. }), "{error}");
    assert!(error.to_string().contains("fetch it again"));
}

#[test]
fn other_files_are_not_archives() {
    assert!(matches!(
        open(b"PK\x03\x04 a zip file", None),
        Err(Error::NotAnArchive)
    ));
    assert!(matches!(open(b"", None), Err(Error::Truncated { .. })));
    let zstd_only = zstd::encode_all(&b"just some text"[..], 3).unwrap();
    let error = open(&zstd_only, None).err().unwrap();
    assert!(error.is_corruption(), "{error}");
}

#[test]
fn a_plain_archive_unpacks_with_zstd_and_tar() {
    let (bytes, _) = write(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.tar.zst");
    std::fs::write(&file, &bytes).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstd -dc '{}' | tar -xf - -C '{}'",
            file.display(),
            out.display()
        ))
        .status()
        .expect("zstd and tar are installed (.ci/run installs them)");
    assert!(status.success());
    for (path, data) in entries() {
        assert_eq!(std::fs::read(out.join(&path)).unwrap(), data, "{path}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "orgbackup-archive");
    assert_eq!(manifest["backup"]["org"], "acme");
}

#[test]
fn entries_must_deliver_their_declared_size_and_have_safe_paths() {
    let mut writer = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
    let short = writer
        .add_entry("tables/a", 10, &mut &b"12345"[..])
        .err()
        .unwrap();
    assert!(
        matches!(
            short,
            Error::EntryTooShort {
                declared: 10,
                actual: 5,
                ..
            }
        ),
        "{short}"
    );
    for bad in ["../escape", "/abs", "manifest.json"] {
        assert!(
            matches!(
                writer.add_entry(bad, 0, &mut &b""[..]),
                Err(Error::InvalidPath { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_large_entry_streams_through_many_segments() {
    let key = KeyEncryptionKey::generate();
    let size = 5 * 1024 * 1024 + 123;
    let mut source = Sha256::new();
    let mut writer = ArchiveWriter::new(
        Vec::new(),
        WriterOptions {
            compression_level: 1,
            encryption: Some(setup(&key)),
        },
    )
    .unwrap();
    let mut content = (0..size as u64)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect::<Vec<u8>>();
    source.update(&content);
    writer
        .add_entry("big", size as u64, &mut content.as_slice())
        .unwrap();
    content.clear();
    let (bytes, _) = writer.finish(serde_json::json!({})).unwrap();
    let mut reader = open(&bytes, Some(&key)).unwrap();
    let mut read_back = Sha256::new();
    std::io::copy(
        &mut reader.open_entry("big").unwrap(),
        &mut sha_writer(&mut read_back),
    )
    .unwrap();
    assert_eq!(read_back.finalize(), source.finalize());
}

fn sha_writer(hasher: &mut Sha256) -> impl std::io::Write + '_ {
    struct W<'a>(&'a mut Sha256);
    impl std::io::Write for W<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    W(hasher)
}
