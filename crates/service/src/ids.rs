//! Typed ids. An organization's, a backup's, a restore's, a schedule's and a storage connection's
//! ids are different types, so one cannot be passed where another is expected:
//! `restores::state(pool, org_id, backup_id)` does not compile. Each is a UUID in the database
//! (bound and decoded as `uuid`), in JSON and in the OpenAPI document (a string of format uuid).

macro_rules! typed_id {
    ($( $(#[$doc:meta])* $name:ident => $what:literal, )+) => { $(
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new, random id (UUID v4).
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4())
            }

            pub fn as_uuid(self) -> uuid::Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map(Self)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <uuid::Uuid as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <uuid::Uuid as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <uuid::Uuid as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <uuid::Uuid as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.0, buf)
            }
        }

        impl sqlx::Decode<'_, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'_>) -> Result<Self, sqlx::error::BoxDynError> {
                <uuid::Uuid as sqlx::Decode<sqlx::Postgres>>::decode(value).map(Self)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                        utoipa::openapi::schema::KnownFormat::Uuid,
                    )))
                    .description(Some(concat!($what, "'s id.")))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    )+ };
}

typed_id! {
    /// An organization (tenant): the value of the tenant column in the application's tables.
    OrgId => "An organization",
    /// A backup (`organization_backups`).
    BackupId => "A backup",
    /// A restore (`backup_restores`).
    RestoreId => "A restore",
    /// A backup schedule (`backup_schedules`).
    ScheduleId => "A schedule",
    /// A storage connection (`storage_connections`).
    ConnectionId => "A storage connection",
}

/// The engine names an org by its value of the tenant column, as text (the column may be of any
/// type; the engine casts in SQL): the service's org is its UUID's text.
impl From<OrgId> for orgbackup_engine::OrgId {
    fn from(id: OrgId) -> Self {
        id.to_string().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_and_writes_as_its_uuid() {
        let uuid = uuid::Uuid::new_v4();
        let id = BackupId::from(uuid);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(uuid.to_string().parse::<BackupId>().unwrap(), id);
        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(uuid));
        let back: BackupId = serde_json::from_value(serde_json::json!(uuid)).unwrap();
        assert_eq!(back, id);
        assert!("not-a-uuid".parse::<OrgId>().is_err());
        let org = OrgId::from(uuid);
        assert_eq!(
            orgbackup_engine::OrgId::from(org).as_str(),
            uuid.to_string()
        );
    }
}
