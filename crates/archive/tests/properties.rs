//! Property tests: whatever bytes arrive as an archive, the reader answers an error or a fully
//! verified read, never panics, never allocates by what the file merely declares, finishes
//! quickly, and never hands out an entry path outside the allowed shape. Plus: what the writer
//! writes reads back identical.
//!
//! Each property runs 256 cases by default (a few seconds); `PROPTEST_CASES=100000 cargo test
//! -p orgbackup-archive --release --test properties` runs them longer (docs/SECURITY.md,
//! "Fuzzing"). A failing case is shrunk and saved under `proptest-regressions/` (commit it).

use orgbackup_archive::{
    ArchiveManifest, ArchiveReader, ArchiveWriter, EncryptionSetup, EntryRecord, Error,
    KeyEncryptionKey, MANIFEST_PATH, WriterOptions, forge, validate_path,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read};
use std::path::{Component, Path};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Counts the bytes each thread has allocated and not yet freed, and the peak since a reset:
/// how the tests tell memory bounded by real content from memory claimed by declared sizes.
mod alloc_meter {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Meter;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(delta: isize) {
        // `try_with`: during thread teardown the counters may be gone; then nothing is counted.
        let _ = LIVE.try_with(|live| {
            let now = live.get() + delta;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    unsafe impl GlobalAlloc for Meter {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            add(-(layout.size() as isize));
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                add(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    /// Runs `f` and returns its result with the most bytes it had allocated at once (on this
    /// thread, beyond what was live before).
    pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let base = LIVE.with(Cell::get);
        PEAK.with(|peak| peak.set(base));
        let out = f();
        let peak = PEAK.with(Cell::get);
        (out, (peak - base).max(0) as usize)
    }
}

#[global_allocator]
static METER: alloc_meter::Meter = alloc_meter::Meter;

/// What one read of untrusted bytes may allocate at most, whatever the file declares: zstd's
/// largest accepted window (16 MiB) and its buffers, the 256 KiB verify buffer, decrypted
/// segments, plus a few times the file itself (the test holds it in memory as a `Cursor`).
fn memory_limit(file_len: usize) -> usize {
    24 * 1024 * 1024 + 4 * file_len
}

/// Generous: a case takes milliseconds; this only catches a loop that works by declared sizes.
const TIME_LIMIT: Duration = Duration::from_secs(10);

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

fn key() -> &'static KeyEncryptionKey {
    static KEY: OnceLock<KeyEncryptionKey> = OnceLock::new();
    KEY.get_or_init(|| KeyEncryptionKey::from_bytes([7; 32]))
}

fn setup() -> EncryptionSetup {
    EncryptionSetup {
        key_id: "master:test".into(),
        key: key().clone(),
    }
}

/// Incompressible bytes, so that the encrypted sample spans two 64 KiB segments.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

fn write(entries: &[(String, Vec<u8>)], options: WriterOptions, backup: Value) -> Vec<u8> {
    let mut writer = ArchiveWriter::new(Vec::new(), options).unwrap();
    for (path, data) in entries {
        writer
            .add_entry(path, data.len() as u64, &mut data.as_slice())
            .unwrap();
    }
    writer.finish(backup).unwrap().0
}

fn sample_entries(big: bool) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "tables/0001-orgs/000001.copy".into(),
            (0..60u32)
                .flat_map(|i| format!("{i}\torg {i}\n").into_bytes())
                .collect(),
        ),
        ("tables/0002-posts/000001.copy".into(), Vec::new()),
        (
            format!("files/{}/deep name.bin", "d".repeat(110)),
            noise(if big { 70_000 } else { 1_500 }, 3),
        ),
    ]
}

/// A small valid plain archive and a valid encrypted one of two segments.
fn samples() -> &'static (Vec<u8>, Vec<u8>) {
    static SAMPLES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let backup = json!({"org": {"id": "o1", "name": "Acme"}});
        let plain = write(
            &sample_entries(false),
            WriterOptions::default(),
            backup.clone(),
        );
        let sealed = write(
            &sample_entries(true),
            WriterOptions {
                compression_level: 3,
                encryption: Some(setup()),
            },
            backup,
        );
        (plain, sealed)
    })
}

/// What reading untrusted bytes gave: the error that refused them, or every entry with its
/// content after a verification that passed.
type Outcome = Result<Vec<(EntryRecord, Vec<u8>)>, Error>;

