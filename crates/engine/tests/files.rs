//! Files referenced by rows, against real PostgreSQL and a real files tree: a backup reads only
//! the org's own files and reports what it skipped; a restore writes only the files of the rows it
//! restores, inside the org's own files, never through a symlink, and only once every file is
//! verified (a damaged entry changes nothing).

mod support;

use orgbackup_archive::{ArchiveReader, ArchiveWriter, WriterOptions};
use orgbackup_engine::restore::apply;
use orgbackup_engine::{
    BackupMetadata, BackupRequest, FileRecord, FileReference, NoProgress, QualifiedName,
    RestoreMode, RestorePlan, RestoreRequest, TenancyConfig, run_backup,
};
use std::io::{Cursor, Read};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use support::{ALPHA, BETA, TestDb};

const SCHEMA: &str = r#"
CREATE SCHEMA app;
CREATE TABLE app.orgs (org_id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.media (media_id int PRIMARY KEY, org_id uuid NOT NULL REFERENCES app.orgs, path text);
INSERT INTO app.orgs VALUES ('00000000-0000-0000-0000-00000000000a', 'Alpha'), ('00000000-0000-0000-0000-00000000000b', 'Beta');
"#;

fn config() -> TenancyConfig {
    TenancyConfig {
        schemas: vec!["app".into()],
        org_table: "app.orgs".into(),
        file_references: vec![FileReference {
            table: "app.media".into(),
            column: "path".into(),
        }],
        files_prefix: "{org_id}/".into(),
        ..Default::default()
    }
}

fn media() -> QualifiedName {
    QualifiedName::new("app", "media")
}

/// Inserts Alpha's media rows with these paths (ids from 1).
async fn alpha_rows(db: &TestDb, paths: &[&str]) {
    for (i, path) in paths.iter().enumerate() {
        sqlx::query("INSERT INTO app.media VALUES ($1, $2::uuid, $3)")
            .bind(i as i32 + 1)
            .bind(ALPHA)
            .bind(path)
            .execute(&db.pool)
            .await
            .unwrap();
    }
}

fn write(root: &Path, path: &str, content: &[u8]) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
}

async fn backup(db: &TestDb, root: &Path) -> (Vec<u8>, BackupMetadata) {
    let mut request = BackupRequest::new("files", ALPHA);
    request.files_root = Some(root.to_path_buf());
    let outcome = run_backup(
        &db.pool,
        &config(),
        &request,
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .expect("hostile paths are skipped, not fatal");
    (outcome.output, outcome.metadata)
}

async fn restore(
    db: &TestDb,
    bytes: &[u8],
    root: &Path,
) -> Result<RestorePlan, orgbackup_engine::Error> {
    let request = RestoreRequest {
        files_root: Some(root.to_path_buf()),
        mode: RestoreMode::Full,
        confirm_full: true,
        ..Default::default()
    };
    let mut reader = ArchiveReader::open(Cursor::new(bytes.to_vec()), &|_| None).unwrap();
    apply::<_, Vec<u8>>(
        &db.pool,
        &config(),
        &mut reader,
        &request,
        None,
        Arc::new(NoProgress),
    )
    .await
    .map(|o| {
        assert!(o.committed);
        o.plan
    })
}

fn reason<'a>(skipped: &'a [orgbackup_engine::SkippedFile], path: &str) -> &'a str {
    skipped
        .iter()
        .find(|s| s.path == path)
        .unwrap_or_else(|| panic!("{path} should be reported as skipped: {skipped:#?}"))
        .reason
        .as_str()
}

