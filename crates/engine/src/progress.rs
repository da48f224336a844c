//! Progress of long operations, reported to whoever runs them: a terminal bar for the CLI, the job
//! row for the service, nothing for tests.

/// A snapshot of a backup's progress. Counters only grow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupProgress {
    pub tables_total: usize,
    pub tables_done: usize,
    pub current_table: Option<String>,
    pub rows: u64,
    /// Bytes of table data read from PostgreSQL (COPY text).
    pub bytes_read: u64,
    pub files: u64,
}

pub trait Progress: Send + Sync {
    fn backup(&self, progress: &BackupProgress);
    fn restore(&self, _progress: &crate::restore::RestoreProgress) {}
}

/// Reports nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn backup(&self, _: &BackupProgress) {}
}
