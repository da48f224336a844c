//! Dropbox, through its HTTP API v2 (reqwest): OpenDAL's Dropbox writer takes one write only, so
//! archives go up in an upload session (`upload_session/start`, `append_v2`, `finish`) in 8 MiB
//! parts, each kept until Dropbox acknowledged it, so an interrupted part is sent again from the
//! offset Dropbox reports (`incorrect_offset`). Nothing is committed before `finish`: an
//! abandoned session leaves no file (Dropbox drops it after a week).
//!
//! Tokens: the OAuth2 authorization-code flow (`token_access_type=offline`) gives an access token
//! (hours) and a refresh token; both are sealed in `storage_connections.encrypted_credentials`.
//! An expired access token (401) is refreshed once, and a refresh token Dropbox rotates is saved.
//! A refresh refused (the user revoked the app) marks the connection `expired` and notifies the
//! org. 429 and 503 wait `Retry-After`; network errors and 5xx are retried with backoff.
//!
//! Integrity: Dropbox's `content_hash` (SHA-256 of the SHA-256s of 4 MiB blocks) of what it
//! stored is compared with the same hash of what was sent.

use super::{ByteStream, StorageError};
use crate::config::storage::DropboxSettings;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Size of the parts of an upload session (Dropbox wants multiples of 4 MiB but for the last).
const PART: usize = 8 << 20;
/// Dropbox's content-hash block size.
const BLOCK: usize = 4 << 20;
/// Attempts of one request (network errors, 5xx, 429) before the destination is unavailable.
const ATTEMPTS: u32 = 5;

/// Where a Dropbox connection's archives go (kept in clear).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropboxFolder {
    /// Folder under the app's root, e.g. `/orgbackup`.
    pub folder: String,
}

