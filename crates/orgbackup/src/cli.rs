//! The command line. Each subcommand calls the same library functions the service will.

use crate::terminal::{TableBar, bytes_bar, human_bytes};
use crate::{admin_cli, demo, http, restore_cli};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use orgbackup_archive::{ArchiveReader, Envelope, KeyEncryptionKey};
use orgbackup_engine::{BackupMetadata, Ownership};
use orgbackup_service::backups::{self, CreateBackup};
use orgbackup_service::config::Settings;
use orgbackup_service::{archives, db, keys, orgs, worker};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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
    Admin(admin_cli::AdminCommand),
    /// Restore an organization from a backup: analyze, plan, apply, roll back.
    #[command(subcommand)]
    Restore(restore_cli::RestoreCommand),
    /// Retention: what expires (plan), delete expired backups now (run), an org's own retention (set).
    #[command(subcommand)]
    Retention(crate::retention_cli::RetentionCommand),
    /// Notification settings, in-app notifications, delivery of emails and webhooks.
    #[command(subcommand)]
    Notifications(crate::notifications_cli::NotificationsCommand),
    /// Backup schedules: create, list, show, update, delete; run-due runs one scheduler pass.
    #[command(subcommand)]
    Schedule(crate::schedule_cli::ScheduleCommand),
    /// Storage destinations of an organization: S3 connections, the default destination.
    #[command(subcommand)]
    Storage(crate::storage_cli::StorageCommand),
}

