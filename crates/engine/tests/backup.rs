mod support;

use orgbackup_archive::{ArchiveReader, EncryptionSetup, KeyEncryptionKey};
use orgbackup_engine::{BackupMetadata, BackupRequest, NoProgress, run_backup};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::sync::Arc;
use support::{ALPHA, BETA, TRICKY_SCHEMA, TestDb, tricky_config};

/// Backs up `org` and returns the metadata and, per table, the sorted COPY lines in the archive.
async fn backup(
    db: &TestDb,
    org: &str,
    categories: &[&str],
) -> (BackupMetadata, BTreeMap<String, Vec<String>>) {
    let mut request = BackupRequest::new("b1", org);
    request.categories = categories.iter().map(|c| c.to_string()).collect();
    request.chunk_size = 64; // many chunks even for tiny tables
    let outcome = run_backup(
        &db.pool,
        &tricky_config(),
        &request,
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    let bytes = outcome.output;
    assert_eq!(outcome.summary.size, bytes.len() as u64);
    read_tables(bytes, None)
}

fn read_tables(
    bytes: Vec<u8>,
    key: Option<KeyEncryptionKey>,
) -> (BackupMetadata, BTreeMap<String, Vec<String>>) {
    let mut reader = ArchiveReader::open(Cursor::new(bytes), &|_| key.clone()).unwrap();
    let metadata: BackupMetadata =
        serde_json::from_value(reader.manifest().backup.clone()).unwrap();
    let mut tables = BTreeMap::new();
    for table in &metadata.tables {
        let mut lines = Vec::new();
        for chunk in &table.chunks {
            let mut text = String::new();
            reader
                .open_entry(chunk)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
        assert_eq!(lines.len() as u64, table.row_count, "{}", table.table.name);
        lines.sort();
        tables.insert(table.table.name.name.clone(), lines);
    }
    (metadata, tables)
}

#[tokio::test]
async fn a_backup_of_one_org_holds_exactly_its_rows() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let (metadata, tables) = backup(&db, ALPHA, &[]).await;
    assert_eq!(metadata.org.name, "Alpha");
    assert!(metadata.whole);

    let db = &db;
    let expect = |sql: String| async move { db.copy_lines(&sql).await };
    let a = format!("'{ALPHA}'::uuid");
    assert_eq!(tables["projects"], expect(format!("SELECT project_id, org_id, owner_id, country, title FROM app.projects WHERE org_id = {a}")).await);
    assert_eq!(tables["tasks"], expect(format!("SELECT t.* FROM app.tasks t JOIN app.projects p USING (project_id) WHERE p.org_id = {a}")).await);
    assert_eq!(tables["task_notes"], expect(format!("SELECT n.* FROM app.task_notes n JOIN app.tasks t USING (task_id) JOIN app.projects p USING (project_id) WHERE p.org_id = {a}")).await);
    assert_eq!(
        tables["events"],
        expect(format!("SELECT * FROM app.events WHERE org_id = {a}")).await
    );
    assert_eq!(
        tables["billing"],
        expect(format!("SELECT * FROM app.billing WHERE tenant = {a}")).await
    );
    assert_eq!(
        tables["Project \"Labels\""],
        expect(format!(
            "SELECT * FROM app.\"Project \"\"Labels\"\"\" WHERE org_id = {a}"
        ))
        .await
    );
    assert_eq!(tables["teams"].len(), 1);
    assert_eq!(tables["members"].len(), 1);
    // the orphan attachment (no task) belongs to no org and is in nobody's backup
    assert_eq!(tables["attachments"].len(), 1);
    assert!(tables["attachments"][0].ends_with("a.png"));

    // nothing of Beta anywhere
    let everything: String = tables
        .values()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    for beta_marker in [BETA, "beta one", "note b", "B team", "bob", "blue", "b.png"] {
        assert!(
            !everything.contains(beta_marker),
            "found {beta_marker:?} of Beta in Alpha's backup"
        );
    }
    // escapes survive: a tab and a newline inside values stay one row each
    assert!(tables["tasks"].iter().any(|l| l.contains("a2\\nmultiline")));
    // generated columns are not stored; global tables are not backed up
    assert!(
        !tables.contains_key("users")
            && !tables.contains_key("countries")
            && !tables.contains_key("orgs")
    );
    assert!(
        !metadata
            .tables
            .iter()
            .find(|t| t.table.name.name == "projects")
            .unwrap()
            .data_columns
            .contains(&"title_upper".to_string())
    );
    assert_eq!(
        metadata.total_rows(),
        tables.values().map(|l| l.len() as u64).sum::<u64>()
    );
}

#[tokio::test]
async fn a_category_backup_holds_the_category_and_its_dependencies_only() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let (metadata, tables) = backup(&db, BETA, &["people"]).await;
    assert!(!metadata.whole);
    assert_eq!(metadata.categories, vec!["people".to_string()]);
    let names: Vec<&String> = tables.keys().collect();
    assert_eq!(names, vec!["members", "teams"]);
    assert!(tables["members"][0].contains("bob"));
}

