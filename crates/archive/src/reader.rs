//! Opens an archive (plain or encrypted), reads its manifest from the trailer's pointer, reads
//! single entries by random access, and verifies the whole file in one sequential pass.

use crate::envelope::{self, SegmentDecryptor, from_io, into_io};
use crate::error::{Error, Result};
use crate::key::KeyEncryptionKey;
use crate::manifest::{ArchiveManifest, EntryRecord, MANIFEST_PATH, MAX_MANIFEST_BYTES};
use crate::tar;
use crate::trailer::{TRAILER_LEN, Trailer};
use sha2::{Digest, Sha256};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Take};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Envelope {
    Plain,
    Encrypted { key_id: String },
}

/// Which envelope a file has, and for an encrypted one the id of the key it needs, read without
/// any key (so a caller can fetch that key, e.g. an org's custom key from a database).
pub fn read_envelope<R: Read + Seek>(input: &mut R) -> Result<Envelope> {
    input.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 8];
    let prefix = read_up_to(input, &mut magic)?;
    input.seek(SeekFrom::Start(0))?;
    if prefix == 8 && magic == *envelope::MAGIC {
        Ok(Envelope::Encrypted {
            key_id: envelope::key_id(input)?,
        })
    } else if prefix >= 4 && magic[..4] == ZSTD_MAGIC {
        Ok(Envelope::Plain)
    } else {
        Err(Error::NotAnArchive)
    }
}

/// The plain stream of an archive, whether stored as is or encrypted.
enum PlainStream<R> {
    Plain { inner: R, len: u64 },
    Encrypted(Box<SegmentDecryptor<R>>),
}

impl<R: Read + Seek> PlainStream<R> {
    fn len(&self) -> u64 {
        match self {
            PlainStream::Plain { len, .. } => *len,
            PlainStream::Encrypted(d) => d.plain_len(),
        }
    }
}

impl<R: Read + Seek> Read for PlainStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            PlainStream::Plain { inner, .. } => inner.read(buf),
            PlainStream::Encrypted(d) => d.read(buf),
        }
    }
}

impl<R: Read + Seek> Seek for PlainStream<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self {
            PlainStream::Plain { inner, .. } => inner.seek(to),
            PlainStream::Encrypted(d) => d.seek(to),
        }
    }
}

/// What [`ArchiveReader::verify`] checked.
#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub entries_checked: usize,
    /// Bytes of entry content decompressed and hashed.
    pub bytes_checked: u64,
    /// SHA-256 of the plain stream, as recorded in the trailer and recomputed.
    pub plain_sha256: String,
}

/// How much an archive may make a reader take on before its contents are checked.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    /// The largest manifest (bytes of JSON) the reader parses; a larger one is refused with
    /// [`Error::ManifestTooLarge`] before any of it is read.
    pub max_manifest_bytes: u64,
}

impl Default for ReadLimits {
    /// The hard ceiling for archives this service wrote itself; untrusted files (uploads) get a
    /// far smaller one from configuration.
    fn default() -> Self {
        Self {
            max_manifest_bytes: MAX_MANIFEST_BYTES,
        }
    }
}

pub struct ArchiveReader<R> {
    stream: PlainStream<R>,
    envelope: Envelope,
    trailer: Trailer,
    manifest: ArchiveManifest,
    manifest_size: u64,
}

impl<R: Read + Seek> ArchiveReader<R> {
    /// Opens an archive. `keys` gives the key for a key id (only asked for encrypted archives).
    pub fn open(input: R, keys: &dyn Fn(&str) -> Option<KeyEncryptionKey>) -> Result<Self> {
        Self::open_with(input, keys, ReadLimits::default())
    }