/// Everything under `dir`, as sorted relative paths (links not followed).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn a_backup_skips_hostile_paths_with_their_reason_and_round_trips_a_backslash_name() {
    let db = TestDb::new().await;
    db.execute(SCHEMA).await;
    let files = tempfile::tempdir().unwrap();
    let root = files.path().join("root");
    let outside = files.path().join("outside");
    write(&outside, "secret.txt", b"outside the root");
    write(&root, &format!("{ALPHA}/ok.png"), b"alpha ok");
    let backslash = format!(r"{ALPHA}/a\b.png");
    write(&root, &backslash, b"alpha backslash");
    write(&root, &format!("{BETA}/secret.png"), b"beta's own file");
    std::fs::create_dir_all(root.join(ALPHA)).unwrap();
    symlink(
        outside.join("secret.txt"),
        root.join(format!("{ALPHA}/filelink.png")),
    )
    .unwrap();
    symlink(&outside, root.join(format!("{ALPHA}/dirlink"))).unwrap();
    let hostile = [
        "../outside/secret.txt".to_string(),
        "/etc/passwd".to_string(),
        format!("{ALPHA}/filelink.png"),
        format!("{ALPHA}/dirlink/secret.txt"),
        // A row of Alpha pointing at Beta's file (a merged or forged row).
        format!("{BETA}/secret.png"),
    ];
    let mut paths: Vec<&str> = hostile.iter().map(String::as_str).collect();
    let ok = format!("{ALPHA}/ok.png");
    let missing = format!("{ALPHA}/missing.png");
    paths.extend([ok.as_str(), backslash.as_str(), missing.as_str()]);
    alpha_rows(&db, &paths).await;

    let (bytes, metadata) = backup(&db, &root).await;

    let mut backed_up: Vec<&str> = metadata.files.iter().map(|f| f.path.as_str()).collect();
    backed_up.sort();
    assert_eq!(backed_up, [backslash.as_str(), ok.as_str()]);
    assert_eq!(metadata.missing_files, vec![missing]);
    assert_eq!(metadata.skipped_files.len(), hostile.len(), "{metadata:#?}");
    assert!(reason(&metadata.skipped_files, "../outside/secret.txt").contains("`..`"));
    assert!(reason(&metadata.skipped_files, "/etc/passwd").contains("absolute"));
    assert!(reason(&metadata.skipped_files, &hostile[2]).contains("symbolic link"));
    assert!(reason(&metadata.skipped_files, &hostile[3]).contains("symbolic link"));
    assert!(reason(&metadata.skipped_files, &hostile[4]).contains("organization's own files"));
    assert!(metadata.skipped_files.iter().all(|s| s.table == media()));
    // No entry holds anything but Alpha's two files.
    let mut reader = ArchiveReader::open(Cursor::new(bytes.clone()), &|_| None).unwrap();
    for entry in reader.manifest().entries.clone() {
        let mut content = Vec::new();
        reader
            .open_entry(&entry.path)
            .unwrap()
            .read_to_end(&mut content)
            .unwrap();
        for foreign in [&b"outside the root"[..], b"beta's own file", b"root:"] {
            assert!(
                !content.windows(foreign.len()).any(|w| w == foreign),
                "{} holds a file the backup must not read",
                entry.path
            );
        }
    }
    // The manifest says the same (what `inspect` shows).
    let stored: BackupMetadata = serde_json::from_value(reader.manifest().backup.clone()).unwrap();
    assert_eq!(stored.skipped_files, metadata.skipped_files);

    // The backslash name restores to the very same name.
    std::fs::remove_file(root.join(&backslash)).unwrap();
    std::fs::remove_file(root.join(&ok)).unwrap();
    let plan = restore(&db, &bytes, &root).await.unwrap();
    assert_eq!(
        std::fs::read(root.join(&backslash)).unwrap(),
        b"alpha backslash"
    );
    assert_eq!(std::fs::read(root.join(&ok)).unwrap(), b"alpha ok");
    assert!(plan.warnings.is_empty(), "{plan:#?}");
    assert_eq!(
        std::fs::read(outside.join("secret.txt")).unwrap(),
        b"outside the root"
    );
}

