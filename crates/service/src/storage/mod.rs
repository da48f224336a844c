//! Where backup archives are kept: the local disk (the default) or one of an org's storage
//! connections (S3-compatible object storage). [`Destination`] is the one type the rest of the
//! service writes, reads and deletes archives through; [`connections`] keeps the org's
//! connections, their credentials sealed with the master key.
//!
//! What every destination guarantees:
//! - a failed or interrupted write leaves nothing that looks like a backup (local disk: a
//!   `.partial` file, removed on drop; S3: the multipart upload is aborted);
//! - a finished write is checked: its size and SHA-256 are read back from the destination
//!   (streamed) and compared with what was written; a copy that differs is deleted;
//! - `<path>.sha256` lies next to every archive, in `sha256sum` format;
//! - memory stays bounded: the (synchronous) archive writer hands 1 MiB chunks to the upload
//!   through a bounded channel, and the upload sends 8 MiB parts, two at a time.
//!
//! Restores need `Read + Seek`, which a remote object does not offer: [`Destination::fetch`]
//! streams the archive into a temporary file under `<local_root>/.fetch/`, removed when dropped.

pub mod connections;
mod dropbox;
mod gdrive;
mod local;
mod oauth;
mod onedrive;
mod s3;
mod writer;

pub use crate::config::storage::{DropboxSettings, GoogleDriveSettings, OneDriveSettings};
pub use connections::Provider;
pub use local::{LocalStorage, PartialFile};
pub use s3::{S3Credentials, S3Settings};
pub use writer::{ArchiveSink, Upload};

use crate::ids::{BackupId, ConnectionId, OrgId};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The destination could not be reached, timed out or answered with a server error: trying
    /// again later may help.
    #[error("{destination} is unavailable: {detail}")]
    Unavailable { destination: String, detail: String },
    #[error("{destination} is full (or over its quota): {detail}")]
    Full { destination: String, detail: String },
    /// Wrong credentials, a missing bucket, no permission: trying again will not help.
    #[error("{destination} refused the request: {detail}")]
    Refused { destination: String, detail: String },
    #[error("{destination} has no file {path}")]
    NotFound { destination: String, path: String },
    #[error(
        "the copy of {path} on {destination} is not what was written ({expected_size} bytes, SHA-256 {expected}; read back: {found_size} bytes, SHA-256 {found}); it was deleted"
    )]
    Mismatch {
        destination: String,
        path: String,
        expected_size: u64,
        expected: String,
        found_size: u64,
        found: String,
    },
    #[error(
        "storage connection `{0}` does not exist for this organization (see `orgbackup storage list`)"
    )]
    UnknownConnection(String),
    #[error("storage connection `{name}` is {status}: reconnect it, or choose another destination")]
    Inactive {
        name: String,
        status: crate::states::ConnectionStatus,
    },
    #[error(
        "storage connection `{name}` still holds {backups} backups; delete them first (or let retention expire them)"
    )]
    InUse { name: String, backups: i64 },
    #[error("a storage connection named `{0}` already exists for this organization")]
    Duplicate(String),
    #[error(
        "storage connections keep their credentials sealed with the master key: set encryption.master_key (`orgbackup keygen` makes one)"
    )]
    NoMasterKey,
    #[error(
        "the credentials of storage connection `{0}` cannot be opened with the configured master key (was the master key changed?)"
    )]
    Credentials(String),
    #[error("invalid storage settings: {0}")]
    Invalid(String),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

impl StorageError {
    /// Whether the same operation may succeed later (the job queue retries those).
    pub fn is_retryable(&self) -> bool {
        match self {
            StorageError::Unavailable { .. } => true,
            StorageError::Sql(error) => orgbackup_engine::is_transient(error),
            StorageError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut
            ),
            _ => false,
        }
    }
}

/// Where one archive is, or goes.
#[derive(Clone, Debug)]
pub enum Destination {
    Local(LocalStorage),
    // Boxed: an OpenDAL operator and settings are large next to a local root.
    S3(Box<s3::S3Storage>),
    Dropbox(Box<dropbox::DropboxStorage>),
    GoogleDrive(Box<gdrive::DriveStorage>),
    OneDrive(Box<onedrive::OneDriveStorage>),
}

/// The bytes of an archive as they are read from a destination.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

impl Destination {
    /// The service's local disk (`storage.local_root`).
    pub fn local(storage: &crate::config::StorageSettings) -> Self {
        Destination::Local(LocalStorage::new(&storage.local_root))
    }

    /// The `storage_disk` recorded on a backup: the provider's name.
    pub fn provider(&self) -> Provider {
        match self {
            Destination::Local(_) => Provider::Local,
            Destination::S3(_) => Provider::S3,
            Destination::Dropbox(_) => Provider::Dropbox,
            Destination::GoogleDrive(_) => Provider::GoogleDrive,
            Destination::OneDrive(_) => Provider::OneDrive,
        }
    }

    /// The storage connection, `None` for the service's local disk.
    pub fn connection_id(&self) -> Option<ConnectionId> {
        match self {
            Destination::Local(_) => None,
            Destination::S3(s3) => Some(s3.connection_id),
            Destination::Dropbox(dropbox) => Some(dropbox.connection_id),
            Destination::GoogleDrive(drive) => Some(drive.connection_id),
            Destination::OneDrive(onedrive) => Some(onedrive.connection_id),
        }
    }

    /// Names the destination in messages (never with credentials).
    pub fn describe(&self) -> String {
        match self {
            Destination::Local(_) => "the local disk".into(),
            Destination::S3(s3) => s3.describe(),
            Destination::Dropbox(dropbox) => dropbox.describe(),
            Destination::GoogleDrive(drive) => drive.describe(),
            Destination::OneDrive(onedrive) => onedrive.describe(),
        }
    }

