//! The events an org can be notified of, named as in `backup_settings.notify_events`.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Event {
    BackupCompleted,
    BackupFailed,
    RestoreStarted,
    RestoreCompleted,
    RestoreFailed,
    RestoreRolledBack,
    BackupExpiring,
    StorageQuotaWarning,
    /// A storage connection's provider refused its tokens (revoked, expired): reconnect it.
    StorageConnectionExpired,
}

pub const ALL: [Event; 9] = [
    Event::BackupCompleted,
    Event::BackupFailed,
    Event::RestoreStarted,
    Event::RestoreCompleted,
    Event::RestoreFailed,
    Event::RestoreRolledBack,
    Event::BackupExpiring,
    Event::StorageQuotaWarning,
    Event::StorageConnectionExpired,
];

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown notification event `{0}`; the events are backup_completed, backup_failed, restore_started, restore_completed, restore_failed, restore_rolled_back, backup_expiring, storage_quota_warning, storage_connection_expired"
)]
pub struct UnknownEvent(pub String);

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::BackupCompleted => "backup_completed",
            Event::BackupFailed => "backup_failed",
            Event::RestoreStarted => "restore_started",
            Event::RestoreCompleted => "restore_completed",
            Event::RestoreFailed => "restore_failed",
            Event::RestoreRolledBack => "restore_rolled_back",
            Event::BackupExpiring => "backup_expiring",
            Event::StorageQuotaWarning => "storage_quota_warning",
            Event::StorageConnectionExpired => "storage_connection_expired",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownEvent> {
        ALL.into_iter()
            .find(|e| e.as_str() == text.trim())
            .ok_or_else(|| UnknownEvent(text.to_string()))
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips_through_its_name_and_json() {
        for event in ALL {
            assert_eq!(Event::parse(event.as_str()).unwrap(), event);
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(json, format!("\"{event}\""));
        }
        assert!(Event::parse("backup_done").is_err());
    }

    #[test]
    fn the_events_are_the_default_of_the_settings_table() {
        // 0007 added storage_connection_expired to the default of 0001.
        let migration = include_str!("../../migrations/0007_storage.sql");
        let names: Vec<&str> = ALL.iter().map(|e| e.as_str()).collect();
        assert!(
            migration.contains(&format!("DEFAULT '{{{}}}'", names.join(","))),
            "notify_events default differs from {names:?}"
        );
    }
}