/// Opens `bytes` as the upload and restore paths do, checks the paths it was given, verifies
/// the whole file and reads every entry back; checks every promise the reader makes and
/// returns what it read.
fn read_untrusted(bytes: &[u8]) -> Outcome {
    let started = Instant::now();
    let (outcome, peak) = alloc_meter::peak_during(|| {
        let key = key().clone();
        let mut reader = ArchiveReader::open(Cursor::new(bytes), &move |_| Some(key.clone()))?;
        assert_paths_in_shape(reader.manifest());
        let verified = reader.verify(&mut |_, _| {});
        let records = reader.manifest().entries.clone();
        let mut read = Vec::new();
        let mut read_error = None;
        for record in records {
            match read_entry(&mut reader, &record) {
                Ok(content) => read.push((record, content)),
                Err(e) => {
                    read_error.get_or_insert(e);
                }
            }
        }
        verified?;
        // Verification passed, so reading by entry must give exactly what the manifest says.
        if let Some(e) = read_error {
            panic!("verify passed but reading an entry failed: {e}");
        }
        for (record, content) in &read {
            assert_eq!(content.len() as u64, record.size, "{}", record.path);
            assert_eq!(
                hex::encode(Sha256::digest(content)),
                record.sha256,
                "{}",
                record.path
            );
        }
        Ok(read)
    });
    assert!(
        peak <= memory_limit(bytes.len()),
        "reading {} bytes allocated {peak} bytes at once",
        bytes.len()
    );
    assert!(
        started.elapsed() < TIME_LIMIT,
        "reading {} bytes took {:?}",
        bytes.len(),
        started.elapsed()
    );
    outcome
}

fn read_entry(
    reader: &mut ArchiveReader<Cursor<&[u8]>>,
    record: &EntryRecord,
) -> Result<Vec<u8>, Error> {
    let mut entry = reader.open_entry(&record.path)?;
    assert_eq!(entry.record(), record, "open_entry found another record");
    let mut content = Vec::new();
    // One byte past the declared size: an entry reader must stop at it by itself.
    (&mut entry)
        .take(record.size.saturating_add(1))
        .read_to_end(&mut content)
        .map_err(Error::from_io)?;
    Ok(content)
}

/// Every path an opened archive hands out is relative, stays inside any directory it is joined
/// onto, is not the manifest's name and appears once.
fn assert_paths_in_shape(manifest: &ArchiveManifest) {
    let mut seen = std::collections::HashSet::new();
    for entry in &manifest.entries {
        assert_stays_inside(&entry.path);
        assert_ne!(
            entry.path, MANIFEST_PATH,
            "a data entry took the manifest's name"
        );
        assert!(seen.insert(&entry.path), "`{}` listed twice", entry.path);
    }
}

fn assert_stays_inside(path: &str) {
    validate_path(path).unwrap_or_else(|e| panic!("an opened archive names {path:?}: {e}"));
    assert!(!path.contains('\0') && !path.contains('\\'), "{path:?}");
    for component in Path::new(path).components() {
        assert!(
            matches!(component, Component::Normal(_)),
            "{path:?} has the component {component:?}"
        );
    }
}

