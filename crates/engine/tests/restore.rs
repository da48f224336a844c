//! Restore against real PostgreSQL, on the tricky schema: round trips, conflict modes, per-record
//! decisions, rollback, injected failures, other orgs never touched.

mod support;

use futures::TryStreamExt;
use orgbackup_archive::ArchiveReader;
use orgbackup_engine::restore::{apply, changes_since, plan};
use orgbackup_engine::{
    BackupRequest, ConflictAction, NoProgress, RecordDecision, RestoreMode, RestorePlan,
    RestoreRequest, TablePlan, discover, run_backup,
};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use support::{ALPHA, BETA, TRICKY_SCHEMA, TestDb, tricky_config};

type Fingerprint = BTreeMap<String, Vec<String>>;

/// Every tenant table's rows of `org` (as COPY lines, sorted): compares whole org states.
async fn fingerprint(db: &TestDb, org: &str) -> Fingerprint {
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SELECT set_config('app.current_org_id', $1, false)")
        .bind(org)
        .execute(&mut *conn)
        .await
        .unwrap();
    let schema = discover(&mut conn, &tricky_config()).await.unwrap();
    let mut result = BTreeMap::new();
    for (index, table) in schema.tables.iter().enumerate() {
        let sql = format!("COPY ({}) TO STDOUT", schema.extract_query(index));
        let mut stream = conn.copy_out_raw(&sql).await.unwrap();
        let mut data = Vec::new();
        while let Some(bytes) = stream.try_next().await.unwrap() {
            data.extend_from_slice(&bytes);
        }
        drop(stream);
        let mut lines: Vec<String> = String::from_utf8(data)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        result.insert(table.name.to_string(), lines);
    }
    result
}

async fn backup_bytes(db: &TestDb, org: &str) -> Vec<u8> {
    let request = BackupRequest::new("b", org);
    run_backup(
        &db.pool,
        &tricky_config(),
        &request,
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap()
    .output
}

fn reader(bytes: &[u8]) -> ArchiveReader<Cursor<Vec<u8>>> {
    ArchiveReader::open(Cursor::new(bytes.to_vec()), &|_| None).unwrap()
}

fn full() -> RestoreRequest {
    RestoreRequest {
        mode: RestoreMode::Full,
        confirm_full: true,
        ..Default::default()
    }
}

async fn restore(
    db: &TestDb,
    bytes: &[u8],
    request: &RestoreRequest,
) -> Result<RestorePlan, orgbackup_engine::Error> {
    apply::<_, Vec<u8>>(
        &db.pool,
        &tricky_config(),
        &mut reader(bytes),
        request,
        None,
        Arc::new(NoProgress),
    )
    .await
    .map(|o| o.plan)
}

fn table<'a>(plan: &'a RestorePlan, name: &str) -> &'a TablePlan {
    plan.tables
        .iter()
        .find(|t| t.table.to_string() == name)
        .unwrap_or_else(|| panic!("{name} in {plan:#?}"))
}

const MUTATE_ALPHA: &str = r#"
DELETE FROM app.task_notes WHERE task_id = 2;
DELETE FROM app.tasks WHERE task_id = 2;
UPDATE app.projects SET title = 'changed' WHERE project_id = 1;
UPDATE app.teams SET name = 'renamed' WHERE team_id = 1;
INSERT INTO app.projects (org_id, title) VALUES ('00000000-0000-0000-0000-00000000000a', 'added after backup');
INSERT INTO app.events (org_id, at, kind) VALUES ('00000000-0000-0000-0000-00000000000a', '2026-01-09', 'new');
DELETE FROM app.project_labels WHERE project_id = 1;
"#;

const MUTATE_BETA: &str = r#"
UPDATE app.projects SET title = 'beta changed' WHERE project_id = 3;
INSERT INTO app.events (org_id, at, kind) VALUES ('00000000-0000-0000-0000-00000000000b', '2026-02-09', 'beta new');
"#;

#[tokio::test]
async fn a_full_restore_returns_the_org_to_its_backup_and_leaves_other_orgs_alone() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let original = fingerprint(&db, ALPHA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    db.execute(MUTATE_ALPHA).await;
    db.execute(MUTATE_BETA).await;
    let beta_before = fingerprint(&db, BETA).await;
    assert_ne!(fingerprint(&db, ALPHA).await, original);

    let plan = restore(&db, &bytes, &full()).await.unwrap();
    assert_eq!(fingerprint(&db, ALPHA).await, original);
    assert_eq!(
        fingerprint(&db, BETA).await,
        beta_before,
        "another org's rows are never touched"
    );
    assert_eq!(table(&plan, "app.tasks").insert, 1);
    assert_eq!(table(&plan, "app.projects").delete, 1);
    assert_eq!(table(&plan, "app.projects").replace, 1);

    // Sequences moved forward: new rows get fresh keys.
    db.execute("INSERT INTO app.tasks (project_id, label) VALUES (1, 'after restore'); INSERT INTO app.projects (org_id, title) VALUES ('00000000-0000-0000-0000-00000000000a', 'x');")
        .await;
}

