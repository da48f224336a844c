//! The checked writer: [`Destination::create`] starts a write, the archive writer writes into an
//! [`ArchiveSink`], and [`Upload::commit`] finishes it and checks what the destination holds (or
//! [`Upload::abort`] leaves nothing). See the guarantees in the module docs of `storage`.

use super::local::{self, PartialFile};
use super::{ByteStream, Destination, StorageError};
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Write};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Bytes the archive writer hands to an upload at a time.
const CHUNK: usize = 1 << 20;
/// Chunks waiting in the channel at most (the rest of the memory bound is the upload's parts).
const CHANNEL_DEPTH: usize = 4;

/// What the archive writer hands to the upload task.
pub(super) enum Chunk {
    Data(Bytes),
    /// The archive is complete: finish the upload. A channel closed without it aborts.
    End,
}

/// The next chunk from the archive writer, for an upload task; `None` when the write was
/// abandoned (`cancelled` fired, or the channel closed without [`Chunk::End`]).
pub(super) async fn next_chunk(
    chunks: &mut mpsc::Receiver<Chunk>,
    cancelled: &mut tokio::sync::oneshot::Receiver<()>,
) -> Option<Chunk> {
    tokio::select! {
        chunk = chunks.recv() => chunk,
        _ = cancelled => None,
    }
}

impl Destination {
    /// Starts writing `path`. Remote destinations are checked first (reachable, bucket there,
    /// credentials accepted), so a backup to a destination that is down fails before it reads
    /// any data.
    pub async fn create(&self, path: &str) -> Result<(Upload, ArchiveSink), StorageError> {
        match self {
            Destination::Local(local) => {
                let (partial, writer) = local.create(path)?;
                Ok((
                    Upload::Local(partial),
                    ArchiveSink(SinkInner::Local(writer)),
                ))
            }
            // Graph needs the total size with every chunk: spooled to disk, uploaded at commit.
            Destination::OneDrive(onedrive) => {
                onedrive.check().await?;
                let (partial, writer) = onedrive
                    .spool
                    .create(&format!("{}.spool", Uuid::new_v4().simple()))?;
                Ok((
                    Upload::Spooled {
                        destination: self.clone(),
                        path: path.to_string(),
                        partial,
                    },
                    ArchiveSink(SinkInner::Local(writer)),
                ))
            }
            Destination::S3(_) | Destination::Dropbox(_) | Destination::GoogleDrive(_) => {
                let (sender, receiver) = mpsc::channel(CHANNEL_DEPTH);
                let (cancel, cancelled) = tokio::sync::oneshot::channel();
                let path_owned = path.to_string();
                let task = match self {
                    Destination::S3(s3) => {
                        s3.check().await?;
                        tokio::spawn(s3.as_ref().clone().upload(path_owned, receiver, cancelled))
                    }
                    Destination::Dropbox(dropbox) => {
                        dropbox.check().await?;
                        tokio::spawn(
                            dropbox
                                .as_ref()
                                .clone()
                                .upload(path_owned, receiver, cancelled),
                        )
                    }
                    Destination::GoogleDrive(drive) => {
                        drive.check().await?;
                        tokio::spawn(
                            drive
                                .as_ref()
                                .clone()
                                .upload(path_owned, receiver, cancelled),
                        )
                    }
                    Destination::Local(_) | Destination::OneDrive(_) => {
                        unreachable!("matched above")
                    }
                };
                Ok((
                    Upload::Remote {
                        destination: self.clone(),
                        path: path.to_string(),
                        task,
                        cancel,
                    },
                    ArchiveSink(SinkInner::Remote {
                        sender,
                        buffer: Vec::with_capacity(CHUNK),
                    }),
                ))
            }
        }
    }
}

/// Where the archive writer writes: a buffered local file, or chunks handed to an upload task.
pub struct ArchiveSink(SinkInner);

enum SinkInner {
    Local(BufWriter<File>),
    Remote {
        sender: mpsc::Sender<Chunk>,
        buffer: Vec<u8>,
    },
}

impl ArchiveSink {
    fn send_buffer(sender: &mpsc::Sender<Chunk>, buffer: &mut Vec<u8>) -> std::io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(buffer, Vec::with_capacity(CHUNK)));
        // The archive writer runs on a blocking thread, so waiting here is allowed; a closed
        // channel means the upload failed (its error is reported instead of this one).
        sender.blocking_send(Chunk::Data(chunk)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the storage destination stopped accepting data",
            )
        })
    }
}

impl Write for ArchiveSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            SinkInner::Local(writer) => writer.write(data),
            SinkInner::Remote { sender, buffer } => {
                let taken = data.len().min(CHUNK - buffer.len());
                buffer.extend_from_slice(&data[..taken]);
                if buffer.len() == CHUNK {
                    Self::send_buffer(sender, buffer)?;
                }
                Ok(taken)
            }
        }
    }

    /// Local: flushes the file's buffer. Remote: nothing; the upload decides its part sizes.
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.0 {
            SinkInner::Local(writer) => writer.flush(),
            SinkInner::Remote { .. } => Ok(()),
        }
    }
}

/// A write in progress. Dropped without [`Upload::commit`], it leaves nothing behind: the
/// partial file is removed, or the upload task sees `cancel` dropped (or its channel close
/// without an end marker) and aborts the multipart upload.
pub enum Upload {
    Local(PartialFile),
    Remote {
        destination: Destination,
        path: String,
        task: tokio::task::JoinHandle<Result<(), StorageError>>,
        cancel: tokio::sync::oneshot::Sender<()>,
    },
    /// Written to a local spool file (removed on drop), uploaded at commit.
    Spooled {
        destination: Destination,
        path: String,
        partial: PartialFile,
    },
}

