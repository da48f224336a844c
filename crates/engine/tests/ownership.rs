//! Issue 13 on the torture schema (tests/torture/schema.sql): for each of three orgs, the backup
//! holds exactly the rows that hand-written SQL (tests/torture/mod.rs), not the engine, gives the
//! org, compared row by row; and no archive holds a marker of another org or of a shared,
//! ambiguous or orphaned row.

mod support;
mod torture;

use torture::{
    GLOBAL_TABLES, ORGS, TORTURE_TABLES, backup, config, differences, tables_of, torture_db,
};

#[tokio::test]
async fn each_org_backup_holds_exactly_the_rows_the_ownership_rules_give_it() {
    let db = torture_db().await;
    let config = config(&["torture"]);
    let mut problems = Vec::new();
    for (_, org) in ORGS {
        let archive = backup(&db, &config, org).await;
        assert_eq!(archive.metadata.org.id, org);
        problems.extend(differences(&db, &archive, &tables_of(&[TORTURE_TABLES]), org).await);
    }
    assert!(
        problems.is_empty(),
        "{} differences between the backups and the ownership rules:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn no_archive_holds_a_marker_of_another_org_or_of_a_row_nobody_owns() {
    let db = torture_db().await;
    let config = config(&["torture"]);
    let mut problems = Vec::new();
    for (tag, org) in ORGS {
        let archive = backup(&db, &config, org).await;
        assert!(
            archive.everything.contains(&format!("@{tag}@")),
            "the archive of {tag} holds its own rows"
        );
        let found = torture::foreign_markers(&archive, org);
        if !found.is_empty() {
            problems.push(format!("archive of {tag} holds {found:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn partitions_inheritance_children_and_global_tables_appear_once_or_not_at_all() {
    let db = torture_db().await;
    let archive = backup(&db, &config(&["torture"]), torture::A).await;
    let listed: Vec<String> = archive
        .metadata
        .tables
        .iter()
        .map(|t| t.table.name.to_string())
        .collect();
    for partition in ["torture.events_2026_01", "torture.events_2026_02"] {
        assert!(
            !listed.iter().any(|t| t == partition),
            "{partition} is read through torture.events, not on its own"
        );
    }
    for global in GLOBAL_TABLES {
        assert!(!listed.iter().any(|t| t == global), "{global} is global");
    }
    // The parent of an inheritance tree holds its own rows; the child's rows are the child's.
    let documents = &archive.tables["torture.documents"];
    assert!(
        documents.iter().all(|l| l.contains("live document")),
        "the backup of torture.documents carries rows of its child table: {documents:?}"
    );
    assert_eq!(documents.len(), 2);
    assert_eq!(archive.tables["torture.archived_documents"].len(), 2);
    assert_eq!(archive.tables["torture.events"].len(), 4);
}

#[tokio::test]
async fn a_link_row_belongs_to_its_tasks_org_even_on_a_shared_or_foreign_label() {
    let db = torture_db().await;
    let config = config(&["torture"]);
    let a = backup(&db, &config, torture::A).await;
    let b = backup(&db, &config, torture::B).await;
    // A's task 4 labelled with B's label 2.
    let link = "tagged across orgs @A@";
    assert!(
        a.tables["torture.task_labels"]
            .iter()
            .any(|l| l.ends_with(link)),
        "A's row on B's label is missing from A's backup"
    );
    assert!(
        !b.tables["torture.task_labels"]
            .iter()
            .any(|l| l.ends_with(link)),
        "A's row on B's label is in B's backup"
    );
    // 4 tasks on A's own label, 3 on shared labels, 1 on B's label.
    assert_eq!(a.tables["torture.task_labels"].len(), 8);
    // Transactions without an invoice are backed up too (2 of 3 per wallet, 2 wallets).
    assert_eq!(a.tables["torture.wallet_transactions"].len(), 6);
    // Follow-ups through orders, through tickets and through both; not the ambiguous one.
    assert_eq!(a.tables["torture.followups"].len(), 3);
}
