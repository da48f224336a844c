//! `orgbackup`: backups and restores of one organization in a shared-schema PostgreSQL database.

mod admin_cli;
mod cli;
mod demo;
mod http;
mod logging;
mod metrics_listener;
mod notifications_cli;
mod restore_cli;
mod retention_cli;
mod schedule_cli;
mod server;
mod shutdown;
mod storage_cli;
mod terminal;
mod web;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", terminal::error_chain(&error));
            ExitCode::FAILURE
        }
    }
}
