//! Google Drive, through its REST API v3 (reqwest): OpenDAL's Drive writer takes one write only,
//! so archives go up in a resumable upload session (`uploadType=resumable`) in 8 MiB chunks
//! (`Content-Range: bytes a-b/*`, the total given with the last one). A chunk is kept until Drive
//! acknowledged it; after a lost answer or a server error, the session's status is asked
//! (`Content-Range: bytes */*`) and the upload resumes from what Drive has. Nothing exists in
//! Drive before the last chunk: an abandoned session leaves no file.
//!
//! Files live in one folder (default `orgbackup`, created by the app: the `drive.file` scope sees
//! only what the app made), named after the archive (`<backup id>.tar.zst`). Tokens, refresh and
//! expiry work as for Dropbox (see `dropbox.rs`): 401 refreshes once, a refused refresh marks the
//! connection expired and notifies; 429, 503 and Drive's `rateLimitExceeded` 403 wait. The check
//! after upload compares Drive's `sha256Checksum` and `size` with what was sent.

use super::dropbox::{DropboxTokens as OAuthTokens, TokenStore};
use super::{ByteStream, StorageError};
use crate::config::storage::GoogleDriveSettings;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OnceCell, mpsc, oneshot};
use uuid::Uuid;

/// Chunk size (Drive wants multiples of 256 KiB but for the last).
const PART: usize = 8 << 20;
const ATTEMPTS: u32 = 5;
const FOLDER_TYPE: &str = "application/vnd.google-apps.folder";

/// Where a Drive connection's archives go (kept in clear).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriveFolder {
    /// Name of the folder (at the top of the user's Drive) the archives go to.
    pub folder: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn unavailable(destination: &str, error: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable {
        destination: destination.to_string(),
        detail: error.to_string(),
    }
}

/// The authorize URL: offline access (a refresh token), consent asked so one is always granted.
pub fn authorize_url(app: &GoogleDriveSettings, state: &str) -> Result<String, StorageError> {
    if app.client_id.is_empty() || app.redirect_uri.is_none() {
        return Err(StorageError::Invalid(
            "Google Drive is not configured: set storage.google_drive.client_id, client_secret and redirect_uri".into(),
        ));
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", app.redirect_uri.as_deref().unwrap_or(""))
        .append_pair("response_type", "code")
        .append_pair("scope", "https://www.googleapis.com/auth/drive.file")
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("state", state);
    Ok(format!("{}?{}", app.authorize_url, query.finish()))
}

fn token_form(app: &GoogleDriveSettings, grant: &[(&str, &str)]) -> Vec<(String, String)> {
    use secrecy::ExposeSecret;
    let mut form: Vec<(String, String)> = grant
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    form.push(("client_id".into(), app.client_id.clone()));
    if let Some(secret) = &app.client_secret {
        form.push(("client_secret".into(), secret.expose_secret().to_string()));
    }
    form
}

pub async fn exchange_code(
    app: &GoogleDriveSettings,
    code: &str,
) -> Result<OAuthTokens, StorageError> {
    let redirect = app.redirect_uri.clone().unwrap_or_default();
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
    ];
    let response = reqwest::Client::new()
        .post(&app.token_url)
        .form(&token_form(app, &grant))
        .send()
        .await
        .map_err(|e| unavailable("Google Drive", e))?;
    if !response.status().is_success() {
        return Err(StorageError::Refused {
            destination: "Google Drive".into(),
            detail: format!(
                "the authorization code was not accepted (HTTP {}); connect again",
                response.status()
            ),
        });
    }
    let answer: TokenAnswer = response
        .json()
        .await
        .map_err(|e| unavailable("Google Drive", e))?;
    Ok(OAuthTokens {
        access_token: answer.access_token,
        refresh_token: answer.refresh_token.ok_or_else(|| StorageError::Refused {
            destination: "Google Drive".into(),
            detail: "no refresh token was granted (access_type=offline)".into(),
        })?,
        expires_at: now() + answer.expires_in.unwrap_or(3600),
    })
}