// ---- mutations of valid archives -------------------------------------------------------------

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit {
        at: Index,
        bit: u8,
    },
    /// Bytes near the end hold the trailer and the manifest: hit them more often.
    FlipBitFromEnd {
        back: usize,
        bit: u8,
    },
    Truncate {
        to: Index,
    },
    Insert {
        at: Index,
        bytes: Vec<u8>,
    },
    Remove {
        at: Index,
        len: usize,
    },
    Overwrite {
        at: Index,
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (0..2048usize, 0..8u8).prop_map(|(back, bit)| Mutation::FlipBitFromEnd { back, bit }),
        any::<Index>().prop_map(|to| Mutation::Truncate { to }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<Index>(), 1..600usize).prop_map(|(at, len)| Mutation::Remove { at, len }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::FlipBit { at, bit } => {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Mutation::FlipBitFromEnd { back, bit } => {
            let i = bytes.len() - 1 - back.min(&(bytes.len() - 1));
            bytes[i] ^= 1 << bit;
        }
        Mutation::Truncate { to } => bytes.truncate(to.index(bytes.len())),
        Mutation::Insert { at, bytes: new } => {
            let i = at.index(bytes.len() + 1);
            bytes.splice(i..i, new.iter().copied());
        }
        Mutation::Remove { at, len } => {
            let i = at.index(bytes.len());
            bytes.drain(i..(i + len).min(bytes.len()));
        }
        Mutation::Overwrite { at, bytes: new } => {
            let i = at.index(bytes.len());
            for (slot, b) in bytes[i..].iter_mut().zip(new) {
                *slot = *b;
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_damaged_plain_archive_is_refused_never_misread(
        mutations in prop::collection::vec(mutation(), 1..4)
    ) {
        let original = &samples().0;
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        // Every byte of a plain archive is covered by a checksum (frames, entries, the trailer's
        // own, the stream's), so any change at all must be refused.
        if let Ok(read) = read_untrusted(&bytes) {
            prop_assert_eq!(&bytes, original, "a changed file verified: {} entries", read.len());
        }
    }

    #[test]
    fn a_damaged_encrypted_archive_is_refused_never_misread(
        mutations in prop::collection::vec(mutation(), 1..4)
    ) {
        let original = &samples().1;
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if read_untrusted(&bytes).is_ok() {
            prop_assert_eq!(&bytes, original, "a changed encrypted file verified");
        }
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        prefix in prop_oneof![
            Just(Vec::new()),
            Just(vec![0x28, 0xB5, 0x2F, 0xFD]),
            Just(b"OBRENC01".to_vec()),
        ],
    ) {
        let mut file = prefix;
        file.extend_from_slice(&bytes);
        prop_assert!(read_untrusted(&file).is_err());
    }
}

// ---- forged manifests: valid frames and trailer, hostile content -----------------------------

fn hostile_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("../x".to_string()),
        Just("a/../../x".to_string()),
        Just("/etc/passwd".to_string()),
        Just("a\0b".to_string()),
        Just("files\\..\\x".to_string()),
        Just(String::new()),
        Just(".".to_string()),
        Just("a//b".to_string()),
        Just("a/".to_string()),
        Just(MANIFEST_PATH.to_string()),
        Just("x".repeat(5000)),
        Just("C:/windows".to_string()),
        Just("files/ok.png".to_string()),
        "[a-z./\\\\\0]{0,12}",
        any::<String>(),
    ]
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(511),
        Just(512),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(i64::MAX as u64),
        Just(1 << 40),
        Just((256 << 20) + 1),
        any::<u64>(),
        0..100_000u64,
    ]
}

#[derive(Clone, Debug)]
enum ManifestEdit {
    Size(Index, u64),
    Offset(Index, u64),
    CompressedSize(Index, u64),
    Path(Index, String),
    /// Gives an entry the path of another one.
    SamePath(Index, Index),
    Sha(Index, String),
    Swap(Index, Index),
    RemoveEntry(Index),
    DuplicateEntry(Index),
    FormatVersion(u32),
    Format(String),
    /// A field of the wrong JSON type, or missing.
    Field(Index, &'static str, Value),
    Entries(Value),
    /// `backup` nested thousands of levels deep (serde_json must refuse, not overflow the stack).
    DeepBackup(usize),
}

fn manifest_edit() -> impl Strategy<Value = ManifestEdit> {
    let field = prop_oneof![
        Just("path"),
        Just("size"),
        Just("sha256"),
        Just("offset"),
        Just("compressed_size")
    ];
    let wrong = prop_oneof![
        Just(Value::Null),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!("12")),
        Just(json!(18446744073709551616.0)),
        Just(json!([])),
    ];
    prop_oneof![
        (any::<Index>(), interesting_u64()).prop_map(|(i, v)| ManifestEdit::Size(i, v)),
        (any::<Index>(), interesting_u64()).prop_map(|(i, v)| ManifestEdit::Offset(i, v)),
        (any::<Index>(), interesting_u64()).prop_map(|(i, v)| ManifestEdit::CompressedSize(i, v)),
        (any::<Index>(), hostile_path()).prop_map(|(i, p)| ManifestEdit::Path(i, p)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| ManifestEdit::SamePath(i, j)),
        (any::<Index>(), "[0-9a-fA-F]{0,70}").prop_map(|(i, s)| ManifestEdit::Sha(i, s)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| ManifestEdit::Swap(i, j)),
        any::<Index>().prop_map(ManifestEdit::RemoveEntry),
        any::<Index>().prop_map(ManifestEdit::DuplicateEntry),
        any::<u32>().prop_map(ManifestEdit::FormatVersion),
        "[a-z-]{0,20}".prop_map(ManifestEdit::Format),
        (any::<Index>(), field, wrong.clone()).prop_map(|(i, f, v)| ManifestEdit::Field(i, f, v)),
        wrong.prop_map(ManifestEdit::Entries),
        (100..5000usize).prop_map(ManifestEdit::DeepBackup),
    ]
}

fn edit(manifest: &mut Value, edit: &ManifestEdit) {
    let entries = manifest["entries"].as_array_mut().expect("entries");
    let n = entries.len();
    let at = |i: &Index| i.index(n);
    match edit {
        ManifestEdit::Size(i, v) => entries[at(i)]["size"] = json!(v),
        ManifestEdit::Offset(i, v) => entries[at(i)]["offset"] = json!(v),
        ManifestEdit::CompressedSize(i, v) => entries[at(i)]["compressed_size"] = json!(v),
        ManifestEdit::Path(i, p) => entries[at(i)]["path"] = json!(p),
        ManifestEdit::SamePath(i, j) => entries[at(i)]["path"] = entries[at(j)]["path"].clone(),
        ManifestEdit::Sha(i, s) => entries[at(i)]["sha256"] = json!(s),
        ManifestEdit::Swap(i, j) => entries.swap(at(i), at(j)),
        ManifestEdit::RemoveEntry(i) => {
            entries.remove(at(i));
        }
        ManifestEdit::DuplicateEntry(i) => {
            let copy = entries[at(i)].clone();
            entries.insert(at(i), copy);
        }
        ManifestEdit::FormatVersion(v) => manifest["format_version"] = json!(v),
        ManifestEdit::Format(f) => manifest["format"] = json!(f),
        ManifestEdit::Field(i, field, value) => {
            let entry = entries[at(i)]
                .as_object_mut()
                .expect("an entry is an object");
            if value.is_null() {
                entry.remove(*field);
            } else {
                entry.insert((*field).into(), value.clone());
            }
        }
        ManifestEdit::Entries(value) => manifest["entries"] = value.clone(),
        ManifestEdit::DeepBackup(depth) => manifest["backup"] = json!(deep_marker(*depth)),
    }
}

/// A valid archive's plain stream before its manifest frame, and its manifest as JSON: what a
/// forged archive starts from. For the encrypted case the same entries are written plain (the
/// forged stream is sealed afterwards).
fn forge_base(encrypted: bool) -> &'static (Vec<u8>, Value) {
    static BASES: OnceLock<[(Vec<u8>, Value); 2]> = OnceLock::new();
    let split = |archive: Vec<u8>| {
        let reader = ArchiveReader::open(Cursor::new(&archive[..]), &|_| None).unwrap();
        let body_len: u64 = reader
            .manifest()
            .entries
            .iter()
            .map(|e| e.compressed_size)
            .sum();
        let manifest = serde_json::to_value(reader.manifest()).unwrap();
        (archive[..body_len as usize].to_vec(), manifest)
    };
    &BASES.get_or_init(|| {
        let big = write(
            &sample_entries(true),
            WriterOptions::default(),
            json!({"org": {"id": "o1"}}),
        );
        [split(samples().0.clone()), split(big)]
    })[usize::from(encrypted)]
}

