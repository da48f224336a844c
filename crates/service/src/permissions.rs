//! The seven permissions of the spec, and which roles grant them.
//!
//! | role     | create | download | restore | restore_full | schedule | upload | view_logs |
//! |----------|:------:|:--------:|:-------:|:------------:|:--------:|:------:|:---------:|
//! | viewer   |        |          |         |              |          |        |     x     |
//! | operator |   x    |    x     |         |              |    x     |        |     x     |
//! | admin    |   x    |    x     |    x    |              |    x     |   x    |     x     |
//! | owner    |   x    |    x     |    x    |              |    x     |   x    |     x     |
//!
//! `backup.restore_full` belongs to super admins only. API tokens carry an explicit subset.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "backup.create")]
    Create,
    #[serde(rename = "backup.download")]
    Download,
    #[serde(rename = "backup.restore")]
    Restore,
    #[serde(rename = "backup.restore_full")]
    RestoreFull,
    #[serde(rename = "backup.schedule")]
    Schedule,
    #[serde(rename = "backup.upload")]
    Upload,
    #[serde(rename = "backup.view_logs")]
    ViewLogs,
}

pub const ALL: [Permission; 7] = [
    Permission::Create,
    Permission::Download,
    Permission::Restore,
    Permission::RestoreFull,
    Permission::Schedule,
    Permission::Upload,
    Permission::ViewLogs,
];

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Create => "backup.create",
            Permission::Download => "backup.download",
            Permission::Restore => "backup.restore",
            Permission::RestoreFull => "backup.restore_full",
            Permission::Schedule => "backup.schedule",
            Permission::Upload => "backup.upload",
            Permission::ViewLogs => "backup.view_logs",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownPermission> {
        ALL.into_iter()
            .find(|p| p.as_str() == text.trim())
            .ok_or_else(|| UnknownPermission(text.to_string()))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown permission `{0}`; the permissions are backup.create, backup.download, backup.restore, backup.restore_full, backup.schedule, backup.upload, backup.view_logs"
)]
pub struct UnknownPermission(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            other => Err(format!(
                "unknown role `{other}`; roles are viewer, operator, admin, owner"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// What a member with this role may do (super admins additionally get restore_full).
    pub fn permissions(self) -> Vec<Permission> {
        use Permission::*;
        match self {
            Role::Viewer => vec![ViewLogs],
            Role::Operator => vec![Create, Download, Schedule, ViewLogs],
            Role::Admin | Role::Owner => {
                vec![Create, Download, Restore, Schedule, Upload, ViewLogs]
            }
        }
    }
}

/// The permissions of a user in an org.
pub fn for_member(role: Role, super_admin: bool) -> Vec<Permission> {
    let mut permissions = role.permissions();
    if super_admin {
        permissions.push(Permission::RestoreFull);
    }
    permissions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_round_trips_through_its_name() {
        for permission in ALL {
            assert_eq!(Permission::parse(permission.as_str()).unwrap(), permission);
            let json = serde_json::to_string(&permission).unwrap();
            assert_eq!(json, format!("\"{}\"", permission.as_str()));
        }
        assert!(
            Permission::parse("backup.everything")
                .unwrap_err()
                .to_string()
                .contains("backup.view_logs")
        );
    }

    #[test]
    fn only_super_admins_may_restore_fully() {
        for role in [Role::Viewer, Role::Operator, Role::Admin, Role::Owner] {
            assert!(!for_member(role, false).contains(&Permission::RestoreFull));
        }
        assert!(for_member(Role::Viewer, true).contains(&Permission::RestoreFull));
        assert!(!Role::Operator.permissions().contains(&Permission::Restore));
        assert!(Role::Admin.permissions().contains(&Permission::Upload));
    }
}