#[tokio::test]
async fn the_backup_reads_one_consistent_snapshot() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    // Rows committed by someone else while the backup runs must not appear in it.
    struct InsertDuringBackup {
        url: String,
        done: std::sync::atomic::AtomicBool,
    }
    impl orgbackup_engine::Progress for InsertDuringBackup {
        fn backup(&self, progress: &orgbackup_engine::BackupProgress) {
            if progress.tables_done == 1
                && !self.done.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                let sql = format!(
                    "INSERT INTO app.events (org_id, at, kind) VALUES ('{ALPHA}', '2026-01-09', 'late'); INSERT INTO app.billing VALUES (9, '{ALPHA}', 'late')"
                );
                let status = std::process::Command::new("psql")
                    .args([&self.url, "-qc", &sql])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        }
    }
    let progress = Arc::new(InsertDuringBackup {
        url: db.url.clone(),
        done: false.into(),
    });
    let request = BackupRequest::new("b2", ALPHA);
    let outcome = run_backup(
        &db.pool,
        &tricky_config(),
        &request,
        Vec::new(),
        progress.clone(),
    )
    .await
    .unwrap();
    assert!(progress.done.load(std::sync::atomic::Ordering::SeqCst));
    let (_, tables) = read_tables(outcome.output, None);
    let all: Vec<&String> = tables.values().flatten().collect();
    assert!(
        !all.iter().any(|l| l.contains("late")),
        "a row committed during the backup leaked into it"
    );
    assert_eq!(
        db.copy_lines("SELECT * FROM app.billing WHERE plan = 'late'")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn an_encrypted_backup_opens_only_with_its_key() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let key = KeyEncryptionKey::generate();
    let mut request = BackupRequest::new("b3", ALPHA);
    request.encryption = Some(EncryptionSetup {
        key_id: "master:test".into(),
        key: key.clone(),
    });
    let outcome = run_backup(
        &db.pool,
        &tricky_config(),
        &request,
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert!(outcome.summary.encrypted);
    let bytes = outcome.output;
    assert!(
        !bytes.windows(9).any(|w| w == b"alpha one"),
        "plaintext visible in an encrypted backup"
    );
    let (metadata, tables) = read_tables(bytes.clone(), Some(key));
    assert_eq!(metadata.org.name, "Alpha");
    assert_eq!(tables["projects"].len(), 2);

    let wrong = KeyEncryptionKey::generate();
    let error = ArchiveReader::open(Cursor::new(bytes), &|_| Some(wrong.clone()))
        .err()
        .unwrap();
    assert!(
        matches!(error, orgbackup_archive::Error::WrongKey { .. }),
        "{error}"
    );
}

async fn backup_error(db: &TestDb, request: &BackupRequest) -> orgbackup_engine::Error {
    run_backup(
        &db.pool,
        &tricky_config(),
        request,
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .err()
    .expect("the backup should fail")
}

#[tokio::test]
async fn an_unknown_org_is_refused_with_a_clear_error() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let request = BackupRequest::new("b4", "00000000-0000-0000-0000-0000000000ff");
    let error = backup_error(&db, &request).await;
    assert!(error.to_string().contains("does not exist"), "{error}");
}

#[tokio::test]
async fn a_backup_over_the_size_limit_fails() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let mut request = BackupRequest::new("b5", ALPHA);
    request.max_archive_bytes = Some(10);
    let error = backup_error(&db, &request).await;
    assert!(
        matches!(error, orgbackup_engine::Error::SizeLimitExceeded { .. }),
        "{error}"
    );
    // A backup that fails in the middle of a large COPY closes its connection instead of returning
    // it to the pool half read; with a one-connection pool, later backups must still work. (The
    // poisoned-connection failure this guards against showed up in tests/api.rs plan_limits, about
    // one run in four, before the fix; this test exercises the path, it did not reproduce it.)
    db.execute("INSERT INTO app.task_notes (task_id, body) SELECT 1, repeat('x', 300) FROM generate_series(1, 20000)")
        .await;
    request.chunk_size = 4096;
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    for _ in 0..3 {
        let failed = run_backup(
            &one,
            &tricky_config(),
            &request,
            Vec::new(),
            Arc::new(NoProgress),
        )
        .await;
        assert!(failed.is_err());
        let fine = BackupRequest::new("b6", ALPHA);
        run_backup(
            &one,
            &tricky_config(),
            &fine,
            Vec::new(),
            Arc::new(NoProgress),
        )
        .await
        .expect("the pool still works after a failed backup");
    }
}
