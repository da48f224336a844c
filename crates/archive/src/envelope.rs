//! The encryption envelope: a header naming the key, then the plain archive stream cut into
//! 64 KiB segments, each sealed with AES-256-GCM under a fresh per-backup data key (the STREAM
//! construction: the nonce carries the segment index and a last-segment flag, so segments cannot
//! be reordered, dropped or cut off unnoticed, and any segment can be read on its own).

use crate::error::{Error, Result};
use crate::key::{KEY_LEN, KeyEncryptionKey, random_array};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, SeekFrom, Write};
use zeroize::Zeroizing;

pub const MAGIC: &[u8; 8] = b"OBRENC01";
pub const SEGMENT_SIZE: usize = 64 * 1024;
const TAG_LEN: usize = 16;
const NONCE_PREFIX_LEN: usize = 7;
const MAX_HEADER_JSON: u32 = 64 * 1024;
pub const CIPHER: &str = "AES-256-GCM-STREAM-64K";

/// How a new archive is encrypted: the key that wraps its data key, and that key's public id.
#[derive(Clone, Debug)]
pub struct EncryptionSetup {
    pub key_id: String,
    pub key: KeyEncryptionKey,
}

/// The header's JSON part. Documented in docs/FORMAT.md.
#[derive(Debug, Serialize, Deserialize)]
struct HeaderFields {
    version: u32,
    cipher: String,
    segment_size: u32,
    key_id: String,
    wrapped_key: String,
    nonce_prefix: String,
}

fn wrap_context(key_id: &str) -> Vec<u8> {
    let mut context = b"orgbackup data key v1\0".to_vec();
    context.extend_from_slice(key_id.as_bytes());
    context
}

