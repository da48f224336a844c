//! Connecting an account (Dropbox, Google Drive, OneDrive) through the OAuth2 authorization-code
//! flow: the authorize URL with a sealed, single-use `state`, and the code coming back exchanged
//! for tokens that are stored sealed as a new connection.

use super::credentials::{master_key, seal_context};
use super::{Connection, Provider, find};
use crate::config::Settings;
use crate::db::org_transaction;
use crate::ids::{ConnectionId, OrgId};
use crate::storage::StorageError;
use crate::storage::dropbox::{self, DropboxFolder};
use crate::storage::gdrive::{self, DriveFolder};
use crate::storage::oauth::OAuthApp;
use crate::storage::onedrive::{self, OneDriveFolder};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// The OAuth2 app of this service for `provider`.
fn oauth_app(
    storage: &crate::config::StorageSettings,
    provider: Provider,
) -> Result<OAuthApp, StorageError> {
    match provider {
        Provider::Dropbox => Ok(dropbox::oauth_app(&storage.dropbox)),
        Provider::GoogleDrive => Ok(gdrive::oauth_app(&storage.google_drive)),
        Provider::OneDrive => Ok(onedrive::oauth_app(&storage.onedrive)),
        other => Err(StorageError::Invalid(format!(
            "{other} cannot be connected with OAuth2 (yet)"
        ))),
    }
}

/// What an OAuth2 `state` carries through the provider's authorize page and back: sealed with
/// the master key, so it cannot be forged or read, and it expires. Its `nonce` names the
/// `oauth_states` row that binds it to whoever started the flow and makes it single-use.
#[derive(Serialize, Deserialize)]
struct OAuthState {
    org_id: OrgId,
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
    org_id: OrgId,
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
    let sealed = master_key(&settings.encryption)?.seal(
        &serde_json::to_vec(&state).expect("state serializes"),
        STATE_CONTEXT,
    );
    let state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed);
    let url = oauth_app(&settings.storage, provider)?.authorize_url(&state)?;
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

fn open_state(
    encryption: &crate::config::EncryptionSettings,
    state: &str,
) -> Result<OAuthState, StorageError> {
    use base64::Engine;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(state.trim())
        .map_err(|_| invalid_state())?;
    let opened = master_key(encryption)?
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
    open_state(&settings.encryption, state).map(|s| s.api)
}

/// Finishes connecting: checks the `state` and consumes it (once, and only for `finisher`, the
/// party that started it), exchanges the code for tokens, stores them sealed. `org_id`, when
/// known (the CLI, the API), must be the one the state names.
pub async fn complete_oauth(
    pool: &PgPool,
    settings: &Settings,
    state: &str,
    code: &str,
    org_id: Option<OrgId>,
    finisher: Option<&OAuthBinding>,
) -> Result<Connection, StorageError> {
    let state = open_state(&settings.encryption, state)?;
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
    let folder = match state.provider {
        Provider::GoogleDrive => serde_json::to_value(DriveFolder {
            folder: state.folder.trim_matches('/').to_string(),
        }),
        Provider::OneDrive => serde_json::to_value(OneDriveFolder {
            folder: state.folder.trim_matches('/').to_string(),
        }),
        _ => serde_json::to_value(DropboxFolder {
            folder: state.folder.clone(),
        }),
    };
    let tokens = oauth_app(&settings.storage, state.provider)?
        .exchange_code(code.trim())
        .await?;
    let connection_id = ConnectionId::random();
    let sealed = master_key(&settings.encryption)?.seal(
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
