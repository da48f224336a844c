//! Typed ids: an org's id, a backup's, a restore's, ... are all UUIDs, and a function that takes
//! `(org_id: Uuid, backup_id: Uuid)` compiles just as well with the two swapped, which for a
//! multi-tenant service can mean reading another org's rows. Each id is its own type here; it is
//! stored, bound and serialized exactly as the UUID it wraps.

use uuid::Uuid;

macro_rules! typed_id {
    ($( $(#[$meta:meta])* $name:ident ($what:literal); )+) => {$(
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (v4) id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// The id a UUID names: for ids read from a URL, a file or the command line.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The nil id: a dry run's restore, which is never recorded.
            pub const fn nil() -> Self {
                Self(Uuid::nil())
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self).map_err(|_| InvalidId {
                    what: $what,
                    text: text.chars().take(64).collect(),
                })
            }
        }
    )+};
}

/// Text that is not a UUID where an id was expected.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not a {what} id (a UUID such as 6f1c2a9e-0d3b-4c57-9a8e-2b7d1f3c4e5a)")]
pub struct InvalidId {
    pub what: &'static str,
    pub text: String,
}

typed_id! {
    /// An organization (tenant): every query for one org takes it.
    OrgId ("organization");
    BackupId ("backup");
    RestoreId ("restore");
    ScheduleId ("schedule");
    /// A storage connection (S3 bucket, Drive, OneDrive, Dropbox) of an org.
    ConnectionId ("storage connection");
    JobId ("job");
    UserId ("user");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_uuid_everywhere() {
        let uuid = Uuid::new_v4();
        let org = OrgId::from(uuid);
        assert_eq!(org.to_string(), uuid.to_string());
        assert_eq!(serde_json::to_string(&org).unwrap(), format!("\"{uuid}\""));
        assert_eq!(uuid.to_string().parse::<OrgId>().unwrap(), org);
        let error = "acme".parse::<BackupId>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "`acme` is not a backup id (a UUID such as 6f1c2a9e-0d3b-4c57-9a8e-2b7d1f3c4e5a)"
        );
    }
}