fn nonce(prefix: &[u8; NONCE_PREFIX_LEN], index: u64, last: bool) -> io::Result<[u8; 12]> {
    let index = u32::try_from(index)
        .map_err(|_| io::Error::other("archive too large for one encryption stream"))?;
    let mut nonce = [0u8; 12];
    nonce[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    nonce[NONCE_PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    Ok(nonce)
}

/// Encrypts everything written to it. Call [`SegmentEncryptor::finish`]: the last segment is
/// only sealed there.
pub struct SegmentEncryptor<W: Write> {
    inner: W,
    cipher: Aes256Gcm,
    prefix: [u8; NONCE_PREFIX_LEN],
    aad: [u8; 32],
    buffer: Vec<u8>,
    index: u64,
}

impl<W: Write> SegmentEncryptor<W> {
    pub fn new(mut inner: W, setup: &EncryptionSetup) -> Result<Self> {
        let data_key = Zeroizing::new(random_array::<KEY_LEN>());
        let prefix = random_array::<NONCE_PREFIX_LEN>();
        let fields = HeaderFields {
            version: 1,
            cipher: CIPHER.into(),
            segment_size: SEGMENT_SIZE as u32,
            key_id: setup.key_id.clone(),
            wrapped_key: BASE64.encode(
                setup
                    .key
                    .seal(data_key.as_ref(), &wrap_context(&setup.key_id)),
            ),
            nonce_prefix: BASE64.encode(prefix),
        };
        let json = serde_json::to_vec(&fields).expect("header fields serialize");
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&(json.len() as u32).to_le_bytes());
        header.extend_from_slice(&json);
        inner.write_all(&header)?;
        Ok(Self {
            inner,
            cipher: Aes256Gcm::new(data_key.as_ref().into()),
            prefix,
            aad: Sha256::digest(&header).into(),
            buffer: Vec::with_capacity(SEGMENT_SIZE),
            index: 0,
        })
    }

    fn seal_segment(&mut self, last: bool) -> io::Result<()> {
        let nonce = nonce(&self.prefix, self.index, last)?;
        let tag = self
            .cipher
            .encrypt_in_place_detached(&Nonce::from(nonce), &self.aad, &mut self.buffer)
            .map_err(|_| io::Error::other("AES-GCM encryption failed"))?;
        self.inner.write_all(&self.buffer)?;
        self.inner.write_all(&tag)?;
        self.buffer.clear();
        self.index += 1;
        Ok(())
    }

    /// Seals the last segment (possibly empty) and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal_segment(true)?;
        Ok(self.inner)
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for SegmentEncryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full segment is sealed only once more data arrives: until then it may be the last.
        if self.buffer.len() == SEGMENT_SIZE {
            self.seal_segment(false)?;
        }
        let n = data.len().min(SEGMENT_SIZE - self.buffer.len());
        self.buffer.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The plaintext of an encrypted archive, readable and seekable; each segment is authenticated
/// as it is read.
pub struct SegmentDecryptor<R> {
    inner: R,
    cipher: Aes256Gcm,
    prefix: [u8; NONCE_PREFIX_LEN],
    aad: [u8; 32],
    header_len: u64,
    segments: u64,
    plain_len: u64,
    position: u64,
    loaded: Option<u64>,
    buffer: Vec<u8>,
}

/// The id of the key an encrypted archive needs, read from its header without any key.
pub fn key_id<R: Read + Seek>(inner: &mut R) -> Result<String> {
    inner.seek(SeekFrom::Start(0))?;
    Ok(read_header(inner)?.0.key_id)
}

/// Reads and checks the header; returns its fields and its bytes.
fn read_header(inner: &mut dyn Read) -> Result<(HeaderFields, Vec<u8>)> {
    let mut fixed = [0u8; 12];
    read_or_truncated(inner, &mut fixed, "in the encryption header")?;
    if fixed[..8] != *MAGIC {
        return Err(Error::NotAnArchive);
    }
    let json_len = u32::from_le_bytes(fixed[8..12].try_into().expect("4 bytes"));
    if json_len > MAX_HEADER_JSON {
        return Err(Error::BadHeader {
            detail: format!("header length {json_len} is implausible"),
        });
    }
    let mut header = fixed.to_vec();
    header.resize(12 + json_len as usize, 0);
    read_or_truncated(inner, &mut header[12..], "in the encryption header")?;
    let fields: HeaderFields =
        serde_json::from_slice(&header[12..]).map_err(|e| Error::BadHeader {
            detail: e.to_string(),
        })?;
    if fields.version != 1 {
        return Err(Error::UnsupportedVersion {
            found: fields.version,
            supported: 1,
        });
    }
    if fields.cipher != CIPHER || fields.segment_size as usize != SEGMENT_SIZE {
        return Err(Error::BadHeader {
            detail: format!(
                "cipher {} with {}-byte segments is not supported",
                fields.cipher, fields.segment_size
            ),
        });
    }
    Ok((fields, header))
}

/// Reads the envelope header (the magic is already known to be there) and finds the key.
pub fn open<R: Read + Seek>(
    mut inner: R,
    keys: &dyn Fn(&str) -> Option<KeyEncryptionKey>,
) -> Result<(SegmentDecryptor<R>, String)> {
    let file_len = inner.seek(SeekFrom::End(0))?;
    inner.seek(SeekFrom::Start(0))?;
    let (fields, header) = read_header(&mut inner)?;
    let prefix: [u8; NONCE_PREFIX_LEN] = BASE64
        .decode(&fields.nonce_prefix)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::BadHeader {
            detail: "nonce_prefix is not 7 bytes of base64".into(),
        })?;
    let kek = keys(&fields.key_id).ok_or_else(|| Error::MissingKey {
        key_id: fields.key_id.clone(),
    })?;
    let wrapped = BASE64
        .decode(&fields.wrapped_key)
        .map_err(|_| Error::BadHeader {
            detail: "wrapped_key is not base64".into(),
        })?;
    let data_key = Zeroizing::new(kek.open(&wrapped, &wrap_context(&fields.key_id)).map_err(
        |_| Error::WrongKey {
            key_id: fields.key_id.clone(),
        },
    )?);
    if data_key.len() != KEY_LEN {
        return Err(Error::BadHeader {
            detail: "the data key has the wrong length".into(),
        });
    }
    let header_len = header.len() as u64;
    let body = file_len - header_len;
    let stride = (SEGMENT_SIZE + TAG_LEN) as u64;
    let (full, rest) = (body / stride, body % stride);
    if rest < TAG_LEN as u64 {
        return Err(Error::Truncated {
            detail: format!("{body} bytes of encrypted data cannot end on a segment boundary"),
        });
    }
    let decryptor = SegmentDecryptor {
        inner,
        cipher: Aes256Gcm::new(data_key.as_slice().into()),
        prefix,
        aad: Sha256::digest(&header).into(),
        header_len,
        segments: full + 1,
        plain_len: full * SEGMENT_SIZE as u64 + (rest - TAG_LEN as u64),
        position: 0,
        loaded: None,
        buffer: Vec::with_capacity(SEGMENT_SIZE + TAG_LEN),
    };
    Ok((decryptor, fields.key_id))
}

fn read_or_truncated(reader: &mut dyn Read, buf: &mut [u8], place: &str) -> Result<()> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated {
            detail: format!("end of file {place}"),
        },
        _ => Error::Io(e),
    })
}

