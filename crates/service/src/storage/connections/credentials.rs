//! Sealed credentials: a connection opened as a destination (its credentials unsealed with the
//! master key), and the tokens of OAuth connections kept current (sealed again when refreshed,
//! the connection marked expired when the provider refuses them).

use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{ConnectionId, OrgId};
use crate::states::ConnectionStatus;
use crate::storage::dropbox::DropboxStorage;
use crate::storage::gdrive::DriveStorage;
use crate::storage::oauth::{OAuthTokens, TokenStore};
use crate::storage::onedrive::OneDriveStorage;
use crate::storage::s3::{S3Credentials, S3Settings, S3Storage};
use crate::storage::{Destination, LocalStorage, StorageError};
use serde::de::DeserializeOwned;
use sqlx::PgPool;

/// What sealed credentials are bound to: a sealed blob moved to another row does not open.
pub(super) fn seal_context(connection_id: ConnectionId) -> Vec<u8> {
    format!("orgbackup storage connection {connection_id}").into_bytes()
}

pub(super) fn master_key(
    encryption: &crate::config::EncryptionSettings,
) -> Result<orgbackup_archive::KeyEncryptionKey, StorageError> {
    crate::keys::master_key(encryption)?.ok_or(StorageError::NoMasterKey)
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    name: String,
    provider: String,
    settings: serde_json::Value,
    status: ConnectionStatus,
    encrypted_credentials: Option<Vec<u8>>,
}

impl SealedRow {
    /// The connection's settings (kept in clear) and its unsealed `credentials`, parsed.
    fn parts<S: DeserializeOwned, C: DeserializeOwned>(
        &self,
        credentials: &[u8],
    ) -> Result<(S, C), StorageError> {
        let settings = S::deserialize(&self.settings)
            .map_err(|e| StorageError::Invalid(format!("connection `{}`: {e}", self.name)))?;
        let credentials = serde_json::from_slice(credentials)
            .map_err(|_| StorageError::Credentials(self.name.clone()))?;
        Ok((settings, credentials))
    }
}

/// Opens a connection as a destination: unseals its credentials, refuses one that is not active.
pub async fn open(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    connection_id: ConnectionId,
) -> Result<Destination, StorageError> {
    let mut tx = org_transaction(pool, org_id).await?;
    let row: Option<SealedRow> = sqlx::query_as(
        "SELECT name, provider, settings, status, encrypted_credentials FROM storage_connections
          WHERE org_id = $1 AND connection_id = $2",
    )
    .bind(org_id)
    .bind(connection_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let row = row.ok_or_else(|| StorageError::UnknownConnection(connection_id.to_string()))?;
    if row.status != ConnectionStatus::Active {
        return Err(StorageError::Inactive {
            name: row.name,
            status: row.status,
        });
    }
    if row.provider == "local" {
        return Ok(Destination::local(&settings.storage));
    }
    let (key, credentials) = match &row.encrypted_credentials {
        Some(sealed) => {
            let key = master_key(&settings.encryption)?;
            let opened = key
                .open(sealed, &seal_context(connection_id))
                .map_err(|_| StorageError::Credentials(row.name.clone()))?;
            (key, opened)
        }
        None => return Err(StorageError::Credentials(row.name)),
    };
    // OAuth connections save their refreshed tokens through it.
    let store = || TokenStore {
        pool: pool.clone(),
        org_id,
        connection_id,
        key: key.clone(),
    };
    let storage = &settings.storage;
    match row.provider.as_str() {
        "dropbox" => {
            let (folder, tokens): (_, OAuthTokens) = row.parts(&credentials)?;
            Ok(Destination::Dropbox(Box::new(DropboxStorage::new(
                connection_id,
                &row.name,
                folder,
                storage.dropbox.clone(),
                tokens,
                store(),
            ))))
        }
        "onedrive" => {
            let (folder, tokens): (_, OAuthTokens) = row.parts(&credentials)?;
            Ok(Destination::OneDrive(Box::new(OneDriveStorage::new(
                connection_id,
                &row.name,
                folder,
                storage.onedrive.clone(),
                tokens,
                store(),
                LocalStorage::new(storage.local_root.join(".spool")),
            ))))
        }
        "google_drive" => {
            let (folder, tokens): (_, OAuthTokens) = row.parts(&credentials)?;
            Ok(Destination::GoogleDrive(Box::new(DriveStorage::new(
                connection_id,
                &row.name,
                folder,
                storage.google_drive.clone(),
                tokens,
                store(),
            ))))
        }
        "s3" => {
            let (s3, credentials): (S3Settings, S3Credentials) = row.parts(&credentials)?;
            Ok(S3Storage::new(
                connection_id,
                &row.name,
                s3,
                &credentials,
                &settings.network,
            )?
            .into())
        }
        other => Err(StorageError::Invalid(format!(
            "connection `{}` uses {other}, which this version of the service cannot write to",
            row.name
        ))),
    }
}

/// Saves refreshed (possibly rotated) tokens, sealed.
pub(in crate::storage) async fn save_tokens(
    store: &TokenStore,
    tokens: &OAuthTokens,
) -> Result<(), StorageError> {
    let sealed = store.key.seal(
        &serde_json::to_vec(tokens).expect("tokens serialize"),
        &seal_context(store.connection_id),
    );
    let mut tx = org_transaction(&store.pool, store.org_id).await?;
    sqlx::query(
        "UPDATE storage_connections SET encrypted_credentials = $3, updated_at = now()
          WHERE org_id = $1 AND connection_id = $2",
    )
    .bind(store.org_id)
    .bind(store.connection_id)
    .bind(sealed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The provider refused the connection's refresh token (revoked or expired): the connection is
/// marked `expired`, and the org is told to reconnect it.
pub(in crate::storage) async fn mark_expired(store: &TokenStore, name: &str) {
    let marked = async {
        let mut tx = org_transaction(&store.pool, store.org_id).await?;
        let changed = sqlx::query(
            "UPDATE storage_connections SET status = $3, updated_at = now()
              WHERE org_id = $1 AND connection_id = $2 AND status = $4",
        )
        .bind(store.org_id)
        .bind(store.connection_id)
        .bind(ConnectionStatus::Expired)
        .bind(ConnectionStatus::Active)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok::<_, sqlx::Error>(changed)
    }
    .await;
    match marked {
        Ok(1) => {
            tracing::warn!(org_id = %store.org_id, connection = name, "storage connection expired");
            notify_expired(store, name).await;
        }
        Ok(_) => {}
        Err(error) => tracing::error!(%error, "could not mark a storage connection expired"),
    }
}

async fn notify_expired(store: &TokenStore, name: &str) {
    let data = serde_json::json!({"connection": name, "connection_id": store.connection_id});
    if let Err(error) = crate::notifications::notify(
        &store.pool,
        store.org_id,
        crate::notifications::Event::StorageConnectionExpired,
        data,
    )
    .await
    {
        tracing::error!(%error, "could not notify an expired storage connection");
    }
}