/// Copies an archive with `rows` appended to the media table's data and `files` added as entries
/// and `files[]` records, checksums recomputed: what a hostile uploader can make.
fn forge(bytes: &[u8], rows: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut original = ArchiveReader::open(Cursor::new(bytes.to_vec()), &|_| None).unwrap();
    let manifest = original.manifest().clone();
    let mut metadata: BackupMetadata = serde_json::from_value(manifest.backup.clone()).unwrap();
    let media_chunk = metadata
        .tables
        .iter()
        .find(|t| t.table.name == media())
        .unwrap()
        .chunks[0]
        .clone();
    let mut writer = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
    for entry in &manifest.entries {
        let mut data = Vec::new();
        original
            .open_entry(&entry.path)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        if entry.path == media_chunk {
            data.extend_from_slice(rows.as_bytes());
        }
        writer
            .add_entry(&entry.path, data.len() as u64, &mut &data[..])
            .unwrap();
    }
    for (i, (path, content)) in files.iter().enumerate() {
        let entry = format!("files/forged/{i}");
        let record = writer
            .add_entry(&entry, content.len() as u64, &mut &content[..])
            .unwrap();
        metadata.files.push(FileRecord {
            path: path.to_string(),
            entry,
            size: record.size,
            sha256: record.sha256,
            table: media(),
        });
    }
    for table in &mut metadata.tables {
        if table.table.name == media() {
            table.row_count += rows.lines().count() as u64;
        }
    }
    writer
        .finish(serde_json::to_value(&metadata).unwrap())
        .unwrap()
        .0
}

#[tokio::test]
async fn a_restore_writes_only_the_files_of_its_rows_inside_the_orgs_own_files() {
    let db = TestDb::new().await;
    db.execute(SCHEMA).await;
    let files = tempfile::tempdir().unwrap();
    let root = files.path().join("root");
    let ok = format!("{ALPHA}/ok.png");
    write(&root, &ok, b"alpha ok");
    write(&root, &format!("{BETA}/victim.png"), b"beta's own file");
    alpha_rows(&db, &[&ok]).await;
    let (bytes, _) = backup(&db, &root).await;

    // Rows of Alpha referencing another org's file, a path out of the root and an absolute one;
    // and a file no row references.
    let victim = format!("{BETA}/victim.png");
    let escape = "../escaped.png".to_string();
    let absolute = files.path().join("absolute.png").display().to_string();
    let unreferenced = format!("{ALPHA}/unreferenced.png");
    let rows: String = [&victim, &escape, &absolute]
        .iter()
        .enumerate()
        .map(|(i, path)| format!("{}\t{ALPHA}\t{path}\n", 100 + i))
        .collect();
    let forged = forge(
        &bytes,
        &rows,
        &[
            (&victim, b"overwritten!"),
            (&escape, b"escaped!"),
            (&absolute, b"absolute!"),
            (&unreferenced, b"planted!"),
        ],
    );
    std::fs::remove_file(root.join(&ok)).unwrap();
    let before = tree(files.path());

    // A dry run checks the files as well, and leaves nothing behind.
    let dry = RestoreRequest {
        files_root: Some(root.clone()),
        dry_run: true,
        ..Default::default()
    };
    let mut reader = ArchiveReader::open(Cursor::new(forged.clone()), &|_| None).unwrap();
    let dry_plan = apply::<_, Vec<u8>>(
        &db.pool,
        &config(),
        &mut reader,
        &dry,
        None,
        Arc::new(NoProgress),
    )
    .await
    .unwrap()
    .plan;
    assert_eq!(dry_plan.skipped_files.len(), 4, "{dry_plan:#?}");
    assert_eq!(tree(files.path()), before, "a dry run wrote files");

    let plan = restore(&db, &forged, &root).await.unwrap();

    assert_eq!(std::fs::read(root.join(&ok)).unwrap(), b"alpha ok");
    assert_eq!(
        std::fs::read(root.join(&victim)).unwrap(),
        b"beta's own file",
        "another org's file was overwritten"
    );
    let mut expected = before;
    expected.push(format!("root/{ok}"));
    expected.sort();
    assert_eq!(tree(files.path()), expected, "only Alpha's own file is new");
    assert!(reason(&plan.skipped_files, &victim).contains("organization's own files"));
    assert!(reason(&plan.skipped_files, &escape).contains("`..`"));
    assert!(reason(&plan.skipped_files, &absolute).contains("absolute"));
    assert!(reason(&plan.skipped_files, &unreferenced).contains("no row of app.media"));
    assert_eq!(plan.skipped_files.len(), 4, "{plan:#?}");
    // The rows themselves are data: restored as they are.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM app.media")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 4);
}

