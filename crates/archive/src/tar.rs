//! The tar headers inside each entry's zstd frame (GNU tar layout, so `zstd -dc | tar -x` works).
//! Names longer than 100 bytes use GNU's `././@LongLink` entry; sizes of 8 GiB and more use
//! GNU's base-256 size field.

use std::io::{self, Read};

pub const BLOCK: usize = 512;

/// The header block(s) for a regular file entry.
pub fn header_blocks(path: &str, size: u64, mtime: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOCK * 3);
    if path.len() > 100 {
        let mut name = path.as_bytes().to_vec();
        name.push(0);
        out.extend_from_slice(&header(b"././@LongLink", name.len() as u64, 0, b'L'));
        let padded = name.len().div_ceil(BLOCK) * BLOCK;
        name.resize(padded, 0);
        out.extend_from_slice(&name);
    }
    let short = &path.as_bytes()[..path.len().min(100)];
    out.extend_from_slice(&header(short, size, mtime, b'0'));
    out
}

fn header(name: &[u8], size: u64, mtime: i64, kind: u8) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    if size < 0o77777777777 {
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[136..148].copy_from_slice(format!("{:011o}\0", mtime.max(0)).as_bytes());
    h[156] = kind;
    h[257..265].copy_from_slice(b"ustar  \0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// Bytes of zero padding after `size` bytes of data.
pub fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// Reads the header block(s) of one entry; returns its path and size.
pub fn read_header(reader: &mut dyn Read) -> io::Result<(String, u64)> {
    let mut block = [0u8; BLOCK];
    reader.read_exact(&mut block)?;
    let (mut name, size, kind) = parse(&block)?;
    if kind == b'L' {
        let mut long = vec![
            0u8;
            usize::try_from(size)
                .ok()
                .filter(|&s| s <= 65_536)
                .ok_or_else(|| invalid("long name too long"))?
        ];
        reader.read_exact(&mut long)?;
        let mut skip = vec![0u8; padding(size)];
        reader.read_exact(&mut skip)?;
        reader.read_exact(&mut block)?;
        let (_, real_size, real_kind) = parse(&block)?;
        if real_kind != b'0' {
            return Err(invalid("long name not followed by a file header"));
        }
        name = trim_nul(&long).to_vec();
        return Ok((utf8(name)?, real_size));
    }
    if kind != b'0' && kind != 0 {
        return Err(invalid("not a regular file entry"));
    }
    Ok((utf8(name)?, size))
}

fn parse(block: &[u8; BLOCK]) -> io::Result<(Vec<u8>, u64, u8)> {
    let recorded = octal(&block[148..156]).ok_or_else(|| invalid("bad header checksum field"))?;
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    if sum != recorded {
        return Err(invalid("header checksum mismatch"));
    }
    let size = if block[124] & 0x80 != 0 {
        u64::from_be_bytes(block[128..136].try_into().expect("8 bytes"))
    } else {
        octal(&block[124..136]).ok_or_else(|| invalid("bad size field"))?
    };
    Ok((trim_nul(&block[..100]).to_vec(), size, block[156]))
}

fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    u64::from_str_radix(digits, 8).ok()
}

fn trim_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

fn utf8(name: Vec<u8>) -> io::Result<String> {
    String::from_utf8(name).map_err(|_| invalid("entry name is not UTF-8"))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("tar header: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_names_round_trip() {
        for path in [
            "tables/0001-orgs/000001.copy".to_string(),
            format!("files/{}/x.png", "d".repeat(150)),
        ] {
            let blocks = header_blocks(&path, 1234, 1_700_000_000);
            assert_eq!(blocks.len() % BLOCK, 0);
            let (name, size) = read_header(&mut blocks.as_slice()).unwrap();
            assert_eq!((name.as_str(), size), (path.as_str(), 1234));
        }
    }

    #[test]
    fn huge_sizes_use_base_256() {
        let blocks = header_blocks("big", 20 << 30, 0);
        assert_eq!(read_header(&mut blocks.as_slice()).unwrap().1, 20 << 30);
    }

    #[test]
    fn a_flipped_header_byte_is_detected() {
        let mut blocks = header_blocks("tables/a", 10, 0);
        blocks[3] ^= 1;
        assert!(read_header(&mut blocks.as_slice()).is_err());
    }

    #[test]
    fn padding_fills_the_block() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
    }
}
