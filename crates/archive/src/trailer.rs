//! The trailer: a fixed-size zstd skippable frame at the very end of the plain stream. It says
//! where the manifest is and holds the SHA-256 of everything before it. zstd skips it, so the
//! plain stream still decompresses with standard tools.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};

pub const TRAILER_LEN: usize = 100;
const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
const TRAILER_MAGIC: &[u8; 8] = b"OBRTRLR1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub format_version: u32,
    pub manifest_offset: u64,
    pub manifest_len: u64,
    pub stream_sha256: [u8; 32],
}

impl Trailer {
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut out = [0u8; TRAILER_LEN];
        out[0..4].copy_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        out[4..8].copy_from_slice(&((TRAILER_LEN - 8) as u32).to_le_bytes());
        out[8..16].copy_from_slice(TRAILER_MAGIC);
        out[16..20].copy_from_slice(&self.format_version.to_le_bytes());
        out[20..28].copy_from_slice(&self.manifest_offset.to_le_bytes());
        out[28..36].copy_from_slice(&self.manifest_len.to_le_bytes());
        out[36..68].copy_from_slice(&self.stream_sha256);
        let check = Sha256::digest(&out[8..68]);
        out[68..100].copy_from_slice(&check);
        out
    }

    /// Decodes the last [`TRAILER_LEN`] bytes of the plain stream.
    pub fn decode(bytes: &[u8; TRAILER_LEN]) -> Result<Self> {
        let framed = bytes[0..4] == SKIPPABLE_MAGIC.to_le_bytes()
            && bytes[4..8] == ((TRAILER_LEN - 8) as u32).to_le_bytes()
            && bytes[8..16] == *TRAILER_MAGIC;
        if !framed {
            return Err(Error::Truncated {
                detail: "the archive trailer is missing from the end of the file".into(),
            });
        }
        if Sha256::digest(&bytes[8..68])[..] != bytes[68..100] {
            return Err(Error::TrailerCorrupt {
                detail: "its own checksum does not match".into(),
            });
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        Ok(Self {
            format_version: u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes")),
            manifest_offset: u64_at(20),
            manifest_len: u64_at(28),
            stream_sha256: bytes[36..68].try_into().expect("32 bytes"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let trailer = Trailer {
            format_version: 1,
            manifest_offset: 1234,
            manifest_len: 99,
            stream_sha256: [9; 32],
        };
        let mut bytes = trailer.encode();
        assert_eq!(Trailer::decode(&bytes).unwrap(), trailer);
        bytes[25] ^= 0x10;
        assert!(matches!(
            Trailer::decode(&bytes),
            Err(Error::TrailerCorrupt { .. })
        ));
        bytes[9] ^= 0x10;
        assert!(matches!(
            Trailer::decode(&bytes),
            Err(Error::Truncated { .. })
        ));
    }
}
