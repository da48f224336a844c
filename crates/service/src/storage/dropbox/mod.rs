//! Dropbox, through its HTTP API v2 (reqwest): OpenDAL's Dropbox writer takes one write only, so
//! archives go up in an upload session (`upload_session/start`, `append_v2`, `finish`) in 8 MiB
//! parts, each kept until Dropbox acknowledged it, so an interrupted part is sent again from the
//! offset Dropbox reports (`incorrect_offset`). Nothing is committed before `finish`: an
//! abandoned session leaves no file (Dropbox drops it after a week).
//!
//! Tokens: the OAuth2 authorization-code flow (`token_access_type=offline`) gives an access token
//! (hours) and a refresh token, kept current by the shared client (`oauth.rs`): an expired access
//! token (401) is refreshed once, a refresh token Dropbox rotates is saved, a refresh refused
//! (the user revoked the app) marks the connection `expired` and notifies the org. 429 and 503
//! wait `Retry-After`; network errors and 5xx are retried with backoff.
//!
//! Integrity: Dropbox's `content_hash` (SHA-256 of the SHA-256s of 4 MiB blocks) of what it
//! stored is compared with the same hash of what was sent (`upload.rs`).

mod upload;

use super::oauth::{self, Mode, OAuthApp, OAuthClient, OAuthTokens, TokenStore, unavailable};
use super::{ByteStream, StorageError};
use crate::config::storage::DropboxSettings;
use crate::ids::ConnectionId;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Size of the parts of an upload session (Dropbox wants multiples of 4 MiB but for the last).
const PART: usize = 8 << 20;

/// Where a Dropbox connection's archives go (kept in clear).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropboxFolder {
    /// Folder under the app's root, e.g. `/orgbackup`.
    pub folder: String,
}

/// This service's Dropbox app: offline access (a refresh token); access tokens live hours.
pub(super) fn oauth_app(app: &DropboxSettings) -> OAuthApp {
    OAuthApp {
        provider: "Dropbox",
        settings_hint: "storage.dropbox.app_key and app_secret",
        client_id: app.app_key.clone(),
        client_secret: app.app_secret.clone(),
        // Optional: without one, Dropbox shows the code for the user to paste.
        redirect_uri: app.redirect_uri.clone(),
        redirect_required: false,
        authorize_url: app.authorize_url.clone(),
        token_url: format!("{}/oauth2/token", app.api_url),
        authorize_params: &[("token_access_type", "offline")],
        token_params: &[],
        offline: "token_access_type=offline",
        default_lifetime: 14_400,
        rate_limited: |_| false,
    }
}

#[derive(Clone)]
pub struct DropboxStorage {
    pub(super) connection_id: ConnectionId,
    folder: String,
    app: DropboxSettings,
    oauth: OAuthClient,
}

impl std::fmt::Debug for DropboxStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropboxStorage")
            .field("connection_id", &self.connection_id)
            .field("name", &self.oauth.name())
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

