//! How a restore matches rows when tables have no primary key, only nullable unique columns,
//! or unique constraints and indexes besides the key (issue 14), and how it reports rows it
//! cannot place and deletions that fail. Real PostgreSQL; states are compared with plain SQL.

mod support;

use orgbackup_archive::ArchiveReader;
use orgbackup_engine::restore::apply;
use orgbackup_engine::{
    BackupRequest, NoProgress, RestoreMode, RestorePlan, RestoreRequest, TablePlan, TenancyConfig,
    run_backup,
};
use std::io::Cursor;
use std::sync::Arc;
use support::TestDb;

const A: &str = "00000000-0000-0000-0000-00000000000a";

const SCHEMA: &str = r#"
CREATE SCHEMA k;
CREATE TABLE k.orgs (org_id uuid PRIMARY KEY, name text NOT NULL);
INSERT INTO k.orgs VALUES ('00000000-0000-0000-0000-00000000000a', 'A'),
                          ('00000000-0000-0000-0000-00000000000b', 'B');
-- No key at all: rows are facts, duplicates are legitimate.
CREATE TABLE k.views (org_id uuid NOT NULL REFERENCES k.orgs, path text NOT NULL, note text);
INSERT INTO k.views VALUES ('00000000-0000-0000-0000-00000000000a', '/home', NULL),
                           ('00000000-0000-0000-0000-00000000000a', '/home', NULL),
                           ('00000000-0000-0000-0000-00000000000a', '/about', ''),
                           ('00000000-0000-0000-0000-00000000000b', '/home', NULL);
-- Only a nullable unique column: no row key.
CREATE TABLE k.handles (org_id uuid NOT NULL REFERENCES k.orgs, handle text UNIQUE, note text);
INSERT INTO k.handles VALUES ('00000000-0000-0000-0000-00000000000a', NULL, 'no handle'),
                             ('00000000-0000-0000-0000-00000000000a', 'alice', 'x');
-- A globally unique slug besides the key, and a unique index that backs no constraint.
CREATE TABLE k.projects (project_id int PRIMARY KEY, org_id uuid NOT NULL REFERENCES k.orgs,
                         slug text NOT NULL UNIQUE, code text NOT NULL);
CREATE UNIQUE INDEX projects_code ON k.projects (code);
INSERT INTO k.projects VALUES (1, '00000000-0000-0000-0000-00000000000a', 'alpha', 'A1'),
                              (2, '00000000-0000-0000-0000-00000000000a', 'beta', 'A2'),
                              (3, '00000000-0000-0000-0000-00000000000a', 'gamma', 'A3');
-- Owned through a nullable key that is set NULL when the project goes: such rows belong to
-- nobody.
CREATE TABLE k.comments (comment_id int PRIMARY KEY,
                         project_id int REFERENCES k.projects ON DELETE SET NULL, body text NOT NULL);
INSERT INTO k.comments VALUES (10, 2, 'on beta'), (11, 3, 'on gamma');
-- Keyless rows with a parent.
CREATE TABLE k.project_tags (project_id int NOT NULL REFERENCES k.projects, tag text NOT NULL);
INSERT INTO k.project_tags VALUES (1, 'red'), (1, 'red'), (2, 'blue');
-- Unique indexes no column list describes: on an expression, partial, NULLS NOT DISTINCT.
CREATE TABLE k.members (member_id int PRIMARY KEY, org_id uuid NOT NULL REFERENCES k.orgs,
                        email text NOT NULL, badge text, active boolean NOT NULL, team text);
CREATE UNIQUE INDEX members_email ON k.members (lower(email));
CREATE UNIQUE INDEX members_badge ON k.members (badge) WHERE active;
CREATE UNIQUE INDEX members_team ON k.members (org_id, team) NULLS NOT DISTINCT;
INSERT INTO k.members VALUES (1, '00000000-0000-0000-0000-00000000000a', 'Ann@x.test', 'b1', true, 'red'),
                             (2, '00000000-0000-0000-0000-00000000000a', 'bob@x.test', 'b2', true, 'green'),
                             (3, '00000000-0000-0000-0000-00000000000a', 'cid@x.test', 'b3', true, NULL),
                             (7, '00000000-0000-0000-0000-00000000000a', 'dan@x.test', 'b7', false, 'blue');