    /// [`ArchiveReader::open`] with the limits an untrusted file is held to.
    pub fn open_with(
        mut input: R,
        keys: &dyn Fn(&str) -> Option<KeyEncryptionKey>,
        limits: ReadLimits,
    ) -> Result<Self> {
        let file_len = input.seek(SeekFrom::End(0))?;
        input.seek(SeekFrom::Start(0))?;
        let mut magic = [0u8; 8];
        let prefix = read_up_to(&mut input, &mut magic)?;
        if prefix == 0 {
            return Err(Error::Truncated {
                detail: "the file is empty".into(),
            });
        }
        let (stream, envelope) = if magic == *envelope::MAGIC {
            let (decryptor, key_id) = envelope::open(input, keys)?;
            (
                PlainStream::Encrypted(Box::new(decryptor)),
                Envelope::Encrypted { key_id },
            )
        } else if prefix >= 4 && magic[..4] == ZSTD_MAGIC {
            input.seek(SeekFrom::Start(0))?;
            (
                PlainStream::Plain {
                    inner: input,
                    len: file_len,
                },
                Envelope::Plain,
            )
        } else if envelope::MAGIC.starts_with(&magic[..prefix])
            || ZSTD_MAGIC.starts_with(&magic[..prefix.min(4)])
        {
            return Err(Error::Truncated {
                detail: format!("the file is only {file_len} bytes"),
            });
        } else {
            return Err(Error::NotAnArchive);
        };
        let mut stream = stream;
        let trailer = read_trailer(&mut stream)?;
        let (manifest, manifest_size) = read_manifest(&mut stream, &trailer, limits)?;
        Ok(Self {
            stream,
            envelope,
            trailer,
            manifest,
            manifest_size,
        })
    }

    /// Bytes of the manifest's JSON: content a full read decompresses besides the entries.
    pub fn manifest_size(&self) -> u64 {
        self.manifest_size
    }

    pub fn manifest(&self) -> &ArchiveManifest {
        &self.manifest
    }

    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Reads one entry's content. The reader checks the entry's SHA-256 when it reaches the end
    /// and fails with [`Error::EntryChecksumMismatch`] (inside an `io::Error`) if it differs.
    pub fn open_entry(&mut self, path: &str) -> Result<EntryReader<'_, R>> {
        let record = self
            .manifest
            .entry(path)
            .cloned()
            .ok_or_else(|| Error::EntryNotFound { path: path.into() })?;
        self.stream.seek(SeekFrom::Start(record.offset))?;
        let frame = (&mut self.stream).take(record.compressed_size);
        let mut decoder = frame_decoder(frame).map_err(|e| corrupt(&record.path, e))?;
        let (name, size) = tar::read_header(&mut decoder).map_err(|e| corrupt(&record.path, e))?;
        if name != record.path || size != record.size {
            return Err(Error::EntryCorrupt {
                path: record.path,
                detail: format!("its header names `{name}` of {size} bytes"),
            });
        }
        Ok(EntryReader {
            decoder,
            remaining: record.size,
            hasher: Sha256::new(),
            record,
        })
    }

    /// Reads the whole file once: every segment's tag (encrypted), every frame's zstd checksum,
    /// every entry's SHA-256, the manifest, the end of the tar stream, and the trailer's SHA-256
    /// of the whole plain stream. `progress(done, total)` gets plain-stream bytes.
    pub fn verify(&mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport> {
        let total = self.stream.len();
        let body_len = total - TRAILER_LEN as u64;
        self.stream.seek(SeekFrom::Start(0))?;
        let mut hashing = HashingReader {
            inner: (&mut self.stream).take(body_len),
            hasher: Sha256::new(),
            position: 0,
        };
        let mut buffer = vec![0u8; 256 * 1024];
        let mut bytes_checked = 0;
        let manifest_record = EntryRecord {
            path: MANIFEST_PATH.into(),
            size: 0,
            sha256: String::new(),
            offset: self.trailer.manifest_offset,
            compressed_size: self.trailer.manifest_len,
        };
        // The manifest is told apart by position, never by name: a data entry calling itself
        // `manifest.json` must not skip the size and checksum checks in `verify_entry_frame`.
        for (record, is_manifest) in self
            .manifest
            .entries
            .iter()
            .map(|record| (record, false))
            .chain(std::iter::once((&manifest_record, true)))
        {
            bytes_checked += verify_entry_frame(&mut hashing, record, is_manifest, &mut buffer)?;
            progress(hashing.position, total);
        }
        verify_end_of_tar(&mut hashing)?;
        let actual: [u8; 32] = hashing.hasher.finalize().into();
        if actual != self.trailer.stream_sha256 {
            return Err(Error::StreamChecksumMismatch {
                expected: hex::encode(self.trailer.stream_sha256),
                actual: hex::encode(actual),
            });
        }
        progress(total, total);
        Ok(VerifyReport {
            entries_checked: self.manifest.entries.len(),
            bytes_checked,
            plain_sha256: hex::encode(actual),
        })
    }
}