/// Stands for `backup` nested this deep; spliced in as text, since serde_json's `Value` cannot
/// be built that deep.
fn deep_marker(depth: usize) -> String {
    format!("@@deep {depth}@@")
}

fn forge_with(body: &[u8], manifest: &Value, encrypted: bool) -> Vec<u8> {
    let mut json = serde_json::to_string(manifest).unwrap();
    if let Some(depth) = manifest["backup"]
        .as_str()
        .and_then(|s| s.strip_prefix("@@deep "))
        .and_then(|s| s.strip_suffix("@@"))
        .and_then(|s| s.parse::<usize>().ok())
    {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        json = json.replace(&format!("\"{}\"", deep_marker(depth)), &nested);
    }
    let plain = forge::plain(body, json.as_bytes());
    if encrypted {
        forge::sealed(&plain, &setup())
    } else {
        plain
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_forged_manifest_is_refused_or_describes_the_archive_exactly(
        edits in prop::collection::vec(manifest_edit(), 1..4),
        encrypted in any::<bool>(),
    ) {
        let (body, manifest) = forge_base(encrypted);
        let mut manifest = manifest.clone();
        for e in &edits {
            if manifest["entries"].as_array().is_some_and(|a| !a.is_empty()) {
                edit(&mut manifest, e);
            }
        }
        // Refused, or (only when the edits left the archive's layout and content as they
        // were) read back fully verified: `read_untrusted` checks every promise either way.
        let _ = read_untrusted(&forge_with(body, &manifest, encrypted));
    }

    #[test]
    fn forged_members_whose_headers_lie_are_refused(
        members in prop::collection::vec(
            (
                prop_oneof![valid_path(), hostile_path()],
                prop::option::of(interesting_u64()),
                prop::collection::vec(any::<u8>(), 0..700),
                prop::bool::weighted(0.8),
            ),
            1..4,
        ),
    ) {
        // Each member is listed in the manifest exactly as its frame lies out in the stream;
        // its header may name another path or size than the manifest (`honest` = same).
        let mut body = Vec::new();
        let mut entries = Vec::new();
        let members: Vec<_> = members
            .into_iter()
            .map(|(path, declared, content, honest)| {
                (path, declared.unwrap_or(content.len() as u64), content, honest)
            })
            .collect();
        for (path, declared, content, honest) in &members {
            let (name, size) = if *honest { (path.as_str(), content.len() as u64) } else { ("files/other", *declared) };
            let frame = forge::member(name, size, content);
            entries.push(json!({
                "path": path, "size": declared, "sha256": hex::encode(Sha256::digest(content)),
                "offset": body.len(), "compressed_size": frame.len(),
            }));
            body.extend_from_slice(&frame);
        }
        let manifest = json!({
            "format": "orgbackup-archive", "format_version": 1,
            "created_at": "2026-01-01T00:00:00Z", "entries": entries, "backup": {},
        });
        let archive = forge::plain(&body, &serde_json::to_vec(&manifest).unwrap());
        let all_honest = members.iter().all(|(path, declared, content, honest)| {
            *honest && *declared == content.len() as u64 && validate_path(path).is_ok()
                && path != MANIFEST_PATH
        });
        let unique = {
            let mut seen = std::collections::HashSet::new();
            members.iter().all(|(path, ..)| seen.insert(path))
        };
        match read_untrusted(&archive) {
            Ok(read) => {
                prop_assert!(all_honest && unique, "a lying archive verified");
                for ((_, _, content, _), (_, got)) in members.iter().zip(&read) {
                    prop_assert_eq!(content, got);
                }
            }
            Err(error) => prop_assert!(!(all_honest && unique), "an honest archive was refused: {error}"),
        }
    }

    #[test]
    fn arbitrary_bytes_as_the_manifest_are_refused_without_panicking(
        json in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            "[\\[\\]{}\":,0-9a-z \\\\]{0,512}".prop_map(String::into_bytes),
        ],
    ) {
        let archive = forge::plain(&[], &json);
        let outcome = read_untrusted(&archive);
        let parsed = ArchiveManifest::parse(&json, 0);
        // The reader takes in a manifest only through `ArchiveManifest::parse`.
        prop_assert_eq!(outcome.is_ok(), parsed.is_ok());
        if let Ok(manifest) = parsed {
            prop_assert!(manifest.entries.is_empty(), "entries must tile an empty body");
        }
    }

    #[test]
    fn an_accepted_path_never_leaves_the_directory_it_is_joined_onto(path in hostile_path()) {
        if validate_path(&path).is_ok() {
            assert_stays_inside(&path);
        }
    }
}

