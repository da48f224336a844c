//! Issue 13: what discovery decides and reports on the torture schema, the configuration that
//! corrects it (pinned paths, declared relations), and `discover --scan`'s counts, each checked
//! against plain SQL written here.

mod support;
mod torture;

use orgbackup_archive::ArchiveReader;
use orgbackup_engine::{
    BackupMetadata, BackupRequest, NoProgress, Ownership, QualifiedName, TenantSchema, discover,
    run_backup, scan_ownership,
};
use std::io::Cursor;
use std::sync::Arc;
use support::TestDb;
use torture::{A, config, torture_db};

async fn schema(db: &TestDb, config: &orgbackup_engine::TenancyConfig) -> TenantSchema {
    let mut conn = db.pool.acquire().await.unwrap();
    discover(&mut conn, config).await.unwrap()
}

fn ownership<'a>(schema: &'a TenantSchema, table: &str) -> &'a Ownership {
    let name = QualifiedName::new("torture", table);
    &schema.tables[schema
        .table_index(&name)
        .unwrap_or_else(|| panic!("{table} is a tenant table"))]
    .ownership
}

async fn count(db: &TestDb, sql: &str) -> u64 {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    n as u64
}

#[tokio::test]
async fn discovery_prefers_not_null_paths_and_says_which_tables_depend_on_nullable_ones() {
    let db = torture_db().await;
    let schema = schema(&db, &config(&["torture"])).await;

    assert!(
        matches!(ownership(&schema, "task_labels"), Ownership::Through { parent, .. } if parent.name == "tasks")
    );
    assert!(
        matches!(ownership(&schema, "wallet_transactions"), Ownership::Through { parent, .. } if parent.name == "wallets")
    );
    match ownership(&schema, "followups") {
        Ownership::AnyPath { paths } => {
            let parents: Vec<&str> = paths.iter().map(|p| p.parent.name.as_str()).collect();
            assert_eq!(parents.len(), 2, "{parents:?}");
            assert!(parents.contains(&"orders") && parents.contains(&"tickets"));
        }
        other => panic!("followups: {other:?}"),
    }
    assert!(matches!(
        ownership(&schema, "roles"),
        Ownership::Direct { nullable: true, .. }
    ));
    assert!(ownership(&schema, "roles").nullable());
    assert!(ownership(&schema, "followups").nullable());
    assert!(!ownership(&schema, "wallet_transactions").nullable());
    assert!(
        ownership(&schema, "followups")
            .describe()
            .contains("nullable path")
    );
}

#[tokio::test]
async fn a_scan_counts_the_rows_no_org_owns_and_the_ambiguous_ones() {
    let db = torture_db().await;
    let schema = schema(&db, &config(&["torture"])).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let scans = scan_ownership(&mut conn, &schema).await.unwrap();
    let scan = |table: &str| {
        scans
            .iter()
            .find(|s| s.table == QualifiedName::new("torture", table))
            .unwrap()
            .clone()
    };

    let shared_roles = count(
        &db,
        "SELECT count(*) FROM torture.roles WHERE org_id IS NULL",
    )
    .await;
    assert!(shared_roles > 0);
    assert_eq!(scan("roles").unowned, shared_roles);
    let ambiguous = count(
        &db,
        "SELECT count(*) FROM torture.followups f
           JOIN torture.orders o ON o.order_id = f.order_id
           JOIN torture.tickets t ON t.ticket_id = f.ticket_id
          WHERE o.org_id <> t.org_id",
    )
    .await;
    assert!(ambiguous > 0);
    assert_eq!(scan("followups").ambiguous, ambiguous);
    let unowned = count(
        &db,
        "SELECT count(*) FROM torture.followups WHERE order_id IS NULL AND ticket_id IS NULL",
    )
    .await;
    assert_eq!(scan("followups").unowned, unowned);
    assert_eq!(scan("wallet_transactions").unowned, 0);
    assert_eq!(
        scan("wallet_transactions").rows,
        count(&db, "SELECT count(*) FROM torture.wallet_transactions").await
    );
}

#[tokio::test]
async fn a_pinned_path_overrides_the_default_and_a_wrong_name_is_an_error_naming_the_keys() {
    let db = torture_db().await;
    let mut pinned = config(&["torture"]);
    pinned.ownership.insert(
        "torture.wallet_transactions".into(),
        "wallet_transactions_invoice_id_fkey".into(),
    );
    let schema = schema(&db, &pinned).await;
    match ownership(&schema, "wallet_transactions") {
        Ownership::AnyPath { paths } => {
            assert_eq!(paths.len(), 1);
            assert_eq!(paths[0].parent.name, "invoices");
        }
        other => panic!("{other:?}"),
    }

    let mut wrong = config(&["torture"]);
    wrong
        .ownership
        .insert("torture.wallet_transactions".into(), "no_such_key".into());
    let mut conn = db.pool.acquire().await.unwrap();
    let error = discover(&mut conn, &wrong).await.unwrap_err().to_string();
    assert!(
        error.contains("no_such_key") && error.contains("wallet_transactions_wallet_id_fkey"),
        "{error}"
    );
}

#[tokio::test]
async fn a_declared_relation_makes_a_table_without_foreign_keys_a_tenant_table() {
    let db = torture_db().await;
    db.execute(
        "CREATE TABLE torture.order_comments (comment_id int PRIMARY KEY, order_id uuid NOT NULL, body text NOT NULL);
         INSERT INTO torture.order_comments SELECT row_number() OVER (), order_id, 'comment of ' || org_id FROM torture.orders;",
    )
    .await;
    let plain = schema(&db, &config(&["torture"])).await;
    assert!(
        plain
            .global_tables
            .contains(&QualifiedName::new("torture", "order_comments")),
        "without a foreign key the table reaches no org"
    );

    let mut declared = config(&["torture"]);
    declared
        .relations
        .push("torture.order_comments(order_id) -> torture.orders(order_id)".into());
    let schema = schema(&db, &declared).await;
    assert!(
        matches!(ownership(&schema, "order_comments"), Ownership::Through { parent, .. } if parent.name == "orders")
    );

    let bytes = run_backup(
        &db.pool,
        &declared,
        &BackupRequest::new("b", A),
        Vec::new(),
        Arc::new(NoProgress),
    )
    .await
    .unwrap()
    .output;
    let reader = ArchiveReader::open(Cursor::new(bytes), &|_| None).unwrap();
    let metadata: BackupMetadata =
        serde_json::from_value(reader.manifest().backup.clone()).unwrap();
    let record = metadata
        .tables
        .iter()
        .find(|t| t.table.name == QualifiedName::new("torture", "order_comments"))
        .expect("the declared table is backed up");
    let expected = count(
        &db,
        &format!("SELECT count(*) FROM torture.order_comments c JOIN torture.orders o USING (order_id) WHERE o.org_id = '{A}'"),
    )
    .await;
    assert!(expected > 0);
    assert_eq!(record.row_count, expected);

    let mut broken = config(&["torture"]);
    broken
        .relations
        .push("torture.order_comments(nope) -> torture.orders(order_id)".into());
    let mut conn = db.pool.acquire().await.unwrap();
    let error = discover(&mut conn, &broken).await.unwrap_err().to_string();
    assert!(
        error.contains("order_comments") && error.contains("nope"),
        "{error}"
    );
}
