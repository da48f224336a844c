//! `orgbackup inspect` and `orgbackup verify`: a backup file, read and checked without a database.

use crate::terminal::{bytes_bar, human_bytes};
use anyhow::{Context, bail};
use clap::Args;
use orgbackup_archive::{ArchiveReader, Envelope};
use orgbackup_engine::BackupMetadata;
use orgbackup_service::archives;
use orgbackup_service::config::Settings;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub(super) struct FileArgs {
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

async fn open_archive(
    settings: &Settings,
    args: &FileArgs,
) -> anyhow::Result<ArchiveReader<std::io::BufReader<std::fs::File>>> {
    archives::open(settings, &args.file, args.key_file.as_deref()).await
}

pub(super) async fn run_inspect(settings: &Settings, args: &FileArgs) -> anyhow::Result<()> {
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

pub(super) async fn run_verify(settings: &Settings, args: &FileArgs) -> anyhow::Result<ExitCode> {
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
