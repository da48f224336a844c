//! Restore analysis against real schema drift: a backup of the tricky schema, then the schema
//! changed, then `analyze` on the manifest alone.

mod support;

use orgbackup_archive::ArchiveReader;
use orgbackup_engine::{
    BackupMetadata, BackupRequest, Compatibility, CompatibilityReport, IssueKind, NoProgress,
    TableCompatibility, TenancyConfig, TenantSchema, analyze, discover, render_text, run_backup,
};
use std::io::Cursor;
use std::sync::Arc;
use support::{ALPHA, TRICKY_SCHEMA, TestDb, tricky_config};

/// A backup of Alpha and today's schema.
struct Drift<'a> {
    /// Applied to the tricky schema before the backup.
    before: &'a str,
    /// Categories backed up (all when empty).
    categories: &'a [&'a str],
    /// Applied after the backup.
    after: &'a str,
    /// The configuration today's schema is discovered with.
    config: TenancyConfig,
}

impl Default for Drift<'_> {
    fn default() -> Self {
        Drift {
            before: "",
            categories: &[],
            after: "",
            config: tricky_config(),
        }
    }
}

impl Drift<'_> {
    async fn schemas(&self) -> (BackupMetadata, TenantSchema) {
        let db = TestDb::new().await;
        db.execute(TRICKY_SCHEMA).await;
        if !self.before.is_empty() {
            db.execute(self.before).await;
        }
        let mut request = BackupRequest::new("b", ALPHA);
        request.categories = self.categories.iter().map(|c| c.to_string()).collect();
        let outcome = run_backup(
            &db.pool,
            &tricky_config(),
            &request,
            Vec::new(),
            Arc::new(NoProgress),
        )
        .await
        .unwrap();
        let reader = ArchiveReader::open(Cursor::new(outcome.output), &|_| None).unwrap();
        let backup: BackupMetadata =
            serde_json::from_value(reader.manifest().backup.clone()).unwrap();
        if !self.after.is_empty() {
            db.execute(self.after).await;
        }
        let mut conn = db.pool.acquire().await.unwrap();
        let current = discover(&mut conn, &self.config).await.unwrap();
        (backup, current)
    }

    async fn analyze(&self) -> CompatibilityReport {
        let (backup, current) = self.schemas().await;
        let report = analyze(&backup, &current);
        assert_column_plans_are_exact(&backup, &current, &report);
        report
    }
}

/// Backs up Alpha, applies `after` to the schema, and analyzes the backup against it.
async fn analyze_after(after: &str) -> CompatibilityReport {
    Drift {
        after,
        ..Default::default()
    }
    .analyze()
    .await
}

/// `load` + `dropped` are the backup's data columns; `load` + `filled_by_default` are today's.
fn assert_column_plans_are_exact(
    backup: &BackupMetadata,
    current: &TenantSchema,
    report: &CompatibilityReport,
) {
    for (record, table) in backup.tables.iter().zip(&report.tables) {
        let plan = &table.column_plan;
        let mut data: Vec<&String> = plan.load.iter().chain(&plan.dropped).collect();
        data.sort();
        let mut expected: Vec<&String> = record.data_columns.iter().collect();
        expected.sort();
        assert_eq!(data, expected, "{}", table.table);
        let in_data_order: Vec<&String> = record
            .data_columns
            .iter()
            .filter(|c| plan.load.contains(c))
            .collect();
        assert_eq!(
            in_data_order,
            plan.load.iter().collect::<Vec<_>>(),
            "{}",
            table.table
        );
        if let Some(index) = current.table_index(&table.table) {
            let mut today: Vec<&String> = plan.load.iter().chain(&plan.filled_by_default).collect();
            today.sort();
            let mut expected: Vec<&String> = current.tables[index]
                .columns
                .iter()
                .map(|c| &c.name)
                .collect();
            expected.sort();
            assert_eq!(today, expected, "{}", table.table);
        }
    }
}

fn table<'a>(report: &'a CompatibilityReport, name: &str) -> &'a TableCompatibility {
    report
        .tables
        .iter()
        .find(|t| t.table.to_string() == name)
        .unwrap_or_else(|| panic!("{name} is not in the report"))
}

fn kinds(table: &TableCompatibility) -> Vec<IssueKind> {
    table.issues.iter().map(|i| i.kind).collect()
}

fn names(columns: &[String]) -> Vec<&str> {
    columns.iter().map(String::as_str).collect()
}