#[tokio::test]
async fn a_plan_counts_without_changing_anything_and_a_dry_run_rolls_back() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    db.execute(MUTATE_ALPHA).await;
    let mutated = fingerprint(&db, ALPHA).await;

    let counted = plan(
        &db.pool,
        &tricky_config(),
        &mut reader(&bytes),
        &full(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert_eq!(table(&counted, "app.projects").conflict, 1);
    assert_eq!(table(&counted, "app.projects").identical, 1);
    assert_eq!(table(&counted, "app.task_notes").insert, 1);
    assert_eq!(table(&counted, "app.events").delete, 1);
    assert_eq!(fingerprint(&db, ALPHA).await, mutated);

    let dry = RestoreRequest {
        dry_run: true,
        ..full()
    };
    let outcome = apply::<_, Vec<u8>>(
        &db.pool,
        &tricky_config(),
        &mut reader(&bytes),
        &dry,
        None,
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert!(!outcome.committed);
    assert_eq!(outcome.plan.tables, counted.tables);
    assert_eq!(fingerprint(&db, ALPHA).await, mutated);
}

#[tokio::test]
async fn a_full_restore_must_be_confirmed() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    let error = restore(
        &db,
        &bytes,
        &RestoreRequest {
            confirm_full: false,
            ..full()
        },
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("confirm"), "{error}");
}

async fn conflicting_title(
    db: &TestDb,
    conflicts: ConflictAction,
    decisions: Vec<RecordDecision>,
) -> (String, Option<String>) {
    db.execute(TRICKY_SCHEMA).await;
    db.execute("UPDATE app.projects SET owner_id = NULL WHERE project_id = 1")
        .await;
    let bytes = backup_bytes(db, ALPHA).await;
    // Same key, other values: title changed, and the owner filled in since.
    db.execute("UPDATE app.projects SET title = 'current', owner_id = 2, country = NULL WHERE project_id = 1").await;
    let request = RestoreRequest {
        conflicts,
        decisions,
        ..Default::default()
    };
    let plan = restore(db, &bytes, &request).await.unwrap();
    assert_eq!(table(&plan, "app.projects").conflict, 1);
    sqlx::query_as("SELECT title, country FROM app.projects WHERE project_id = 1")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn merge_conflicts_can_be_skipped_replaced_or_merged_column_by_column() {
    let skip = TestDb::new().await;
    assert_eq!(
        conflicting_title(&skip, ConflictAction::Skip, vec![]).await,
        ("current".into(), None)
    );
    let replace = TestDb::new().await;
    assert_eq!(
        conflicting_title(&replace, ConflictAction::Replace, vec![]).await,
        ("alpha one".into(), Some("DE".into()))
    );
    // Merge keeps current non-NULL values and fills NULLs from the backup.
    let merge = TestDb::new().await;
    assert_eq!(
        conflicting_title(&merge, ConflictAction::Merge, vec![]).await,
        ("current".into(), Some("DE".into()))
    );
}

#[tokio::test]
async fn a_per_record_decision_overrides_the_default() {
    let db = TestDb::new().await;
    let decision = RecordDecision {
        table: "app.projects".into(),
        key: [("project_id".to_string(), "1".to_string())]
            .into_iter()
            .collect(),
        action: ConflictAction::Replace,
    };
    assert_eq!(
        conflicting_title(&db, ConflictAction::Skip, vec![decision]).await,
        ("alpha one".into(), Some("DE".into()))
    );
}

#[tokio::test]
async fn a_key_owned_by_another_org_is_reported_and_never_overwritten() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    db.execute(&format!(
        "UPDATE app.billing SET tenant = '{BETA}', plan = 'beta owns it' WHERE billing_id = 1"
    ))
    .await;
    let plan = restore(
        &db,
        &bytes,
        &RestoreRequest {
            conflicts: ConflictAction::Replace,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(table(&plan, "app.billing").other_org, 1);
    let owner: (String, String) =
        sqlx::query_as("SELECT tenant::text, plan FROM app.billing WHERE billing_id = 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(owner, (BETA.to_string(), "beta owns it".to_string()));
}

#[tokio::test]
async fn restoring_into_another_org_needs_consent_and_no_key_clashes() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    let into_beta = RestoreRequest {
        target_org_id: Some(BETA.into()),
        ..Default::default()
    };
    let refused = restore(&db, &bytes, &into_beta).await.unwrap_err();
    assert!(refused.to_string().contains("explicitly"), "{refused}");
    let clashes = restore(
        &db,
        &bytes,
        &RestoreRequest {
            allow_other_org: true,
            ..into_beta
        },
    )
    .await
    .unwrap_err();
    assert!(
        clashes.to_string().contains("another organization"),
        "{clashes}"
    );
}

#[tokio::test]
async fn a_failure_in_the_middle_leaves_no_trace() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    db.execute(MUTATE_ALPHA).await;
    let before = (fingerprint(&db, ALPHA).await, fingerprint(&db, BETA).await);
    // Fails when the restore writes task_notes, after projects and tasks were already written
    // (a trigger enabled ALWAYS fires even in a restore that fires no user trigger).
    db.execute(
        "CREATE FUNCTION app.boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
         CREATE TRIGGER boom BEFORE INSERT ON app.task_notes FOR EACH ROW EXECUTE FUNCTION app.boom();
         ALTER TABLE app.task_notes ENABLE ALWAYS TRIGGER boom;", // fires even in a trigger-free restore
    )
    .await;
    let error = restore(&db, &bytes, &full()).await.unwrap_err();
    assert!(error.to_string().contains("injected failure"), "{error}");
    assert_eq!(
        (fingerprint(&db, ALPHA).await, fingerprint(&db, BETA).await),
        before
    );
}

#[tokio::test]
async fn a_rollback_returns_the_org_to_its_state_before_the_restore() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    db.execute(MUTATE_ALPHA).await;
    let before_restore = fingerprint(&db, ALPHA).await;

    let outcome = apply(
        &db.pool,
        &tricky_config(),
        &mut reader(&bytes),
        &full(),
        Some(Vec::new()),
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert!(outcome.committed);
    let rollback = outcome.rollback.unwrap().output;
    let xid = outcome.transaction_xid.unwrap();
    assert_ne!(fingerprint(&db, ALPHA).await, before_restore);
    assert_eq!(
        changes_since(&db.pool, &tricky_config(), ALPHA, &[], &xid)
            .await
            .unwrap(),
        0
    );
    db.execute("UPDATE app.projects SET title = 'edited after restore' WHERE project_id = 2")
        .await;
    assert_eq!(
        changes_since(&db.pool, &tricky_config(), ALPHA, &[], &xid)
            .await
            .unwrap(),
        1
    );

    let exact = RestoreRequest {
        mode: RestoreMode::Exact,
        confirm_full: true,
        ..Default::default()
    };
    restore(&db, &rollback, &exact).await.unwrap();
    assert_eq!(fingerprint(&db, ALPHA).await, before_restore);
}

#[tokio::test]
async fn a_selective_restore_writes_only_its_categories_and_their_dependencies() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    db.execute("UPDATE app.teams SET lead_member = NULL; DELETE FROM app.members WHERE member_id = 10; DELETE FROM app.billing WHERE billing_id = 1;").await;
    let request = RestoreRequest {
        categories: vec!["billing".into()],
        ..Default::default()
    };
    let plan = restore(&db, &bytes, &request).await.unwrap();
    assert!(
        plan.tables.iter().all(|t| t.category == "billing"),
        "{plan:#?}"
    );
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM app.members WHERE member_id = 10")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(members, 0, "people were not asked for");
    let billing: i64 = sqlx::query_scalar("SELECT count(*) FROM app.billing WHERE billing_id = 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(billing, 1);
}

#[tokio::test]
async fn a_restore_into_a_schema_with_an_added_column_fills_it_by_default() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    db.execute(
        "ALTER TABLE app.tasks ADD COLUMN note text NOT NULL DEFAULT 'n/a';
         UPDATE app.tasks SET note = 'kept' WHERE task_id = 1;
         UPDATE app.attachments SET task_id = NULL WHERE task_id = 2;
         DELETE FROM app.task_notes WHERE task_id = 2; DELETE FROM app.tasks WHERE task_id = 2;",
    )
    .await;
    let plan = restore(&db, &bytes, &RestoreRequest::default())
        .await
        .unwrap();
    assert_eq!(table(&plan, "app.tasks").insert, 1);
    let notes: Vec<(i64, String)> =
        sqlx::query_as("SELECT task_id, note FROM app.tasks WHERE task_id IN (1, 2) ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(notes, [(1, "kept".to_string()), (2, "n/a".to_string())]);
}

#[tokio::test]
async fn rows_whose_parent_is_gone_are_reported_and_not_written() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    // The global user 1 disappears, and with it (for this test) Alpha's project 1 and its rows.
    db.execute(
        "UPDATE app.projects SET owner_id = NULL WHERE owner_id = 1 AND project_id <> 1;
         DELETE FROM app.project_labels WHERE project_id = 1;
         DELETE FROM app.attachments WHERE task_id IN (1, 2);
         DELETE FROM app.task_notes WHERE task_id IN (1, 2);
         DELETE FROM app.tasks WHERE project_id = 1;
         DELETE FROM app.projects WHERE project_id = 1;
         DELETE FROM app.users WHERE user_id = 1;",
    )
    .await;
    let plan = restore(&db, &bytes, &RestoreRequest::default())
        .await
        .unwrap();
    assert_eq!(table(&plan, "app.projects").missing_global, 1);
    assert_eq!(
        table(&plan, "app.tasks").missing_parent,
        2,
        "a child of a missing row is missing too"
    );
    assert_eq!(table(&plan, "app.task_notes").missing_parent, 2);
    assert_eq!(table(&plan, "app.project_labels").missing_parent, 1);
    let projects: i64 =
        sqlx::query_scalar("SELECT count(*) FROM app.projects WHERE project_id = 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(projects, 0);
}

#[tokio::test]
async fn an_archive_carrying_another_orgs_rows_is_refused() {
    use orgbackup_archive::{ArchiveWriter, WriterOptions};
    use std::io::Read;
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    // A tampered copy: Alpha's billing rows relabelled as Beta's, checksums recomputed.
    let mut original = reader(&bytes);
    let manifest = original.manifest().clone();
    let billing: Vec<String> = manifest.backup["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"]["name"] == "billing")
        .flat_map(|t| {
            t["chunks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
        })
        .collect();
    let mut writer = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
    for entry in &manifest.entries {
        let mut data = Vec::new();
        original
            .open_entry(&entry.path)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        if billing.contains(&entry.path) {
            data = String::from_utf8(data)
                .unwrap()
                .replace(ALPHA, BETA)
                .into_bytes();
        }
        writer
            .add_entry(&entry.path, data.len() as u64, &mut data.as_slice())
            .unwrap();
    }
    let (tampered, _) = writer.finish(manifest.backup.clone()).unwrap();
    let before = fingerprint(&db, BETA).await;
    let error = restore(&db, &tampered, &RestoreRequest::default())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("belong to another organization"),
        "{error}"
    );
    assert_eq!(fingerprint(&db, BETA).await, before);
}

#[tokio::test]
async fn a_table_that_no_longer_fits_is_refused_with_the_analysis_reason() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let bytes = backup_bytes(&db, ALPHA).await;
    db.execute("ALTER TABLE app.billing DROP CONSTRAINT billing_pkey; ALTER TABLE app.billing ADD PRIMARY KEY (billing_id, plan);")
        .await;
    let error = restore(&db, &bytes, &RestoreRequest::default())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("primary key of app.billing changed"),
        "{error}"
    );
    // Other categories still restore.
    let people = RestoreRequest {
        categories: vec!["people".into()],
        ..Default::default()
    };
    restore(&db, &bytes, &people).await.unwrap();
}