#[derive(Args)]
struct DemoArgs {
    /// Rows of the analytics table of the largest org; everything else scales from it.
    #[arg(long, default_value_t = 20_000)]
    rows: u64,
    /// Drop and recreate the demo schema and files.
    #[arg(long)]
    reset: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new key for the org and make it the one new encrypted backups use.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "custom key")]
        name: String,
    },
    /// List the org's keys (ids, fingerprints, status and backups sealed; never the keys).
    List {
        #[arg(long)]
        org: String,
    },
    /// Rotate: a new key becomes active; the previous one is retired and still opens its backups.
    Rotate {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "custom key")]
        name: String,
    },
    /// Destroy a key (crypto-shredding): every backup it sealed becomes unreadable, for good.
    Revoke {
        #[arg(long)]
        org: String,
        /// The key's id (first column of `keys list`).
        key: uuid::Uuid,
        /// Confirm; without it, the command says what would be lost and changes nothing.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
struct DiscoverArgs {
    /// Print instead the `COPY ... TO STDOUT` statement a backup runs for each table (they read
    /// the org from the `app.current_org_id` setting, as RLS does).
    #[arg(long)]
    sql: bool,
    /// Also count, per table, the rows no org owns and the rows whose ownership paths reach
    /// different orgs (reads every table whose ownership is nullable).
    #[arg(long)]
    scan: bool,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Back up one organization now.
    Create(CreateArgs),
    /// List an organization's backups.
    List {
        #[arg(long)]
        org: String,
    },
    /// Keep a backup whatever its age: retention never deletes a pinned backup.
    Pin {
        backup_id: uuid::Uuid,
        #[arg(long)]
        org: String,
    },
    /// Let retention apply to a pinned backup again.
    Unpin {
        backup_id: uuid::Uuid,
        #[arg(long)]
        org: String,
    },
}

#[derive(Args)]
struct CreateArgs {
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

#[derive(Args)]
struct FileArgs {
    file: PathBuf,
    /// A file holding a base64 key to open an encrypted backup (besides the configured master key).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Expected SHA-256 of the whole file; default: the `<file>.sha256` companion when present.
    #[arg(long)]
    sha256: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
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
            db::migrate(&pool, &settings).await?;
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
        Command::Restore(command) => return restore_cli::run(&settings, command).await,
        Command::Retention(command) => crate::retention_cli::run(&settings, command).await?,
        Command::Notifications(command) => {
            crate::notifications_cli::run(&settings, command).await?
        }
        Command::Storage(command) => crate::storage_cli::run(&settings, command).await?,
        Command::Schedule(command) => crate::schedule_cli::run(&settings, command).await?,
        Command::Backup(BackupCommand::Pin { backup_id, org }) => {
            crate::retention_cli::pin(&settings, &org, backup_id, true).await?
        }
        Command::Backup(BackupCommand::Unpin { backup_id, org }) => {
            crate::retention_cli::pin(&settings, &org, backup_id, false).await?
        }
        Command::Admin(command) => admin_cli::run(&settings, command).await?,
        Command::Serve { listen } => {
            let pool = db::connect_migrated(&settings).await?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!("listening on http://{}", listener.local_addr()?);
            use std::io::Write as _;
            std::io::stdout().flush()?;
            let settings = Arc::new(settings);
            let (stop, shutdown) = tokio::sync::watch::channel(false);
            let workers_alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut workers = Vec::new();
            for n in 0..settings.jobs.workers {
                let name = format!("{}-serve-{n}", worker_name());
                let worker = worker::run_worker(
                    pool.clone(),
                    settings.clone(),
                    name.clone(),
                    shutdown.clone(),
                );
                let alive = workers_alive.clone();
                let handle = tokio::spawn(async move {
                    // Counted while it runs, so /readyz sees a worker that stopped.
                    alive.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    worker.await;
                    alive.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                });
                workers.push((name, handle));
            }
            tokio::spawn(orgbackup_service::housekeeping::run_housekeeping(
                pool.clone(),
                settings.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(orgbackup_service::notifications::run_dispatcher(
                pool.clone(),
                settings.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(orgbackup_service::schedules::scheduler::run_scheduler(
                pool.clone(),
                settings.clone(),
                shutdown.clone(),
            ));
            let grace = std::time::Duration::from_secs(settings.jobs.shutdown_grace_seconds.into());
            let state = http::AppState {
                pool: pool.clone(),
                settings,
                workers_alive,
            };
            // Stop accepting requests and jobs on the first signal; in-flight requests finish.
            let stopping = async move {
                crate::shutdown::signal().await;
                eprintln!("shutting down: no new jobs; running jobs may finish for {grace:?}");
                let _ = stop.send(true);
            };
            crate::server::serve(listener, state, stopping).await?;
            crate::shutdown::drain(&pool, workers, grace).await;
        }
        Command::Worker { id } => {
            let pool = db::connect_migrated(&settings).await?;
            let (stop, shutdown) = tokio::sync::watch::channel(false);
            let name = id.unwrap_or_else(worker_name);
            eprintln!("worker {name} started");
            let settings = Arc::new(settings);
            tokio::spawn(orgbackup_service::housekeeping::run_housekeeping(
                pool.clone(),
                settings.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(orgbackup_service::notifications::run_dispatcher(
                pool.clone(),
                settings.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(orgbackup_service::schedules::scheduler::run_scheduler(
                pool.clone(),
                settings.clone(),
                shutdown.clone(),
            ));
            let grace = std::time::Duration::from_secs(settings.jobs.shutdown_grace_seconds.into());
            let worker = tokio::spawn(worker::run_worker(
                pool.clone(),
                settings,
                name.clone(),
                shutdown,
            ));
            crate::shutdown::signal().await;
            eprintln!("shutting down: no new jobs; the running job may finish for {grace:?}");
            let _ = stop.send(true);
            crate::shutdown::drain(&pool, vec![(name, worker)], grace).await;
        }
        Command::Inspect(args) => run_inspect(&settings, &args).await?,
        Command::Verify(args) => return run_verify(&settings, &args).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_demo(settings: &Settings, args: DemoArgs) -> anyhow::Result<()> {
    let pool = db::connect(settings, true).await?;
    db::migrate(&pool, settings).await?;
    let files_root = settings
        .backup
        .files_root
        .clone()
        .context("backup.files_root must be set for the demo's media files")?;
    let options = demo::DemoOptions {
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
    let summary = demo::create_demo(&pool, &options, &mut |step| eprintln!("demo: {step}")).await?;
    for org in &summary.orgs {
        println!("{}  {:<14} {:>10} rows", org.org_id, org.name, org.rows);
    }
    println!("{} rows, {} files", summary.total_rows, summary.files);
    Ok(())
}

async fn run_discover(settings: &Settings, args: &DiscoverArgs) -> anyhow::Result<()> {
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

async fn run_backup_create(settings: &Settings, args: CreateArgs) -> anyhow::Result<()> {
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

async fn run_backup_list(settings: &Settings, org: &str) -> anyhow::Result<()> {
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

async fn run_keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    match command {
        KeysCommand::Create { org, name } | KeysCommand::Rotate { org, name } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let key = keys::create_org_key(&pool, settings, org.org_id, &name).await?;
            println!(
                "key {} (version {}, fingerprint {}) is now the active key of {}",
                key.archive_key_id(org.org_id),
                key.version,
                key.fingerprint,
                org.name
            );
        }
        KeysCommand::List { org } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            for key in keys::list_org_keys(&pool, org.org_id).await? {
                println!(
                    "{}  v{:<3} {:<8} {}  {}  {:>5} backups  {}",
                    key.key_id,
                    key.version,
                    key.status,
                    key.fingerprint,
                    key.created_at.format("%Y-%m-%d %H:%M"),
                    key.backups,
                    key.name
                );
            }
        }
        KeysCommand::Revoke { org, key, yes } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let listed = keys::list_org_keys(&pool, org.org_id).await?;
            let Some(info) = listed.iter().find(|k| k.key_id == key) else {
                bail!(
                    "{} has no key {key} (see `orgbackup keys list --org ...`)",
                    org.name
                );
            };
            if !yes {
                bail!(
                    "revoking key v{} ({}) destroys it: {} backups sealed with it become unreadable, for good; run again with --yes to do it",
                    info.version,
                    info.fingerprint,
                    info.backups
                );
            }
            let revoked = keys::revoke_org_key(&pool, org.org_id, key).await?;
            println!(
                "key v{} ({}) destroyed; {} backups can no longer be opened",
                revoked.version, revoked.fingerprint, revoked.backups_unreadable
            );
        }
    }
    Ok(())
}

async fn open_archive(
    settings: &Settings,
    args: &FileArgs,
) -> anyhow::Result<ArchiveReader<std::io::BufReader<std::fs::File>>> {
    archives::open(settings, &args.file, args.key_file.as_deref()).await
}

async fn run_inspect(settings: &Settings, args: &FileArgs) -> anyhow::Result<()> {
    let reader = open_archive(settings, args).await?;
    let manifest = reader.manifest();
    if args.json {
        println!("{}", serde_json::to_string_pretty(manifest)?);
        return Ok(());
    }
    let metadata: BackupMetadata = serde_json::from_value(manifest.backup.clone())
        .context("the manifest's backup section is not an orgbackup backup description")?;
    let size = std::fs::metadata(&args.file)?.len();
    println!(
        "file          {} ({})",
        args.file.display(),
        human_bytes(size)
    );
    println!(
        "format        {} v{}",
        manifest.format, manifest.format_version
    );
    println!("backup        {}", metadata.backup_id);
    println!("organization  {} ({})", metadata.org.name, metadata.org.id);
    println!(
        "taken         {} .. {}",
        metadata.started_at, metadata.finished_at
    );
    println!(
        "source        database {} (PostgreSQL {})",
        metadata.source.database, metadata.source.server_version
    );
    println!(
        "encryption    {}",
        match reader.envelope() {
            Envelope::Plain => "none".to_string(),
            Envelope::Encrypted { key_id } => format!("AES-256-GCM, key {key_id}"),
        }
    );
    println!(
        "categories    {}{}",
        metadata.categories.join(", "),
        if metadata.whole { " (whole org)" } else { "" }
    );
    println!(
        "{:<36} {:<12} {:>12} {:>12} chunks",
        "table", "category", "rows", "bytes"
    );
    for table in &metadata.tables {
        println!(
            "{:<36} {:<12} {:>12} {:>12} {}",
            table.table.name.to_string(),
            table.table.category,
            table.row_count,
            table.data_bytes,
            table.chunks.len()
        );
    }
    println!(
        "total         {} rows, {} files, {} entries",
        metadata.total_rows(),
        metadata.files.len(),
        manifest.entries.len()
    );
    if !metadata.missing_files.is_empty() {
        println!("missing files {}", metadata.missing_files.len());
    }
    if !metadata.skipped_files.is_empty() {
        println!("skipped files {}", metadata.skipped_files.len());
        for skipped in &metadata.skipped_files {
            println!("  {} ({}): {}", skipped.path, skipped.table, skipped.reason);
        }
    }
    Ok(())
}

async fn run_verify(settings: &Settings, args: &FileArgs) -> anyhow::Result<ExitCode> {
    let expected = match &args.sha256 {
        Some(hex) => Some(hex.trim().to_lowercase()),
        None => read_sidecar(&args.file)?,
    };
    let outcome = async {
        if let Some(expected) = &expected {
            let actual = file_sha256(&args.file)?;
            if &actual != expected {
                bail!(
                    "the file's SHA-256 is {actual} but {expected} was expected: the file changed since it was written; fetch it again"
                );
            }
        }
        let mut reader = open_archive(settings, args).await?;
        let bar = bytes_bar(std::fs::metadata(&args.file)?.len(), "verifying");
        let report = reader.verify(&mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        });
        bar.finish_and_clear();
        let report = report?;
        anyhow::Ok(format!(
            "OK: {} entries, {} checked{}",
            report.entries_checked,
            human_bytes(report.bytes_checked),
            if expected.is_some() { ", whole-file SHA-256 matches" } else { "" }
        ))
    }
    .await;
    match outcome {
        Ok(message) => {
            println!("{}: {message}", args.file.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!(
                "{}: verification FAILED: {}",
                args.file.display(),
                crate::terminal::error_chain(&error)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn read_sidecar(file: &Path) -> anyhow::Result<Option<String>> {
    let sidecar = PathBuf::from(format!("{}.sha256", file.display()));
    match std::fs::read_to_string(&sidecar) {
        Ok(text) => Ok(text.split_whitespace().next().map(str::to_lowercase)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", sidecar.display())),
    }
}

fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}
