//! Dropbox's upload session (see the module docs of `dropbox`): `upload_session/start`,
//! `append_v2` and `finish` in 8 MiB parts, each kept until Dropbox acknowledged it and resent
//! from the offset Dropbox reports (`incorrect_offset`); and Dropbox's content hash, to check
//! what it stored.

use super::{Call, DropboxStorage, PART};
use crate::storage::StorageError;
use crate::storage::oauth::unavailable;
use crate::storage::writer::{Chunk, next_chunk};
use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

/// Dropbox's content-hash block size.
const BLOCK: usize = 4 << 20;

impl DropboxStorage {
    /// The upload task (see the module docs); `Ok` without a file when cancelled.
    pub(in crate::storage) async fn upload(
        self,
        path: String,
        mut chunks: mpsc::Receiver<Chunk>,
        mut cancelled: oneshot::Receiver<()>,
    ) -> Result<(), StorageError> {
        let mut session = Session {
            id: None,
            offset: 0,
        };
        let mut pending = BytesMut::new();
        let mut hash = ContentHash::default();
        loop {
            match next_chunk(&mut chunks, &mut cancelled).await {
                Some(Chunk::Data(bytes)) => {
                    hash.update(&bytes);
                    pending.extend_from_slice(&bytes);
                    while pending.len() >= PART {
                        let part = pending.split_to(PART).freeze();
                        self.append(&mut session, part).await?;
                    }
                }
                Some(Chunk::End) => {
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
}
