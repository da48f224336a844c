//! `orgbackup discover`: the tenant tables found, their ownership, category and order.

use clap::Args;
use orgbackup_engine::Ownership;
use orgbackup_service::config::Settings;
use orgbackup_service::db;

#[derive(Args)]
pub(super) struct DiscoverArgs {
    /// Print instead the `COPY ... TO STDOUT` statement a backup runs for each table (they read
    /// the org from the `app.current_org_id` setting, as RLS does).
    #[arg(long)]
    sql: bool,
    /// Also count, per table, the rows no org owns and the rows whose ownership paths reach
    /// different orgs (reads every table whose ownership is nullable).
    #[arg(long)]
    scan: bool,
}

pub(super) async fn run_discover(settings: &Settings, args: &DiscoverArgs) -> anyhow::Result<()> {
    let pool = db::connect(settings, false).await?;
    let mut conn = pool.acquire().await?;
    let schema = orgbackup_engine::discover(&mut conn, &settings.tenancy).await?;
    if args.sql {
        for index in 0..schema.tables.len() {
            println!("COPY ({}) TO STDOUT;", schema.extract_query(index));
        }
        return Ok(());
    }
    let scans = if args.scan {
        Some(orgbackup_engine::scan_ownership(&mut conn, &schema).await?)
    } else {
        None
    };
    println!("{:<4} {:<32} {:<12} owner", "#", "table", "category");
    let mut warnings = Vec::new();
    for (i, table) in schema.tables.iter().enumerate() {
        let owner = table.ownership.describe();
        let scan = scans.as_ref().map(|s| &s[i]);
        let notes = [
            table.cycle_group.map(|g| format!("cycle #{g}")),
            table
                .self_referencing
                .then(|| "self-referencing".to_string()),
            table.partitioned.then(|| "partitioned".to_string()),
            scan.map(|s| {
                format!(
                    "{} rows, {} unowned, {} ambiguous",
                    s.rows, s.unowned, s.ambiguous
                )
            }),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        println!(
            "{:<4} {:<32} {:<12} {owner} {notes}",
            i + 1,
            table.name.to_string(),
            table.category
        );
        match &table.ownership {
            Ownership::Direct { nullable: true, .. } => warnings.push(format!(
                "{}: its org column is nullable; rows with NULL are shared by every org and are in no backup",
                table.name
            )),
            Ownership::AnyPath { .. } => warnings.push(format!(
                "{}: no path of NOT NULL foreign keys leads to an org; a row is backed up with the org any of its keys reaches, rows reaching none or two orgs are in no backup (pin a path with tenancy.ownership, or count them with --scan)",
                table.name
            )),
            _ => {}
        }
        if let Some(scan) = scan
            && (scan.unowned > 0 || scan.ambiguous > 0)
        {
            warnings.push(format!(
                "{}: {} rows belong to no org and {} rows are ambiguous: they are in no backup",
                table.name, scan.unowned, scan.ambiguous
            ));
        }
    }
    let globals: Vec<String> = schema
        .global_tables
        .iter()
        .map(ToString::to_string)
        .collect();
    println!("global (never backed up): {}", globals.join(", "));
    for warning in &warnings {
        println!("warning: {warning}");
    }
    Ok(())
}