/// One request, rebuilt for each attempt (a new token, a retry).
enum Call<'a> {
    /// `api_url` endpoint with a JSON body.
    Api(&'a str, Value),
    /// `content_url` endpoint with `Dropbox-API-Arg` and a body of bytes.
    Content(&'a str, Value, Bytes),
}

impl DropboxStorage {
    pub(super) fn new(
        connection_id: ConnectionId,
        name: &str,
        folder: DropboxFolder,
        app: DropboxSettings,
        tokens: OAuthTokens,
        store: TokenStore,
    ) -> Self {
        let folder = format!("/{}", folder.folder.trim_matches('/'));
        let http = oauth::http_builder()
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            connection_id,
            folder: folder.trim_end_matches('/').to_string(),
            oauth: OAuthClient::new(oauth_app(&app), name, http, tokens, store),
            app,
        }
    }

    pub(super) fn describe(&self) -> String {
        self.oauth.describe()
    }

    pub(super) fn location(&self, path: &str) -> String {
        format!("dropbox:{}", self.full_path(path))
    }

    fn full_path(&self, path: &str) -> String {
        format!("{}/{}", self.folder, path.trim_start_matches('/'))
    }

    /// Sends a request (see [`OAuthClient::send`]): every Dropbox call may be retried, as upload
    /// parts carry their offset and Dropbox refuses one at the wrong offset.
    async fn send(&self, call: &Call<'_>) -> Result<reqwest::Response, StorageError> {
        let build = |http: &reqwest::Client| match call {
            Call::Api(endpoint, body) => http
                .post(format!("{}/2/{endpoint}", self.app.api_url))
                .json(body),
            Call::Content(endpoint, arg, data) => http
                .post(format!("{}/2/{endpoint}", self.app.content_url))
                .header("Dropbox-API-Arg", arg.to_string())
                .header("Content-Type", "application/octet-stream")
                .body(data.clone()),
        };
        self.oauth.send(build, Mode::API).await
    }

    /// A non-2xx answer as an error (409 bodies name the Dropbox error, e.g. `insufficient_space`).
    async fn refused(&self, response: reqwest::Response) -> StorageError {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let summary = body["error_summary"].as_str().unwrap_or("").to_string();
        let detail = format!("HTTP {status} {summary}").trim().to_string();
        if summary.contains("insufficient_space") {
            StorageError::Full {
                destination: self.describe(),
                detail,
            }
        } else {
            StorageError::Refused {
                destination: self.describe(),
                detail,
            }
        }
    }

    /// The account answers with these credentials.
    pub(super) async fn check(&self) -> Result<(), StorageError> {
        let response = self
            .send(&Call::Api("users/get_current_account", Value::Null))
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.refused(response).await)
        }
    }

    /// One-request upload (`files/upload`, at most 150 MB): the `.sha256` companion, small files.
    async fn simple_upload(&self, path: &str, data: Bytes) -> Result<Value, StorageError> {
        let arg = json!({"path": self.full_path(path), "mode": "overwrite", "mute": true});
        let response = self.send(&Call::Content("files/upload", arg, data)).await?;
        if !response.status().is_success() {
            return Err(self.refused(response).await);
        }
        response
            .json()
            .await
            .map_err(|e| unavailable(&self.describe(), e))
    }

    pub(super) async fn write_checksum(
        &self,
        path: &str,
        sha256: &str,
    ) -> Result<(), StorageError> {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.simple_upload(
            &format!("{path}.sha256"),
            Bytes::from(format!("{sha256}  {name}\n")),
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn read(&self, path: &str) -> Result<(u64, ByteStream), StorageError> {
        let arg = json!({"path": self.full_path(path)});
        let response = self
            .send(&Call::Content("files/download", arg, Bytes::new()))
            .await?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            return Err(StorageError::NotFound {
                destination: self.describe(),
                path: path.to_string(),
            });
        }
        if !response.status().is_success() {
            return Err(self.refused(response).await);
        }
        let length = response
            .headers()
            .get("Dropbox-API-Result")
            .and_then(|v| serde_json::from_slice::<Value>(v.as_bytes()).ok())
            .and_then(|v| v["size"].as_u64())
            .or(response.content_length())
            .unwrap_or(0);
        let stream = response
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other));
        Ok((length, stream.boxed()))
    }

    pub(super) async fn remove(&self, path: &str) -> Result<(), StorageError> {
        for file in [path.to_string(), format!("{path}.sha256")] {
            let response = self
                .send(&Call::Api(
                    "files/delete_v2",
                    json!({"path": self.full_path(&file)}),
                ))
                .await?;
            // 409 path_lookup/not_found: already gone.
            if !response.status().is_success() && response.status() != reqwest::StatusCode::CONFLICT
            {
                return Err(self.refused(response).await);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_asks_for_offline_access() {
        let app = DropboxSettings {
            app_key: "key".into(),
            ..Default::default()
        };
        let url = oauth_app(&app).authorize_url("s t").unwrap();
        assert!(url.starts_with("https://www.dropbox.com/oauth2/authorize?client_id=key"));
        assert!(url.contains("token_access_type=offline") && url.contains("state=s+t"));
    }
}
