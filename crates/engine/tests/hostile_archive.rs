//! Archives are untrusted input: an uploaded manifest can say anything. These tests rewrite a real
//! backup's manifest the way an attacker would and check that nothing of it becomes SQL, and that
//! a restore whose org setting is switched under it writes nothing.
//!
//! The oracle is independent of the engine: a hash of every row of every table of the database
//! (all orgs), taken with plain SQL before and after.

mod support;

use orgbackup_archive::{ArchiveReader, ArchiveWriter, WriterOptions};
use orgbackup_engine::restore::apply;
use orgbackup_engine::{BackupRequest, NoProgress, RestoreRequest, run_backup};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::sync::Arc;
use support::{ALPHA, BETA, TRICKY_SCHEMA, TestDb, tricky_config};

/// Every table of schema `app` (partitions through their parent): row count and an
/// order-independent hash of its rows as text.
async fn database_state(db: &TestDb) -> BTreeMap<String, (i64, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'app' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut state = BTreeMap::new();
    for table in tables {
        let row: (i64, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM {table} t"
        )))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        state.insert(table, (row.0, row.1.unwrap_or_default()));
    }
    state
}

async fn backup_of(db: &TestDb, org: &str) -> Vec<u8> {
    run_backup(
        &db.pool,
        &tricky_config(),
        &BackupRequest::new("b", org),
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap()
    .output
}

/// The same archive, entries copied unchanged, with its backup metadata edited by `edit`:
/// exactly what an attacker can upload (the checksums are recomputed, so they all verify).
fn rewritten(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    rewritten_with(bytes, edit, |_, _| {})
}

/// Like [`rewritten`], and `edit_entry` may change any entry's content too.
fn rewritten_with(
    bytes: &[u8],
    edit: impl FnOnce(&mut serde_json::Value),
    edit_entry: impl Fn(&str, &mut Vec<u8>),
) -> Vec<u8> {
    let mut reader = ArchiveReader::open(Cursor::new(bytes.to_vec()), &|_| None).unwrap();
    let mut backup = reader.manifest().backup.clone();
    edit(&mut backup);
    let entries = reader.manifest().entries.clone();
    let mut writer = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
    for entry in entries {
        let mut content = Vec::new();
        reader
            .open_entry(&entry.path)
            .unwrap()
            .read_to_end(&mut content)
            .unwrap();
        edit_entry(&entry.path, &mut content);
        writer
            .add_entry(&entry.path, content.len() as u64, &mut content.as_slice())
            .unwrap();
    }
    writer.finish(backup).unwrap().0
}

/// Sets the archive's type of `table.column` to `data_type`.
fn set_column_type(backup: &mut serde_json::Value, table: &str, column: &str, data_type: &str) {
    let record = backup["tables"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"]["name"] == table)
        .unwrap_or_else(|| panic!("{table} in the backup"));
    let column = record["columns"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == column)
        .unwrap_or_else(|| panic!("{column} in {table}"));
    column["data_type"] = serde_json::Value::String(data_type.into());
}

async fn restore(db: &TestDb, bytes: &[u8]) -> Result<u64, orgbackup_engine::Error> {
    let mut reader = ArchiveReader::open(Cursor::new(bytes.to_vec()), &|_| None).unwrap();
    apply::<_, Vec<u8>>(
        &db.pool,
        &tricky_config(),
        &mut reader,
        &RestoreRequest::default(),
        None,
        Arc::new(NoProgress),
    )
    .await
    .map(|o| o.plan.total(|t| t.insert))
}

/// Alpha loses rows, so a merge restore of its backup has rows to insert.
const ALPHA_LOSES_ROWS: &str = r#"
DELETE FROM app.task_notes WHERE task_id = 2;
DELETE FROM app.tasks WHERE task_id = 2;
"#;

#[tokio::test]
async fn a_manifest_type_that_switches_the_org_setting_is_refused_and_writes_nothing() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let honest = backup_of(&db, ALPHA).await;
    db.execute(ALPHA_LOSES_ROWS).await;
    let before = database_state(&db).await;
    let hostile = rewritten(&honest, |backup| {
        set_column_type(
            backup,
            "tasks",
            "label",
            &format!("text CHECK (set_config('app.current_org_id', '{BETA}', false) IS NOT NULL)"),
        )
    });

    let error = restore(&db, &hostile).await.unwrap_err().to_string();

    assert!(
        error.contains("app.tasks.label") && error.contains("not a type of this database"),
        "{error}"
    );
    assert_eq!(
        database_state(&db).await,
        before,
        "no row of any org changed"
    );
}

#[tokio::test]
async fn a_manifest_type_that_reads_another_table_never_runs() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    db.execute("UPDATE app.billing SET plan = 'beta-secret-plan' WHERE billing_id = 2")
        .await;
    let honest = backup_of(&db, ALPHA).await;
    db.execute(ALPHA_LOSES_ROWS).await;
    let before = database_state(&db).await;
    let hostile = rewritten(&honest, |backup| {
        set_column_type(
            backup,
            "tasks",
            "label",
            "text CHECK (query_to_xml('SELECT * FROM app.billing', true, false, '')::text = 'x')",
        )
    });

    let error = restore(&db, &hostile).await.unwrap_err().to_string();

    assert!(!error.contains("beta-secret-plan"), "{error}");
    assert!(error.contains("not a type of this database"), "{error}");
    assert_eq!(database_state(&db).await, before);
}

