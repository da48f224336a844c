//! Google Drive, through its REST API v3 (reqwest): OpenDAL's Drive writer takes one write only,
//! so archives go up in a resumable upload session (`uploadType=resumable`) in 8 MiB chunks
//! (`Content-Range: bytes a-b/*`, the total given with the last one). A chunk is kept until Drive
//! acknowledged it; after a lost answer or a server error, the session's status is asked
//! (`Content-Range: bytes */*`) and the upload resumes from what Drive has. Nothing exists in
//! Drive before the last chunk: an abandoned session leaves no file.
//!
//! Files live in one folder (default `orgbackup`, created by the app: the `drive.file` scope sees
//! only what the app made), named after the archive (`<backup id>.tar.zst`). Tokens, refresh and
//! expiry work as for every OAuth provider (see `oauth.rs`): 401 refreshes once, a refused refresh
//! marks the connection expired and notifies; 429, 503 and Drive's `rateLimitExceeded` 403 wait.
//! The check after upload (`upload.rs`) compares Drive's `sha256Checksum` and `size` with what
//! was sent.

mod upload;

use super::oauth::{self, Mode, OAuthApp, OAuthClient, OAuthTokens, TokenStore, unavailable};
use super::{ByteStream, StorageError};
use crate::config::storage::GoogleDriveSettings;
use crate::ids::ConnectionId;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Chunk size (Drive wants multiples of 256 KiB but for the last).
const PART: usize = 8 << 20;
const FOLDER_TYPE: &str = "application/vnd.google-apps.folder";

/// Where a Drive connection's archives go (kept in clear).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriveFolder {
    /// Name of the folder (at the top of the user's Drive) the archives go to.
    pub folder: String,
}

/// This service's Google OAuth client: offline access (a refresh token), consent asked so one is
/// always granted, to the files the app made only.
pub(super) fn oauth_app(app: &GoogleDriveSettings) -> OAuthApp {
    OAuthApp {
        provider: "Google Drive",
        settings_hint: "storage.google_drive.client_id, client_secret and redirect_uri",
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        redirect_uri: app.redirect_uri.clone(),
        redirect_required: true,
        authorize_url: app.authorize_url.clone(),
        token_url: app.token_url.clone(),
        authorize_params: &[
            ("scope", "https://www.googleapis.com/auth/drive.file"),
            ("access_type", "offline"),
            ("prompt", "consent"),
        ],
        token_params: &[],
        offline: "access_type=offline",
        default_lifetime: 3600,
        rate_limited: is_rate_limited,
    }
}

#[derive(Clone)]
pub struct DriveStorage {
    pub(super) connection_id: ConnectionId,
    folder_name: String,
    folder_id: Arc<OnceCell<String>>,
    app: GoogleDriveSettings,
    oauth: OAuthClient,
}

impl std::fmt::Debug for DriveStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriveStorage")
            .field("connection_id", &self.connection_id)
            .field("name", &self.oauth.name())
            .field("folder", &self.folder_name)
            .finish_non_exhaustive()
    }
}

/// One request, rebuilt for each attempt.
struct Call {
    method: Method,
    url: String,
    json: Option<Value>,
    body: Option<Bytes>,
    content_range: Option<String>,
}

impl Call {
    fn new(method: Method, url: String) -> Self {
        Self {
            method,
            url,
            json: None,
            body: None,
            content_range: None,
        }
    }

    fn build(&self, http: &reqwest::Client) -> reqwest::RequestBuilder {
        let mut request = http.request(self.method.clone(), &self.url);
        if let Some(json) = &self.json {
            request = request.json(json);
        }
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        if let Some(range) = &self.content_range {
            request = request.header(reqwest::header::CONTENT_RANGE, range);
        }
        request
    }
}