/// One entry's content; see [`ArchiveReader::open_entry`].
pub struct EntryReader<'a, R: Read + Seek> {
    decoder: FrameDecoder<Take<&'a mut PlainStream<R>>>,
    remaining: u64,
    hasher: Sha256,
    record: EntryRecord,
}

impl<R: Read + Seek> EntryReader<'_, R> {
    pub fn record(&self) -> &EntryRecord {
        &self.record
    }
}

impl<R: Read + Seek> Read for EntryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.decoder.read(&mut buf[..want])?;
        if n == 0 {
            return Err(into_io(corrupt(
                &self.record.path,
                io::ErrorKind::UnexpectedEof.into(),
            )));
        }
        self.hasher.update(&buf[..n]);
        self.remaining -= n as u64;
        if self.remaining == 0 {
            let actual = hex::encode(self.hasher.clone().finalize());
            if actual != self.record.sha256 {
                return Err(into_io(Error::EntryChecksumMismatch {
                    path: self.record.path.clone(),
                    expected: self.record.sha256.clone(),
                    actual,
                }));
            }
        }
        Ok(n)
    }
}

type FrameDecoder<R> = zstd::stream::read::Decoder<'static, BufReader<R>>;

/// The largest zstd window a reader accepts (16 MiB): the writer's levels use at most 8 MiB, and
/// a hostile frame asking for more (up to zstd's 2 GiB) is refused instead of allocated.
const MAX_WINDOW_LOG: u32 = 24;
/// tar ends with two zero blocks, padded to its 10 KiB record size by some writers.
const END_OF_TAR_MAX: u64 = 10 * 1024;

