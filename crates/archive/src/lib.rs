//! The org-backup-restore archive format, version 1 (specified in docs/FORMAT.md).
//!
//! A plain archive is a tar stream in which every entry is its own zstd frame, followed by a
//! trailer in a zstd skippable frame: `zstd -dc backup.tar.zst | tar -x` unpacks it with standard
//! tools, and a reader can still seek straight to any entry. An encrypted archive is the same
//! stream sealed in 64 KiB AES-256-GCM segments under a per-backup data key.

mod envelope;
mod error;
#[cfg(feature = "forge")]
pub mod forge;
mod key;
mod manifest;
mod reader;
mod tar;
mod trailer;
mod writer;

pub use envelope::EncryptionSetup;
pub use error::{Error, Result};
pub use key::{KEY_LEN, KeyEncryptionKey};
pub use manifest::{
    ArchiveManifest, EntryRecord, FORMAT_NAME, FORMAT_VERSION, MANIFEST_PATH, validate_path,
};
pub use reader::{ArchiveReader, EntryReader, Envelope, ReadLimits, VerifyReport, read_envelope};
pub use writer::{ArchiveSummary, ArchiveWriter, WriterOptions};
