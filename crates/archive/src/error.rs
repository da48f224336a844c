//! Errors of the archive format.
//!
//! Rules: every variant names what is wrong and, where a person can act, what to do.
//! [`Error::is_corruption`] separates damaged files (fetch the file again, never retry the read)
//! from key problems and I/O errors (which a caller may retry or fix by configuration).

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    #[error(
        "this is not an orgbackup archive: it starts neither with the encryption header `OBRENC01` nor with a zstd frame"
    )]
    NotAnArchive,

    #[error(
        "archive format version {found} is not supported by this build (it reads version {supported}); upgrade orgbackup"
    )]
    UnsupportedVersion { found: u32, supported: u32 },

    #[error(
        "the file ends early ({detail}): it was cut off while being copied, uploaded or written; fetch it again"
    )]
    Truncated { detail: String },

    #[error("the archive trailer is damaged ({detail}); the file was modified or corrupted")]
    TrailerCorrupt { detail: String },

    #[error("the archive manifest is damaged ({detail}); the file was modified or corrupted")]
    ManifestCorrupt { detail: String },

    #[error(
        "the archive's manifest is {size} bytes, more than the {limit} bytes this reader accepts; it was not read"
    )]
    ManifestTooLarge { size: u64, limit: u64 },

    #[error(
        "the archive's contents do not match its recorded SHA-256 (recorded {expected}, computed {actual}); the file was modified or corrupted"
    )]
    StreamChecksumMismatch { expected: String, actual: String },

    #[error(
        "entry `{path}` does not match its recorded SHA-256 (recorded {expected}, computed {actual}); the file was modified or corrupted"
    )]
    EntryChecksumMismatch {
        path: String,
        expected: String,
        actual: String,
    },

    #[error("entry `{path}` is damaged: {detail}")]
    EntryCorrupt { path: String, detail: String },

    #[error("the archive's layout is inconsistent: {detail}")]
    Layout { detail: String },

    #[error("entry `{path}` is not in this archive")]
    EntryNotFound { path: String },

    #[error("entry `{path}` was declared as {declared} bytes but its source gave only {actual}")]
    EntryTooShort {
        path: String,
        declared: u64,
        actual: u64,
    },

    #[error("`{path}` cannot be an archive entry path: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    #[error(
        "the backup is encrypted with key `{key_id}`, which is not available here; supply that key (e.g. --key-file) or configure it"
    )]
    MissingKey { key_id: String },

    #[error(
        "the key supplied cannot open this backup (it was encrypted with key `{key_id}`): it is a different key, or the file's header was modified"
    )]
    WrongKey { key_id: String },

    #[error(
        "encrypted segment {segment} (at byte {offset}) failed authentication: the file was modified or corrupted"
    )]
    SegmentTampered { segment: u64, offset: u64 },

    #[error("the encryption header is invalid: {detail}")]
    BadHeader { detail: String },

    #[error("invalid key: {detail}")]
    InvalidKey { detail: String },

    #[error("sealed data could not be opened: wrong key, or the data was modified")]
    Unseal,
}

impl Error {
    /// Takes an archive error back out of an `io::Error` (as an entry reader reports a checksum
    /// mismatch); other I/O errors become [`Error::Io`].
    pub fn from_io(error: io::Error) -> Error {
        crate::envelope::from_io(error)
    }

    /// True when the file itself is damaged (as opposed to a missing key or an I/O failure).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Truncated { .. }
                | Error::TrailerCorrupt { .. }
                | Error::ManifestCorrupt { .. }
                | Error::StreamChecksumMismatch { .. }
                | Error::EntryChecksumMismatch { .. }
                | Error::EntryCorrupt { .. }
                | Error::Layout { .. }
                | Error::SegmentTampered { .. }
                | Error::BadHeader { .. }
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
