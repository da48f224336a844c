//! Issue 13: org keys of any type. The org filter compares in the org column's own type, so a
//! database whose orgs are keyed by bigint or text backs up and restores exactly like a uuid one.
//! The oracle is plain SQL per table (rows and an order-independent hash).

mod support;

use orgbackup_archive::ArchiveReader;
use orgbackup_engine::restore::apply;
use orgbackup_engine::{
    BackupRequest, NoProgress, RestoreMode, RestoreRequest, TenancyConfig, run_backup,
};
use std::io::Cursor;
use std::sync::Arc;
use support::TestDb;

fn schema(key_type: &str) -> String {
    format!(
        r#"CREATE SCHEMA k;
        CREATE TABLE k.orgs (id {key_type} PRIMARY KEY, name text NOT NULL);
        CREATE TABLE k.projects (project_id int PRIMARY KEY, org_id {key_type} NOT NULL REFERENCES k.orgs, title text NOT NULL);
        CREATE TABLE k.tasks (task_id int PRIMARY KEY, project_id int NOT NULL REFERENCES k.projects, label text);
        INSERT INTO k.orgs VALUES ('42', 'Forty-two'), ('7', 'Seven'), ('420', 'Four-twenty');
        INSERT INTO k.projects VALUES (1, '42', 'p1 of 42'), (2, '42', 'p2 of 42'), (3, '7', 'p of 7'), (4, '420', 'p of 420');
        INSERT INTO k.tasks VALUES (1, 1, 't of 42'), (2, 2, 't2 of 42'), (3, 3, 't of 7'), (4, 4, 't of 420');"#
    )
}

fn config() -> TenancyConfig {
    TenancyConfig {
        schemas: vec!["k".into()],
        org_table: "k.orgs".into(),
        org_table_key: "id".into(),
        file_references: vec![],
        categories: Default::default(),
        ..Default::default()
    }
}

/// Count and md5 of every row of each table (all orgs).
async fn state(db: &TestDb) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for table in ["k.projects", "k.tasks"] {
        let row: (i64, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t"
        )))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        out.push((row.0, row.1.unwrap_or_default()));
    }
    out
}

async fn round_trip(key_type: &str) {
    let db = TestDb::new().await;
    db.execute(&schema(key_type)).await;
    let outcome = run_backup(
        &db.pool,
        &config(),
        &BackupRequest::new("b", "42"),
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap_or_else(|e| panic!("{key_type}: {e}"));
    let reader = ArchiveReader::open(Cursor::new(outcome.output.clone()), &|_| None).unwrap();
    let metadata: orgbackup_engine::BackupMetadata =
        serde_json::from_value(reader.manifest().backup.clone()).unwrap();
    let rows: Vec<(String, u64)> = metadata
        .tables
        .iter()
        .map(|t| (t.table.name.to_string(), t.row_count))
        .collect();
    assert_eq!(
        rows,
        [("k.projects".to_string(), 2), ("k.tasks".to_string(), 2)],
        "{key_type}: org 42's rows only (not 420's, not 7's)"
    );

    let before = state(&db).await;
    db.execute("DELETE FROM k.tasks WHERE task_id = 2; UPDATE k.projects SET title = 'changed' WHERE project_id = 1; UPDATE k.projects SET title = 'seven changed' WHERE project_id = 3;").await;
    let mut reader = ArchiveReader::open(Cursor::new(outcome.output), &|_| None).unwrap();
    let request = RestoreRequest {
        mode: RestoreMode::Full,
        confirm_full: true,
        ..Default::default()
    };
    apply::<_, Vec<u8>>(
        &db.pool,
        &config(),
        &mut reader,
        &request,
        None,
        Arc::new(NoProgress),
    )
    .await
    .unwrap_or_else(|e| panic!("{key_type}: {e}"));
    db.execute("UPDATE k.projects SET title = 'p of 7' WHERE project_id = 3;")
        .await;
    assert_eq!(
        state(&db).await,
        before,
        "{key_type}: org 42 is back, 7 as it was"
    );
}

#[tokio::test]
async fn orgs_keyed_by_bigint_back_up_and_restore_exactly() {
    round_trip("bigint").await;
}

#[tokio::test]
async fn orgs_keyed_by_text_back_up_and_restore_exactly() {
    round_trip("text").await;
}
