//! Drive's resumable upload session (see the module docs of `gdrive`): 8 MiB chunks, each kept
//! until Drive acknowledged it; after a lost answer or a server error the session's status is
//! asked and the upload goes on from what Drive has.

use super::{Call, DriveStorage, PART, file_name};
use crate::storage::StorageError;
use crate::storage::oauth::{ATTEMPTS, unavailable};
use crate::storage::writer::{Chunk, next_chunk};
use bytes::{Bytes, BytesMut};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

impl DriveStorage {
    /// The upload task (see the module docs); `Ok` without a file when cancelled.
    pub(in crate::storage) async fn upload(
        self,
        path: String,
        mut chunks: mpsc::Receiver<Chunk>,
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
            match next_chunk(&mut chunks, &mut cancelled).await {
                Some(Chunk::Data(bytes)) => {
                    hasher.update(&bytes);
                    pending.extend_from_slice(&bytes);
                    while pending.len() >= PART {
                        let part = pending.split_to(PART).freeze();
                        self.put_chunk(&session, &mut sent, part, None).await?;
                    }
                }
                Some(Chunk::End) => {
                    let last = pending.split().freeze();
                    let total = sent + last.len() as u64;
                    let stored = self
                        .put_chunk(&session, &mut sent, last, Some(total))
                        .await?
                        .unwrap_or(Value::Null);
                    let expected = hex::encode(hasher.finalize());
                    return self
                        .check_stored(&path, stored, total, expected, previous)
                        .await;
                }
                // Nothing exists before the last chunk: an abandoned session leaves no file.
                None => return Ok(()),
            }
        }
    }

    /// Compares what Drive stored with what was sent (a copy that differs is deleted); then
    /// deletes the `previous` file of the same name.
    async fn check_stored(
        &self,
        path: &str,
        stored: Value,
        total: u64,
        expected: String,
        previous: Option<String>,
    ) -> Result<(), StorageError> {
        let size = stored["size"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .or(stored["size"].as_u64());
        if stored["sha256Checksum"].as_str() != Some(expected.as_str()) || size != Some(total) {
            if let Some(id) = stored["id"].as_str() {
                let _ = self.delete_id(id).await;
            }
            return Err(StorageError::Mismatch {
                destination: self.describe(),
                path: path.to_string(),
                expected_size: total,
                expected,
                found_size: size.unwrap_or(0),
                found: stored["sha256Checksum"].as_str().unwrap_or("(none)").into(),
            });
        }
        if let Some(previous) = previous {
            let _ = self.delete_id(&previous).await;
        }
        Ok(())
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
        let total_text = total.map_or("*".to_string(), |t| t.to_string());
        loop {
            tries += 1;
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
            match self.send(&call, false).await {
                // Drive has less than sent: send the rest (or, for the last chunk, again).
                Ok(response) if response.status() == StatusCode::PERMANENT_REDIRECT => {
                    skip_received(&response, sent, &mut data);
                    if data.is_empty() && total.is_none() {
                        return Ok(None);
                    }
                }
                Ok(response) if response.status().is_success() => {
                    return self.stored(response, sent, &data).await;
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
                    status.content_range = Some(format!("bytes */{total_text}"));
                    if let Ok(response) = self.send(&status, false).await {
                        if response.status().is_success() {
                            // The last chunk had arrived: the file exists.
                            return self.stored(response, sent, &data).await;
                        }
                        if response.status() == StatusCode::PERMANENT_REDIRECT {
                            skip_received(&response, sent, &mut data);
                            if data.is_empty() && total.is_none() {
                                return Ok(None);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The last chunk was stored: moves `sent` past it and returns the file's metadata.
    async fn stored(
        &self,
        response: reqwest::Response,
        sent: &mut u64,
        data: &Bytes,
    ) -> Result<Option<Value>, StorageError> {
        *sent += data.len() as u64;
        response
            .json()
            .await
            .map(Some)
            .map_err(|e| unavailable(&self.describe(), e))
    }
}

/// Drops from `data` what a 308 answer says Drive already has, moving `sent` on by as much.
fn skip_received(response: &reqwest::Response, sent: &mut u64, data: &mut Bytes) {
    let skip = received(response)
        .saturating_sub(*sent)
        .min(data.len() as u64) as usize;
    *data = data.slice(skip..);
    *sent += skip as u64;
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
