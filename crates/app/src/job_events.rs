//! What the rest of the service hears about a backup or restore job: an audit entry for each
//! outcome (actor "worker") and the org's notifications. Neither may fail the job it describes:
//! failures to record or notify are logged.

use crate::audit::{self, Entry, Outcome};
use crate::jobs::JobPayload;
use sqlx::PgPool;
use uuid::Uuid;

/// How a job attempt ended, as far as the org is concerned (a retry is not an end).
pub enum JobEnd<'a> {
    Started,
    Completed,
    Failed(&'a str),
}

/// Records and announces one moment of a job's life.
pub async fn announce(
    pool: &PgPool,
    org_id: Uuid,
    payload: &JobPayload,
    end: JobEnd<'_>,
) {
    let (action, entity, id) = match payload {
        JobPayload::ProcessBackup { backup_id, .. } => ("backup", "backup", *backup_id),
        JobPayload::ProcessRestore { restore_id, .. } => ("restore", "restore", *restore_id),
    };
    let (outcome, moment) = match end {
        JobEnd::Started => (Outcome::Success, "started"),
        JobEnd::Completed => (Outcome::Success, "completed"),
        JobEnd::Failed(_) => (Outcome::Failure, "failed"),
    };
    let mut entry = Entry::system(org_id, "worker", &format!("{action}.{moment}"), outcome)
        .entity(entity, id);
    if let JobEnd::Failed(error) = end {
        entry = entry.detail("error", error);
    }
    // A backup starting is routine (its row says so); a restore starting changes the org's data.
    if action == "restore" || moment != "started" {
        audit::record(pool, &entry).await;
    }
}
