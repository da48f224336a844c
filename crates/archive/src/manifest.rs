//! The manifest: the archive's table of contents, stored as the last entry (`manifest.json`).

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub const FORMAT_NAME: &str = "orgbackup-archive";
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_PATH: &str = "manifest.json";
/// No reader parses a manifest larger than this, whatever its [`crate::ReadLimits`]: the ceiling
/// for archives the service wrote itself (an org with a million files stays well below it).
/// The manifest is parsed as it streams, so the size costs CPU, not memory.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;
const MAX_PATH_BYTES: usize = 4096;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArchiveManifest {
    pub format: String,
    pub format_version: u32,
    pub created_at: DateTime<Utc>,
    /// Every data entry, in the order (and at the offsets) they appear in the stream.
    pub entries: Vec<EntryRecord>,
    /// What the archive holds, in the words of its producer (for orgbackup: the backup metadata).
    pub backup: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    pub path: String,
    /// Bytes of the entry's content.
    pub size: u64,
    /// SHA-256 of the entry's content, lowercase hex.
    pub sha256: String,
    /// Where the entry's zstd frame starts in the plain (decrypted) stream.
    pub offset: u64,
    pub compressed_size: u64,
}

impl ArchiveManifest {
    pub fn entry(&self, path: &str) -> Option<&EntryRecord> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Bytes of every entry's content: what reading the whole archive decompresses.
    pub fn unpacked_size(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |total, e| total.saturating_add(e.size))
    }

    /// Parses a manifest's JSON as read from an archive whose manifest frame starts at
    /// `manifest_offset`, and checks it (see [`Self::validate`]): the only way a reader takes a
    /// manifest in, so the fuzz targets call exactly this.
    pub fn parse(json: &[u8], manifest_offset: u64) -> Result<Self> {
        let manifest: ArchiveManifest =
            serde_json::from_slice(json).map_err(|e| Error::ManifestCorrupt {
                detail: e.to_string(),
            })?;
        manifest.validate(manifest_offset)?;
        Ok(manifest)
    }

    /// Checks what a reader must not take on trust: version, paths (safe, unique, never the
    /// manifest's own name), and that the entries tile the stream from byte 0 up to the
    /// manifest's own frame.
    pub(crate) fn validate(&self, manifest_offset: u64) -> Result<()> {
        if self.format != FORMAT_NAME {
            return Err(Error::ManifestCorrupt {
                detail: format!("format is `{}`, expected `{FORMAT_NAME}`", self.format),
            });
        }
        if self.format_version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: self.format_version,
                supported: FORMAT_VERSION,
            });
        }
        let mut expected_offset = 0u64;
        let mut seen = HashSet::with_capacity(self.entries.len());
        for entry in &self.entries {
            validate_path(&entry.path).map_err(|e| Error::ManifestCorrupt {
                detail: e.to_string(),
            })?;
            // A data entry named like the manifest would be taken for it by tools that extract
            // the tar stream (and was once skipped by verification); a path listed twice makes
            // readers by name and `tar -x` (which keeps the last) see different content.
            if entry.path == MANIFEST_PATH {
                return Err(Error::ManifestCorrupt {
                    detail: format!("an entry is named `{MANIFEST_PATH}`, which is reserved"),
                });
            }
            if !seen.insert(entry.path.as_str()) {
                return Err(Error::ManifestCorrupt {
                    detail: format!(
                        "entry `{}` is listed twice",
                        entry.path.chars().take(200).collect::<String>()
                    ),
                });
            }
            if entry.offset != expected_offset || entry.compressed_size == 0 {
                return Err(Error::Layout {
                    detail: format!(
                        "entry `{}` is at byte {}, expected {expected_offset}",
                        entry.path, entry.offset
                    ),
                });
            }
            expected_offset = entry
                .offset
                .checked_add(entry.compressed_size)
                .ok_or_else(|| Error::Layout {
                    detail: "entry sizes overflow".into(),
                })?;
        }
        if expected_offset != manifest_offset {
            return Err(Error::Layout {
                detail: format!(
                    "the entries end at byte {expected_offset} but the manifest starts at {manifest_offset}"
                ),
            });
        }
        Ok(())
    }
}

/// Entry paths are relative, `/`-separated, and can never name a place outside the directory an
/// archive is extracted into.
pub fn validate_path(path: &str) -> Result<()> {
    let reason = if path.is_empty() {
        Some("it is empty")
    } else if path.len() > MAX_PATH_BYTES {
        Some("it is longer than 4096 bytes")
    } else if path.contains('\0') || path.contains('\\') {
        Some("it contains a NUL byte or a backslash")
    } else if path.starts_with('/') {
        Some("it is absolute")
    } else if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        Some("it has an empty, `.` or `..` component")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidPath {
            path: path.chars().take(200).collect(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_escape_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "a\0b",
        ] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
        for good in [
            "manifest.json",
            "tables/0001-orgs/000001.copy",
            "files/org/media/a b.png",
        ] {
            validate_path(good).unwrap();
        }
    }
}
