//! `orgbackup`: backups and restores of one organization in a shared-schema PostgreSQL database.

mod cli;
mod demo;
mod http;
mod logging;
mod metrics_listener;
mod server;
mod shutdown;
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
