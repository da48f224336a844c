//! An org's storage connections (`storage_connections`): where its backups may go besides the
//! service's local disk. Settings (bucket, region, endpoint, prefix) are kept in clear; the
//! credentials are sealed with the master key (AES-256-GCM, bound to the connection's id), never
//! listed, never logged. One connection may be the org's default destination
//! (`backup_settings.default_storage_connection_id`).

use super::dropbox::{self, DropboxFolder, DropboxStorage, DropboxTokens, TokenStore};
use super::gdrive::{self, DriveFolder, DriveStorage};
use super::onedrive::{self, OneDriveFolder, OneDriveStorage};
use super::s3::{S3Credentials, S3Settings, S3Storage};
use super::{Destination, StorageError};
use crate::config::Settings;
use crate::db::org_transaction;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// Where a connection's archives go (the `provider` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Local,
    S3,
    GoogleDrive,
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
pub struct Connection {
    pub connection_id: Uuid,
    pub provider: String,
    pub name: String,
    pub settings: serde_json::Value,
    pub status: String,
    /// New backups go here unless another destination is chosen.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "c.connection_id, c.provider, c.name, c.settings, c.status,
       coalesce(s.default_storage_connection_id = c.connection_id, false) AS is_default,
       c.created_at, c.updated_at";

const FROM: &str = "storage_connections c LEFT JOIN backup_settings s ON s.org_id = c.org_id";

/// What sealed credentials are bound to: a sealed blob moved to another row does not open.
fn seal_context(connection_id: Uuid) -> Vec<u8> {
    format!("orgbackup storage connection {connection_id}").into_bytes()
}

fn master_key(settings: &Settings) -> Result<orgbackup_archive::KeyEncryptionKey, StorageError> {
    crate::keys::master_key(settings)?.ok_or(StorageError::NoMasterKey)
}

/// Adds an S3 connection. With `test`, it is first proved to work (a small file written, read
/// back and deleted), so a typo in the bucket or the keys is caught now rather than at 3 a.m.
#[tracing::instrument(skip(pool, settings, s3, credentials), fields(%org_id))]
pub async fn add_s3(
    pool: &PgPool,
    settings: &Settings,
    org_id: Uuid,
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
    let key = master_key(settings)?;
    let connection_id = Uuid::new_v4();
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

pub async fn list(pool: &PgPool, org_id: Uuid) -> Result<Vec<Connection>, StorageError> {
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
    org_id: Uuid,
    id_or_name: &str,
) -> Result<Connection, StorageError> {
    let id = Uuid::parse_str(id_or_name).ok();
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
    org_id: Uuid,
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
            AND (storage_path IS NOT NULL OR status IN ('pending', 'running'))",
    )
    .bind(org_id)
    .bind(connection.connection_id)
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
    org_id: Uuid,
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
    org_id: Uuid,
    requested: Option<&str>,
) -> Result<Option<Uuid>, StorageError> {
    match requested.map(str::trim) {
        Some("local") => Ok(None),
        Some(name) => Ok(Some(find(pool, org_id, name).await?.connection_id)),
        None => {
            let mut tx = org_transaction(pool, org_id).await?;
            let default: Option<Option<Uuid>> = sqlx::query_scalar(
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

#[derive(sqlx::FromRow)]
struct SealedRow {
    name: String,
    provider: String,
    settings: serde_json::Value,
    status: String,
    encrypted_credentials: Option<Vec<u8>>,
}

/// Opens a connection as a destination: unseals its credentials, refuses one that is not active.
pub async fn open(
    pool: &PgPool,
    settings: &Settings,
    org_id: Uuid,
    connection_id: Uuid,
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
    if row.status != "active" {
        return Err(StorageError::Inactive {
            name: row.name,
            status: row.status,
        });
    }
    if row.provider == "local" {
        return Ok(Destination::local(settings));
    }
    let credentials = match &row.encrypted_credentials {
        Some(sealed) => master_key(settings)?
            .open(sealed, &seal_context(connection_id))
            .map_err(|_| StorageError::Credentials(row.name.clone()))?,
        None => return Err(StorageError::Credentials(row.name)),
    };
    match row.provider.as_str() {
        "dropbox" => {
            let folder: DropboxFolder = serde_json::from_value(row.settings)
                .map_err(|e| StorageError::Invalid(format!("connection `{}`: {e}", row.name)))?;
            let tokens: DropboxTokens = serde_json::from_slice(&credentials)
                .map_err(|_| StorageError::Credentials(row.name.clone()))?;
            let store = TokenStore {
                pool: pool.clone(),
                org_id,
                connection_id,
                key: master_key(settings)?,
            };
            Ok(Destination::Dropbox(Box::new(DropboxStorage::new(
                connection_id,
                &row.name,
                folder,
                settings.storage.dropbox.clone(),
                tokens,
                store,
            ))))
        }
        "onedrive" => {
            let folder: OneDriveFolder = serde_json::from_value(row.settings)
                .map_err(|e| StorageError::Invalid(format!("connection `{}`: {e}", row.name)))?;
            let tokens: DropboxTokens = serde_json::from_slice(&credentials)
                .map_err(|_| StorageError::Credentials(row.name.clone()))?;
            let store = TokenStore {
                pool: pool.clone(),
                org_id,
                connection_id,
                key: master_key(settings)?,
            };
            Ok(Destination::OneDrive(Box::new(OneDriveStorage::new(
                connection_id,
                &row.name,
                folder,
                settings.storage.onedrive.clone(),
                tokens,
                store,
                super::LocalStorage::new(settings.storage.local_root.join(".spool")),
            ))))
        }
        "google_drive" => {
            let folder: DriveFolder = serde_json::from_value(row.settings)
                .map_err(|e| StorageError::Invalid(format!("connection `{}`: {e}", row.name)))?;
            let tokens: DropboxTokens = serde_json::from_slice(&credentials)
                .map_err(|_| StorageError::Credentials(row.name.clone()))?;
            let store = TokenStore {
                pool: pool.clone(),
                org_id,
                connection_id,
                key: master_key(settings)?,
            };
            Ok(Destination::GoogleDrive(Box::new(DriveStorage::new(
                connection_id,
                &row.name,
                folder,
                settings.storage.google_drive.clone(),
                tokens,
                store,
            ))))
        }
        "s3" => {
            let s3: S3Settings = serde_json::from_value(row.settings)
                .map_err(|e| StorageError::Invalid(format!("connection `{}`: {e}", row.name)))?;
            let credentials: S3Credentials = serde_json::from_slice(&credentials)
                .map_err(|_| StorageError::Credentials(row.name.clone()))?;
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

/// What an OAuth2 `state` carries through the provider's authorize page and back: sealed with
/// the master key, so it cannot be forged or read, and it expires. Its `nonce` names the
/// `oauth_states` row that binds it to whoever started the flow and makes it single-use.
#[derive(Serialize, Deserialize)]
struct OAuthState {
    org_id: Uuid,
    name: String,
    provider: Provider,
    folder: String,
    expires_at: i64,
    nonce: String,
    /// Started through the API: the browser coming back cannot finish it (it has no token),
    /// the API client does, with the code the callback shows.
    #[serde(default)]
    api: bool,
}

const STATE_CONTEXT: &[u8] = b"orgbackup oauth state";

/// Who started an OAuth2 connect flow; only the same party can finish it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OAuthBinding {
    /// A browser session of the web UI (the SHA-256 of its cookie secret).
    Session(String),
    /// An API token.
    Token(Uuid),
    /// The operator's CLI (`storage connect` / `connect-finish`).
    Cli,
}

impl OAuthBinding {
    fn as_text(&self) -> String {
        match self {
            OAuthBinding::Session(hash) => format!("session:{hash}"),
            OAuthBinding::Token(id) => format!("token:{id}"),
            OAuthBinding::Cli => "cli".into(),
        }
    }
}

fn nonce_hash(nonce: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(nonce.as_bytes()))
}

/// Starts connecting an account (Dropbox, Google Drive, OneDrive): the URL the user opens. The
/// `state` in it names the org and the connection to create when the code comes back, and is
/// recorded as started by `started_by`.
pub async fn authorize_url(
    pool: &PgPool,
    settings: &Settings,
    provider: Provider,
    org_id: Uuid,
    name: &str,
    folder: &str,
    started_by: &OAuthBinding,
) -> Result<String, StorageError> {
    use base64::Engine;
    let name = name.trim();
    if name.is_empty() || name == "local" {
        return Err(StorageError::Invalid(
            "a connection needs a name, and `local` means the service's own disk".into(),
        ));
    }
    let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let state = OAuthState {
        org_id,
        name: name.to_string(),
        provider,
        folder: folder.to_string(),
        expires_at: Utc::now().timestamp() + 3600,
        nonce: nonce.clone(),
        api: matches!(started_by, OAuthBinding::Token(_)),
    };
    let sealed = master_key(settings)?.seal(
        &serde_json::to_vec(&state).expect("state serializes"),
        STATE_CONTEXT,
    );
    let state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed);
    let url = match provider {
        Provider::Dropbox => dropbox::authorize_url(&settings.storage.dropbox, &state),
        Provider::GoogleDrive => gdrive::authorize_url(&settings.storage.google_drive, &state),
        Provider::OneDrive => onedrive::authorize_url(&settings.storage.onedrive, &state),
        other => Err(StorageError::Invalid(format!(
            "{other} cannot be connected with OAuth2 (yet)"
        ))),
    }?;
    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query("DELETE FROM oauth_states WHERE org_id = $1 AND expires_at < now()")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO oauth_states (nonce_hash, org_id, bound_to, expires_at)
         VALUES ($1, $2, $3, now() + interval '1 hour')",
    )
    .bind(nonce_hash(&nonce))
    .bind(org_id)
    .bind(started_by.as_text())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(url)
}

fn invalid_state() -> StorageError {
    StorageError::Invalid(
        "the authorization state is not valid or has expired; connect again".into(),
    )
}

fn open_state(settings: &Settings, state: &str) -> Result<OAuthState, StorageError> {
    use base64::Engine;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(state.trim())
        .map_err(|_| invalid_state())?;
    let opened = master_key(settings)?
        .open(&sealed, STATE_CONTEXT)
        .map_err(|_| invalid_state())?;
    let state: OAuthState = serde_json::from_slice(&opened).map_err(|_| invalid_state())?;
    if state.expires_at < Utc::now().timestamp() {
        return Err(invalid_state());
    }
    Ok(state)
}

/// Whether `state` (valid and unexpired) was started through the API: its browser callback
/// cannot finish it, and shows the code for the API client instead.
pub fn started_through_api(settings: &Settings, state: &str) -> Result<bool, StorageError> {
    open_state(settings, state).map(|s| s.api)
}

/// Finishes connecting: checks the `state` and consumes it (once, and only for `finisher`, the
/// party that started it), exchanges the code for tokens, stores them sealed. `org_id`, when
/// known (the CLI, the API), must be the one the state names.
pub async fn complete_oauth(
    pool: &PgPool,
    settings: &Settings,
    state: &str,
    code: &str,
    org_id: Option<Uuid>,
    finisher: Option<&OAuthBinding>,
) -> Result<Connection, StorageError> {
    let state = open_state(settings, state)?;
    if org_id.is_some_and(|o| o != state.org_id) {
        return Err(invalid_state());
    }
    // The row is deleted in the transaction that creates the connection: a concurrent replay
    // waits on it and then finds it gone; a code the provider refuses rolls back, and the flow
    // can be finished with a good code.
    let mut tx = org_transaction(pool, state.org_id).await?;
    let consumed = sqlx::query(
        "DELETE FROM oauth_states
          WHERE nonce_hash = $1 AND org_id = $2 AND bound_to = $3 AND expires_at > now()",
    )
    .bind(nonce_hash(&state.nonce))
    .bind(state.org_id)
    .bind(finisher.map(OAuthBinding::as_text))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if consumed != 1 {
        return Err(StorageError::Invalid(
            "this authorization was already used, or was started in another browser session \
             or by another client; start connecting again from here"
                .into(),
        ));
    }
    let (tokens, folder) = match state.provider {
        Provider::GoogleDrive => (
            gdrive::exchange_code(&settings.storage.google_drive, code.trim()).await?,
            serde_json::to_value(DriveFolder {
                folder: state.folder.trim_matches('/').to_string(),
            }),
        ),
        Provider::OneDrive => (
            onedrive::exchange_code(&settings.storage.onedrive, code.trim()).await?,
            serde_json::to_value(OneDriveFolder {
                folder: state.folder.trim_matches('/').to_string(),
            }),
        ),
        _ => (
            dropbox::exchange_code(&settings.storage.dropbox, code.trim()).await?,
            serde_json::to_value(DropboxFolder {
                folder: state.folder.clone(),
            }),
        ),
    };
    let connection_id = Uuid::new_v4();
    let sealed = master_key(settings)?.seal(
        &serde_json::to_vec(&tokens).expect("tokens serialize"),
        &seal_context(connection_id),
    );
    sqlx::query(
        "INSERT INTO storage_connections (connection_id, org_id, provider, name, settings, encrypted_credentials)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(connection_id)
    .bind(state.org_id)
    .bind(state.provider.as_str())
    .bind(&state.name)
    .bind(folder.expect("settings serialize"))
    .bind(sealed)
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("storage_connections_org_id_name_key") => {
            StorageError::Duplicate(state.name.clone())
        }
        _ => e.into(),
    })?;
    tx.commit().await?;
    find(pool, state.org_id, &connection_id.to_string()).await
}

/// Saves refreshed (possibly rotated) tokens, sealed.
pub(super) async fn save_tokens(
    store: &TokenStore,
    tokens: &DropboxTokens,
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
pub(super) async fn mark_expired(store: &TokenStore, name: &str) {
    let marked = async {
        let mut tx = org_transaction(&store.pool, store.org_id).await?;
        let changed = sqlx::query(
            "UPDATE storage_connections SET status = 'expired', updated_at = now()
              WHERE org_id = $1 AND connection_id = $2 AND status = 'active'",
        )
        .bind(store.org_id)
        .bind(store.connection_id)
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
