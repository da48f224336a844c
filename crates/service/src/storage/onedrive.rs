//! OneDrive, through Microsoft Graph v1.0 (reqwest): OpenDAL's OneDrive writer takes one write
//! only, so archives go up in an upload session (`createUploadSession`), in 10 MiB chunks (Graph
//! wants multiples of 320 KiB). Graph needs the total size in every chunk's `Content-Range`,
//! which a streamed archive does not know until it ends, so the archive is first written to a
//! local spool file (`<local_root>/.spool/`, removed afterwards) and uploaded from there: memory
//! stays bounded (one chunk), disk holds one archive. After a lost answer or a server error the
//! session is asked what it still expects (`nextExpectedRanges`) and the upload goes on from
//! there; a failed upload cancels its session (nothing is left). The check after upload reads the
//! file back (streamed) and compares size and SHA-256.
//!
//! Tokens (the shared client, `oauth.rs`): Microsoft rotates refresh tokens on every refresh; the
//! new one is saved (sealed) at once. 401 refreshes once; a refused refresh marks the connection
//! expired and notifies; 429 and 503 wait `Retry-After`.

use super::oauth::{
    self, ATTEMPTS, Mode, OAuthApp, OAuthClient, OAuthTokens, TokenStore, unavailable,
};
use super::{ByteStream, StorageError};
use crate::config::storage::OneDriveSettings;
use crate::ids::ConnectionId;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Chunk size: 32 × 320 KiB.
const PART: usize = 10 << 20;

const SCOPE: &str = "offline_access Files.ReadWrite";

/// Where a OneDrive connection's archives go (kept in clear).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneDriveFolder {
    /// Folder path from the root of the user's drive, e.g. `orgbackup`.
    pub folder: String,
}

/// This service's Microsoft app registration: the scope (offline access to the user's files)
/// goes with the authorize URL and with every token request.
pub(super) fn oauth_app(app: &OneDriveSettings) -> OAuthApp {
    OAuthApp {
        provider: "OneDrive",
        settings_hint: "storage.onedrive.client_id, client_secret and redirect_uri",
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        redirect_uri: app.redirect_uri.clone(),
        redirect_required: true,
        authorize_url: app.authorize_url.clone(),
        token_url: app.token_url.clone(),
        authorize_params: &[("response_mode", "query"), ("scope", SCOPE)],
        token_params: &[("scope", SCOPE)],
        offline: "scope offline_access",
        default_lifetime: 3600,
        rate_limited: |_| false,
    }
}

#[derive(Clone)]
pub struct OneDriveStorage {
    pub(super) connection_id: ConnectionId,
    /// Where archives are spooled before they are uploaded (`<local_root>/.spool`).
    pub(super) spool: super::LocalStorage,
    folder: String,
    app: OneDriveSettings,
    oauth: OAuthClient,
}

impl std::fmt::Debug for OneDriveStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneDriveStorage")
            .field("connection_id", &self.connection_id)
            .field("name", &self.oauth.name())
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