/// Sealed in `storage_connections.encrypted_credentials`.
#[derive(Clone, Serialize, Deserialize)]
pub struct DropboxTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for DropboxTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DropboxTokens { .. }")
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// The authorize URL the user opens to connect an account.
pub fn authorize_url(app: &DropboxSettings, state: &str) -> Result<String, StorageError> {
    if app.app_key.is_empty() {
        return Err(StorageError::Invalid(
            "Dropbox is not configured: set storage.dropbox.app_key and app_secret".into(),
        ));
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("client_id", &app.app_key)
        .append_pair("response_type", "code")
        .append_pair("token_access_type", "offline")
        .append_pair("state", state);
    if let Some(redirect) = &app.redirect_uri {
        query.append_pair("redirect_uri", redirect);
    }
    Ok(format!("{}?{}", app.authorize_url, query.finish()))
}

fn token_request(app: &DropboxSettings, grant: &[(&str, &str)]) -> Vec<(String, String)> {
    use secrecy::ExposeSecret;
    let mut form: Vec<(String, String)> = grant
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    form.push(("client_id".into(), app.app_key.clone()));
    if let Some(secret) = &app.app_secret {
        form.push(("client_secret".into(), secret.expose_secret().to_string()));
    }
    form
}

/// Exchanges an authorization code for tokens.
pub async fn exchange_code(
    app: &DropboxSettings,
    code: &str,
) -> Result<DropboxTokens, StorageError> {
    let mut grant = vec![("grant_type", "authorization_code"), ("code", code)];
    if let Some(redirect) = &app.redirect_uri {
        grant.push(("redirect_uri", redirect));
    }
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/token", app.api_url))
        .form(&token_request(app, &grant))
        .send()
        .await
        .map_err(|e| unavailable("Dropbox", e))?;
    if !response.status().is_success() {
        return Err(StorageError::Refused {
            destination: "Dropbox".into(),
            detail: format!(
                "the authorization code was not accepted (HTTP {}); connect again",
                response.status()
            ),
        });
    }
    let answer: TokenAnswer = response
        .json()
        .await
        .map_err(|e| unavailable("Dropbox", e))?;
    Ok(DropboxTokens {
        access_token: answer.access_token,
        refresh_token: answer.refresh_token.ok_or_else(|| StorageError::Refused {
            destination: "Dropbox".into(),
            detail: "no refresh token was granted (token_access_type=offline)".into(),
        })?,
        expires_at: now() + answer.expires_in.unwrap_or(14_400),
    })
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

/// What keeps a connection's tokens current in the database.
#[derive(Clone)]
pub(super) struct TokenStore {
    pub pool: PgPool,
    pub org_id: Uuid,
    pub connection_id: Uuid,
    pub key: orgbackup_archive::KeyEncryptionKey,
}

#[derive(Clone)]
pub struct DropboxStorage {
    pub(super) connection_id: Uuid,
    name: String,
    folder: String,
    app: DropboxSettings,
    http: reqwest::Client,
    tokens: Arc<Mutex<DropboxTokens>>,
    store: TokenStore,
}

impl std::fmt::Debug for DropboxStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropboxStorage")
            .field("connection_id", &self.connection_id)
            .field("name", &self.name)
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
        connection_id: Uuid,
        name: &str,
        folder: DropboxFolder,
        app: DropboxSettings,
        tokens: DropboxTokens,
        store: TokenStore,
    ) -> Self {
        let folder = format!("/{}", folder.folder.trim_matches('/'));
        Self {
            connection_id,
            name: name.to_string(),
            folder: folder.trim_end_matches('/').to_string(),
            app,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .expect("a TLS backend is compiled in"),
            tokens: Arc::new(Mutex::new(tokens)),
            store,
        }
    }

    pub(super) fn describe(&self) -> String {
        format!("Dropbox (storage connection `{}`)", self.name)
    }

    pub(super) fn location(&self, path: &str) -> String {
        format!("dropbox:{}", self.full_path(path))
    }

    fn full_path(&self, path: &str) -> String {
        format!("{}/{}", self.folder, path.trim_start_matches('/'))
    }

    /// The current access token, refreshed when it is about to expire (or `force`d after a 401).
    async fn access_token(&self, force: bool) -> Result<String, StorageError> {
        let mut tokens = self.tokens.lock().await;
        if !force && tokens.expires_at > now() + 60 {
            return Ok(tokens.access_token.clone());
        }
        let form = token_request(
            &self.app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tokens.refresh_token),
            ],
        );
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.app.api_url))
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(&self.describe(), e))?;
        let status = response.status();
        if status == reqwest::StatusCode::BAD_REQUEST || status == reqwest::StatusCode::UNAUTHORIZED
        {
            // invalid_grant: the user revoked the app, or the refresh token expired.
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
        tokens.expires_at = now() + answer.expires_in.unwrap_or(14_400);
        // Some providers rotate refresh tokens: the old one stops working, so the new one is kept.
        if let Some(rotated) = answer.refresh_token {
            tokens.refresh_token = rotated;
        }
        super::connections::save_tokens(&self.store, &tokens).await?;
        Ok(tokens.access_token.clone())
    }

    /// Marks the connection expired, tells the org, and says so.
    async fn expire(&self) -> StorageError {
        super::connections::mark_expired(&self.store, &self.name).await;
        StorageError::Inactive {
            name: self.name.clone(),
            status: "expired".into(),
        }
    }

    /// Sends a request: refreshes the token once on 401, waits `Retry-After` on 429/503, and
    /// retries network errors and 5xx with backoff. Other answers are returned as they are.
    async fn send(&self, call: &Call<'_>) -> Result<reqwest::Response, StorageError> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.access_token(false).await?;
            let request = match call {
                Call::Api(endpoint, body) => self
                    .http
                    .post(format!("{}/2/{endpoint}", self.app.api_url))
                    .json(body),
                Call::Content(endpoint, arg, data) => self
                    .http
                    .post(format!("{}/2/{endpoint}", self.app.content_url))
                    .header("Dropbox-API-Arg", arg.to_string())
                    .header("Content-Type", "application/octet-stream")
                    .body(data.clone()),
            };
            let outcome = request.bearer_auth(&token).send().await;
            let wait = match outcome {
                Ok(response) if response.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    if refreshed {
                        return Err(self.expire().await);
                    }
                    refreshed = true;
                    self.access_token(true).await?;
                    continue;
                }
                Ok(response)
                    if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE =>
                {
                    let seconds = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1 << attempt);
                    if attempt >= ATTEMPTS {
                        return Err(unavailable(
                            &self.describe(),
                            format!("still rate limited after {ATTEMPTS} attempts"),
                        ));
                    }
                    Duration::from_secs(seconds.min(60))
                }
                Ok(response) if response.status().is_server_error() => {
                    if attempt >= ATTEMPTS {
                        return Err(unavailable(
                            &self.describe(),
                            format!("HTTP {} after {ATTEMPTS} attempts", response.status()),
                        ));
                    }
                    Duration::from_millis(200 << attempt)
                }
                Ok(response) => return Ok(response),
                Err(error) => {
                    if attempt >= ATTEMPTS {
                        return Err(unavailable(&self.describe(), error));
                    }
                    Duration::from_millis(200 << attempt)
                }
            };
            tokio::time::sleep(wait).await;
        }
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

    /// The upload task (see the module docs); `Ok` without a file when cancelled.
    pub(super) async fn upload(
        self,
        path: String,
        mut chunks: mpsc::Receiver<super::s3::Chunk>,
        mut cancelled: oneshot::Receiver<()>,
    ) -> Result<(), StorageError> {
        let mut session = Session {
            id: None,
            offset: 0,
        };
        let mut pending = BytesMut::new();
        let mut hash = ContentHash::default();
        loop {
            let next = tokio::select! {
                chunk = chunks.recv() => chunk,
                _ = &mut cancelled => None,
            };
            match next {
                Some(super::s3::Chunk::Data(bytes)) => {
                    hash.update(&bytes);
                    pending.extend_from_slice(&bytes);
                    while pending.len() >= PART {
                        let part = pending.split_to(PART).freeze();
                        self.append(&mut session, part).await?;
                    }
                }
                Some(super::s3::Chunk::End) => {
                    let last = pending.split().freeze();
                    let stored = self.finish(&mut session, last, &path).await?;
                    let expected = hash.finish();
                    if stored["content_hash"].as_str() != Some(expected.as_str())
                        || stored["size"].as_u64() != Some(session.offset)
                    {
                        let _ = self.remove(&path).await;
                        return Err(StorageError::Mismatch {
                            destination: self.describe(),
                            path,
                            expected_size: session.offset,
                            expected: format!("content hash {expected}"),
                            found_size: stored["size"].as_u64().unwrap_or(0),
                            found: format!(
                                "content hash {}",
                                stored["content_hash"].as_str().unwrap_or("(none)")
                            ),
                        });
                    }
                    return Ok(());
                }
                // Nothing is committed before `finish`: dropping the session leaves no file.
                None => return Ok(()),
            }
        }
    }

    /// Sends one part, resuming from Dropbox's offset if an earlier attempt got partly through.
    async fn append(&self, session: &mut Session, part: Bytes) -> Result<(), StorageError> {
        let Some(id) = session.id.clone() else {
            let response = self
                .send(&Call::Content(
                    "files/upload_session/start",
                    json!({"close": false}),
                    part.clone(),
                ))
                .await?;
            if !response.status().is_success() {
                return Err(self.refused(response).await);
            }
            let started: Value = response
                .json()
                .await
                .map_err(|e| unavailable(&self.describe(), e))?;
            session.id = started["session_id"].as_str().map(str::to_string);
            session.offset = part.len() as u64;
            return Ok(());
        };
        let mut part = part;
        loop {
            let arg =
                json!({"cursor": {"session_id": id, "offset": session.offset}, "close": false});
            let response = self
                .send(&Call::Content(
                    "files/upload_session/append_v2",
                    arg,
                    part.clone(),
                ))
                .await?;
            if response.status().is_success() {
                session.offset += part.len() as u64;
                return Ok(());
            }
            match self.correct_offset(response).await? {
                // Dropbox already has some (or all) of this part: send only the rest.
                Some(correct) if correct > session.offset => {
                    let received = (correct - session.offset) as usize;
                    if received >= part.len() {
                        session.offset += part.len() as u64;
                        return Ok(());
                    }
                    part = part.slice(received..);
                    session.offset = correct;
                }
                _ => {
                    return Err(StorageError::Refused {
                        destination: self.describe(),
                        detail: "the upload session lost data that was already sent".into(),
                    });
                }
            }
        }
    }

    /// The offset a 409 `incorrect_offset` answer reports, or the error for any other answer.
    async fn correct_offset(
        &self,
        response: reqwest::Response,
    ) -> Result<Option<u64>, StorageError> {
        if response.status() != reqwest::StatusCode::CONFLICT {
            return Err(self.refused(response).await);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let error = &body["error"];
        let lookup = if error[".tag"] == "incorrect_offset" {
            error
        } else {
            &error["incorrect_offset"]
        };
        match lookup["correct_offset"].as_u64() {
            Some(offset) => Ok(Some(offset)),
            None => Err(StorageError::Refused {
                destination: self.describe(),
                detail: format!("HTTP 409 {}", body["error_summary"].as_str().unwrap_or("")),
            }),
        }
    }

    /// Commits the file: the last bytes and the path, in one request (a small archive that never
    /// started a session is one upload). Returns Dropbox's metadata of the stored file.
    async fn finish(
        &self,
        session: &mut Session,
        last: Bytes,
        path: &str,
    ) -> Result<Value, StorageError> {
        let commit = json!({"path": self.full_path(path), "mode": "overwrite", "mute": true});
        let Some(id) = session.id.clone() else {
            session.offset = last.len() as u64;
            return self.simple_upload(path, last).await;
        };
        let mut last = last;
        loop {
            let arg =
                json!({"cursor": {"session_id": id, "offset": session.offset}, "commit": commit});
            let response = self
                .send(&Call::Content(
                    "files/upload_session/finish",
                    arg,
                    last.clone(),
                ))
                .await?;
            if response.status().is_success() {
                session.offset += last.len() as u64;
                return response
                    .json()
                    .await
                    .map_err(|e| unavailable(&self.describe(), e));
            }
            match self.correct_offset(response).await? {
                Some(correct) if correct > session.offset => {
                    let received = ((correct - session.offset) as usize).min(last.len());
                    last = last.slice(received..);
                    session.offset = correct;
                }
                _ => {
                    return Err(StorageError::Refused {
                        destination: self.describe(),
                        detail: "the upload session lost data that was already sent".into(),
                    });
                }
            }
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

struct Session {
    id: Option<String>,
    offset: u64,
}

/// Dropbox's content hash: SHA-256 over the SHA-256 of each 4 MiB block.
#[derive(Default)]
struct ContentHash {
    overall: Sha256,
    block: Sha256,
    in_block: usize,
}

impl ContentHash {
    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = data.len().min(BLOCK - self.in_block);
            self.block.update(&data[..take]);
            self.in_block += take;
            data = &data[take..];
            if self.in_block == BLOCK {
                let block = std::mem::take(&mut self.block).finalize();
                self.overall.update(block);
                self.in_block = 0;
            }
        }
    }

    fn finish(mut self) -> String {
        if self.in_block > 0 {
            self.overall.update(self.block.finalize());
        }
        hex::encode(self.overall.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_hash_is_dropboxs_block_hash() {
        // Two blocks: one full, one of 10 bytes.
        let data = vec![7u8; BLOCK + 10];
        let mut hash = ContentHash::default();
        hash.update(&data[..3]);
        hash.update(&data[3..]);
        let mut expected = Sha256::new();
        expected.update(Sha256::digest(&data[..BLOCK]));
        expected.update(Sha256::digest(&data[BLOCK..]));
        assert_eq!(hash.finish(), hex::encode(expected.finalize()));
    }

    #[test]
    fn the_authorize_url_asks_for_offline_access() {
        let app = DropboxSettings {
            app_key: "key".into(),
            ..Default::default()
        };
        let url = authorize_url(&app, "s t").unwrap();
        assert!(url.starts_with("https://www.dropbox.com/oauth2/authorize?client_id=key"));
        assert!(url.contains("token_access_type=offline") && url.contains("state=s+t"));
    }
}
