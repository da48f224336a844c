//! Key-encryption keys: the master key from configuration and an org's custom keys. They never
//! encrypt data directly; they seal the fresh data key of each backup (and other small secrets).

use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A 256-bit AES key that wraps other keys. Its bytes are wiped on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyEncryptionKey([u8; KEY_LEN]);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyEncryptionKey({})", self.fingerprint())
    }
}

impl KeyEncryptionKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    pub fn generate() -> Self {
        Self(random_array())
    }

    /// Parses the base64 text form (standard alphabet, padded), as `orgbackup keygen` prints it.
    pub fn from_base64(text: &str) -> Result<Self> {
        let mut bytes = BASE64.decode(text.trim()).map_err(|e| Error::InvalidKey {
            detail: format!("not base64 ({e})"),
        })?;
        let result = <[u8; KEY_LEN]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| Error::InvalidKey {
                detail: format!("{} bytes, expected {KEY_LEN}", bytes.len()),
            });
        bytes.zeroize();
        result
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// A short public name for the key (16 hex digits of a domain-separated SHA-256), safe to
    /// store and print; it does not reveal the key.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"orgbackup key fingerprint v1\0");
        hasher.update(self.0);
        hex::encode(&hasher.finalize()[..8])
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Encrypts a small secret with AES-256-GCM: `nonce (12) || ciphertext || tag (16)`.
    /// `context` is authenticated, not stored: the same context must be given to [`Self::open`].
    pub fn seal(&self, secret: &[u8], context: &[u8]) -> Vec<u8> {
        let cipher = Aes256Gcm::new(self.0.as_ref().into());
        let nonce: [u8; NONCE_LEN] = random_array();
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: context,
                },
            )
            .expect("AES-GCM encryption of a small buffer cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        let cipher = Aes256Gcm::new(self.0.as_ref().into());
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| Error::Unseal)
    }

    /// Wraps another key (e.g. an org's custom key under the master key) as base64 text.
    pub fn wrap_key(&self, key: &KeyEncryptionKey, context: &str) -> String {
        BASE64.encode(self.seal(key.bytes(), context.as_bytes()))
    }

    pub fn unwrap_key(&self, wrapped: &str, context: &str) -> Result<KeyEncryptionKey> {
        let sealed = BASE64.decode(wrapped.trim()).map_err(|_| Error::Unseal)?;
        let mut bytes = self.open(&sealed, context.as_bytes())?;
        let key = <[u8; KEY_LEN]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| Error::Unseal);
        bytes.zeroize();
        key
    }
}

pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_fingerprint_is_stable() {
        let key = KeyEncryptionKey::generate();
        let again = KeyEncryptionKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.fingerprint(), again.fingerprint());
        assert_eq!(key.fingerprint().len(), 16);
        assert_ne!(
            key.fingerprint(),
            KeyEncryptionKey::generate().fingerprint()
        );
    }

    #[test]
    fn bad_key_text_is_explained() {
        let short = KeyEncryptionKey::from_base64("AAAA")
            .unwrap_err()
            .to_string();
        assert!(short.contains("3 bytes, expected 32"), "{short}");
        let junk = KeyEncryptionKey::from_base64("not base64!")
            .unwrap_err()
            .to_string();
        assert!(junk.contains("not base64"), "{junk}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = KeyEncryptionKey::from_bytes([7; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.to_base64()));
        assert!(shown.contains(&key.fingerprint()));
    }

    #[test]
    fn wrapped_keys_open_only_with_the_same_key_and_context() {
        let master = KeyEncryptionKey::generate();
        let org_key = KeyEncryptionKey::generate();
        let wrapped = master.wrap_key(&org_key, "org:1");
        assert_eq!(
            master.unwrap_key(&wrapped, "org:1").unwrap().fingerprint(),
            org_key.fingerprint()
        );
        assert!(matches!(
            master.unwrap_key(&wrapped, "org:2"),
            Err(Error::Unseal)
        ));
        assert!(matches!(
            KeyEncryptionKey::generate().unwrap_key(&wrapped, "org:1"),
            Err(Error::Unseal)
        ));
    }
}
