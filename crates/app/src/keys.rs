//! Which key encrypts a backup, and which key opens one. Key ids are written in the archive:
//! `master:<fingerprint>` for the master key from configuration.

use crate::config::Settings;
use orgbackup_archive::{EncryptionSetup, KeyEncryptionKey};
use secrecy::ExposeSecret;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("encryption needs a master key: set encryption.master_key (ORGBACKUP__ENCRYPTION__MASTER_KEY) to the output of `orgbackup keygen`")]
    NoMasterKey,
    #[error("encryption.master_key is not valid: {0}; it must be base64 of 32 bytes (`orgbackup keygen` makes one)")]
    BadMasterKey(orgbackup_archive::Error),
}

pub fn master_key(settings: &Settings) -> Result<Option<KeyEncryptionKey>, KeyError> {
    settings
        .encryption
        .master_key
        .as_ref()
        .map(|k| KeyEncryptionKey::from_base64(k.expose_secret().trim()).map_err(KeyError::BadMasterKey))
        .transpose()
}

pub fn master_key_id(key: &KeyEncryptionKey) -> String {
    format!("master:{}", key.fingerprint())
}

/// The key a new encrypted backup is sealed with.
pub fn encryption_setup(settings: &Settings) -> Result<EncryptionSetup, KeyError> {
    let key = master_key(settings)?.ok_or(KeyError::NoMasterKey)?;
    Ok(EncryptionSetup {
        key_id: master_key_id(&key),
        key,
    })
}

/// Keys that can open archives: the master key, and an extra key supplied by the user.
pub struct KeyRing {
    keys: Vec<(String, KeyEncryptionKey)>,
}

impl KeyRing {
    pub fn new(settings: &Settings, extra: Option<KeyEncryptionKey>) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        if let Some(master) = master_key(settings)? {
            keys.push((master_key_id(&master), master));
        }
        if let Some(extra) = extra {
            keys.push((String::new(), extra));
        }
        Ok(Self { keys })
    }

    /// The key for `key_id`: the one registered under that id, else the user's extra key (which
    /// the archive then accepts or rejects as the wrong key).
    pub fn find(&self, key_id: &str) -> Option<KeyEncryptionKey> {
        self.keys
            .iter()
            .find(|(id, _)| id == key_id)
            .or_else(|| self.keys.iter().find(|(id, _)| id.is_empty()))
            .map(|(_, key)| key.clone())
    }
}
