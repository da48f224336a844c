//! `orgbackup`: backups and restores of one organization in a shared-schema PostgreSQL database.

use clap::Parser;
use orgbackup::{cli, error_chain};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}
