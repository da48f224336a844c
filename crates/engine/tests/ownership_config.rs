//! Issue 13, configuration for real schemas: one database where schema `torture` names the org
//! `org_id` and schema `"Tenant Two"` names it `"tenantId"` (with no foreign key to the org table).
//! `TenancyConfig::org_columns` lists the names, tried in order. Kept in its own file because the
//! setting is new: the other ownership tests build on today's configuration.

mod support;
mod torture;

use orgbackup_engine::TenancyConfig;
use torture::{
    ORGS, TENANT_TWO_TABLES, TORTURE_TABLES, backup, differences, tables_of, torture_db,
};

fn config() -> TenancyConfig {
    TenancyConfig {
        org_columns: vec!["org_id".into(), "tenantId".into()],
        ..torture::config(&["torture", "Tenant Two"])
    }
}

#[tokio::test]
async fn every_org_column_name_of_the_configuration_owns_rows() {
    let db = torture_db().await;
    let config = config();
    let tables = tables_of(&[TORTURE_TABLES, TENANT_TWO_TABLES]);
    let mut problems = Vec::new();
    for (tag, org) in ORGS {
        let archive = backup(&db, &config, org).await;
        for table in TENANT_TWO_TABLES {
            if archive.tables.get(&table.label()).is_none_or(Vec::is_empty) {
                problems.push(format!("org {tag}: no rows of {} backed up", table.label()));
            }
        }
        problems.extend(differences(&db, &archive, &tables, org).await);
        let found = torture::foreign_markers(&archive, org);
        if !found.is_empty() {
            problems.push(format!("archive of {tag} holds {found:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences between the backups and the ownership rules:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
