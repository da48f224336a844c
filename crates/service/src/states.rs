//! The states of the service's state machines, one enum each, stored as text in their tables'
//! `status` columns (whose `CHECK (status IN (...))` lists the same words). They live here, below
//! every feature, because features filter by each other's states: keys count completed backups,
//! the job queue settles the backup or restore row of a job that ended, the plans count what a
//! backup used. Each feature re-exports its own (`backups::BackupStatus`).
//!
//! | state machine | table | moves |
//! |---|---|---|
//! | [`BackupStatus`] | `organization_backups` | pending -> running -> completed / failed (-> pending on a retry); completed -> expired (retention) or deleted (a user) |
//! | [`RestoreStatus`] | `backup_restores` | pending -> running -> completed / failed; completed -> rolling_back -> rolled_back (or back to completed) |
//! | [`JobStatus`] | `jobs` | queued -> running -> succeeded / failed, or queued again for a retry |
//! | [`KeyStatus`] | `backup_encryption_keys` | active -> retired (a newer key) -> revoked (destroyed) |
//! | [`DeliveryStatus`] | `notification_deliveries` | pending -> delivered / failed |
//! | [`ConnectionStatus`] | `storage_connections` | active -> expired (refresh refused) / revoked / error |

use crate::text_enum::text_enum;

text_enum! {
    /// Where a backup is in its life (`organization_backups.status`).
    pub enum BackupStatus ("backup status") {
        /// Recorded, waiting for a worker (or for a retry after a transient failure).
        Pending => "pending",
        Running => "running",
        /// The archive is in storage, checked; the only state that can be restored or downloaded.
        Completed => "completed",
        Failed => "failed",
        /// Removed by retention: the row stays for the history, the file is gone.
        Expired => "expired",
        /// Deleted by a user: hidden from lists, kept for the audit trail.
        Deleted => "deleted",
    }
}

impl BackupStatus {
    /// Still being made: not yet downloadable, not deletable.
    pub const IN_PROGRESS: [BackupStatus; 2] = [BackupStatus::Pending, BackupStatus::Running];

    pub fn is_in_progress(self) -> bool {
        Self::IN_PROGRESS.contains(&self)
    }
}

text_enum! {
    /// How a backup came to be (`organization_backups.backup_type`).
    pub enum BackupOrigin ("backup type") {
        Manual => "manual",
        Scheduled => "scheduled",
        /// An archive file a user uploaded.
        Uploaded => "uploaded",
    }
}

text_enum! {
    /// Where a restore is (`backup_restores.status`). A completed restore can be rolled back
    /// (`rolling_back`, then `rolled_back`) within its window; a failed rollback leaves it
    /// `completed`.
    pub enum RestoreStatus ("restore status") {
        /// Queued for a worker (or for a retry).
        Pending => "pending",
        Analyzing => "analyzing",
        AwaitingConfirmation => "awaiting_confirmation",
        Running => "running",
        Completed => "completed",
        Failed => "failed",
        RollingBack => "rolling_back",
        RolledBack => "rolled_back",
    }
}

impl RestoreStatus {
    /// A job is working on it (or will): the page keeps refreshing.
    pub fn is_in_progress(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Running | Self::Analyzing | Self::RollingBack
        )
    }
}

text_enum! {
    /// Where a job is (`jobs.status`): `queued` -> `running` -> `succeeded`, or back to `queued`
    /// for a retry, or `failed`.
    pub enum JobStatus ("job status") {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        /// Kept for rows written by older versions; nothing sets it today.
        Dead => "dead",
    }
}

text_enum! {
    /// An org key's state (`backup_encryption_keys.status`): one key is `active` (seals new
    /// backups); creating another retires it (it still opens what it sealed); revoking destroys
    /// it.
    pub enum KeyStatus ("key status") {
        Active => "active",
        Retired => "retired",
        Revoked => "revoked",
    }
}

text_enum! {
    /// A notification delivery's state (`notification_deliveries.status`): `pending` while it is
    /// tried (with backoff), then `delivered`, or `failed` when refused for good or out of attempts.
    pub enum DeliveryStatus ("delivery status") {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
}

text_enum! {
    /// A storage connection's state (`storage_connections.status`): `active` until its provider
    /// refuses the refresh token (`expired`: the org reconnects) or access was withdrawn.
    pub enum ConnectionStatus ("connection status") {
        Active => "active",
        Expired => "expired",
        Revoked => "revoked",
        Error => "error",
    }
}
