//! The `orgbackup` binary's edges, as a library: the JSON API (`http`), the web UI (`web`), the
//! command line (`cli`) and the server processes (`server`). `main.rs` only runs the command
//! line; tests start the server in-process (`server::serve` on port 0, with a fresh database)
//! and drain the job queue themselves, and spawn the binary where they test the process.

pub mod cli;
pub mod demo;
pub mod http;
mod logging;
mod metrics_listener;
pub mod server;
mod shutdown;
mod terminal;
mod web;

pub use terminal::error_chain;