/// Every table but `changed` is compatible, without issues.
fn only_changed(report: &CompatibilityReport, changed: &[&str]) {
    for t in &report.tables {
        if !changed.contains(&t.table.to_string().as_str()) {
            assert_eq!(
                t.status,
                Compatibility::Compatible,
                "{}",
                render_text(report)
            );
            assert!(t.issues.is_empty(), "{}", render_text(report));
        }
    }
}

#[tokio::test]
async fn an_unchanged_schema_is_compatible_everywhere_and_loads_every_data_column() {
    let (backup, current) = Drift::default().schemas().await;
    let report = analyze(&backup, &current);
    only_changed(&report, &[]);
    assert_eq!(report.status, Compatibility::Compatible);
    for (record, table) in backup.tables.iter().zip(&report.tables) {
        assert_eq!(
            table.column_plan.load, record.data_columns,
            "{}",
            table.table
        );
        assert!(table.column_plan.dropped.is_empty());
    }
    let projects = table(&report, "app.projects");
    assert_eq!(
        names(&projects.column_plan.load),
        ["project_id", "org_id", "owner_id", "country", "title"]
    );
    assert_eq!(
        names(&projects.column_plan.filled_by_default),
        ["title_upper"],
        "the generated column is recomputed"
    );
    assert!(report.new_tables.is_empty());
    assert!(
        report
            .categories
            .iter()
            .all(|c| c.status == Compatibility::Compatible)
    );
}

#[tokio::test]
async fn a_table_gone_since_the_backup_is_incompatible() {
    let report = analyze_after("DROP TABLE app.attachments;").await;
    let attachments = table(&report, "app.attachments");
    assert_eq!(attachments.status, Compatibility::Incompatible);
    assert_eq!(kinds(attachments), [IssueKind::TableRemoved]);
    assert_eq!(
        names(&attachments.column_plan.dropped),
        ["attachment_id", "task_id", "path"]
    );
    assert!(attachments.column_plan.load.is_empty());
    assert!(
        attachments.issues[0].message.contains("app.attachments"),
        "{}",
        attachments.issues[0].message
    );
    assert_eq!(report.status, Compatibility::Incompatible);
    only_changed(&report, &["app.attachments"]);
}

#[tokio::test]
async fn a_tenant_table_created_since_the_backup_is_listed_as_new_and_is_not_an_issue() {
    let report = analyze_after(
        "CREATE TABLE app.comments (id int PRIMARY KEY, task_id bigint NOT NULL REFERENCES app.tasks, body text);",
    )
    .await;
    assert_eq!(
        report
            .new_tables
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["app.comments"]
    );
    assert_eq!(report.status, Compatibility::Compatible);
    assert!(
        render_text(&report).contains("not in the backup: left as it is"),
        "{}",
        render_text(&report)
    );
}

#[tokio::test]
async fn tables_of_categories_a_partial_backup_left_out_are_not_new() {
    let report = Drift {
        categories: &["people"],
        after: "CREATE TABLE app.member_badges (id int PRIMARY KEY, member_id int NOT NULL REFERENCES app.members, badge text);",
        ..Default::default()
    }
    .analyze()
    .await;
    assert_eq!(
        report
            .new_tables
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["app.member_badges"],
        "projects, tasks, ... were not asked for, so they are not new"
    );
    assert_eq!(report.status, Compatibility::Compatible);
}

#[tokio::test]
async fn a_removed_column_is_a_warning_and_its_values_are_dropped() {
    let report = analyze_after("ALTER TABLE app.tasks DROP COLUMN label;").await;
    let tasks = table(&report, "app.tasks");
    assert_eq!(tasks.status, Compatibility::Warnings);
    assert_eq!(kinds(tasks), [IssueKind::ColumnRemoved]);
    assert_eq!(tasks.issues[0].column.as_deref(), Some("label"));
    assert_eq!(names(&tasks.column_plan.dropped), ["label"]);
    assert_eq!(
        names(&tasks.column_plan.load),
        ["task_id", "project_id", "parent_task_id"]
    );
    assert_eq!(report.status, Compatibility::Warnings);
    only_changed(&report, &["app.tasks"]);
}