impl Upload {
    /// Completes the write of `size` bytes with SHA-256 `sha256`, checks what the destination
    /// holds, and writes the `.sha256` companion. Returns where the archive is (for people).
    pub async fn commit(
        self,
        sink: ArchiveSink,
        size: u64,
        sha256: &str,
    ) -> Result<String, StorageError> {
        match (self, sink.0) {
            (Upload::Local(partial), SinkInner::Local(writer)) => {
                commit_local(partial, writer, size, sha256)
            }
            (
                Upload::Remote {
                    destination,
                    path,
                    task,
                    cancel,
                },
                SinkInner::Remote { sender, buffer },
            ) => {
                finish_remote(&destination, task, cancel, sender, buffer).await?;
                match &destination {
                    Destination::S3(s3) => {
                        s3.verify(&path, size, sha256).await?;
                        s3.write_checksum(&path, sha256).await?;
                    }
                    // Checked by the upload task against Dropbox's content hash of what it stored.
                    Destination::Dropbox(dropbox) => dropbox.write_checksum(&path, sha256).await?,
                    // Checked by the upload task against Drive's sha256Checksum of the file.
                    Destination::GoogleDrive(drive) => drive.write_checksum(&path, sha256).await?,
                    Destination::Local(_) | Destination::OneDrive(_) => {
                        unreachable!("local and spooled writes are not streamed uploads")
                    }
                }
                Ok(destination.location(&path))
            }
            (
                Upload::Spooled {
                    destination,
                    path,
                    partial,
                },
                SinkInner::Local(writer),
            ) => commit_spooled(&destination, path, partial, writer, size, sha256).await,
            _ => unreachable!("an upload and its sink come from the same Destination::create"),
        }
    }

    /// Abandons the write; nothing is left at the destination. Returns the upload's own error,
    /// if it failed: it explains a failed backup better than the closed channel the writer saw.
    pub async fn abort(self) -> Option<StorageError> {
        match self {
            Upload::Local(partial) | Upload::Spooled { partial, .. } => {
                drop(partial);
                None
            }
            Upload::Remote {
                destination,
                task,
                cancel,
                ..
            } => {
                let _ = cancel.send(());
                join(task, &destination).await.err()
            }
        }
    }
}

/// A local write: the partial file renamed into place, its size checked.
fn commit_local(
    partial: PartialFile,
    writer: BufWriter<File>,
    size: u64,
    sha256: &str,
) -> Result<String, StorageError> {
    let path = partial.commit(writer, sha256)?;
    let on_disk = std::fs::metadata(&path)
        .map_err(local::io_error(&path))?
        .len();
    if on_disk != size {
        let _ = std::fs::remove_file(&path);
        return Err(StorageError::Mismatch {
            destination: "the local disk".into(),
            path: path.display().to_string(),
            expected_size: size,
            expected: sha256.into(),
            found_size: on_disk,
            found: "(not read)".into(),
        });
    }
    Ok(path.display().to_string())
}

/// Hands the upload task the rest of the archive and the end marker, and waits for it.
async fn finish_remote(
    destination: &Destination,
    task: tokio::task::JoinHandle<Result<(), StorageError>>,
    cancel: tokio::sync::oneshot::Sender<()>,
    sender: mpsc::Sender<Chunk>,
    mut buffer: Vec<u8>,
) -> Result<(), StorageError> {
    let sent = async {
        if !buffer.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut buffer));
            sender.send(Chunk::Data(chunk)).await?;
        }
        sender.send(Chunk::End).await
    }
    .await;
    drop(sender);
    let uploaded = join(task, destination).await;
    drop(cancel);
    match (uploaded, sent) {
        (Err(error), _) => Err(error),
        (Ok(()), Err(_)) => Err(StorageError::Unavailable {
            destination: destination.describe(),
            detail: "the upload stopped before the end of the archive".into(),
        }),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// A spooled write (OneDrive): the spool file uploaded, then read back and compared.
async fn commit_spooled(
    destination: &Destination,
    path: String,
    partial: PartialFile,
    writer: BufWriter<File>,
    size: u64,
    sha256: &str,
) -> Result<String, StorageError> {
    let spool = partial.path().to_path_buf();
    writer.into_inner().map_err(|e| StorageError::Io {
        path: spool.clone(),
        source: e.into_error(),
    })?;
    let Destination::OneDrive(onedrive) = destination else {
        unreachable!("only OneDrive spools")
    };
    onedrive.upload_file(&spool, size, &path).await?;
    drop(partial);
    // Graph offers no SHA-256 (only QuickXorHash): the file is read back.
    let (_, stream) = onedrive.read(&path).await?;
    let (found_size, found) = digest(stream)
        .await
        .map_err(|e| destination.read_failure(e))?;
    if found_size != size || found != sha256 {
        let _ = onedrive.remove(&path).await;
        return Err(StorageError::Mismatch {
            destination: destination.describe(),
            path,
            expected_size: size,
            expected: sha256.into(),
            found_size,
            found,
        });
    }
    onedrive.write_checksum(&path, sha256).await?;
    Ok(destination.location(&path))
}

async fn join(
    task: tokio::task::JoinHandle<Result<(), StorageError>>,
    destination: &Destination,
) -> Result<(), StorageError> {
    task.await.unwrap_or_else(|e| {
        Err(StorageError::Unavailable {
            destination: destination.describe(),
            detail: format!("the upload task ended abnormally: {e}"),
        })
    })
}

/// The SHA-256 and length of a stream.
pub(super) async fn digest(mut stream: ByteStream) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut length = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        length += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((length, hex::encode(hasher.finalize())))
}