impl OneDriveStorage {
    pub(super) fn new(
        connection_id: ConnectionId,
        name: &str,
        folder: OneDriveFolder,
        app: OneDriveSettings,
        tokens: OAuthTokens,
        store: TokenStore,
        spool: super::LocalStorage,
    ) -> Self {
        let http = oauth::http_builder()
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            connection_id,
            spool,
            folder: folder.folder.trim_matches('/').to_string(),
            oauth: OAuthClient::new(oauth_app(&app), name, http, tokens, store),
            app,
        }
    }

    pub(super) fn describe(&self) -> String {
        self.oauth.describe()
    }

    pub(super) fn location(&self, path: &str) -> String {
        format!("onedrive:/{}", self.item_path(path))
    }

    fn item_path(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        if self.folder.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.folder)
        }
    }

    /// `/me/drive/root:/<folder>/<path>:` with each segment escaped.
    fn item_url(&self, path: &str, suffix: &str) -> String {
        let escaped: Vec<String> = self
            .item_path(path)
            .split('/')
            .map(|segment| form_urlencoded::byte_serialize(segment.as_bytes()).collect())
            .collect();
        let path = escaped.join("/").replace('+', "%20");
        if suffix.is_empty() {
            format!("{}/v1.0/me/drive/root:/{path}", self.app.graph_url)
        } else {
            format!("{}/v1.0/me/drive/root:/{path}:{suffix}", self.app.graph_url)
        }
    }

    /// Sends a Graph request (see [`OAuthClient::send`]). Upload-session URLs are
    /// pre-authorized: `authorized` false sends no token there, as Graph asks. Chunks (`body`)
    /// are not resent blindly after an error: the caller asks the session what it expects.
    async fn send(
        &self,
        method: Method,
        url: &str,
        json: Option<&Value>,
        body: Option<(Bytes, String)>,
        authorized: bool,
    ) -> Result<reqwest::Response, StorageError> {
        let mode = Mode {
            bearer: authorized,
            retry_errors: body.is_none(),
        };
        let build = |http: &reqwest::Client| {
            let mut request = http.request(method.clone(), url);
            if let Some(json) = json {
                request = request.json(json);
            }
            if let Some((bytes, range)) = &body {
                request = request
                    .header(reqwest::header::CONTENT_RANGE, range)
                    .body(bytes.clone());
            }
            request
        };
        self.oauth.send(build, mode).await
    }

    async fn refused(&self, response: reqwest::Response) -> StorageError {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("").to_string();
        let detail = format!("HTTP {status} {code}").trim().to_string();
        if code == "quotaLimitReached" || status == StatusCode::INSUFFICIENT_STORAGE {
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

    /// The drive answers with these credentials.
    pub(super) async fn check(&self) -> Result<(), StorageError> {
        let url = format!("{}/v1.0/me/drive", self.app.graph_url);
        let response = self.send(Method::GET, &url, None, None, true).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.refused(response).await)
        }
    }

    /// Uploads the spooled archive `file` (`size` bytes) to `path` in an upload session.
    pub(super) async fn upload_file(
        &self,
        file: &Path,
        size: u64,
        path: &str,
    ) -> Result<(), StorageError> {
        let spool_error = |e: std::io::Error| StorageError::Io {
            path: file.to_path_buf(),
            source: e,
        };
        if size == 0 {
            // Upload sessions need at least one byte: an empty file is one simple upload.
            let response = self.send_content(path, Bytes::new()).await?;
            return if response.status().is_success() {
                Ok(())
            } else {
                Err(self.refused(response).await)
            };
        }
        let created = self
            .send(
                Method::POST,
                &self.item_url(path, "/createUploadSession"),
                Some(&json!({"item": {"@microsoft.graph.conflictBehavior": "replace"}})),
                None,
                true,
            )
            .await?;
        if !created.status().is_success() {
            return Err(self.refused(created).await);
        }
        let session: Value = created
            .json()
            .await
            .map_err(|e| unavailable(&self.describe(), e))?;
        let upload_url = session["uploadUrl"]
            .as_str()
            .ok_or_else(|| unavailable(&self.describe(), "no upload URL was given"))?
            .to_string();
        let outcome = self
            .send_chunks(file, size, &upload_url)
            .await
            .map_err(|e| match e {
                Ok(storage) => storage,
                Err(io) => spool_error(io),
            });
        if outcome.is_err() {
            // Cancels the session: Graph drops what it received.
            let _ = self
                .send(Method::DELETE, &upload_url, None, None, false)
                .await;
        }
        outcome
    }

    async fn send_content(
        &self,
        path: &str,
        data: Bytes,
    ) -> Result<reqwest::Response, StorageError> {
        let token = self.oauth.access_token(false).await?;
        self.oauth
            .http()
            .put(self.item_url(path, "/content"))
            .bearer_auth(token)
            .body(data)
            .send()
            .await
            .map_err(|e| unavailable(&self.describe(), e))
    }

    async fn send_chunks(
        &self,
        file: &Path,
        size: u64,
        upload_url: &str,
    ) -> Result<(), Result<StorageError, std::io::Error>> {
        let mut spool = tokio::fs::File::open(file).await.map_err(Err)?;
        let mut offset = 0u64;
        let mut tries = 0;
        let mut buffer = vec![0u8; PART];
        loop {
            let length = (size - offset).min(PART as u64) as usize;
            spool
                .seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(Err)?;
            spool.read_exact(&mut buffer[..length]).await.map_err(Err)?;
            let range = format!("bytes {offset}-{}/{size}", offset + length as u64 - 1);
            let chunk = Bytes::copy_from_slice(&buffer[..length]);
            let outcome = self
                .send(Method::PUT, upload_url, None, Some((chunk, range)), false)
                .await;
            match outcome {
                Ok(response)
                    if response.status() == StatusCode::OK
                        || response.status() == StatusCode::CREATED =>
                {
                    return Ok(());
                }
                Ok(response) if response.status() == StatusCode::ACCEPTED => {
                    offset += length as u64;
                    tries = 0;
                }
                Ok(response) if response.status() == StatusCode::NOT_FOUND => {
                    return Err(Ok(unavailable(
                        &self.describe(),
                        "the upload session expired; the backup will be retried",
                    )));
                }
                Ok(response) if !response.status().is_server_error() => {
                    return Err(Ok(self.refused(response).await));
                }
                // A server error or a lost answer: ask what the session still expects.
                other => {
                    tries += 1;
                    if tries >= ATTEMPTS {
                        return Err(Ok(match other {
                            Err(error) => error,
                            Ok(response) => unavailable(
                                &self.describe(),
                                format!("HTTP {} after {ATTEMPTS} attempts", response.status()),
                            ),
                        }));
                    }
                    tokio::time::sleep(Duration::from_millis(200 << tries)).await;
                    let status = self.send(Method::GET, upload_url, None, None, false).await;
                    if let Ok(response) = status
                        && response.status().is_success()
                    {
                        let expected: Value = response.json().await.unwrap_or(Value::Null);
                        match expected["nextExpectedRanges"][0]
                            .as_str()
                            .and_then(|r| r.split('-').next())
                            .and_then(|start| start.parse::<u64>().ok())
                        {
                            Some(next) => offset = next.min(size),
                            // No range left: the last chunk had arrived, the file exists.
                            None if expected["nextExpectedRanges"]
                                .as_array()
                                .is_some_and(|r| r.is_empty()) =>
                            {
                                return Ok(());
                            }
                            None => {}
                        }
                    }
                }
            }
        }
    }

    pub(super) async fn write_checksum(
        &self,
        path: &str,
        sha256: &str,
    ) -> Result<(), StorageError> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let response = self
            .send_content(
                &format!("{path}.sha256"),
                Bytes::from(format!("{sha256}  {name}\n")),
            )
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.refused(response).await)
        }
    }

    pub(super) async fn read(&self, path: &str) -> Result<(u64, ByteStream), StorageError> {
        // Graph answers 302 to a pre-authorized download URL; reqwest follows it and drops the
        // bearer token on the way to another host.
        let response = self
            .send(
                Method::GET,
                &self.item_url(path, "/content"),
                None,
                None,
                true,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(StorageError::NotFound {
                destination: self.describe(),
                path: path.to_string(),
            });
        }
        if !response.status().is_success() {
            return Err(self.refused(response).await);
        }
        let length = response.content_length().unwrap_or(0);
        let stream = response
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other));
        Ok((length, stream.boxed()))
    }

    pub(super) async fn remove(&self, path: &str) -> Result<(), StorageError> {
        for file in [path.to_string(), format!("{path}.sha256")] {
            let response = self
                .send(Method::DELETE, &self.item_url(&file, ""), None, None, true)
                .await?;
            if !response.status().is_success() && response.status() != StatusCode::NOT_FOUND {
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
    fn chunks_are_multiples_of_320_kib() {
        assert_eq!(PART % (320 << 10), 0);
    }
}
