mod support;

use orgbackup_engine::{Ownership, QualifiedName, TenantSchema, discover};
use support::{TRICKY_SCHEMA, TestDb, tricky_config};

async fn tricky() -> (TestDb, TenantSchema) {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let schema = discover(&mut conn, &tricky_config()).await.unwrap();
    drop(conn);
    (db, schema)
}

fn name(table: &str) -> QualifiedName {
    QualifiedName::new("app", table)
}

fn position(schema: &TenantSchema, table: &str) -> usize {
    schema
        .table_index(&name(table))
        .unwrap_or_else(|| panic!("{table} is a tenant table"))
}

#[tokio::test]
async fn tenant_tables_are_found_directly_and_through_foreign_key_chains() {
    let (_db, schema) = tricky().await;
    let table = |t: &str| &schema.tables[position(&schema, t)];

    assert!(
        matches!(&table("projects").ownership, Ownership::Direct { column, .. } if column == "org_id")
    );
    assert!(
        matches!(&table("billing").ownership, Ownership::Direct { column, .. } if column == "tenant")
    );
    assert!(
        matches!(&table("tasks").ownership, Ownership::Through { parent, .. } if *parent == name("projects"))
    );
    assert!(
        matches!(&table("task_notes").ownership, Ownership::Through { parent, .. } if *parent == name("tasks"))
    );
    assert!(
        matches!(&table("attachments").ownership, Ownership::AnyPath { paths } if paths.len() == 1 && paths[0].parent == name("tasks")),
        "a nullable key only: rows belong to the org through any path, and discover says so"
    );
    assert!(table("attachments").ownership.nullable());
    assert!(!table("task_notes").ownership.nullable());
    assert!(matches!(
        &table("Project \"Labels\"").ownership,
        Ownership::Direct { .. }
    ));
}

#[tokio::test]
async fn global_tables_and_the_org_table_are_never_tenant_tables() {
    let (_db, schema) = tricky().await;
    assert_eq!(schema.global_tables, vec![name("countries"), name("users")]);
    assert!(schema.table_index(&name("orgs")).is_none());
    assert!(schema.table_index(&name("users")).is_none());
    // partitions are read through their parent
    assert!(schema.table_index(&name("events_2026_01")).is_none());
    assert!(schema.tables[position(&schema, "events")].partitioned);
    // the foreign key into a global table is kept for restore checks
    let projects = &schema.tables[position(&schema, "projects")];
    assert!(
        projects
            .foreign_keys
            .iter()
            .any(|fk| fk.references == name("users"))
    );
}

#[tokio::test]
async fn parents_come_before_children_and_cycles_are_grouped() {
    let (_db, schema) = tricky().await;
    let before = |a: &str, b: &str| {
        assert!(
            position(&schema, a) < position(&schema, b),
            "{a} before {b}"
        )
    };
    before("projects", "tasks");
    before("tasks", "task_notes");
    before("tasks", "attachments");
    before("Project \"Labels\"", "project_labels");
    before("projects", "project_labels");

    let teams = &schema.tables[position(&schema, "teams")];
    let members = &schema.tables[position(&schema, "members")];
    assert!(teams.cycle_group.is_some());
    assert_eq!(teams.cycle_group, members.cycle_group);
    assert!(schema.tables[position(&schema, "tasks")].self_referencing);
    assert!(
        schema.tables[position(&schema, "projects")]
            .cycle_group
            .is_none()
    );
}

#[tokio::test]
async fn columns_record_identity_generated_and_keys() {
    let (_db, schema) = tricky().await;
    let projects = &schema.tables[position(&schema, "projects")];
    let column = |n: &str| projects.columns.iter().find(|c| c.name == n).unwrap();
    assert_eq!(column("project_id").identity.as_deref(), Some("by default"));
    assert!(column("project_id").sequence.is_some());
    assert!(column("title_upper").generated);
    let stored: Vec<&str> = projects.stored_columns().map(|c| c.name.as_str()).collect();
    assert!(!stored.contains(&"title_upper"));
    let labels = &schema.tables[position(&schema, "Project \"Labels\"")];
    assert_eq!(
        labels.primary_key,
        Some(vec!["org_id".to_string(), "Label Name".to_string()])
    );
    let tasks = &schema.tables[position(&schema, "tasks")];
    assert!(
        tasks.columns[0]
            .sequence
            .as_deref()
            .unwrap()
            .contains("tasks_task_id_seq")
    );
}

#[tokio::test]
async fn categories_come_from_configuration_and_fall_back_to_parent_or_name() {
    let (_db, schema) = tricky().await;
    let category = |t: &str| schema.tables[position(&schema, t)].category.clone();
    assert_eq!(category("projects"), "projects");
    assert_eq!(category("task_notes"), "projects");
    assert_eq!(category("Project \"Labels\""), "projects");
    assert_eq!(category("teams"), "people");
    assert_eq!(category("attachments"), "projects"); // through tasks
    assert_eq!(category("billing"), "billing"); // no rule, direct: its own name
    // the default rules: *_events matches nothing here but `events` is its own category
    assert_eq!(category("events"), "events");
}

#[tokio::test]
async fn selecting_a_category_pulls_in_the_tables_it_references() {
    let (db, schema) = tricky().await;
    let selection = schema.select(&["people".to_string()]).unwrap();
    let names: Vec<String> = selection
        .tables
        .iter()
        .map(|&i| schema.tables[i].name.name.clone())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(selection.added_for_dependencies.is_empty());

    // project_labels needs "Project \"Labels\"" (same category) and projects
    let mut config = tricky_config();
    config
        .categories
        .insert("labels".into(), vec!["project_labels".into()]);
    let mut conn = db.pool.acquire().await.unwrap();
    let schema = discover(&mut conn, &config).await.unwrap();
    let selection = schema.select(&["labels".to_string()]).unwrap();
    let added: Vec<String> = selection
        .added_for_dependencies
        .iter()
        .map(|n| n.name.clone())
        .collect();
    assert!(added.contains(&"projects".to_string()), "{added:?}");
    assert!(
        added.contains(&"Project \"Labels\"".to_string()),
        "{added:?}"
    );

    let error = schema
        .select(&["nope".to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("nope") && error.contains("projects"),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_org_table_is_a_configuration_error_that_says_what_to_set() {
    let db = TestDb::new().await;
    db.execute(TRICKY_SCHEMA).await;
    let mut config = tricky_config();
    config.org_table = "app.organisations".into();
    let mut conn = db.pool.acquire().await.unwrap();
    let error = discover(&mut conn, &config).await.unwrap_err().to_string();
    assert!(
        error.contains("app.organisations") && error.contains("tenancy.org_table"),
        "{error}"
    );
}
