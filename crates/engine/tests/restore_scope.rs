//! Full restores that must stay inside what they restore (issue 14): tables of a foreign-key
//! cycle whose NOT NULL edge runs against name order, deletions of cycle members, and rows of
//! other categories reached by `ON DELETE CASCADE`. Each case runs with user triggers skipped
//! (the default) and fired. States are compared with plain SQL: every row of every table, as
//! COPY lines, sorted.

mod support;

use orgbackup_archive::ArchiveReader;
use orgbackup_engine::restore::{apply, plan};
use orgbackup_engine::{
    BackupRequest, NoProgress, RestoreMode, RestorePlan, RestoreRequest, TenancyConfig, run_backup,
};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use support::TestDb;

const A: &str = "00000000-0000-0000-0000-00000000000a";

const SCHEMA: &str = r#"
CREATE SCHEMA sc;
CREATE TABLE sc.orgs (org_id uuid PRIMARY KEY, name text NOT NULL);
INSERT INTO sc.orgs VALUES ('00000000-0000-0000-0000-00000000000a', 'A'),
                           ('00000000-0000-0000-0000-00000000000b', 'B');
-- A cycle whose NOT NULL, immediate edge goes from the first table by name to the last:
-- a_invoices.account_id -> z_accounts; back, z_accounts.last_invoice_id, nullable and immediate.
CREATE TABLE sc.z_accounts (account_id int PRIMARY KEY, org_id uuid NOT NULL REFERENCES sc.orgs,
                            name text NOT NULL, last_invoice_id int);
CREATE TABLE sc.a_invoices (invoice_id int PRIMARY KEY,
                            account_id int NOT NULL REFERENCES sc.z_accounts, total int NOT NULL);
ALTER TABLE sc.z_accounts ADD FOREIGN KEY (last_invoice_id) REFERENCES sc.a_invoices;
INSERT INTO sc.z_accounts VALUES (1, '00000000-0000-0000-0000-00000000000a', 'one', NULL),
                                 (2, '00000000-0000-0000-0000-00000000000a', 'two', NULL),
                                 (9, '00000000-0000-0000-0000-00000000000b', 'b', NULL);
INSERT INTO sc.a_invoices VALUES (10, 1, 100), (11, 1, 110), (20, 2, 200), (90, 9, 900);
UPDATE sc.z_accounts SET last_invoice_id = CASE account_id WHEN 1 THEN 11 WHEN 2 THEN 20 ELSE 90 END;
-- Two categories: contacts (crm) and the notes on them (support), which go with their contact.
CREATE TABLE sc.contacts (contact_id int PRIMARY KEY, org_id uuid NOT NULL REFERENCES sc.orgs,
                          name text NOT NULL);
CREATE TABLE sc.contact_notes (note_id int PRIMARY KEY,
                               contact_id int NOT NULL REFERENCES sc.contacts ON DELETE CASCADE,
                               body text NOT NULL);
INSERT INTO sc.contacts VALUES (1, '00000000-0000-0000-0000-00000000000a', 'ann'),
                               (2, '00000000-0000-0000-0000-00000000000a', 'bob'),
                               (9, '00000000-0000-0000-0000-00000000000b', 'bea');
INSERT INTO sc.contact_notes VALUES (100, 1, 'called ann'), (200, 2, 'met bob'), (900, 9, 'b');
"#;

/// Every table of the schema.
const TABLES: [&str; 5] = [
    "sc.orgs",
    "sc.z_accounts",
    "sc.a_invoices",
    "sc.contacts",
    "sc.contact_notes",
];

fn config() -> TenancyConfig {
    TenancyConfig {
        schemas: vec!["sc".into()],
        org_table: "sc.orgs".into(),
        file_references: vec![],
        categories: BTreeMap::from([
            (
                "billing".to_string(),
                vec!["z_accounts".to_string(), "a_invoices".to_string()],
            ),
            ("crm".to_string(), vec!["contacts".to_string()]),
            ("support".to_string(), vec!["contact_notes".to_string()]),
        ]),
        ..Default::default()
    }
}