fn frame_decoder<R: Read>(frame: R) -> io::Result<FrameDecoder<R>> {
    let mut decoder = zstd::stream::read::Decoder::new(frame)?.single_frame();
    decoder.window_log_max(MAX_WINDOW_LOG)?;
    Ok(decoder)
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    position: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

/// Checks the entry frame that comes next in `stream`: its tar header against `record`, its
/// content's SHA-256, zstd's frame checksum, and that nothing follows the content. The manifest
/// cannot record its own size or hash, so for it (`is_manifest`) only the name is compared.
/// Returns the content's size.
fn verify_entry_frame(
    stream: &mut impl Read,
    record: &EntryRecord,
    is_manifest: bool,
    buffer: &mut [u8],
) -> Result<u64> {
    let frame = stream.by_ref().take(record.compressed_size);
    let mut decoder = frame_decoder(frame).map_err(|e| corrupt(&record.path, e))?;
    let (name, size) = tar::read_header(&mut decoder).map_err(|e| corrupt(&record.path, e))?;
    if name != record.path || (!is_manifest && size != record.size) {
        return Err(Error::EntryCorrupt {
            path: record.path.clone(),
            detail: format!("its header names `{name}` of {size} bytes"),
        });
    }
    let mut hasher = Sha256::new();
    let mut remaining = size;
    while remaining > 0 {
        let want = remaining.min(buffer.len() as u64) as usize;
        decoder
            .read_exact(&mut buffer[..want])
            .map_err(|e| corrupt(&record.path, e))?;
        hasher.update(&buffer[..want]);
        remaining -= want as u64;
    }
    let padding = tar::padding(size);
    decoder
        .read_exact(&mut buffer[..padding])
        .map_err(|e| corrupt(&record.path, e))?;
    // Reading to the frame's end makes zstd check the frame's own checksum.
    if decoder
        .read(&mut buffer[..1])
        .map_err(|e| corrupt(&record.path, e))?
        != 0
    {
        return Err(Error::Layout {
            detail: format!("entry `{}` has bytes after its content", record.path),
        });
    }
    let mut rest = decoder.finish();
    if io::copy(&mut rest, &mut io::sink())? != 0 {
        return Err(Error::Layout {
            detail: format!("entry `{}` has bytes after its zstd frame", record.path),
        });
    }
    let actual = hex::encode(hasher.finalize());
    if !is_manifest && actual != record.sha256 {
        return Err(Error::EntryChecksumMismatch {
            path: record.path.clone(),
            expected: record.sha256.clone(),
            actual,
        });
    }
    Ok(size)
}

/// What is left before the trailer is the end of the tar stream: zero blocks only.
/// Bounded: a hostile file could put gigabytes of zeros here.
fn verify_end_of_tar(stream: &mut impl Read) -> Result<()> {
    let mut end = Vec::new();
    let mut decoder = frame_decoder(stream).map_err(|e| corrupt("end of archive", e))?;
    (&mut decoder)
        .take(END_OF_TAR_MAX + 1)
        .read_to_end(&mut end)
        .map_err(|e| corrupt("end of archive", e))?;
    let after_end = io::copy(&mut decoder.finish(), &mut io::sink())?;
    if end.iter().any(|&b| b != 0)
        || end.len() < 1024
        || end.len() as u64 > END_OF_TAR_MAX
        || after_end != 0
    {
        return Err(Error::Layout {
            detail: "unexpected data between the manifest and the trailer".into(),
        });
    }
    Ok(())
}

/// An I/O failure while decoding an entry: the archive's own errors (a tampered segment) pass
/// through; anything zstd or tar reports means the entry is damaged.
fn corrupt(path: &str, error: io::Error) -> Error {
    match from_io(error) {
        Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => Error::EntryCorrupt {
            path: path.into(),
            detail: "its frame ends early".into(),
        },
        Error::Io(e) if e.kind() == io::ErrorKind::InvalidData || e.get_ref().is_some() => {
            Error::EntryCorrupt {
                path: path.into(),
                detail: e.to_string(),
            }
        }
        other => other,
    }
}

fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn read_trailer<R: Read + Seek>(stream: &mut PlainStream<R>) -> Result<Trailer> {
    let len = stream.len();
    if len < TRAILER_LEN as u64 {
        return Err(Error::Truncated {
            detail: format!("{len} bytes is too short to hold the archive trailer"),
        });
    }
    stream.seek(SeekFrom::Start(len - TRAILER_LEN as u64))?;
    let mut bytes = [0u8; TRAILER_LEN];
    stream.read_exact(&mut bytes).map_err(from_io)?;
    let trailer = Trailer::decode(&bytes)?;
    if trailer.format_version != crate::manifest::FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            found: trailer.format_version,
            supported: crate::manifest::FORMAT_VERSION,
        });
    }
    let manifest_end = trailer.manifest_offset.checked_add(trailer.manifest_len);
    if manifest_end.is_none_or(|end| end > len - TRAILER_LEN as u64) {
        return Err(Error::TrailerCorrupt {
            detail: "it points past the end of the file".into(),
        });
    }
    Ok(trailer)
}