impl DriveStorage {
    pub(super) fn new(
        connection_id: ConnectionId,
        name: &str,
        folder: DriveFolder,
        app: GoogleDriveSettings,
        tokens: OAuthTokens,
        store: TokenStore,
    ) -> Self {
        // Drive answers chunks with 308 (Resume Incomplete), which is not a redirect here.
        let http = oauth::http_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            connection_id,
            folder_name: folder.folder.trim_matches('/').to_string(),
            folder_id: Arc::new(OnceCell::new()),
            oauth: OAuthClient::new(oauth_app(&app), name, http, tokens, store),
            app,
        }
    }

    pub(super) fn describe(&self) -> String {
        self.oauth.describe()
    }

    pub(super) fn location(&self, path: &str) -> String {
        format!("gdrive:{}/{}", self.folder_name, file_name(path))
    }

    /// Sends `call` through the OAuth client; `retry_errors` as in [`Mode`]: chunk uploads
    /// pass `false` and ask the session's status instead.
    async fn send(
        &self,
        call: &Call,
        retry_errors: bool,
    ) -> Result<reqwest::Response, StorageError> {
        let mode = Mode {
            retry_errors,
            ..Mode::API
        };
        self.oauth.send(|http| call.build(http), mode).await
    }

    async fn refused(&self, response: reqwest::Response) -> StorageError {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let reason = body["error"]["errors"][0]["reason"]
            .as_str()
            .or(body["error"]["message"].as_str())
            .unwrap_or("")
            .to_string();
        let detail = format!("HTTP {status} {reason}").trim().to_string();
        if reason == "storageQuotaExceeded" || reason == "quotaExceeded" {
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

    fn files_url(&self) -> String {
        format!("{}/drive/v3/files", self.app.api_url)
    }

    /// Files named `name` in `parent` (or folders, with `folder`), not trashed.
    async fn find(
        &self,
        name: &str,
        parent: Option<&str>,
        folder: bool,
    ) -> Result<Vec<Value>, StorageError> {
        let mut q = format!("name = '{}' and trashed = false", name.replace('\'', "\\'"));
        if let Some(parent) = parent {
            q.push_str(&format!(" and '{parent}' in parents"));
        }
        if folder {
            q.push_str(&format!(" and mimeType = '{FOLDER_TYPE}'"));
        }
        let url = format!(
            "{}?{}",
            self.files_url(),
            form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &q)
                .append_pair("fields", "files(id,name,size,sha256Checksum)")
                .append_pair("spaces", "drive")
                .finish()
        );
        let response = self.send(&Call::new(Method::GET, url), true).await?;
        if !response.status().is_success() {
            return Err(self.refused(response).await);
        }
        let listed: Value = response
            .json()
            .await
            .map_err(|e| unavailable(&self.describe(), e))?;
        Ok(listed["files"].as_array().cloned().unwrap_or_default())
    }

    /// The connection's folder, found or created once.
    async fn folder(&self) -> Result<String, StorageError> {
        self.folder_id
            .get_or_try_init(|| async {
                if let Some(found) = self.find(&self.folder_name, None, true).await?.first() {
                    return Ok(found["id"].as_str().unwrap_or_default().to_string());
                }
                let mut call = Call::new(Method::POST, format!("{}?fields=id", self.files_url()));
                call.json = Some(json!({"name": self.folder_name, "mimeType": FOLDER_TYPE}));
                let response = self.send(&call, true).await?;
                if !response.status().is_success() {
                    return Err(self.refused(response).await);
                }
                let created: Value = response
                    .json()
                    .await
                    .map_err(|e| unavailable(&self.describe(), e))?;
                Ok(created["id"].as_str().unwrap_or_default().to_string())
            })
            .await
            .cloned()
    }

    /// The account answers, and the folder is there.
    pub(super) async fn check(&self) -> Result<(), StorageError> {
        self.folder().await.map(|_| ())
    }

    async fn file_id(&self, path: &str) -> Result<Option<String>, StorageError> {
        let folder = self.folder().await?;
        Ok(self
            .find(file_name(path), Some(&folder), false)
            .await?
            .first()
            .and_then(|f| f["id"].as_str().map(str::to_string)))
    }

    pub(super) async fn write_checksum(
        &self,
        path: &str,
        sha256: &str,
    ) -> Result<(), StorageError> {
        let name = file_name(path);
        let folder = self.folder().await?;
        let content = format!("{sha256}  {name}\n");
        // Small: one multipart request (metadata and content).
        let boundary = format!("orgbackup-{}", Uuid::new_v4().simple());
        let metadata = json!({"name": format!("{name}.sha256"), "parents": [folder]});
        let body = format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n{content}\r\n--{boundary}--\r\n"
        );
        let url = format!(
            "{}/upload/drive/v3/files?uploadType=multipart",
            self.app.api_url
        );
        let token = self.oauth.access_token(false).await?;
        let response = self
            .oauth
            .http()
            .post(url)
            .bearer_auth(token)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/related; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable(&self.describe(), e))?;
        if !response.status().is_success() {
            return Err(self.refused(response).await);
        }
        Ok(())
    }

    pub(super) async fn read(&self, path: &str) -> Result<(u64, ByteStream), StorageError> {
        let not_found = || StorageError::NotFound {
            destination: self.describe(),
            path: path.to_string(),
        };
        let id = self.file_id(path).await?.ok_or_else(not_found)?;
        let url = format!("{}/{id}?alt=media", self.files_url());
        let response = self.send(&Call::new(Method::GET, url), true).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(not_found());
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

    async fn delete_id(&self, id: &str) -> Result<(), StorageError> {
        let url = format!("{}/{id}", self.files_url());
        let response = self.send(&Call::new(Method::DELETE, url), true).await?;
        if response.status().is_success() || response.status() == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self.refused(response).await)
        }
    }

    pub(super) async fn remove(&self, path: &str) -> Result<(), StorageError> {
        let folder = self.folder().await?;
        for name in [
            file_name(path).to_string(),
            format!("{}.sha256", file_name(path)),
        ] {
            for file in self.find(&name, Some(&folder), false).await? {
                if let Some(id) = file["id"].as_str() {
                    self.delete_id(id).await?;
                }
            }
        }
        Ok(())
    }
}

/// The archive's name in the folder (`<org>/<backup>.tar.zst` → `<backup>.tar.zst`: backup ids
/// are unique, and a connection belongs to one org).
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Besides 429 and 503: Drive also answers 403 `rateLimitExceeded`/`userRateLimitExceeded`;
/// those are told apart by their body, which `send` cannot read without consuming: a 403 with
/// Retry-After is treated so.
fn is_rate_limited(response: &reqwest::Response) -> bool {
    response.status() == StatusCode::FORBIDDEN
        && response
            .headers()
            .contains_key(reqwest::header::RETRY_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_asks_for_offline_access_to_the_apps_files_only() {
        let app = GoogleDriveSettings {
            client_id: "id".into(),
            redirect_uri: Some("https://x/cb".into()),
            ..Default::default()
        };
        let url = oauth_app(&app).authorize_url("st").unwrap();
        assert!(url.contains("access_type=offline") && url.contains("prompt=consent"));
        assert!(url.contains("scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.file"));
        assert!(
            oauth_app(&GoogleDriveSettings::default())
                .authorize_url("st")
                .is_err()
        );
    }
}