"#;

fn config() -> TenancyConfig {
    TenancyConfig {
        schemas: vec!["k".into()],
        org_table: "k.orgs".into(),
        file_references: vec![],
        ..Default::default()
    }
}

async fn db() -> TestDb {
    let db = TestDb::new().await;
    db.execute(SCHEMA).await;
    db
}

async fn backup(db: &TestDb, org: &str) -> Vec<u8> {
    run_backup(
        &db.pool,
        &config(),
        &BackupRequest::new("b", org),
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap()
    .output
}

fn merge() -> RestoreRequest {
    RestoreRequest::default()
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
    let mut reader = ArchiveReader::open(Cursor::new(bytes.to_vec()), &|_| None).unwrap();
    apply::<_, Vec<u8>>(
        &db.pool,
        &config(),
        &mut reader,
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

/// Every row of every table of schema k, sorted: the whole database's state.
async fn state(db: &TestDb) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for name in [
        "orgs",
        "views",
        "handles",
        "projects",
        "comments",
        "project_tags",
        "members",
    ] {
        all.push(db.copy_lines(&format!("SELECT * FROM k.{name}")).await);
    }
    all
}

fn writes(plan: &RestorePlan) -> u64 {
    plan.total(|t| t.insert + t.replace + t.merge + t.delete)
}

#[tokio::test]
async fn a_merge_of_an_unchanged_org_changes_nothing_even_without_keys() {
    let db = db().await;
    let bytes = backup(&db, A).await;
    let before = state(&db).await;
    let plan = restore(&db, &bytes, &merge()).await.unwrap();
    assert_eq!(writes(&plan), 0, "{plan:#?}");
    assert_eq!(table(&plan, "k.views").identical, 3);
    // The row whose unique column is NULL is recognised, not re-inserted on every merge.
    assert_eq!(table(&plan, "k.handles").identical, 2);
    assert_eq!(table(&plan, "k.project_tags").identical, 3);
    assert_eq!(state(&db).await, before);
    let again = restore(&db, &bytes, &merge()).await.unwrap();
    assert_eq!(writes(&again), 0, "{again:#?}");
    assert_eq!(state(&db).await, before);
}

#[tokio::test]
async fn a_merge_brings_back_a_deleted_duplicate_row() {
    let db = db().await;
    let bytes = backup(&db, A).await;
    let before = state(&db).await;
    db.execute(
        "DELETE FROM k.views WHERE ctid IN (SELECT ctid FROM k.views WHERE path = '/home' AND org_id = '00000000-0000-0000-0000-00000000000a' LIMIT 1);
         DELETE FROM k.project_tags WHERE ctid IN (SELECT ctid FROM k.project_tags WHERE tag = 'red' LIMIT 1);",
    )
    .await;
    let plan = restore(&db, &bytes, &merge()).await.unwrap();
    assert_eq!(table(&plan, "k.views").insert, 1, "{plan:#?}");
    assert_eq!(table(&plan, "k.views").identical, 2);
    assert_eq!(table(&plan, "k.project_tags").insert, 1);
    assert_eq!(state(&db).await, before);
}

#[tokio::test]
async fn a_full_restore_of_a_keyless_table_removes_only_the_extra_copies() {
    let db = db().await;
    let bytes = backup(&db, A).await;
    let before = state(&db).await;
    db.execute(
        "INSERT INTO k.views VALUES ('00000000-0000-0000-0000-00000000000a', '/home', NULL);
         UPDATE k.views SET note = 'changed' WHERE path = '/about';
         INSERT INTO k.handles VALUES ('00000000-0000-0000-0000-00000000000a', NULL, 'no handle');",
    )
    .await;
    let plan = restore(&db, &bytes, &full()).await.unwrap();
    let views = table(&plan, "k.views");
    // One extra copy of /home, the changed /about: two deleted, one inserted; /home x2 kept.
    assert_eq!(
        (views.delete, views.insert, views.identical),
        (2, 1, 2),
        "{views:#?}"
    );
    let handles = table(&plan, "k.handles");
    assert_eq!((handles.delete, handles.insert), (1, 0), "{handles:#?}");
    assert_eq!(state(&db).await, before);
    let again = restore(&db, &bytes, &full()).await.unwrap();
    assert_eq!(writes(&again), 0, "{again:#?}");
}

#[tokio::test]
async fn a_unique_value_taken_since_the_backup_is_planned_and_not_written() {
    let db = db().await;
    let bytes = backup(&db, A).await;
    // Project 1 is gone; B took its slug, and A gave its code to a new project.
    db.execute(
        "DELETE FROM k.project_tags WHERE project_id = 1;
         DELETE FROM k.projects WHERE project_id = 1;
         INSERT INTO k.projects VALUES (7, '00000000-0000-0000-0000-00000000000b', 'alpha', 'B7');
         UPDATE k.projects SET code = 'A9' WHERE project_id = 3;
         INSERT INTO k.projects VALUES (8, '00000000-0000-0000-0000-00000000000a', 'new', 'A3');",
    )
    .await;
    let before = state(&db).await;
    // Conflicts replaced: project 3's code would go back to A3.
    let replacing = RestoreRequest {
        conflicts: orgbackup_engine::ConflictAction::Replace,
        ..Default::default()
    };
    for request in [replacing.clone(), full()] {
        let mut reader = ArchiveReader::open(Cursor::new(bytes.clone()), &|_| None).unwrap();
        let planned = orgbackup_engine::restore::plan(
            &db.pool,
            &config(),
            &mut reader,
            &request,
            Arc::new(NoProgress),
        )
        .await
        .unwrap();
        let projects = table(&planned, "k.projects");
        // Project 1's slug is B's: another org's. Project 3's code is held by A's project 8.
        assert_eq!(projects.other_org, 1, "{projects:#?}");
        if request.mode == RestoreMode::Merge {
            assert_eq!(projects.unique_taken, 1, "{projects:#?}");
            // Its tags cannot be written without it.
            assert_eq!(table(&planned, "k.project_tags").missing_parent, 2);
        }
    }
    let plan = restore(&db, &bytes, &replacing)
        .await
        .expect("a merge does not fail on the unique index");
    assert_eq!(table(&plan, "k.projects").insert, 0);
    let after = state(&db).await;
    assert_eq!(after, before, "nothing could be written: {plan:#?}");
    // A full restore deletes project 8 (not in the backup), so project 3 gets its code back.
    let plan = restore(&db, &bytes, &full())
        .await
        .expect("a full restore does not fail on the unique index");
    let projects = table(&plan, "k.projects");
    assert_eq!(
        (projects.other_org, projects.unique_taken, projects.replace),
        (1, 0, 1)
    );
    let codes = db
        .copy_lines("SELECT project_id, slug, code FROM k.projects ORDER BY 1")
        .await;
    assert_eq!(codes, ["2\tbeta\tA2", "3\tgamma\tA3", "7\talpha\tB7"]);
}

#[tokio::test]
async fn a_row_whose_ownership_key_was_set_null_is_no_row_of_the_org() {
    // Comment 10 lost its project (ON DELETE SET NULL): it belongs to nobody today, and the
    // plan says so the same way whether or not the org still has other projects.
    for others_remain in [true, false] {
        let db = db().await;
        let bytes = backup(&db, A).await;
        db.execute("DELETE FROM k.project_tags; DELETE FROM k.projects WHERE project_id = 2;")
            .await;
        if !others_remain {
            db.execute("DELETE FROM k.comments WHERE comment_id = 11; DELETE FROM k.projects;")
                .await;
        }
        let before = db.copy_lines("SELECT * FROM k.comments").await;
        let plan = restore(&db, &bytes, &merge()).await.unwrap();
        let comments = table(&plan, "k.comments");
        assert_eq!(
            (comments.other_org, comments.conflict),
            (1, 0),
            "others remain: {others_remain}: {comments:#?}"
        );
        let after = db.copy_lines("SELECT * FROM k.comments").await;
        assert!(
            after.contains(&"10\t\\N\ton beta".to_string()),
            "the unowned row is left as it is: {before:?} -> {after:?}"
        );
    }
}

#[tokio::test]
async fn a_refused_deletion_is_reported_with_its_real_cause_and_nothing_changes() {
    // A trigger enabled ALWAYS fires even while a restore suspends user triggers; it refuses
    // the deletion of a project. The error must name the trigger's message and the table, and
    // say that nothing changed, not blame rows that reference the project.
    let db = db().await;
    let bytes = backup(&db, A).await;
    db.execute(
        "INSERT INTO k.projects VALUES (9, '00000000-0000-0000-0000-00000000000a', 'late', 'A9');
         CREATE FUNCTION k.keep_projects() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'projects are archived, never deleted'; END $$;
         CREATE TRIGGER keep_projects BEFORE DELETE ON k.projects
           FOR EACH ROW EXECUTE FUNCTION k.keep_projects();
         ALTER TABLE k.projects ENABLE ALWAYS TRIGGER keep_projects;
         UPDATE k.comments SET body = 'edited' WHERE comment_id = 10;",
    )
    .await;
    let before = state(&db).await;
    let error = restore(&db, &bytes, &full())
        .await
        .expect_err("the trigger refuses the deletion")
        .to_string();
    for part in [
        "k.projects",
        "projects are archived, never deleted",
        "keep_projects",
        "nothing was changed",
    ] {
        assert!(error.contains(part), "{part:?} not in: {error}");
    }
    assert!(!error.contains("still reference"), "{error}");
    assert_eq!(state(&db).await, before);
}

#[tokio::test]
async fn partial_expression_and_nulls_not_distinct_unique_indexes_are_planned() {
    let db = db().await;
    let bytes = backup(&db, A).await;
    // A's members are gone. B took Ann's address in other letters (lower(email)); A's new
    // member 4 wears bob's badge, active (WHERE active); A's new member 6 has no team, like cid
    // (NULLS NOT DISTINCT). Member 8 wears dan's badge, but dan's was inactive: no clash.
    db.execute(
        "DELETE FROM k.members;
         INSERT INTO k.members VALUES
           (11, '00000000-0000-0000-0000-00000000000b', 'ANN@X.TEST', NULL, true, 'b'),
           (4, '00000000-0000-0000-0000-00000000000a', 'new4@x.test', 'b2', true, 'yellow'),
           (6, '00000000-0000-0000-0000-00000000000a', 'new6@x.test', NULL, false, NULL),
           (8, '00000000-0000-0000-0000-00000000000a', 'new8@x.test', 'b7', true, 'pink');",
    )
    .await;
    let before = state(&db).await;
    let plan = restore(&db, &bytes, &merge())
        .await
        .expect("the clashing rows are planned, not written: apply does not fail on the index");
    let members = table(&plan, "k.members");
    assert_eq!(
        (members.insert, members.other_org, members.unique_taken),
        (1, 1, 2),
        "{members:#?}"
    );
    let mut after = state(&db).await;
    let written: Vec<String> = after[6]
        .iter()
        .filter(|l| !before[6].contains(l))
        .cloned()
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(
        written[0].starts_with("7\t"),
        "only dan comes back: {written:?}"
    );
    after[6].retain(|l| !l.starts_with("7\t"));
    assert_eq!(after, before, "nothing else changed");
}