// ---- round trip ------------------------------------------------------------------------------

fn valid_path() -> impl Strategy<Value = String> {
    let component = "[a-zA-Z0-9 _.~-]{1,24}".prop_filter("not . or ..", |c| c != "." && c != "..");
    prop_oneof![
        prop::collection::vec(component.clone(), 1..5).prop_map(|parts| parts.join("/")),
        // Longer than tar's 100-byte name field: GNU long names.
        (prop::collection::vec(component, 1..3), 100..300usize).prop_map(|(parts, n)| format!(
            "{}/{}",
            "l".repeat(n),
            parts.join("/")
        )),
    ]
    .prop_filter("reserved", |p| p != MANIFEST_PATH)
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        (any::<u8>(), 0..20_000usize).prop_map(|(b, n)| vec![b; n]),
        Just(Vec::new()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn what_the_writer_writes_reads_back_identical(
        entries in prop::collection::btree_map(valid_path(), content(), 0..6),
        level in 1..10i32,
        encrypted in any::<bool>(),
        rows in any::<u64>(),
    ) {
        let entries: Vec<(String, Vec<u8>)> = entries.into_iter().collect();
        let backup = json!({"rows": rows, "org": {"id": "o1"}});
        let archive = write(
            &entries,
            WriterOptions {
                compression_level: level,
                encryption: encrypted.then(setup),
            },
            backup.clone(),
        );
        let read = read_untrusted(&archive).expect("a written archive verifies");
        prop_assert_eq!(read.len(), entries.len());
        for ((path, data), (record, got)) in entries.iter().zip(&read) {
            prop_assert_eq!(path, &record.path);
            prop_assert_eq!(data, got);
        }
        let reader = ArchiveReader::open(Cursor::new(&archive[..]), &|_| Some(key().clone())).unwrap();
        prop_assert_eq!(&reader.manifest().backup, &backup);
    }
}

// ---- regressions found by the properties above -----------------------------------------------

/// A data entry named `manifest.json` had its size and checksum skipped by `verify` (it was
/// told apart from the manifest by name), so a verified archive could hold content that did not
/// match its record.
#[test]
fn a_data_entry_named_like_the_manifest_is_refused() {
    let content = b"not what the manifest says";
    let frame = forge::member(MANIFEST_PATH, content.len() as u64, content);
    let manifest = json!({
        "format": "orgbackup-archive", "format_version": 1, "created_at": "2026-01-01T00:00:00Z",
        "entries": [{"path": MANIFEST_PATH, "size": 3, "sha256": "00",
                     "offset": 0, "compressed_size": frame.len()}],
        "backup": {},
    });
    let archive = forge::plain(&frame, &serde_json::to_vec(&manifest).unwrap());
    let error = read_untrusted(&archive).unwrap_err();
    assert!(
        matches!(&error, Error::ManifestCorrupt { detail } if detail.contains("reserved")),
        "{error}"
    );
}

/// Two entries with one path: readers by name saw the first, `tar -x` keeps the last.
#[test]
fn a_path_listed_twice_is_refused() {
    let (first, second) = (b"first".as_slice(), b"second".as_slice());
    let mut body = forge::member("files/a.png", first.len() as u64, first);
    let second_at = body.len();
    body.extend(forge::member("files/a.png", second.len() as u64, second));
    let record = |content: &[u8], offset: usize, len: usize| {
        json!({"path": "files/a.png", "size": content.len(),
               "sha256": hex::encode(Sha256::digest(content)), "offset": offset, "compressed_size": len})
    };
    let manifest = json!({
        "format": "orgbackup-archive", "format_version": 1, "created_at": "2026-01-01T00:00:00Z",
        "entries": [record(first, 0, second_at), record(second, second_at, body.len() - second_at)],
        "backup": {},
    });
    let archive = forge::plain(&body, &serde_json::to_vec(&manifest).unwrap());
    let error = read_untrusted(&archive).unwrap_err();
    assert!(
        matches!(&error, Error::ManifestCorrupt { detail } if detail.contains("listed twice")),
        "{error}"
    );
}

/// A manifest header declaring 256 MiB made the reader reserve 256 MiB before reading a byte,
/// for a file of a few hundred bytes.
#[test]
fn a_manifest_header_declaring_a_huge_size_allocates_only_what_arrives() {
    let json = br#"{"format":"orgbackup-archive"}"#;
    let frame = forge::member(MANIFEST_PATH, 256 << 20, json);
    let archive = forge::plain_with_manifest_frame(&[], &frame);
    let (outcome, peak) = alloc_meter::peak_during(|| {
        ArchiveReader::open(Cursor::new(&archive[..]), &|_| None).map(|_| ())
    });
    assert!(
        matches!(&outcome, Err(Error::ManifestCorrupt { .. })),
        "{outcome:?}"
    );
    assert!(
        peak < 4 << 20,
        "opening {} bytes allocated {peak} bytes",
        archive.len()
    );
}
