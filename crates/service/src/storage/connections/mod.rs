//! An org's storage connections (`storage_connections`): where its backups may go besides the
//! service's local disk. Settings (bucket, region, endpoint, prefix) are kept in clear; the
//! credentials are sealed with the master key (AES-256-GCM, bound to the connection's id), never
//! listed, never logged (`credentials.rs`). One connection may be the org's default destination
//! (`backup_settings.default_storage_connection_id`). Account providers are connected through
//! OAuth2 (`connect.rs`).

mod connect;
mod credentials;

pub use connect::{OAuthBinding, authorize_url, complete_oauth, started_through_api};
pub use credentials::open;
pub(super) use credentials::{mark_expired, save_tokens};

use super::s3::{S3Credentials, S3Settings, S3Storage};
use super::{Destination, StorageError};
use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{ConnectionId, OrgId};
use crate::states::{BackupStatus, ConnectionStatus};
use chrono::{DateTime, Utc};
use credentials::{master_key, seal_context};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// Where a connection's archives go (the `provider` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Local,
    S3,
    GoogleDrive,
    /// `onedrive`, as stored and shown (`one_drive` is accepted too, as it once was).
    #[serde(rename = "onedrive", alias = "one_drive")]
    OneDrive,
    Dropbox,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Local => "local",
            Provider::S3 => "s3",
            Provider::GoogleDrive => "google_drive",
            Provider::OneDrive => "onedrive",
            Provider::Dropbox => "dropbox",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection as listed: never its credentials.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Connection {
    pub connection_id: ConnectionId,
    /// A [`Provider`]'s word.
    #[cfg_attr(feature = "openapi", schema(value_type = Provider))]
    pub provider: String,
    pub name: String,
    pub settings: serde_json::Value,
    pub status: ConnectionStatus,
    /// New backups go here unless another destination is chosen.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "c.connection_id, c.provider, c.name, c.settings, c.status,
       coalesce(s.default_storage_connection_id = c.connection_id, false) AS is_default,
       c.created_at, c.updated_at";

const FROM: &str = "storage_connections c LEFT JOIN backup_settings s ON s.org_id = c.org_id";

/// Adds an S3 connection. With `test`, it is first proved to work (a small file written, read
/// back and deleted), so a typo in the bucket or the keys is caught now rather than at 3 a.m.
#[tracing::instrument(skip(pool, settings, s3, credentials), fields(%org_id))]
pub async fn add_s3(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    name: &str,
    s3: S3Settings,
    credentials: &S3Credentials,
    test: bool,
) -> Result<Connection, StorageError> {
    let name = name.trim();
    if name.is_empty() || name == "local" {
        return Err(StorageError::Invalid(
            "a connection needs a name, and `local` means the service's own disk".into(),
        ));
    }
    if credentials.access_key_id.is_empty() || credentials.secret_access_key.is_empty() {
        return Err(StorageError::Invalid(
            "both the access key id and the secret access key are needed".into(),
        ));
    }
    let s3 = s3.checked(&settings.network).await?;
    let key = master_key(&settings.encryption)?;
    let connection_id = ConnectionId::random();
    if test {
        Destination::from(S3Storage::new(
            connection_id,
            name,
            s3.clone(),
            credentials,
            &settings.network,
        )?)
        .test()
        .await?;
    }
    let sealed = key.seal(
        &serde_json::to_vec(credentials).expect("credentials serialize"),
        &seal_context(connection_id),
    );
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "INSERT INTO storage_connections (connection_id, org_id, provider, name, settings, encrypted_credentials)
         VALUES ($1, $2, 's3', $3, $4, $5)",
    )
    .bind(connection_id)
    .bind(org_id)
    .bind(name)
    .bind(serde_json::to_value(&s3).expect("settings serialize"))
    .bind(sealed)
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("storage_connections_org_id_name_key") => {
            StorageError::Duplicate(name.to_string())
        }
        _ => e.into(),
    })?;
    tx.commit().await?;
    find(pool, org_id, &connection_id.to_string()).await
}

pub async fn list(pool: &PgPool, org_id: OrgId) -> Result<Vec<Connection>, StorageError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let connections = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE c.org_id = $1 ORDER BY c.name"
    )))
    .bind(org_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(connections)
}

/// One of the org's connections, by id or by name.
pub async fn find(
    pool: &PgPool,
    org_id: OrgId,
    id_or_name: &str,
) -> Result<Connection, StorageError> {
    let id = id_or_name.parse::<ConnectionId>().ok();
    let mut tx = org_transaction(pool, org_id).await?;
    let connection = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE c.org_id = $1 AND (c.connection_id = $2 OR c.name = $3)"
    )))
    .bind(org_id)
    .bind(id)
    .bind(id_or_name)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    connection.ok_or_else(|| StorageError::UnknownConnection(id_or_name.to_string()))
}

/// Removes a connection that holds no backups (their files would become unreachable).
#[tracing::instrument(skip(pool), fields(%org_id))]
pub async fn remove(
    pool: &PgPool,
    org_id: OrgId,
    id_or_name: &str,
) -> Result<Connection, StorageError> {
    let connection = find(pool, org_id, id_or_name).await?;
    let mut tx = org_transaction(pool, org_id).await?;
    // Locks the row, so a backup cannot start storing there between the count and the delete.
    sqlx::query("SELECT 1 FROM storage_connections WHERE connection_id = $1 FOR UPDATE")
        .bind(connection.connection_id)
        .execute(&mut *tx)
        .await?;
    let backups: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM organization_backups
          WHERE org_id = $1 AND storage_connection_id = $2
            AND (storage_path IS NOT NULL OR status = ANY($3))",
    )
    .bind(org_id)
    .bind(connection.connection_id)
    .bind(BackupStatus::IN_PROGRESS)
    .fetch_one(&mut *tx)
    .await?;
    if backups > 0 {
        return Err(StorageError::InUse {
            name: connection.name,
            backups,
        });
    }
    sqlx::query("DELETE FROM storage_connections WHERE org_id = $1 AND connection_id = $2")
        .bind(org_id)
        .bind(connection.connection_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(connection)
}

/// Makes a connection the org's default destination; `None` (or `local`) makes it the local disk.
pub async fn set_default(
    pool: &PgPool,
    org_id: OrgId,
    id_or_name: Option<&str>,
) -> Result<Option<Connection>, StorageError> {
    let connection = match id_or_name.filter(|n| *n != "local") {
        Some(name) => Some(find(pool, org_id, name).await?),
        None => None,
    };
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query(
        "INSERT INTO backup_settings (org_id, default_storage_connection_id) VALUES ($1, $2)
         ON CONFLICT (org_id) DO UPDATE
            SET default_storage_connection_id = excluded.default_storage_connection_id, updated_at = now()",
    )
    .bind(org_id)
    .bind(connection.as_ref().map(|c| c.connection_id))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(connection)
}

/// The connection a new backup goes to: the one asked for (`local` = the local disk), else the
/// org's default, else the local disk (`None`).
pub async fn resolve(
    pool: &PgPool,
    org_id: OrgId,
    requested: Option<&str>,
) -> Result<Option<ConnectionId>, StorageError> {
    match requested.map(str::trim) {
        Some("local") => Ok(None),
        Some(name) => Ok(Some(find(pool, org_id, name).await?.connection_id)),
        None => {
            let mut tx = org_transaction(pool, org_id).await?;
            let default: Option<Option<ConnectionId>> = sqlx::query_scalar(
                "SELECT default_storage_connection_id FROM backup_settings WHERE org_id = $1",
            )
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(default.flatten())
        }
    }
}
