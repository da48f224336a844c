//! The org-backup-restore service as a library: every use case (backups, restores, jobs,
//! schedules, retention, notifications, keys, storage, accounts) with its queries and rules.
//! The `orgbackup` binary's edges (JSON API, web UI, CLI, the scheduler and worker loops) call
//! these functions the same way; nothing here knows HTTP, HTML or the command line.

pub mod accounts;
pub mod archives;
pub mod audit;
pub mod backups;
pub mod config;
pub mod db;
pub mod errors;
pub mod housekeeping;
pub mod i18n;
pub mod ids;
pub mod job_events;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod notifications;
pub mod orgs;
pub mod outbound;
pub mod permissions;
pub mod plans;
pub mod progress_store;
pub mod restores;
pub mod retention;
pub mod schedules;
pub mod states;
pub mod storage;
pub mod text_enum;
pub mod worker;
