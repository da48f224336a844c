//! Restore analysis against real schema drift: a backup of the tricky schema, then the schema
//! changed, then `analyze` on the manifest alone.

mod support;

use orgbackup_archive::ArchiveReader;
use orgbackup_engine::{
    BackupMetadata, BackupRequest, Compatibility, CompatibilityReport, IssueKind, NoProgress,
    TableCompatibility, analyze, discover, render_text, run_backup,
};
use std::io::Cursor;
use std::sync::Arc;
use support::{ALPHA, TRICKY_SCHEMA, TestDb, tricky_config};

/// Backs up Alpha, applies `drift` to the schema, and analyzes the backup against it.
async fn analyze_after(drift: &str) -> CompatibilityReport {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let outcome = run_backup(
        &db.pool,
        &tricky_config(),
        &BackupRequest::new("b", ALPHA),
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    let reader = ArchiveReader::open(Cursor::new(outcome.output), &|_| None).unwrap();
    let backup: BackupMetadata = serde_json::from_value(reader.manifest().backup.clone()).unwrap();
    if !drift.is_empty() {
        db.execute(drift).await;
    }
    let mut conn = db.pool.acquire().await.unwrap();
    let current = discover(&mut conn, &tricky_config()).await.unwrap();
    analyze(&backup, &current)
}

fn table<'a>(report: &'a CompatibilityReport, name: &str) -> &'a TableCompatibility {
    report
        .tables
        .iter()
        .find(|t| t.table.to_string() == name)
        .unwrap()
}

fn kinds(table: &TableCompatibility) -> Vec<IssueKind> {
    table.issues.iter().map(|i| i.kind).collect()
}

#[tokio::test]
async fn an_unchanged_schema_is_compatible_everywhere() {
    let report = analyze_after("").await;
    let tables = report
        .tables
        .iter()
        .filter(|t| t.status != Compatibility::Compatible);
    // attachments has no NOT NULL path to an org but a primary key: compatible too.
    assert_eq!(tables.count(), 0, "{}", render_text(&report));
    assert_eq!(report.status, Compatibility::Compatible);
    let projects = table(&report, "app.projects");
    assert_eq!(
        projects.column_plan.load,
        ["project_id", "org_id", "owner_id", "country", "title"]
    );
    assert_eq!(
        projects.column_plan.filled_by_default,
        ["title_upper"],
        "the generated column is recomputed"
    );
    assert!(report.new_tables.is_empty());
}

#[tokio::test]
async fn a_new_not_null_column_without_default_is_incompatible_and_says_what_to_do() {
    let report = analyze_after("ALTER TABLE app.tasks ADD COLUMN priority int NOT NULL DEFAULT 0; ALTER TABLE app.tasks ALTER priority DROP DEFAULT;").await;
    let tasks = table(&report, "app.tasks");
    assert_eq!(tasks.status, Compatibility::Incompatible);
    assert_eq!(kinds(tasks), [IssueKind::NotNullColumnAdded]);
    assert!(
        tasks.issues[0]
            .message
            .contains("give the column a default"),
        "{}",
        tasks.issues[0].message
    );
    assert_eq!(report.status, Compatibility::Incompatible);
    let projects_category = report
        .categories
        .iter()
        .find(|c| c.category == "projects")
        .unwrap();
    assert_eq!(projects_category.status, Compatibility::Incompatible);
}

#[tokio::test]
async fn a_new_nullable_or_defaulted_column_is_filled_by_postgresql() {
    let report = analyze_after("ALTER TABLE app.tasks ADD COLUMN note text; ALTER TABLE app.tasks ADD COLUMN done bool NOT NULL DEFAULT false;").await;
    let tasks = table(&report, "app.tasks");
    assert_eq!(tasks.status, Compatibility::Compatible);
    assert_eq!(tasks.column_plan.filled_by_default, ["note", "done"]);
}

#[tokio::test]
async fn a_removed_column_is_a_warning_and_its_values_are_dropped() {
    let report = analyze_after("ALTER TABLE app.tasks DROP COLUMN label;").await;
    let tasks = table(&report, "app.tasks");
    assert_eq!(tasks.status, Compatibility::Warnings);
    assert_eq!(kinds(tasks), [IssueKind::ColumnRemoved]);
    assert_eq!(tasks.column_plan.dropped, ["label"]);
    assert!(!tasks.column_plan.load.contains(&"label".to_string()));
}

#[tokio::test]
async fn type_changes_and_new_not_null_constraints_are_warnings() {
    let report = analyze_after("ALTER TABLE app.tasks ALTER label TYPE varchar(200); ALTER TABLE app.projects ALTER owner_id SET NOT NULL;").await;
    assert_eq!(kinds(table(&report, "app.tasks")), [IssueKind::TypeChanged]);
    assert!(
        table(&report, "app.tasks").issues[0]
            .message
            .contains("character varying(200)")
    );
    assert_eq!(
        kinds(table(&report, "app.projects")),
        [IssueKind::NotNullAdded]
    );
}

#[tokio::test]
async fn a_dropped_table_is_incompatible_and_a_new_table_is_listed() {
    let report = analyze_after(
        "DROP TABLE app.attachments; CREATE TABLE app.comments (id int PRIMARY KEY, task_id bigint NOT NULL REFERENCES app.tasks, body text);",
    )
    .await;
    assert_eq!(
        kinds(table(&report, "app.attachments")),
        [IssueKind::TableRemoved]
    );
    assert_eq!(
        report
            .new_tables
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["app.comments"]
    );
}

#[tokio::test]
async fn key_and_foreign_key_changes_are_reported() {
    let report = analyze_after(
        "ALTER TABLE app.billing DROP CONSTRAINT billing_pkey; ALTER TABLE app.billing ADD PRIMARY KEY (billing_id, plan);
         ALTER TABLE app.members ADD COLUMN mentor int REFERENCES app.members;
         ALTER TABLE app.task_notes ADD COLUMN author int; ALTER TABLE app.task_notes ADD FOREIGN KEY (author) REFERENCES app.users;",
    )
    .await;
    // The new key also made `plan` NOT NULL.
    assert_eq!(
        kinds(table(&report, "app.billing")),
        [IssueKind::NotNullAdded, IssueKind::PrimaryKeyChanged]
    );
    assert_eq!(
        table(&report, "app.billing").status,
        Compatibility::Incompatible
    );
    assert_eq!(
        kinds(table(&report, "app.task_notes")),
        [IssueKind::ForeignKeyAdded]
    );
    assert_eq!(
        table(&report, "app.task_notes").status,
        Compatibility::Warnings
    );
}

#[tokio::test]
async fn a_change_of_ownership_is_incompatible() {
    let report = analyze_after("ALTER TABLE app.billing RENAME COLUMN tenant TO owner_org;").await;
    let billing = table(&report, "app.billing");
    assert!(
        kinds(billing).contains(&IssueKind::OwnershipChanged),
        "{:?}",
        kinds(billing)
    );
    let text = render_text(&report);
    assert!(
        text.contains("INCOMPATIBLE") && text.contains("app.billing"),
        "{text}"
    );
}
