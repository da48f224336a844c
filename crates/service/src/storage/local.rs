//! Local filesystem storage of backup archives. A backup is written to `<name>.partial` and renamed
//! into place only once complete and synced, so a crash or failure never leaves a file that looks
//! like a finished backup. Next to each archive, `<name>.sha256` is written in `sha256sum` format.

use super::StorageError;
use crate::ids::{BackupId, OrgId};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Clone, Debug)]
pub struct LocalStorage {
    root: PathBuf,
}

/// An archive being written. Dropping it without [`PartialFile::commit`] removes the partial file.
pub struct PartialFile {
    partial: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PartialFile {
    /// Where the data is being written (the `.partial` file).
    pub fn path(&self) -> &Path {
        &self.partial
    }
}

impl LocalStorage {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The storage path (relative to the root) of a backup's archive.
    pub fn backup_path(org_id: OrgId, backup_id: BackupId, encrypted: bool) -> String {
        let extension = if encrypted { "tar.zst.enc" } else { "tar.zst" };
        format!("{org_id}/{backup_id}.{extension}")
    }

    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Removes an archive and its `.sha256` companion; a file already gone is not an error.
    pub fn remove(&self, relative: &str) -> Result<(), StorageError> {
        let file = self.absolute(relative);
        let sidecar = PathBuf::from(format!("{}.sha256", file.display()));
        for path in [&file, &sidecar] {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_error(path)(e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Opens `<relative>.partial` for writing.
    pub fn create(&self, relative: &str) -> Result<(PartialFile, BufWriter<File>), StorageError> {
        let target = self.absolute(relative);
        let directory = target
            .parent()
            .expect("backup paths have a directory")
            .to_path_buf();
        std::fs::create_dir_all(&directory).map_err(io_error(&directory))?;
        let partial = target.with_extension(format!(
            "{}.partial",
            target.extension().and_then(|e| e.to_str()).unwrap_or("")
        ));
        let file = File::create(&partial).map_err(io_error(&partial))?;
        Ok((
            PartialFile {
                partial,
                target,
                committed: false,
            },
            BufWriter::with_capacity(1 << 20, file),
        ))
    }
}

impl PartialFile {
    /// Flushes and syncs the file, moves it into place and writes its `.sha256` companion.
    pub fn commit(
        mut self,
        writer: BufWriter<File>,
        sha256: &str,
    ) -> Result<PathBuf, StorageError> {
        let file = writer.into_inner().map_err(|e| StorageError::Io {
            path: self.partial.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_error(&self.partial))?;
        std::fs::rename(&self.partial, &self.target).map_err(io_error(&self.target))?;
        self.committed = true;
        let name = self
            .target
            .file_name()
            .expect("has a name")
            .to_string_lossy();
        let sidecar = PathBuf::from(format!("{}.sha256", self.target.display()));
        std::fs::write(&sidecar, format!("{sha256}  {name}\n")).map_err(io_error(&sidecar))?;
        Ok(self.target.clone())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_uncommitted_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalStorage::new(dir.path());
        let (partial, mut writer) = storage.create("org/b.tar.zst").unwrap();
        writer.write_all(b"half").unwrap();
        drop(writer);
        drop(partial);
        assert_eq!(
            std::fs::read_dir(dir.path().join("org")).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_committed_file_is_in_place_with_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalStorage::new(dir.path());
        let (partial, mut writer) = storage.create("org/b.tar.zst").unwrap();
        writer.write_all(b"data").unwrap();
        let path = partial.commit(writer, "abc").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let sidecar = std::fs::read_to_string(dir.path().join("org/b.tar.zst.sha256")).unwrap();
        assert_eq!(sidecar, "abc  b.tar.zst\n");
        assert!(!dir.path().join("org/b.tar.zst.partial").exists());
    }
}