#[tokio::test]
async fn a_new_not_null_column_without_default_is_incompatible_and_says_what_to_do() {
    let report = analyze_after("ALTER TABLE app.tasks ADD COLUMN priority int NOT NULL DEFAULT 0; ALTER TABLE app.tasks ALTER priority DROP DEFAULT;").await;
    let tasks = table(&report, "app.tasks");
    assert_eq!(tasks.status, Compatibility::Incompatible);
    assert_eq!(kinds(tasks), [IssueKind::NotNullColumnAdded]);
    let message = &tasks.issues[0].message;
    assert!(
        message.contains("app.tasks.priority") && message.contains("give the column a default"),
        "{message}"
    );
    assert_eq!(report.status, Compatibility::Incompatible);
    let projects_category = report
        .categories
        .iter()
        .find(|c| c.category == "projects")
        .unwrap();
    assert_eq!(projects_category.status, Compatibility::Incompatible);
    let people = report
        .categories
        .iter()
        .find(|c| c.category == "people")
        .unwrap();
    assert_eq!(
        (people.status, people.tables),
        (Compatibility::Compatible, 2)
    );
}

#[tokio::test]
async fn a_new_nullable_or_defaulted_column_is_filled_by_postgresql() {
    let report = analyze_after("ALTER TABLE app.tasks ADD COLUMN note text; ALTER TABLE app.tasks ADD COLUMN done bool NOT NULL DEFAULT false;").await;
    let tasks = table(&report, "app.tasks");
    assert_eq!(tasks.status, Compatibility::Compatible);
    assert!(tasks.issues.is_empty());
    assert_eq!(
        names(&tasks.column_plan.filled_by_default),
        ["note", "done"]
    );
}

#[tokio::test]
async fn a_new_identity_or_generated_column_is_filled_by_postgresql() {
    let report = analyze_after(
        "ALTER TABLE app.task_notes ADD COLUMN seq int GENERATED ALWAYS AS IDENTITY;
         ALTER TABLE app.task_notes ADD COLUMN body_length int GENERATED ALWAYS AS (length(body)) STORED;",
    )
    .await;
    let notes = table(&report, "app.task_notes");
    assert_eq!(notes.status, Compatibility::Compatible);
    assert!(notes.issues.is_empty());
    assert_eq!(
        names(&notes.column_plan.filled_by_default),
        ["seq", "body_length"]
    );
    assert_eq!(
        names(&notes.column_plan.load),
        ["note_id", "task_id", "body"]
    );
}

#[tokio::test]
async fn a_type_change_is_a_warning_that_names_both_types() {
    let report = analyze_after("ALTER TABLE app.tasks ALTER label TYPE varchar(200);").await;
    let tasks = table(&report, "app.tasks");
    assert_eq!(tasks.status, Compatibility::Warnings);
    assert_eq!(kinds(tasks), [IssueKind::TypeChanged]);
    let message = &tasks.issues[0].message;
    assert!(
        message.contains("from text to character varying(200)"),
        "{message}"
    );
    assert!(
        tasks.column_plan.load.contains(&"label".to_string()),
        "a changed column is still loaded, cast"
    );
    only_changed(&report, &["app.tasks"]);
}

#[tokio::test]
async fn a_column_made_not_null_is_a_warning_about_null_rows() {
    let report = analyze_after("ALTER TABLE app.projects ALTER owner_id SET NOT NULL;").await;
    let projects = table(&report, "app.projects");
    assert_eq!(projects.status, Compatibility::Warnings);
    assert_eq!(kinds(projects), [IssueKind::NotNullAdded]);
    assert_eq!(projects.issues[0].column.as_deref(), Some("owner_id"));
    assert!(
        projects.issues[0]
            .message
            .contains("rows with NULL in owner_id are rejected"),
        "{}",
        projects.issues[0].message
    );
    only_changed(&report, &["app.projects"]);
}

#[tokio::test]
async fn a_stored_column_that_is_generated_now_is_recomputed_not_loaded() {
    let report = analyze_after(
        "ALTER TABLE app.tasks DROP COLUMN label;
         ALTER TABLE app.tasks ADD COLUMN label text GENERATED ALWAYS AS ('task ' || task_id) STORED;",
    )
    .await;
    let tasks = table(&report, "app.tasks");
    assert_eq!(tasks.status, Compatibility::Warnings);
    assert_eq!(kinds(tasks), [IssueKind::BecameGenerated]);
    assert_eq!(names(&tasks.column_plan.dropped), ["label"]);
    assert_eq!(names(&tasks.column_plan.filled_by_default), ["label"]);
    assert!(!tasks.column_plan.load.contains(&"label".to_string()));
}

#[tokio::test]
async fn a_column_that_is_no_longer_generated_gets_no_values_from_the_backup() {
    let report =
        analyze_after("ALTER TABLE app.projects ALTER COLUMN title_upper DROP EXPRESSION;").await;
    let projects = table(&report, "app.projects");
    assert_eq!(projects.status, Compatibility::Warnings);
    assert_eq!(kinds(projects), [IssueKind::NoLongerGenerated]);
    assert_eq!(
        names(&projects.column_plan.filled_by_default),
        ["title_upper"]
    );
}

