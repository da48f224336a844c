//! `orgbackup backup create|list|pin|unpin`.

use crate::terminal::{TableBar, human_bytes};
use clap::{Args, Subcommand};
use orgbackup_service::backups::{self, CreateBackup};
use orgbackup_service::config::Settings;
use orgbackup_service::ids::BackupId;
use orgbackup_service::{db, orgs};
use std::sync::Arc;

#[derive(Subcommand)]
pub(super) enum BackupCommand {
    /// Back up one organization now.
    Create(CreateArgs),
    /// List an organization's backups.
    List {
        #[arg(long)]
        org: String,
    },
    /// Keep a backup whatever its age: retention never deletes a pinned backup.
    Pin {
        backup_id: BackupId,
        #[arg(long)]
        org: String,
    },
    /// Let retention apply to a pinned backup again.
    Unpin {
        backup_id: BackupId,
        #[arg(long)]
        org: String,
    },
}

#[derive(Args)]
pub(super) struct CreateArgs {
    /// Organization id or exact name.
    #[arg(long)]
    org: String,
    /// Categories to include (comma separated); default: everything.
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Encrypt with AES-256-GCM (data key wrapped by the master key).
    #[arg(long)]
    encrypt: bool,
    #[arg(long)]
    name: Option<String>,
    /// Where to store it: a storage connection's name or id, or `local`; default: the org's
    /// default destination (`orgbackup storage default`).
    #[arg(long)]
    destination: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run_backup_create(settings: &Settings, args: CreateArgs) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    let org = orgs::resolve(&pool, &settings.tenancy, &args.org).await?;
    let bar = Arc::new(TableBar::new());
    let request = CreateBackup {
        org_id: org.org_id,
        name: args.name,
        categories: args.categories,
        encrypt: args.encrypt,
        created_by: None,
        // The operator's command line is not bound by plan limits.
        max_archive_bytes: None,
        destination: orgbackup_service::storage::connections::resolve(
            &pool,
            org.org_id,
            args.destination.as_deref(),
        )
        .await?,
        schedule_id: None,
        retry_on_transient: false,
    };
    let result = backups::create_backup(&pool, settings, &request, bar.clone()).await;
    bar.finish();
    let created = result?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "backup_id": created.backup_id,
                "path": created.path,
                "size": created.size,
                "sha256": created.sha256,
                "encrypted": created.encrypted,
                "rows": created.metadata.total_rows(),
                "tables": created.metadata.tables.len(),
                "files": created.metadata.files.len(),
                "seconds": (created.finished_at - created.started_at).num_milliseconds() as f64 / 1000.0,
            })
        );
    } else {
        println!("backup {} of {} completed", created.backup_id, org.name);
        println!("  file     {}", created.path.display());
        println!(
            "  size     {} ({} bytes)",
            human_bytes(created.size),
            created.size
        );
        println!("  sha256   {}", created.sha256);
        println!(
            "  content  {} rows in {} tables, {} files{}",
            created.metadata.total_rows(),
            created.metadata.tables.len(),
            created.metadata.files.len(),
            if created.encrypted { ", encrypted" } else { "" }
        );
        if !created.metadata.missing_files.is_empty() {
            println!(
                "  warning  {} referenced files were missing on disk",
                created.metadata.missing_files.len()
            );
        }
        for skipped in &created.metadata.skipped_files {
            println!(
                "  skipped  {} ({}): {}",
                skipped.path, skipped.table, skipped.reason
            );
        }
    }
    Ok(())
}

pub(super) async fn run_backup_list(settings: &Settings, org: &str) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    let org = orgs::resolve(&pool, &settings.tenancy, org).await?;
    for backup in backups::list_backups(&pool, org.org_id).await? {
        println!(
            "{}  {:<10} {:>10} {:>10} rows  {}  {}",
            backup.backup_id,
            backup.status,
            backup
                .file_size
                .map(|s| human_bytes(s as u64))
                .unwrap_or_default(),
            backup.total_rows.unwrap_or(0),
            backup.created_at.format("%Y-%m-%d %H:%M:%S"),
            backup.name
        );
    }
    Ok(())
}
