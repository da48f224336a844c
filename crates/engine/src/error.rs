//! The engine's public error. Rules:
//! - every message says what went wrong and what a person can do about it;
//! - [`Error::is_retryable`] tells the job runner whether trying again later can help
//!   (a lost connection can, a corrupt archive or a bad configuration cannot).

use crate::ident::QualifiedName;
use crate::org_id::OrgId;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("unknown category `{category}`; the categories of this database are: {known}")]
    UnknownCategory { category: String, known: String },
    #[error(
        "organization {org_id} does not exist in {org_table}; check the id (`orgbackup orgs` lists them)"
    )]
    OrgNotFound {
        org_id: OrgId,
        org_table: QualifiedName,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("while reading {table}: {source}")]
    Extract {
        table: QualifiedName,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Archive(#[from] orgbackup_archive::Error),
    #[error("file `{path}`: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("output: {0}")]
    Output(#[source] std::io::Error),
    #[error(
        "the backup exceeds the size limit of {limit} bytes; choose fewer categories or a plan with a larger limit"
    )]
    SizeLimitExceeded { limit: u64 },
    #[error("restore: {0}")]
    Restore(String),
    /// A write the database refused, with its cause named in `message`; nothing was changed.
    #[error("restore: {message}")]
    RestoreWrite {
        message: String,
        #[source]
        source: sqlx::Error,
    },
    /// The restore lost a race with concurrent changes every time it was tried.
    #[error(
        "restore: concurrent changes to the organization's rows made the restore fail {attempts} times in a row (last: {last}); nothing was changed; try again when fewer edits are in progress"
    )]
    LostRace { attempts: u32, last: Box<Error> },
    #[error("the backup was cancelled")]
    Cancelled,
}

impl Error {
    /// Whether the same operation may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database(e) | Error::Extract { source: e, .. } => is_transient(e),
            Error::Output(_) | Error::LostRace { .. } => true,
            _ => false,
        }
    }

    /// Whether the operation failed only because a concurrent transaction changed the same rows
    /// (a serialization failure or a deadlock): nothing was changed, and the same operation on
    /// fresh data can succeed.
    pub fn lost_race(&self) -> bool {
        let (Error::Database(source)
        | Error::Extract { source, .. }
        | Error::RestoreWrite { source, .. }) = self
        else {
            return false;
        };
        matches!(source, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01")))
    }
}

/// Whether a database error is the connection's fault rather than the statement's: the server
/// restarted, the connection was dropped or killed, or no connection could be had in time.
/// Trying the same work again on a new connection may succeed.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions. 57P01-57P03: admin_shutdown (pg_terminate_backend, a
        // fast shutdown), crash_shutdown, cannot_connect_now (the server is starting).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_transient_and_statement_failures_are_not() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(is_transient(&sqlx::Error::Io(io())));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(
            Error::Extract {
                table: QualifiedName::new("s", "t"),
                source: sqlx::Error::Io(io()),
            }
            .is_retryable()
        );
        assert!(!Error::Config("x".into()).is_retryable());
    }
}