#[tokio::test]
async fn a_changed_primary_key_is_incompatible() {
    let report = analyze_after(
        "ALTER TABLE app.billing DROP CONSTRAINT billing_pkey; ALTER TABLE app.billing ADD PRIMARY KEY (billing_id, plan);",
    )
    .await;
    let billing = table(&report, "app.billing");
    // The new key also made `plan` NOT NULL.
    assert_eq!(
        kinds(billing),
        [IssueKind::NotNullAdded, IssueKind::PrimaryKeyChanged]
    );
    assert_eq!(billing.status, Compatibility::Incompatible);
    assert!(
        billing.issues[1]
            .message
            .contains("from (billing_id) to (billing_id, plan)"),
        "{}",
        billing.issues[1].message
    );
}

#[tokio::test]
async fn a_removed_primary_key_is_incompatible() {
    let report = analyze_after("ALTER TABLE app.task_notes DROP CONSTRAINT task_notes_pkey;").await;
    let notes = table(&report, "app.task_notes");
    assert_eq!(kinds(notes), [IssueKind::PrimaryKeyChanged]);
    assert_eq!(notes.status, Compatibility::Incompatible);
    assert!(
        notes.issues[0].message.contains("was removed"),
        "{}",
        notes.issues[0].message
    );
}

#[tokio::test]
async fn a_table_without_primary_key_then_and_now_is_a_warning() {
    let report = Drift {
        before: "ALTER TABLE app.task_notes DROP CONSTRAINT task_notes_pkey;",
        ..Default::default()
    }
    .analyze()
    .await;
    let notes = table(&report, "app.task_notes");
    assert_eq!(kinds(notes), [IssueKind::NoPrimaryKey]);
    assert_eq!(notes.status, Compatibility::Warnings);
    assert!(
        notes.issues[0]
            .message
            .contains("conflicts cannot be detected"),
        "{}",
        notes.issues[0].message
    );
    only_changed(&report, &["app.task_notes"]);
}

#[tokio::test]
async fn a_primary_key_added_since_the_backup_is_a_warning() {
    let report = Drift {
        before: "ALTER TABLE app.task_notes DROP CONSTRAINT task_notes_pkey;",
        after: "ALTER TABLE app.task_notes ADD PRIMARY KEY (note_id);",
        ..Default::default()
    }
    .analyze()
    .await;
    let notes = table(&report, "app.task_notes");
    assert_eq!(kinds(notes), [IssueKind::PrimaryKeyAdded]);
    assert_eq!(notes.status, Compatibility::Warnings);
}

#[tokio::test]
async fn a_new_foreign_key_over_backed_up_columns_is_a_warning_about_missing_parents() {
    let report = analyze_after(
        "ALTER TABLE app.attachments ADD FOREIGN KEY (attachment_id) REFERENCES app.users NOT VALID;
         ALTER TABLE app.members ADD FOREIGN KEY (member_id) REFERENCES app.teams NOT VALID;",
    )
    .await;
    for name in ["app.attachments", "app.members"] {
        let t = table(&report, name);
        assert_eq!(kinds(t), [IssueKind::ForeignKeyAdded], "{name}");
        assert_eq!(t.status, Compatibility::Warnings, "{name}");
    }
    let message = &table(&report, "app.attachments").issues[0].message;
    assert!(
        message.contains("app.attachments(attachment_id) must now reference app.users"),
        "{message}"
    );
    only_changed(&report, &["app.attachments", "app.members"]);
}

#[tokio::test]
async fn a_new_foreign_key_over_new_columns_is_no_issue_as_they_are_filled_by_postgresql() {
    let report = analyze_after(
        "ALTER TABLE app.members ADD COLUMN mentor int REFERENCES app.members;
         ALTER TABLE app.task_notes ADD COLUMN author int; ALTER TABLE app.task_notes ADD FOREIGN KEY (author) REFERENCES app.users;",
    )
    .await;
    only_changed(&report, &[]);
    assert_eq!(
        names(
            &table(&report, "app.task_notes")
                .column_plan
                .filled_by_default
        ),
        ["author"]
    );
}

#[tokio::test]
async fn a_removed_or_renamed_foreign_key_is_no_issue() {
    let report = analyze_after(
        "ALTER TABLE app.projects DROP CONSTRAINT projects_owner_id_fkey;
         ALTER TABLE app.tasks RENAME CONSTRAINT tasks_project_id_fkey TO tasks_belong_to_a_project;",
    )
    .await;
    only_changed(&report, &[]);
    assert_eq!(report.status, Compatibility::Compatible);
}

