//! The command line: one module per command group. Each subcommand calls the same service
//! functions the API and the web call; `serve` and `worker` run the processes of `crate::server`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use orgbackup_archive::KeyEncryptionKey;
use orgbackup_service::config::Settings;
use orgbackup_service::{db, orgs};
use std::path::PathBuf;
use std::process::ExitCode;

mod admin;
mod backups;
mod demo;
mod discover;
mod files;
mod keys;
mod notifications;
mod restore;
mod retention;
mod schedules;
mod storage;

use backups::{BackupCommand, run_backup_create, run_backup_list};
use demo::{DemoArgs, run_demo};
use discover::{DiscoverArgs, run_discover};
use files::{FileArgs, run_inspect, run_verify};
use keys::{KeysCommand, run_keys};

#[derive(Parser)]
#[command(
    name = "orgbackup",
    version,
    about = "Backups and restores of one organization in a shared PostgreSQL database"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./orgbackup.toml when present. ORGBACKUP__* variables override it.
    #[arg(long, global = true, env = "ORGBACKUP_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the service's schema and tables (idempotent).
    Migrate,
    /// Create a demo tenant database in the CMIS shape (orgs of very different sizes, media files).
    Demo(DemoArgs),
    /// List organizations.
    Orgs,
    /// Show the tenant tables found in the database: ownership, category, dependency order.
    Discover(DiscoverArgs),
    /// Back up organizations.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Show what a backup file holds (reads only its manifest).
    Inspect(FileArgs),
    /// Check every checksum (and, for encrypted files, every authentication tag) of a backup file.
    Verify(FileArgs),
    /// Print a new random master key (base64) for encryption.master_key.
    Keygen,
    /// Print the OpenAPI document of API v1, generated from the code (docs/openapi.json is its output).
    Openapi {
        /// Write it to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// An organization's custom encryption keys (wrapped by the master key).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run the HTTP API (prints `listening on http://ADDR` once bound).
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8080", env = "ORGBACKUP_LISTEN")]
        listen: String,
    },
    /// Run a worker that executes queued backups (as many as you like, on any host).
    Worker {
        /// The worker's name in the job rows (default: host and process id).
        #[arg(long)]
        id: Option<String>,
    },
    /// Users, roles and API tokens.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Restore an organization from a backup: analyze, plan, apply, roll back.
    #[command(subcommand)]
    Restore(restore::RestoreCommand),
    /// Retention: what expires (plan), delete expired backups now (run), an org's own retention (set).
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Notification settings, in-app notifications, delivery of emails and webhooks.
    #[command(subcommand)]
    Notifications(notifications::NotificationsCommand),
    /// Backup schedules: create, list, show, update, delete; run-due runs one scheduler pass.
    #[command(subcommand)]
    Schedule(schedules::ScheduleCommand),
    /// Storage destinations of an organization: S3 connections, the default destination.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    crate::logging::init(&settings.log);
    match cli.command {
        Command::Keygen => {
            println!("{}", KeyEncryptionKey::generate().to_base64());
        }
        Command::Openapi { output } => {
            let document = crate::server::openapi_document();
            match output {
                Some(path) => std::fs::write(&path, document)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{document}"),
            }
        }
        Command::Migrate => {
            let pool = db::connect(&settings, true).await?;
            db::migrate(&pool, &settings.app_schema).await?;
            println!("migrations applied to schema {}", settings.app_schema);
        }
        Command::Demo(args) => run_demo(&settings, args).await?,
        Command::Orgs => {
            let pool = db::connect(&settings, false).await?;
            for org in orgs::list(&pool, &settings.tenancy).await? {
                println!("{}  {}", org.org_id, org.name);
            }
        }
        Command::Discover(args) => run_discover(&settings, &args).await?,
        Command::Backup(BackupCommand::Create(args)) => run_backup_create(&settings, args).await?,
        Command::Backup(BackupCommand::List { org }) => run_backup_list(&settings, &org).await?,
        Command::Keys(command) => run_keys(&settings, command).await?,
        Command::Restore(command) => return restore::run(&settings, command).await,
        Command::Retention(command) => retention::run(&settings, command).await?,
        Command::Notifications(command) => notifications::run(&settings, command).await?,
        Command::Storage(command) => storage::run(&settings, command).await?,
        Command::Schedule(command) => schedules::run(&settings, command).await?,
        Command::Backup(BackupCommand::Pin { backup_id, org }) => {
            retention::pin(&settings, &org, backup_id, true).await?
        }
        Command::Backup(BackupCommand::Unpin { backup_id, org }) => {
            retention::pin(&settings, &org, backup_id, false).await?
        }
        Command::Admin(command) => admin::run(&settings, command).await?,
        Command::Serve { listen } => crate::server::process::serve(settings, &listen).await?,
        Command::Worker { id } => crate::server::process::worker(settings, id).await?,
        Command::Inspect(args) => run_inspect(&settings, &args).await?,
        Command::Verify(args) => return run_verify(&settings, &args).await,
    }
    Ok(ExitCode::SUCCESS)
}
