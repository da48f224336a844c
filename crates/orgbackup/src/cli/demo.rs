//! `orgbackup demo`: a demo tenant database in the CMIS shape.

use anyhow::Context;
use clap::Args;
use orgbackup_service::config::Settings;
use orgbackup_service::db;

#[derive(Args)]
pub(super) struct DemoArgs {
    /// Rows of the analytics table of the largest org; everything else scales from it.
    #[arg(long, default_value_t = 20_000)]
    rows: u64,
    /// Drop and recreate the demo schema and files.
    #[arg(long)]
    reset: bool,
}

pub(super) async fn run_demo(settings: &Settings, args: DemoArgs) -> anyhow::Result<()> {
    let pool = db::connect(settings, true).await?;
    db::migrate(&pool, &settings.app_schema).await?;
    let files_root = settings
        .backup
        .files_root
        .clone()
        .context("backup.files_root must be set for the demo's media files")?;
    let options = crate::demo::DemoOptions {
        schema: settings
            .tenancy
            .schemas
            .first()
            .cloned()
            .unwrap_or_else(|| "cmis".into()),
        files_root,
        large_org_rows: args.rows,
        reset: args.reset,
    };
    let summary =
        crate::demo::create_demo(&pool, &options, &mut |step| eprintln!("demo: {step}")).await?;
    for org in &summary.orgs {
        println!("{}  {:<14} {:>10} rows", org.org_id, org.name, org.rows);
    }
    println!("{} rows, {} files", summary.total_rows, summary.files);
    Ok(())
}