#[tokio::test]
async fn a_restore_never_writes_through_a_symlink_in_the_files_tree() {
    let db = TestDb::new().await;
    db.execute(SCHEMA).await;
    let files = tempfile::tempdir().unwrap();
    let root = files.path().join("root");
    let outside = files.path().join("outside");
    let in_dir = format!("{ALPHA}/album/photo.png");
    let as_file = format!("{ALPHA}/avatar.png");
    write(&root, &in_dir, b"photo");
    write(&root, &as_file, b"avatar");
    alpha_rows(&db, &[&in_dir, &as_file]).await;
    let (bytes, metadata) = backup(&db, &root).await;
    assert_eq!(metadata.files.len(), 2);

    // Someone with write access to the files tree swaps a directory and a file for links.
    write(&outside, "target.png", b"must stay");
    std::fs::remove_dir_all(root.join(format!("{ALPHA}/album"))).unwrap();
    symlink(&outside, root.join(format!("{ALPHA}/album"))).unwrap();
    std::fs::remove_file(root.join(&as_file)).unwrap();
    symlink(outside.join("target.png"), root.join(&as_file)).unwrap();

    let plan = restore(&db, &bytes, &root).await.unwrap();

    assert_eq!(
        tree(&outside),
        ["target.png"],
        "nothing written outside the root"
    );
    assert_eq!(
        std::fs::read(outside.join("target.png")).unwrap(),
        b"must stay"
    );
    assert!(reason(&plan.skipped_files, &in_dir).contains("symbolic link"));
    assert!(reason(&plan.skipped_files, &as_file).contains("symbolic link"));
    assert!(
        std::fs::symlink_metadata(root.join(&as_file))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[tokio::test]
async fn a_damaged_file_entry_fails_the_restore_before_any_row_is_committed() {
    let db = TestDb::new().await;
    db.execute(SCHEMA).await;
    let files = tempfile::tempdir().unwrap();
    let root = files.path().join("root");
    let first = format!("{ALPHA}/first.png");
    let second = format!("{ALPHA}/new/second.png");
    write(&root, &first, &noise(20_000, 1));
    write(&root, &second, &noise(20_000, 2));
    alpha_rows(&db, &[&first, &second]).await;
    let (mut bytes, metadata) = backup(&db, &root).await;
    assert_eq!(metadata.files.len(), 2);

    // Damage the file entry restored last, in the middle of its content (incompressible, so the
    // byte is the file's): the other one is already written to a temporary file by then.
    let reader = ArchiveReader::open(Cursor::new(bytes.clone()), &|_| None).unwrap();
    let record = metadata.files.last().unwrap();
    let entry = reader.manifest().entry(&record.entry).unwrap().clone();
    bytes[(entry.offset + entry.compressed_size / 2) as usize] ^= 0x55;

    // Since the backup: a row deleted, one changed, one added; the first file gone, the second
    // one's directory too.
    db.execute(&format!(
        "DELETE FROM app.media WHERE media_id = 1; UPDATE app.media SET path = 'changed' WHERE media_id = 2;
         INSERT INTO app.media VALUES (3, '{ALPHA}', 'added');"
    ))
    .await;
    std::fs::remove_file(root.join(&first)).unwrap();
    std::fs::remove_dir_all(root.join(format!("{ALPHA}/new"))).unwrap();
    let rows_before = db.copy_lines("SELECT * FROM app.media").await;
    let tree_before = tree(&root);

    let error = restore(&db, &bytes, &root).await.unwrap_err();

    assert!(error.to_string().contains(&entry.path), "{error}");
    assert_eq!(
        db.copy_lines("SELECT * FROM app.media").await,
        rows_before,
        "rows were committed although a file of the restore was damaged"
    );
    assert_eq!(
        tree(&root),
        tree_before,
        "temporary files or directories were left behind"
    );
}

/// Incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

#[tokio::test]
async fn a_file_that_cannot_be_moved_in_after_commit_is_a_warning_of_a_completed_restore() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new().await;
    db.execute(SCHEMA).await;
    let files = tempfile::tempdir().unwrap();
    let root = files.path().join("root");
    let kept = format!("{ALPHA}/kept.png");
    let lost = format!("{ALPHA}/lost.png");
    write(&root, &kept, b"kept");
    write(&root, &lost, b"lost");
    alpha_rows(&db, &[&kept, &lost]).await;
    let (bytes, _) = backup(&db, &root).await;
    db.execute("DELETE FROM app.media WHERE media_id = 2").await;
    std::fs::remove_file(root.join(&lost)).unwrap();
    let rows_before = db.copy_lines("SELECT * FROM app.media").await;

    // The disk fails the restore between COMMIT and the renames: a deferred trigger, run at
    // COMMIT by the server's own user, removes the temporary files the restore wrote. The
    // program reads its input first: a program that exits before COPY wrote to it fails the COPY
    // with a broken pipe, now and then.
    let dir = root.join(ALPHA);
    for open in [files.path(), root.as_path(), dir.as_path()] {
        std::fs::set_permissions(open, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    db.execute(&format!(
        "CREATE FUNCTION app.sabotage() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           COPY (SELECT 1) TO PROGRAM 'cat > /dev/null; rm -f {}/.orgbackup-restore-*';
           RETURN NULL;
         END $$;
         CREATE CONSTRAINT TRIGGER sabotage AFTER INSERT ON app.media DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW EXECUTE FUNCTION app.sabotage();
         ALTER TABLE app.media ENABLE ALWAYS TRIGGER sabotage;",
        dir.display()
    ))
    .await;

    let request = RestoreRequest {
        files_root: Some(root.clone()),
        mode: RestoreMode::Full,
        confirm_full: true,
        ..Default::default()
    };
    let mut reader = ArchiveReader::open(Cursor::new(bytes), &|_| None).unwrap();
    let outcome = apply(
        &db.pool,
        &config(),
        &mut reader,
        &request,
        Some(Vec::new()),
        Arc::new(NoProgress),
    )
    .await
    .expect("the rows are committed: the restore completes");

    assert!(outcome.committed);
    assert_eq!(outcome.files_written, 0);
    assert_eq!(outcome.plan.warnings.len(), 2, "{:#?}", outcome.plan);
    assert!(outcome.plan.warnings.iter().any(|w| w.contains(&lost)));
    assert_eq!(std::fs::read(root.join(&kept)).unwrap(), b"kept");
    assert!(!root.join(&lost).exists());
    let restored: i64 = sqlx::query_scalar("SELECT count(*) FROM app.media")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(restored, 2);

    // And it can be rolled back like any completed restore.
    db.execute("DROP TRIGGER sabotage ON app.media").await;
    let rollback = outcome.rollback.expect("a rollback archive").output;
    let exact = RestoreRequest {
        mode: RestoreMode::Exact,
        ..request
    };
    let mut reader = ArchiveReader::open(Cursor::new(rollback), &|_| None).unwrap();
    apply::<_, Vec<u8>>(
        &db.pool,
        &config(),
        &mut reader,
        &exact,
        None,
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert_eq!(db.copy_lines("SELECT * FROM app.media").await, rows_before);
}