#[tokio::test]
async fn a_type_spelled_differently_is_resolved_by_the_catalog_and_restores() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let honest = backup_of(&db, ALPHA).await;
    // A backup taken when tasks.label was varchar(40) (spelled as an alias the catalog knows).
    let older = rewritten(&honest, |backup| {
        set_column_type(backup, "tasks", "label", "varchar(40)")
    });
    db.execute(ALPHA_LOSES_ROWS).await;

    let inserted = restore(&db, &older).await.unwrap();

    assert_eq!(inserted, 2, "the lost task and its note come back");
    let label: String = sqlx::query_scalar("SELECT label FROM app.tasks WHERE task_id = 2")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(label, "a1 child");
}

#[tokio::test]
async fn an_unknown_type_is_refused_with_the_column_named() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let honest = backup_of(&db, ALPHA).await;
    db.execute(ALPHA_LOSES_ROWS).await;
    let before = database_state(&db).await;
    let hostile = rewritten(&honest, |backup| {
        set_column_type(backup, "tasks", "label", "no_such_type")
    });

    let error = restore(&db, &hostile).await.unwrap_err().to_string();

    assert!(
        error.contains("app.tasks.label") && error.contains("no_such_type"),
        "{error}"
    );
    assert_eq!(database_state(&db).await, before);
}

#[tokio::test]
async fn a_restore_whose_org_setting_is_switched_mid_way_fails_and_writes_nothing() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let backup = backup_of(&db, ALPHA).await;
    db.execute(ALPHA_LOSES_ROWS).await;
    // Something in the database (here a trigger that fires even when triggers are disabled for
    // replication) switches the org setting after the first write.
    db.execute(&format!(
        r#"CREATE FUNCTION app.switch_org() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN PERFORM set_config('app.current_org_id', '{BETA}', false); RETURN NULL; END $$;
           CREATE TRIGGER switch_org AFTER INSERT ON app.tasks FOR EACH STATEMENT EXECUTE FUNCTION app.switch_org();
           ALTER TABLE app.tasks ENABLE ALWAYS TRIGGER switch_org;"#
    ))
    .await;
    let before = database_state(&db).await;

    let error = restore(&db, &backup).await.unwrap_err().to_string();

    assert!(error.contains("changed during the restore"), "{error}");
    assert!(error.contains(ALPHA) && error.contains(BETA), "{error}");
    assert_eq!(
        database_state(&db).await,
        before,
        "no row of any org changed"
    );
}

#[tokio::test]
async fn an_archive_row_that_would_belong_to_no_org_is_refused_and_writes_nothing() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let honest = backup_of(&db, ALPHA).await;
    let metadata: orgbackup_engine::BackupMetadata = serde_json::from_value(
        ArchiveReader::open(Cursor::new(honest.clone()), &|_| None)
            .unwrap()
            .manifest()
            .backup
            .clone(),
    )
    .unwrap();
    // attachments belong to an org only through a nullable key to tasks: an added row with that
    // key NULL would be a row no org owns.
    let record = metadata
        .tables
        .iter()
        .find(|t| t.table.name.name == "attachments")
        .unwrap();
    assert_eq!(record.data_columns, ["attachment_id", "task_id", "path"]);
    let chunk = record.chunks[0].clone();
    let hostile = rewritten_with(
        &honest,
        |_| {},
        |path, content| {
            if path == chunk {
                content.extend_from_slice(b"99\t\\N\tplanted.png\n");
            }
        },
    );
    let before = database_state(&db).await;

    let error = restore(&db, &hostile).await.unwrap_err().to_string();

    assert!(
        error.contains("app.attachments") && error.contains("belong to no organization"),
        "{error}"
    );
    assert_eq!(
        database_state(&db).await,
        before,
        "no row of any org changed"
    );
}
