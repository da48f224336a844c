//! Discovery, extraction and (later) restore of one organization's data in a shared-schema
//! PostgreSQL database.

mod catalog;
mod discovery;
mod error;
mod extract;
mod ident;
mod metadata;
mod progress;
mod tenancy;

pub use catalog::{Column, ForeignKey};
pub use discovery::{Ownership, Selection, TenantSchema, TenantTable, discover};
pub use error::Error;
pub use extract::{BackupOutcome, BackupRequest, run_backup};
pub use ident::{QualifiedName, quote_ident};
pub use metadata::{BackupMetadata, DATA_FORMAT, FileRecord, OrgInfo, SourceInfo, TableRecord};
pub use progress::{BackupProgress, NoProgress, Progress};
pub use tenancy::{FileReference, TenancyConfig};