/// Reads the manifest frame. The JSON is parsed as it streams out of the decoder (never held
/// as a whole), so padding costs nothing, and its declared size is checked against `limits`
/// before a byte of it is decompressed.
fn read_manifest<R: Read + Seek>(
    stream: &mut PlainStream<R>,
    trailer: &Trailer,
    limits: ReadLimits,
) -> Result<(ArchiveManifest, u64)> {
    let damaged = |detail: String| Error::ManifestCorrupt { detail };
    stream.seek(SeekFrom::Start(trailer.manifest_offset))?;
    let frame = stream.take(trailer.manifest_len);
    let mut decoder = frame_decoder(frame).map_err(|e| damaged(e.to_string()))?;
    let (name, size) = tar::read_header(&mut decoder).map_err(|e| match from_io(e) {
        Error::Io(e) => damaged(e.to_string()),
        other => other,
    })?;
    if name != MANIFEST_PATH {
        return Err(damaged(format!(
            "found `{name}` of {size} bytes where the manifest should be"
        )));
    }
    let limit = limits.max_manifest_bytes.min(MAX_MANIFEST_BYTES);
    if size > limit {
        return Err(Error::ManifestTooLarge { size, limit });
    }
    let mut json = CountingReader {
        inner: BufReader::with_capacity(64 * 1024, (&mut decoder).take(size)),
        count: 0,
    };
    let manifest: ArchiveManifest = serde_json::from_reader(&mut json).map_err(|e| {
        match e.io_error_kind() {
            // An archive error (a tampered segment) passes through as itself.
            Some(_) => match from_io(e.into()) {
                Error::Io(e) => damaged(e.to_string()),
                other => other,
            },
            None => damaged(e.to_string()),
        }
    })?;
    if json.count != size {
        return Err(damaged("it ends early".into()));
    }
    manifest.validate(trailer.manifest_offset)?;
    Ok((manifest, size))
}

/// Counts the bytes read through it (what the JSON parser consumed).
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An archive with no entries whose manifest is the real one followed by `padding` spaces.
    fn padded_archive(padding: u64) -> Vec<u8> {
        let json = serde_json::to_vec(&serde_json::json!({
            "format": crate::FORMAT_NAME, "format_version": crate::FORMAT_VERSION,
            "created_at": "2026-01-01T00:00:00Z", "entries": [], "backup": {"org": "a"},
        }))
        .unwrap();
        let size = json.len() as u64 + padding;
        let mut content = json.as_slice().chain(io::repeat(b' ').take(padding));
        let writer = crate::ArchiveWriter::new(Vec::new(), Default::default()).unwrap();
        writer
            .finish_with_manifest_json(size, &mut content)
            .unwrap()
            .0
    }

    #[test]
    fn a_manifest_over_the_limit_is_refused_before_it_is_read_and_padding_within_it_is_parsed() {
        let file = padded_archive(4 << 20);
        let limits = |max_manifest_bytes| ReadLimits { max_manifest_bytes };
        let error = ArchiveReader::open_with(io::Cursor::new(&file), &|_| None, limits(1 << 20))
            .err()
            .unwrap();
        assert!(
            matches!(error, Error::ManifestTooLarge { limit, .. } if limit == 1 << 20),
            "{error}"
        );
        let mut reader =
            ArchiveReader::open_with(io::Cursor::new(&file), &|_| None, limits(8 << 20)).unwrap();
        assert_eq!(reader.manifest().backup["org"], "a");
        assert!(reader.manifest_size() > 4 << 20);
        reader.verify(&mut |_, _| {}).unwrap();
    }

    #[test]
    fn a_manifest_with_bytes_after_its_json_is_damaged() {
        let json = br#"{"format":"orgbackup-archive","format_version":1,"created_at":"2026-01-01T00:00:00Z","entries":[],"backup":null}"#;
        let writer = crate::ArchiveWriter::new(Vec::new(), Default::default()).unwrap();
        // The JSON parser streams: what follows the document must still be read and refused.
        let mut content = json.as_slice().chain(io::repeat(0).take(100));
        let file = writer
            .finish_with_manifest_json(json.len() as u64 + 100, &mut content)
            .unwrap()
            .0;
        let error = ArchiveReader::open(io::Cursor::new(&file), &|_| None)
            .err()
            .unwrap();
        assert!(matches!(error, Error::ManifestCorrupt { .. }), "{error}");
    }

    #[test]
    fn a_frame_asking_for_a_window_larger_than_16_mib_is_refused_not_allocated() {
        let frame_with_window = |window_log: u32| {
            let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            encoder.window_log(window_log).unwrap();
            encoder.write_all(&[7u8; 4096]).unwrap();
            encoder.finish().unwrap()
        };
        let mut out = Vec::new();
        frame_decoder(&frame_with_window(MAX_WINDOW_LOG)[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, vec![7u8; 4096]);
        let error = frame_decoder(&frame_with_window(27)[..])
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(error.to_string().contains("memory"), "{error}");
    }
}