#[tokio::test]
async fn a_foreign_key_pointing_to_another_table_now_is_a_warning() {
    let report = analyze_after(
        "CREATE TABLE app.regions (code text PRIMARY KEY); INSERT INTO app.regions VALUES ('DE'), ('EG');
         ALTER TABLE app.projects DROP CONSTRAINT projects_country_fkey;
         ALTER TABLE app.projects ADD CONSTRAINT projects_country_fkey FOREIGN KEY (country) REFERENCES app.regions;",
    )
    .await;
    let projects = table(&report, "app.projects");
    assert_eq!(kinds(projects), [IssueKind::ForeignKeyRetargeted]);
    assert_eq!(projects.status, Compatibility::Warnings);
    let message = &projects.issues[0].message;
    assert!(
        message.contains("app.countries(code)") && message.contains("app.regions(code)"),
        "{message}"
    );
    only_changed(&report, &["app.projects"]);
}

#[tokio::test]
async fn an_org_column_renamed_since_the_backup_is_an_ownership_change() {
    let report = analyze_after("ALTER TABLE app.billing RENAME COLUMN tenant TO owner_org;").await;
    let billing = table(&report, "app.billing");
    assert_eq!(
        kinds(billing),
        [
            IssueKind::ColumnRemoved,
            IssueKind::NotNullColumnAdded,
            IssueKind::OwnershipChanged
        ]
    );
    assert_eq!(billing.status, Compatibility::Incompatible);
    let message = &billing.issues[2].message;
    assert!(
        message.contains("directly by column tenant")
            && message.contains("directly by column owner_org"),
        "{message}"
    );
}

#[tokio::test]
async fn a_table_owned_through_a_parent_now_instead_of_its_org_column_is_incompatible() {
    let report = analyze_after("ALTER TABLE app.project_labels DROP COLUMN org_id CASCADE;").await;
    let labels = table(&report, "app.project_labels");
    assert_eq!(
        kinds(labels),
        [IssueKind::ColumnRemoved, IssueKind::OwnershipChanged]
    );
    assert_eq!(labels.status, Compatibility::Incompatible);
    assert!(
        labels.issues[1]
            .message
            .contains("through (project_id) referencing app.projects"),
        "{}",
        labels.issues[1].message
    );
}

#[tokio::test]
async fn a_table_moved_to_another_category_is_reported_under_todays_category_without_issue() {
    let mut config = tricky_config();
    config
        .categories
        .insert("money".to_string(), vec!["billing".to_string()]);
    let report = Drift {
        config,
        ..Default::default()
    }
    .analyze()
    .await;
    let billing = table(&report, "app.billing");
    assert_eq!(billing.category, "money");
    assert!(billing.issues.is_empty());
    assert!(
        report
            .categories
            .iter()
            .any(|c| c.category == "money" && c.tables == 1)
    );
    assert_eq!(report.status, Compatibility::Compatible);
}

#[tokio::test]
async fn the_text_report_has_a_line_per_table_with_its_issues_indented() {
    let report = analyze_after("ALTER TABLE app.tasks DROP COLUMN label;").await;
    let text = render_text(&report);
    let lines: Vec<&str> = text.lines().collect();
    let tasks = lines
        .iter()
        .position(|l| l.contains("app.tasks"))
        .expect("a line for app.tasks");
    assert!(
        lines[tasks].starts_with("warnings") && lines[tasks].ends_with("projects"),
        "{text}"
    );
    assert!(
        lines[tasks + 1].starts_with("    - column app.tasks.label was removed"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("compatible") && l.contains("app.billing")),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"overall: warnings"));
    assert_eq!(
        lines.len(),
        report.tables.len() + 2,
        "one line per table, one issue, the overall status"
    );
}

#[tokio::test]
async fn the_report_serializes_statuses_and_kinds_in_snake_case() {
    let report = analyze_after("ALTER TABLE app.tasks DROP COLUMN label;").await;
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"], "warnings");
    let tasks = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"].to_string().contains("tasks") && t["category"] == "projects")
        .unwrap();
    assert_eq!(tasks["issues"][0]["kind"], "column_removed");
    let back: CompatibilityReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
    assert!(Compatibility::Compatible < Compatibility::Warnings);
    assert!(Compatibility::Warnings < Compatibility::Incompatible);
}
