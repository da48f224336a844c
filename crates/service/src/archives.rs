//! Opening a backup file: finding the key it needs (the master key, a key file the user gives,
//! or the org's custom key kept in the database) before the archive reader asks for it.

use crate::config::Settings;
use crate::db;
use crate::keys::KeyRing;
use anyhow::Context;
use orgbackup_archive::{ArchiveReader, Envelope, KeyEncryptionKey, read_envelope};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

pub type FileArchive = ArchiveReader<BufReader<File>>;

pub async fn open(
    settings: &Settings,
    path: &Path,
    key_file: Option<&Path>,
) -> anyhow::Result<FileArchive> {
    let extra = match key_file {
        Some(key_path) => {
            let text = std::fs::read_to_string(key_path)
                .with_context(|| format!("reading key file {}", key_path.display()))?;
            Some(
                KeyEncryptionKey::from_base64(text.trim())
                    .with_context(|| format!("key file {}", key_path.display()))?,
            )
        }
        None => None,
    };
    let mut ring = KeyRing::new(&settings.encryption, extra)?;
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    if let Ok(Envelope::Encrypted { key_id }) = read_envelope(&mut file)
        && key_id.starts_with("org:")
    {
        let pool = db::connect(settings, false).await.with_context(|| {
            format!("the file is sealed with organization key {key_id}, kept in the database")
        })?;
        ring.add_org_key(&pool, settings, &key_id).await?;
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(ArchiveReader::open(BufReader::new(file), &|id: &str| {
        ring.find(id)
    })?)
}