#[derive(Clone)]
pub struct DriveStorage {
    pub(super) connection_id: Uuid,
    name: String,
    folder_name: String,
    folder_id: Arc<OnceCell<String>>,
    app: GoogleDriveSettings,
    http: reqwest::Client,
    tokens: Arc<Mutex<OAuthTokens>>,
    store: TokenStore,
}

impl std::fmt::Debug for DriveStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriveStorage")
            .field("connection_id", &self.connection_id)
            .field("name", &self.name)
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
}

impl DriveStorage {
    pub(super) fn new(
        connection_id: Uuid,
        name: &str,
        folder: DriveFolder,
        app: GoogleDriveSettings,
        tokens: OAuthTokens,
        store: TokenStore,
    ) -> Self {
        Self {
            connection_id,
            name: name.to_string(),
            folder_name: folder.folder.trim_matches('/').to_string(),
            folder_id: Arc::new(OnceCell::new()),
            app,
            // Drive answers chunks with 308 (Resume Incomplete), which is not a redirect here.
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a TLS backend is compiled in"),
            tokens: Arc::new(Mutex::new(tokens)),
            store,
        }
    }

    pub(super) fn describe(&self) -> String {
        format!("Google Drive (storage connection `{}`)", self.name)
    }

    pub(super) fn location(&self, path: &str) -> String {
        format!("gdrive:{}/{}", self.folder_name, file_name(path))
    }