impl<R: Read + Seek> SegmentDecryptor<R> {
    pub fn plain_len(&self) -> u64 {
        self.plain_len
    }

    fn load(&mut self, index: u64) -> Result<()> {
        if self.loaded == Some(index) {
            return Ok(());
        }
        self.loaded = None;
        let stride = (SEGMENT_SIZE + TAG_LEN) as u64;
        let offset = self.header_len + index * stride;
        let last = index + 1 == self.segments;
        let len = if last {
            self.plain_len - index * SEGMENT_SIZE as u64 + TAG_LEN as u64
        } else {
            stride
        };
        self.inner.seek(SeekFrom::Start(offset))?;
        self.buffer.resize(len as usize, 0);
        self.inner.read_exact(&mut self.buffer)?;
        let tag_at = self.buffer.len() - TAG_LEN;
        let tag_bytes: [u8; TAG_LEN] = self.buffer[tag_at..].try_into().expect("16 bytes");
        let tag = Tag::from(tag_bytes);
        let mut body = self.buffer[..tag_at].to_vec();
        let attempt = |flag: bool, body: &mut Vec<u8>| -> io::Result<bool> {
            let nonce = nonce(&self.prefix, index, flag)?;
            Ok(self
                .cipher
                .decrypt_in_place_detached(&Nonce::from(nonce), &self.aad, body, &tag)
                .is_ok())
        };
        if !attempt(last, &mut body)? {
            // The final segment of a cut-off file was sealed as an inner segment: say "truncated".
            if last && attempt(false, &mut body)? {
                return Err(Error::Truncated {
                    detail: format!(
                        "the encrypted stream stops after segment {index}, which was not its last"
                    ),
                });
            }
            if last && len < stride {
                // A cut in the middle of a segment leaves a short last segment that authenticates
                // neither way; so does a modified end of the file. Both mean: fetch it again.
                return Err(Error::Truncated {
                    detail: format!(
                        "its last encrypted segment ({index}, at byte {offset}) does not authenticate: the file was cut off, or its end was modified"
                    ),
                });
            }
            return Err(Error::SegmentTampered {
                segment: index,
                offset,
            });
        }
        self.buffer = body;
        self.loaded = Some(index);
        Ok(())
    }
}

impl<R: Read + Seek> Read for SegmentDecryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.plain_len || out.is_empty() {
            return Ok(0);
        }
        let index = self.position / SEGMENT_SIZE as u64;
        self.load(index).map_err(into_io)?;
        let start = (self.position - index * SEGMENT_SIZE as u64) as usize;
        let n = out.len().min(self.buffer.len() - start);
        out[..n].copy_from_slice(&self.buffer[start..start + n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SegmentDecryptor<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.plain_len.checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        self.position = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}

/// Carries an archive error through `std::io` plumbing; [`from_io`] takes it back out.
pub fn into_io(error: Error) -> io::Error {
    match error {
        Error::Io(e) => e,
        other => io::Error::other(other),
    }
}

pub fn from_io(error: io::Error) -> Error {
    if error.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        let inner = error.into_inner().expect("checked above");
        return *inner.downcast::<Error>().expect("checked above");
    }
    Error::Io(error)
}