    /// Where `path` is, for people: a local path or an `s3://bucket/key` URL.
    pub fn location(&self, path: &str) -> String {
        match self {
            Destination::Local(local) => local.absolute(path).display().to_string(),
            Destination::S3(s3) => s3.location(path),
            Destination::Dropbox(dropbox) => dropbox.location(path),
            Destination::GoogleDrive(drive) => drive.location(path),
            Destination::OneDrive(onedrive) => onedrive.location(path),
        }
    }

    /// The archive at `path`, streamed, with its length.
    pub async fn read(&self, path: &str) -> Result<(u64, ByteStream), StorageError> {
        match self {
            Destination::Local(local) => {
                let absolute = local.absolute(path);
                let file = tokio::fs::File::open(&absolute).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        StorageError::NotFound {
                            destination: self.describe(),
                            path: path.to_string(),
                        }
                    } else {
                        local::io_error(&absolute)(e)
                    }
                })?;
                let length = file
                    .metadata()
                    .await
                    .map_err(local::io_error(&absolute))?
                    .len();
                Ok((
                    length,
                    tokio_util::io::ReaderStream::with_capacity(file, 256 << 10).boxed(),
                ))
            }
            Destination::S3(s3) => s3.read(path).await,
            Destination::Dropbox(dropbox) => dropbox.read(path).await,
            Destination::GoogleDrive(drive) => drive.read(path).await,
            Destination::OneDrive(onedrive) => onedrive.read(path).await,
        }
    }

    /// A local file with the archive at `path`, for readers that seek (restore, analyze): the
    /// file itself on the local disk, else a temporary copy streamed into `<local_root>/.fetch/`.
    pub async fn fetch(
        &self,
        storage: &crate::config::StorageSettings,
        path: &str,
    ) -> Result<LocalCopy, StorageError> {
        if let Destination::Local(local) = self {
            return Ok(LocalCopy::InPlace(local.absolute(path)));
        }
        let directory = storage.local_root.join(".fetch");
        tokio::fs::create_dir_all(&directory)
            .await
            .map_err(local::io_error(&directory))?;
        let temp = tempfile::Builder::new()
            .prefix("fetch-")
            .tempfile_in(&directory)
            .map_err(local::io_error(&directory))?
            .into_temp_path();
        let (_, mut stream) = self.read(path).await?;
        let mut file = tokio::fs::File::create(&temp)
            .await
            .map_err(local::io_error(&temp))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.read_failure(e))?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(local::io_error(&temp))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(local::io_error(&temp))?;
        Ok(LocalCopy::Fetched(temp))
    }

    /// Deletes the archive at `path` and its `.sha256` companion; one already gone is no error.
    pub async fn remove(&self, path: &str) -> Result<(), StorageError> {
        match self {
            Destination::Local(local) => local.remove(path),
            Destination::S3(s3) => s3.remove(path).await,
            Destination::Dropbox(dropbox) => dropbox.remove(path).await,
            Destination::GoogleDrive(drive) => drive.remove(path).await,
            Destination::OneDrive(onedrive) => onedrive.remove(path).await,
        }
    }

    /// Writes a small file, reads it back and deletes it: proves the destination works now.
    pub async fn test(&self) -> Result<(), StorageError> {
        let path = format!(".orgbackup-test-{}", Uuid::new_v4().simple());
        let content = b"orgbackup storage test\n";
        let (upload, mut sink) = self.create(&path).await?;
        let written = sink.write_all(content);
        if let Err(error) = written {
            return Err(upload.abort().await.unwrap_or(StorageError::Io {
                path: path.into(),
                source: error,
            }));
        }
        let sha256 = hex::encode(Sha256::digest(content));
        upload.commit(sink, content.len() as u64, &sha256).await?;
        self.remove(&path).await
    }

    fn read_failure(&self, error: std::io::Error) -> StorageError {
        StorageError::Unavailable {
            destination: self.describe(),
            detail: format!("reading failed midway: {error}"),
        }
    }
}

/// Opens the destination of a stored backup: its storage connection, or the local disk.
pub async fn open(
    pool: &sqlx::PgPool,
    settings: &crate::config::Settings,
    org_id: OrgId,
    connection_id: Option<ConnectionId>,
) -> Result<Destination, StorageError> {
    match connection_id {
        None => Ok(Destination::local(&settings.storage)),
        Some(id) => connections::open(pool, settings, org_id, id).await,
    }
}

/// The destination and path of one of an org's backups, if it has a file.
pub async fn locate(
    pool: &sqlx::PgPool,
    settings: &crate::config::Settings,
    org_id: OrgId,
    backup_id: BackupId,
) -> Result<Option<(Destination, String)>, StorageError> {
    let mut tx = crate::db::org_transaction(pool, org_id).await?;
    let row: Option<(Option<ConnectionId>, Option<String>)> = sqlx::query_as(
        "SELECT storage_connection_id, storage_path FROM organization_backups
          WHERE org_id = $1 AND backup_id = $2",
    )
    .bind(org_id)
    .bind(backup_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    match row {
        Some((connection_id, Some(path))) => Ok(Some((
            open(pool, settings, org_id, connection_id).await?,
            path,
        ))),
        _ => Ok(None),
    }
}

/// A readable local file holding an archive; a fetched copy is deleted when this is dropped.
#[derive(Debug)]
pub enum LocalCopy {
    InPlace(PathBuf),
    Fetched(tempfile::TempPath),
}

impl LocalCopy {
    pub fn path(&self) -> &Path {
        match self {
            LocalCopy::InPlace(path) => path,
            LocalCopy::Fetched(temp) => temp,
        }
    }
}
