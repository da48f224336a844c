//! Discovery, extraction and restore (`restore::plan`, `restore::apply`) of one organization's data in a shared-schema
//! PostgreSQL database.

mod analyze;
mod catalog;
mod confined;
mod discovery;
mod error;
mod extract;
mod ident;
mod metadata;
mod org_id;
mod ownership;
mod progress;
pub mod restore;
mod tenancy;

pub use analyze::{
    CategoryCompatibility, ColumnPlan, Compatibility, CompatibilityReport, IssueKind, SchemaIssue,
    TableCompatibility, analyze, render_text,
};
pub use catalog::{Column, ForeignKey};
pub use discovery::{Ownership, OwnershipPath, Selection, TenantSchema, TenantTable, discover};
pub use error::{Error, is_transient};
pub use extract::{BackupOutcome, BackupRequest, run_backup};
pub use ident::{QualifiedName, quote_ident};
pub use metadata::{
    BackupMetadata, DATA_FORMAT, FileRecord, OrgInfo, SkippedFile, SourceInfo, TableRecord,
};
pub use org_id::OrgId;
pub use ownership::{OwnershipScan, scan as scan_ownership};
pub use progress::{BackupProgress, NoProgress, Progress};
pub use restore::{
    BlockedDeletion, ConflictAction, ConflictRecord, RecordDecision, RestoreMode, RestoreOutcome,
    RestorePlan, RestoreProgress, RestoreRequest, TablePlan,
};
pub use tenancy::{DeclaredRelation, FileReference, TenancyConfig};