#[tokio::test]
async fn a_plan_shows_each_conflicting_row_with_the_backup_and_current_values() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    db.execute("UPDATE app.projects SET owner_id = NULL WHERE project_id = 1")
        .await;
    let bytes = backup_bytes(&db, ALPHA).await;
    db.execute("UPDATE app.projects SET title = 'current', owner_id = 2, country = NULL WHERE project_id = 1").await;
    let request = RestoreRequest {
        conflict_samples: 10,
        ..Default::default()
    };
    let plan = plan(
        &db.pool,
        &tricky_config(),
        &mut reader(&bytes),
        &request,
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    let [record] = plan.conflicts.as_slice() else {
        panic!("one conflict expected: {:#?}", plan.conflicts);
    };
    assert_eq!(record.table, "app.projects");
    assert_eq!(record.key["project_id"], "1");
    assert_eq!(record.backup["title"].as_deref(), Some("alpha one"));
    assert_eq!(record.current["title"].as_deref(), Some("current"));
    assert_eq!(record.backup["country"].as_deref(), Some("DE"));
    assert_eq!(record.current["country"], None);
    assert_eq!(record.differs, ["country", "owner_id", "title"]);
    // The plan changed nothing.
    let title: String = sqlx::query_scalar("SELECT title FROM app.projects WHERE project_id = 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(title, "current");
}