    async fn access_token(&self, force: bool) -> Result<String, StorageError> {
        let mut tokens = self.tokens.lock().await;
        if !force && tokens.expires_at > now() + 60 {
            return Ok(tokens.access_token.clone());
        }
        let form = token_form(
            &self.app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tokens.refresh_token),
            ],
        );
        let response = self
            .http
            .post(&self.app.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(&self.describe(), e))?;
        let status = response.status();
        if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED {
            drop(tokens);
            return Err(self.expire().await);
        }
        if !status.is_success() {
            return Err(unavailable(
                &self.describe(),
                format!("refreshing the access token failed with HTTP {status}"),
            ));
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| unavailable(&self.describe(), e))?;
        tokens.access_token = answer.access_token;
        tokens.expires_at = now() + answer.expires_in.unwrap_or(3600);
        if let Some(rotated) = answer.refresh_token {
            tokens.refresh_token = rotated;
        }
        super::connections::save_tokens(&self.store, &tokens).await?;
        Ok(tokens.access_token.clone())
    }

    async fn expire(&self) -> StorageError {
        super::connections::mark_expired(&self.store, &self.name).await;
        StorageError::Inactive {
            name: self.name.clone(),
            status: "expired".into(),
        }
    }

    /// Sends a request: refreshes the token once on 401; waits on 429, 503 and rate-limit 403s.
    /// With `retry_errors`, network errors and 5xx are retried too; chunk uploads pass `false`
    /// and ask the session's status instead (a blind resend could duplicate bytes).
    async fn send(
        &self,
        call: &Call,
        retry_errors: bool,
    ) -> Result<reqwest::Response, StorageError> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.access_token(false).await?;
            let mut request = self
                .http
                .request(call.method.clone(), &call.url)
                .bearer_auth(&token);
            if let Some(json) = &call.json {
                request = request.json(json);
            }
            if let Some(body) = &call.body {
                request = request.body(body.clone());
            }
            if let Some(range) = &call.content_range {
                request = request.header(reqwest::header::CONTENT_RANGE, range);
            }
            let outcome = request.send().await;
            let wait = match outcome {
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                    if refreshed {
                        return Err(self.expire().await);
                    }
                    refreshed = true;
                    self.access_token(true).await?;
                    continue;
                }
                Ok(response) if is_rate_limited(&response) => {
                    if attempt >= ATTEMPTS {
                        return Err(unavailable(
                            &self.describe(),
                            format!("still rate limited after {ATTEMPTS} attempts"),
                        ));
                    }
                    let seconds = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1 << attempt);
                    Duration::from_secs(seconds.min(60))
                }
                Ok(response) if retry_errors && response.status().is_server_error() => {
                    if attempt >= ATTEMPTS {
                        return Err(unavailable(
                            &self.describe(),
                            format!("HTTP {} after {ATTEMPTS} attempts", response.status()),
                        ));
                    }
                    Duration::from_millis(200 << attempt)
                }
                Ok(response) => return Ok(response),
                Err(_) if retry_errors && attempt < ATTEMPTS => {
                    Duration::from_millis(200 << attempt)
                }
                Err(error) => return Err(unavailable(&self.describe(), error)),
            };
            tokio::time::sleep(wait).await;
        }
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

    /// The upload task (see the module docs); `Ok` without a file when cancelled.
    pub(super) async fn upload(
        self,
        path: String,
        mut chunks: mpsc::Receiver<super::s3::Chunk>,
        mut cancelled: oneshot::Receiver<()>,
    ) -> Result<(), StorageError> {
        let folder = self.folder().await?;
        // Replaces an earlier file of the same name (a retried job), so there is one.
        let previous = self.file_id(&path).await?;
        let mut call = Call::new(
            Method::POST,
            format!(
                "{}/upload/drive/v3/files?uploadType=resumable&fields=id,size,sha256Checksum",
                self.app.api_url
            ),
        );
        call.json = Some(json!({"name": file_name(&path), "parents": [folder]}));
        let response = self.send(&call, true).await?;
        if !response.status().is_success() {
            return Err(self.refused(response).await);
        }
        let session = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| unavailable(&self.describe(), "no upload session was opened"))?;
        let mut sent = 0u64;
        let mut pending = BytesMut::new();
        let mut hasher = Sha256::new();
        loop {
            let next = tokio::select! {
                chunk = chunks.recv() => chunk,
                _ = &mut cancelled => None,
            };
            match next {
                Some(super::s3::Chunk::Data(bytes)) => {
                    hasher.update(&bytes);
                    pending.extend_from_slice(&bytes);
                    while pending.len() >= PART {
                        let part = pending.split_to(PART).freeze();
                        self.put_chunk(&session, &mut sent, part, None).await?;
                    }
                }
                Some(super::s3::Chunk::End) => {
                    let last = pending.split().freeze();
                    let total = sent + last.len() as u64;
                    let stored = self
                        .put_chunk(&session, &mut sent, last, Some(total))
                        .await?
                        .unwrap_or(Value::Null);
                    let expected = hex::encode(hasher.finalize());
                    let size = stored["size"]
                        .as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .or(stored["size"].as_u64());
                    if stored["sha256Checksum"].as_str() != Some(expected.as_str())
                        || size != Some(total)
                    {
                        if let Some(id) = stored["id"].as_str() {
                            let _ = self.delete_id(id).await;
                        }
                        return Err(StorageError::Mismatch {
                            destination: self.describe(),
                            path,
                            expected_size: total,
                            expected,
                            found_size: size.unwrap_or(0),
                            found: stored["sha256Checksum"].as_str().unwrap_or("(none)").into(),
                        });
                    }
                    if let Some(previous) = previous {
                        let _ = self.delete_id(&previous).await;
                    }
                    return Ok(());
                }
                // Nothing exists before the last chunk: an abandoned session leaves no file.
                None => return Ok(()),
            }
        }
    }

    /// Sends `data` at offset `sent`; `total` marks the last chunk (which answers the file's
    /// metadata). After a lost answer or a server error, asks what Drive has and sends the rest.
    async fn put_chunk(
        &self,
        session: &str,
        sent: &mut u64,
        data: Bytes,
        total: Option<u64>,
    ) -> Result<Option<Value>, StorageError> {
        let mut data = data;
        let mut tries = 0;
        loop {
            tries += 1;
            let total_text = total.map_or("*".to_string(), |t| t.to_string());
            let range = if data.is_empty() {
                format!("bytes */{total_text}")
            } else {
                format!(
                    "bytes {}-{}/{total_text}",
                    *sent,
                    *sent + data.len() as u64 - 1
                )
            };
            let mut call = Call::new(Method::PUT, session.to_string());
            call.body = Some(data.clone());
            call.content_range = Some(range);
            let outcome = self.send(&call, false).await;
            match outcome {
                Ok(response) if response.status() == StatusCode::PERMANENT_REDIRECT => {
                    let received = received(&response);
                    if total.is_none() && received >= *sent + data.len() as u64 {
                        *sent += data.len() as u64;
                        return Ok(None);
                    }
                    // Drive has less than sent: send the rest (or, for the last chunk, again).
                    let skip = received.saturating_sub(*sent).min(data.len() as u64) as usize;
                    data = data.slice(skip..);
                    *sent += skip as u64;
                }
                Ok(response) if response.status().is_success() => {
                    *sent += data.len() as u64;
                    return response
                        .json()
                        .await
                        .map(Some)
                        .map_err(|e| unavailable(&self.describe(), e));
                }
                Ok(response) if response.status() == StatusCode::NOT_FOUND => {
                    return Err(unavailable(
                        &self.describe(),
                        "the upload session expired; the backup will be retried",
                    ));
                }
                Ok(response) if !response.status().is_server_error() => {
                    return Err(self.refused(response).await);
                }
                // A server error or a lost answer: ask how much Drive has, then go on from there.
                other => {
                    if tries >= ATTEMPTS {
                        return Err(match other {
                            Err(error) => error,
                            Ok(response) => unavailable(
                                &self.describe(),
                                format!("HTTP {} after {ATTEMPTS} attempts", response.status()),
                            ),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(200 << tries)).await;
                    let mut status = Call::new(Method::PUT, session.to_string());
                    status.body = Some(Bytes::new());
                    status.content_range = Some(format!(
                        "bytes */{}",
                        total.map_or("*".into(), |t| t.to_string())
                    ));
                    if let Ok(response) = self.send(&status, false).await {
                        if response.status().is_success() {
                            // The last chunk had arrived: the file exists.
                            *sent += data.len() as u64;
                            return response
                                .json()
                                .await
                                .map(Some)
                                .map_err(|e| unavailable(&self.describe(), e));
                        }
                        if response.status() == StatusCode::PERMANENT_REDIRECT {
                            let received = received(&response);
                            let skip =
                                received.saturating_sub(*sent).min(data.len() as u64) as usize;
                            data = data.slice(skip..);
                            *sent += skip as u64;
                            if data.is_empty() && total.is_none() {
                                return Ok(None);
                            }
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
        let token = self.access_token(false).await?;
        let response = self
            .http
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

fn is_rate_limited(response: &reqwest::Response) -> bool {
    // Drive also answers 403 `rateLimitExceeded`/`userRateLimitExceeded`; those are told apart by
    // their body, which `send` cannot read without consuming: a 403 with Retry-After is treated so.
    response.status() == StatusCode::TOO_MANY_REQUESTS
        || response.status() == StatusCode::SERVICE_UNAVAILABLE
        || (response.status() == StatusCode::FORBIDDEN
            && response
                .headers()
                .contains_key(reqwest::header::RETRY_AFTER))
}

/// How many bytes a 308 answer says Drive has (`Range: bytes=0-N`, none without the header).
fn received(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get(reqwest::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('-').next())
        .and_then(|last| last.parse::<u64>().ok())
        .map_or(0, |last| last + 1)
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
        let url = authorize_url(&app, "st").unwrap();
        assert!(url.contains("access_type=offline") && url.contains("prompt=consent"));
        assert!(url.contains("scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.file"));
        assert!(authorize_url(&GoogleDriveSettings::default(), "st").is_err());
    }
}