async fn db() -> TestDb {
    let db = TestDb::new().await;
    db.execute(SCHEMA).await;
    db
}

async fn backup(db: &TestDb) -> Vec<u8> {
    run_backup(
        &db.pool,
        &config(),
        &BackupRequest::new("b", A),
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap()
    .output
}

/// Every row of every table, sorted.
async fn state(db: &TestDb) -> BTreeMap<&'static str, Vec<String>> {
    let mut all = BTreeMap::new();
    for table in TABLES {
        let mut lines = db.copy_lines(&format!("SELECT * FROM {table}")).await;
        lines.sort();
        all.insert(table, lines);
    }
    all
}

fn full(categories: &[&str], fire_triggers: bool) -> RestoreRequest {
    RestoreRequest {
        mode: RestoreMode::Full,
        confirm_full: true,
        categories: categories.iter().map(|c| c.to_string()).collect(),
        fire_triggers,
        ..Default::default()
    }
}

fn reader(bytes: &[u8]) -> ArchiveReader<Cursor<Vec<u8>>> {
    ArchiveReader::open(Cursor::new(bytes.to_vec()), &|_| None).unwrap()
}

async fn restore(
    db: &TestDb,
    bytes: &[u8],
    request: &RestoreRequest,
) -> Result<RestorePlan, orgbackup_engine::Error> {
    apply::<_, Vec<u8>>(
        &db.pool,
        &config(),
        &mut reader(bytes),
        request,
        None,
        Arc::new(NoProgress),
    )
    .await
    .map(|o| o.plan)
}

