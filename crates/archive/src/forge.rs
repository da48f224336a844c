//! Builds archives the writer refuses to build: members whose tar header lies about their name
//! or size, and any bytes as the manifest. Only for tests and fuzzing (cargo feature `forge`),
//! so they can hand the reader what an attacker would, sealed with valid frames and a valid
//! trailer so that the checks behind those are reached too.

use crate::envelope::{EncryptionSetup, SegmentEncryptor};
use crate::manifest::{FORMAT_VERSION, MANIFEST_PATH};
use crate::tar;
use crate::trailer::Trailer;
use sha2::{Digest, Sha256};
use std::io::Write;

/// One zstd frame holding a tar header naming `name` of `declared_size` bytes, then `content`
/// (whatever its length) padded to a tar block.
pub fn member(name: &str, declared_size: u64, content: &[u8]) -> Vec<u8> {
    let mut tar_bytes = tar::header_blocks(name, declared_size, 0);
    tar_bytes.extend_from_slice(content);
    tar_bytes.resize(tar_bytes.len() + tar::padding(content.len() as u64), 0);
    compress(&tar_bytes)
}

/// A plain archive: `body` (the members, from byte 0), a manifest member holding
/// `manifest_json`, the end of the tar stream, and a trailer that points at the manifest and
/// carries the right checksum of everything before it.
pub fn plain(body: &[u8], manifest_json: &[u8]) -> Vec<u8> {
    let manifest = member(MANIFEST_PATH, manifest_json.len() as u64, manifest_json);
    plain_with_manifest_frame(body, &manifest)
}

/// Like [`plain`], with the manifest's frame given as is (e.g. a [`member`] whose header
/// declares another size than its content).
pub fn plain_with_manifest_frame(body: &[u8], manifest: &[u8]) -> Vec<u8> {
    let mut stream = body.to_vec();
    let trailer = Trailer {
        format_version: FORMAT_VERSION,
        manifest_offset: stream.len() as u64,
        manifest_len: manifest.len() as u64,
        stream_sha256: [0; 32],
    };
    stream.extend_from_slice(manifest);
    stream.extend_from_slice(&compress(&[0u8; 1024]));
    let trailer = Trailer {
        stream_sha256: Sha256::digest(&stream).into(),
        ..trailer
    };
    stream.extend_from_slice(&trailer.encode());
    stream
}

/// `plain_stream` (e.g. from [`plain`]) in the encryption envelope, as the writer seals it.
pub fn sealed(plain_stream: &[u8], setup: &EncryptionSetup) -> Vec<u8> {
    let mut encryptor = SegmentEncryptor::new(Vec::new(), setup).expect("writing to memory");
    encryptor
        .write_all(plain_stream)
        .expect("writing to memory");
    encryptor.finish().expect("writing to memory")
}

fn compress(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).expect("zstd level 1");
    encoder.include_checksum(true).expect("zstd checksum flag");
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}
