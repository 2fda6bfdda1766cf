//! The snapshot file format: a fixed header, then a JSON body.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "MESOSNAP"
//!      8     4  format version, big-endian u32 (currently 1)
//!     12     8  body length in bytes, big-endian u64
//!     20     4  CRC32 (IEEE) of the body, big-endian u32
//!     24     n  body: JSON {"meta": SnapshotMeta, "registry": Registry}
//! ```
//!
//! The length catches truncation (a torn copy, a full disk), the CRC catches
//! flipped bits, so a damaged file is refused as a whole instead of being
//! half-loaded. The same bytes are what a leader streams to a follower, so
//! the follower checks them too before installing.

use serde::{Deserialize, Serialize};

use crate::SnapshotMeta;
use mesoraft_registry::Registry;

pub const MAGIC: [u8; 8] = *b"MESOSNAP";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 24;

/// Why bytes are not a usable snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    #[error("file is {len} bytes, shorter than the {HEADER_LEN}-byte header (truncated)")]
    TooShort { len: usize },
    #[error("not a mesoraft snapshot file (magic is {found:02x?})")]
    BadMagic { found: [u8; 8] },
    #[error("snapshot format version {found} is not supported (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("body is {actual} bytes but the header says {expected} (truncated or trailing data)")]
    LengthMismatch { expected: u64, actual: u64 },
    #[error(
        "checksum mismatch: header says CRC32 {expected:08x}, body has {actual:08x} (corrupted)"
    )]
    Checksum { expected: u32, actual: u32 },
    #[error("body is not a valid snapshot: {0}")]
    Body(#[source] serde_json::Error),
    #[error("registry in the snapshot is inconsistent: {0}")]
    Inconsistent(#[source] mesoraft_registry::SnapshotError),
}

/// What a snapshot holds: the state machine at `meta.last_log_id`.
#[derive(Debug, Deserialize)]
pub struct SnapshotBody {
    pub meta: SnapshotMeta,
    pub registry: Registry,
}

/// Borrowing twin of [`SnapshotBody`], so encoding needs no clone.
#[derive(Serialize)]
struct SnapshotBodyRef<'a> {
    meta: &'a SnapshotMeta,
    registry: &'a Registry,
}

/// Encodes a complete snapshot file.
pub fn encode(meta: &SnapshotMeta, registry: &Registry) -> Result<Vec<u8>, serde_json::Error> {
    let mut buf = vec![0u8; HEADER_LEN];
    serde_json::to_writer(&mut buf, &SnapshotBodyRef { meta, registry })?;
    let body_len = (buf.len() - HEADER_LEN) as u64;
    let crc = crc32fast::hash(&buf[HEADER_LEN..]);
    buf[0..8].copy_from_slice(&MAGIC);
    buf[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    buf[12..20].copy_from_slice(&body_len.to_be_bytes());
    buf[20..24].copy_from_slice(&crc.to_be_bytes());
    Ok(buf)
}

/// Checks the header, length and checksum; returns the body.
pub fn verify(bytes: &[u8]) -> Result<&[u8], SnapshotFileError> {
    if bytes.len() < HEADER_LEN {
        return Err(SnapshotFileError::TooShort { len: bytes.len() });
    }
    let (header, body) = bytes.split_at(HEADER_LEN);
    let field = |r: std::ops::Range<usize>| &header[r];

    let magic: [u8; 8] = field(0..8).try_into().unwrap_or_default();
    if magic != MAGIC {
        return Err(SnapshotFileError::BadMagic { found: magic });
    }
    let version = u32::from_be_bytes(field(8..12).try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(SnapshotFileError::UnsupportedVersion { found: version });
    }
    let expected_len = u64::from_be_bytes(field(12..20).try_into().unwrap_or_default());
    if expected_len != body.len() as u64 {
        return Err(SnapshotFileError::LengthMismatch {
            expected: expected_len,
            actual: body.len() as u64,
        });
    }
    let expected_crc = u32::from_be_bytes(field(20..24).try_into().unwrap_or_default());
    let actual_crc = crc32fast::hash(body);
    if expected_crc != actual_crc {
        return Err(SnapshotFileError::Checksum {
            expected: expected_crc,
            actual: actual_crc,
        });
    }
    Ok(body)
}

/// Verifies and parses a complete snapshot file.
pub fn decode(bytes: &[u8]) -> Result<SnapshotBody, SnapshotFileError> {
    let body = verify(bytes)?;
    let body: SnapshotBody = serde_json::from_slice(body).map_err(SnapshotFileError::Body)?;
    // The checksum proves the bytes are the ones written, not that the
    // writer's registry was sound: refuse to load a state that breaks the
    // registry's invariants rather than serve from it.
    body.registry
        .check_invariants()
        .map_err(SnapshotFileError::Inconsistent)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        encode(&SnapshotMeta::default(), &Registry::default()).expect("encode")
    }

    #[test]
    fn round_trip() {
        let body = decode(&sample()).expect("decode");
        assert_eq!(body.meta, SnapshotMeta::default());
        assert_eq!(body.registry, Registry::default());
    }

    #[test]
    fn detects_damage() {
        let good = sample();

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        assert!(matches!(
            decode(&flipped),
            Err(SnapshotFileError::Checksum { .. })
        ));

        let truncated = &good[..good.len() - 1];
        assert!(matches!(
            decode(truncated),
            Err(SnapshotFileError::LengthMismatch { .. })
        ));

        assert!(matches!(
            decode(&good[..10]),
            Err(SnapshotFileError::TooShort { .. })
        ));

        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(matches!(
            decode(&magic),
            Err(SnapshotFileError::BadMagic { .. })
        ));

        let mut version = good;
        version[11] = 9;
        assert!(matches!(
            decode(&version),
            Err(SnapshotFileError::UnsupportedVersion { found: 9 })
        ));
    }
}