async fn planned(db: &TestDb, bytes: &[u8], request: &RestoreRequest) -> RestorePlan {
    plan(
        &db.pool,
        &config(),
        &mut reader(bytes),
        request,
        Arc::new(NoProgress),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn cycle_members_are_written_and_deleted_whatever_their_names_with_or_without_triggers() {
    for fire_triggers in [false, true] {
        let db = db().await;
        let saved = state(&db).await;
        let bytes = backup(&db).await;
        // After the backup: invoice 11 is gone (account 1 points at 10 now), invoice 21 and
        // account 3 (pointing at its own invoice 30) are new, account 2 renamed.
        db.execute(
            "UPDATE sc.z_accounts SET last_invoice_id = 10 WHERE account_id = 1;
             DELETE FROM sc.a_invoices WHERE invoice_id = 11;
             INSERT INTO sc.a_invoices VALUES (21, 2, 210);
             INSERT INTO sc.z_accounts VALUES (3, '00000000-0000-0000-0000-00000000000a', 'three', NULL);
             INSERT INTO sc.a_invoices VALUES (30, 3, 300);
             UPDATE sc.z_accounts SET last_invoice_id = 30 WHERE account_id = 3;
             UPDATE sc.z_accounts SET name = 'two (renamed)', last_invoice_id = 21 WHERE account_id = 2;",
        )
        .await;
        let plan = restore(&db, &bytes, &full(&["billing"], fire_triggers))
            .await
            .unwrap_or_else(|e| panic!("fire_triggers = {fire_triggers}: {e}"));
        let order: Vec<String> = plan.tables.iter().map(|t| t.table.to_string()).collect();
        let position = |name: &str| order.iter().position(|t| t == name).unwrap();
        assert!(
            position("sc.z_accounts") < position("sc.a_invoices"),
            "accounts come before the invoices that cannot exist without them: {order:?}"
        );
        let invoices = plan
            .tables
            .iter()
            .find(|t| t.table.name == "a_invoices")
            .unwrap();
        assert_eq!((invoices.insert, invoices.delete), (1, 2), "{invoices:?}");
        assert_eq!(
            state(&db).await,
            saved,
            "fire_triggers = {fire_triggers}: the database is exactly as at backup time"
        );
    }
}

#[tokio::test]
async fn a_full_restore_of_one_category_never_removes_rows_of_another_through_a_cascade() {
    for fire_triggers in [false, true] {
        let db = db().await;
        let bytes = backup(&db).await;
        // After the backup, a new contact with a note: restoring crm alone would delete the
        // contact, and the cascade its note (category support).
        db.execute(
            "INSERT INTO sc.contacts VALUES (3, '00000000-0000-0000-0000-00000000000a', 'cid');
             INSERT INTO sc.contact_notes VALUES (300, 3, 'a note on cid');",
        )
        .await;
        let before = state(&db).await;
        let request = full(&["crm"], fire_triggers);
        let plan = planned(&db, &bytes, &request).await;
        assert_eq!(
            plan.blocked_deletions.len(),
            1,
            "{:?}",
            plan.blocked_deletions
        );
        let blocked = &plan.blocked_deletions[0];
        assert_eq!(blocked.table.to_string(), "sc.contacts");
        assert_eq!(blocked.referencing_table.to_string(), "sc.contact_notes");
        assert_eq!((blocked.rows, blocked.on_delete.as_str()), (1, "cascade"));

        let error = restore(&db, &bytes, &request)
            .await
            .unwrap_err()
            .to_string();
        for words in [
            "1 rows of sc.contact_notes (category support)",
            "on delete cascade",
            "nothing was changed",
            "restore the referencing categories too",
        ] {
            assert!(error.contains(words), "`{words}` in: {error}");
        }
        assert_eq!(state(&db).await, before, "nothing changed");

        // Restoring the notes too, the new contact and its note go, and the rest is the backup.
        let plan = restore(&db, &bytes, &full(&["crm", "support"], fire_triggers))
            .await
            .unwrap_or_else(|e| panic!("fire_triggers = {fire_triggers}: {e}"));
        assert!(plan.blocked_deletions.is_empty());
        let after = state(&db).await;
        assert_eq!(after["sc.contacts"].len(), 3);
        assert!(!after["sc.contact_notes"].iter().any(|l| l.contains("cid")));
        assert_eq!(after["sc.contact_notes"].len(), 3);
    }
}

#[tokio::test]
async fn a_child_moved_under_a_new_parent_comes_back_under_its_old_one() {
    let db = db().await;
    let saved = state(&db).await;
    let bytes = backup(&db).await;
    // After the backup: contact 3 is new and bob's note moved to it; contact 2 is kept.
    db.execute(
        "INSERT INTO sc.contacts VALUES (3, '00000000-0000-0000-0000-00000000000a', 'cid');
         UPDATE sc.contact_notes SET contact_id = 3 WHERE note_id = 200;",
    )
    .await;
    let plan = restore(&db, &bytes, &full(&["crm", "support"], false))
        .await
        .expect("the note goes back to bob before contact 3 is deleted");
    assert!(plan.blocked_deletions.is_empty());
    assert_eq!(state(&db).await, saved, "exactly the backup");

    // With triggers fired, the cascade would run at the deletion, before the note is put back:
    // the plan counts the note and the restore refuses, changing nothing.
    db.execute(
        "INSERT INTO sc.contacts VALUES (3, '00000000-0000-0000-0000-00000000000a', 'cid');
         UPDATE sc.contact_notes SET contact_id = 3 WHERE note_id = 200;",
    )
    .await;
    let before = state(&db).await;
    let request = full(&["crm", "support"], true);
    let plan = planned(&db, &bytes, &request).await;
    assert_eq!(
        plan.blocked_deletions.len(),
        1,
        "{:?}",
        plan.blocked_deletions
    );
    assert!(restore(&db, &bytes, &request).await.is_err());
    assert_eq!(state(&db).await, before);
}

#[tokio::test]
async fn another_orgs_row_referencing_a_deleted_row_blocks_the_deletion() {
    let db = db().await;
    let bytes = backup(&db).await;
    // Org B's account points at an invoice of A made after the backup (a key that is not how
    // the account belongs to its org): deleting that invoice would break B's row.
    db.execute(
        "INSERT INTO sc.a_invoices VALUES (12, 1, 120);
         UPDATE sc.z_accounts SET last_invoice_id = 12 WHERE account_id = 9;",
    )
    .await;
    let before = state(&db).await;
    let error = restore(&db, &bytes, &full(&["billing"], false))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("sc.z_accounts") && error.contains("nothing was changed"),
        "{error}"
    );
    assert_eq!(state(&db).await, before);
}

/// Edits bob's contact from another connection (psql) each time a restore starts writing, up to
/// `edits` times: the restore's snapshot predates the edit, so its own update of that row loses
/// the race (a serialization failure).
struct EditWhileApplying {
    url: String,
    edits: std::sync::atomic::AtomicU32,
    phase: std::sync::Mutex<&'static str>,
}

impl orgbackup_engine::Progress for EditWhileApplying {
    fn backup(&self, _: &orgbackup_engine::BackupProgress) {}
    fn restore(&self, progress: &orgbackup_engine::RestoreProgress) {
        use std::sync::atomic::Ordering;
        let previous = std::mem::replace(&mut *self.phase.lock().unwrap(), progress.phase);
        let started_writing = progress.phase == "applying" && previous != "applying";
        if !started_writing || self.edits.load(Ordering::SeqCst) == 0 {
            return;
        }
        self.edits.fetch_sub(1, Ordering::SeqCst);
        let status = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &self.url, "-c"])
            .arg("UPDATE sc.contacts SET name = name || ' (edited)' WHERE contact_id = 2")
            .status()
            .expect("psql runs");
        assert!(status.success());
    }
}

async fn restore_racing(
    db: &TestDb,
    bytes: &[u8],
    edits: u32,
) -> Result<orgbackup_engine::RestoreOutcome<Vec<u8>>, orgbackup_engine::Error> {
    orgbackup_engine::restore::apply_retrying(
        &db.pool,
        &config(),
        &mut reader(bytes),
        &full(&["crm", "support"], false),
        || Ok(Some(Vec::new())),
        Arc::new(EditWhileApplying {
            url: db.url.clone(),
            edits: edits.into(),
            phase: std::sync::Mutex::new(""),
        }),
    )
    .await
}

#[tokio::test]
async fn a_restore_that_loses_a_race_with_an_edit_is_tried_again_and_then_succeeds() {
    let db = db().await;
    let saved = state(&db).await;
    let bytes = backup(&db).await;
    db.execute("UPDATE sc.contacts SET name = 'robert' WHERE contact_id = 2")
        .await;
    let outcome = restore_racing(&db, &bytes, 1)
        .await
        .expect("the second attempt, on a snapshot with the edit, succeeds");
    assert_eq!(outcome.attempts, 2);
    assert!(outcome.committed);
    let contacts = outcome
        .plan
        .tables
        .iter()
        .find(|t| t.table.name == "contacts")
        .unwrap();
    assert_eq!(contacts.replace, 1, "{contacts:?}");
    assert_eq!(state(&db).await, saved, "exactly the backup");
}

#[tokio::test]
async fn a_restore_that_keeps_losing_races_stops_after_a_few_attempts_and_changes_nothing() {
    let db = db().await;
    let bytes = backup(&db).await;
    db.execute(
        "UPDATE sc.contacts SET name = 'robert' WHERE contact_id = 2;
         INSERT INTO sc.contacts VALUES (3, '00000000-0000-0000-0000-00000000000a', 'cid');",
    )
    .await;
    let mut before = state(&db).await;
    let error = match restore_racing(&db, &bytes, 100).await {
        Ok(_) => panic!("every attempt loses the race"),
        Err(error) => error,
    };
    assert!(error.is_retryable(), "a job may try it again later");
    let message = error.to_string();
    for words in ["3 times", "nothing was changed", "could not serialize"] {
        assert!(message.contains(words), "`{words}` in: {message}");
    }
    // Only the three edits happened.
    for line in before.get_mut("sc.contacts").unwrap() {
        if line.contains("robert") {
            *line = line.replace("robert", "robert (edited) (edited) (edited)");
        }
    }
    assert_eq!(state(&db).await, before);
}
