//! How a protobuf message sits in a checkpoint file: a small header and a
//! checksum around the message bytes, so a truncated, extended or
//! bit-flipped file is told apart from a valid one. (A bare protobuf
//! cannot tell: cut at a field boundary it still decodes, with fields
//! missing.)
//!
//! ```text
//! "MRCK"  version (1 byte)  length (u32 LE)  message bytes  CRC-32 of them (u32 LE)
//! ```

use prost::Message;

const MAGIC: &[u8; 4] = b"MRCK";
const VERSION: u8 = 1;
const HEADER_LEN: usize = MAGIC.len() + 1 + 4;
const TRAILER_LEN: usize = 4;

/// Larger records are refused unread: a checkpointed message is a few
/// kilobytes, and a huge file is damage, not state.
pub const MAX_RECORD_BYTES: usize = 4 << 20;

/// What is wrong with a record's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordProblem {
    #[error("it is {len} bytes long, shorter than any record (truncated?)")]
    TooShort { len: usize },
    #[error("it is {len} bytes long, over the {MAX_RECORD_BYTES}-byte limit")]
    TooLarge { len: usize },
    #[error("it does not start with the checkpoint record marker")]
    NoMarker,
    #[error("it is record version {0}, which this agent does not know (written by a newer one?)")]
    UnknownVersion(u8),
    #[error("its header says {declared} message bytes but {actual} are there (truncated?)")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("its checksum does not match its content")]
    Checksum,
    #[error("its content does not decode: {0}")]
    Undecodable(String),
}

/// The record of `message`.
pub fn encode<M: Message>(message: &M) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TRAILER_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    // A message over u32::MAX bytes cannot arise from an agent's info.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out
}

/// The message in `bytes`, or what is wrong with them; never a partial
/// message.
pub fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, RecordProblem> {
    let len = bytes.len();
    if len > MAX_RECORD_BYTES {
        return Err(RecordProblem::TooLarge { len });
    }
    if len < HEADER_LEN + TRAILER_LEN {
        return Err(if bytes.starts_with(&MAGIC[..len.min(MAGIC.len())]) {
            RecordProblem::TooShort { len }
        } else {
            RecordProblem::NoMarker
        });
    }
    let (header, rest) = bytes.split_at(HEADER_LEN);
    if &header[..4] != MAGIC {
        return Err(RecordProblem::NoMarker);
    }
    if header[4] != VERSION {
        return Err(RecordProblem::UnknownVersion(header[4]));
    }
    let declared = u32::from_le_bytes([header[5], header[6], header[7], header[8]]) as usize;
    let actual = rest.len() - TRAILER_LEN;
    if declared != actual {
        return Err(RecordProblem::LengthMismatch { declared, actual });
    }
    let (body, trailer) = rest.split_at(actual);
    let checksum = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if crc32fast::hash(body) != checksum {
        return Err(RecordProblem::Checksum);
    }
    M::decode(body).map_err(|e| RecordProblem::Undecodable(e.to_string()))
}

/// The records of an append-only log, in order. A last record cut short
/// (the agent died while appending it) is left out and reported through
/// `torn_tail` (its byte offset); anything else wrong is an error with
/// the offset of the bad record.
pub fn split_log(bytes: &[u8]) -> Result<SplitLog<'_>, (usize, RecordProblem)> {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() < HEADER_LEN {
            if MAGIC.starts_with(&rest[..rest.len().min(MAGIC.len())]) {
                return Ok(SplitLog {
                    records,
                    torn_tail: Some(offset),
                });
            }
            return Err((offset, RecordProblem::NoMarker));
        }
        if &rest[..4] != MAGIC {
            return Err((offset, RecordProblem::NoMarker));
        }
        let declared = u32::from_le_bytes([rest[5], rest[6], rest[7], rest[8]]) as usize;
        if declared > MAX_RECORD_BYTES {
            return Err((offset, RecordProblem::TooLarge { len: declared }));
        }
        let total = HEADER_LEN + declared + TRAILER_LEN;
        if rest.len() < total {
            return Ok(SplitLog {
                records,
                torn_tail: Some(offset),
            });
        }
        records.push(&rest[..total]);
        offset += total;
    }
    Ok(SplitLog {
        records,
        torn_tail: None,
    })
}

/// An append-only log cut into its records.
#[derive(Debug)]
pub struct SplitLog<'a> {
    /// Each a whole record, for [`decode`].
    pub records: Vec<&'a [u8]>,
    /// Where an incomplete last record starts.
    pub torn_tail: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::mesos::v1::{AgentId, AgentInfo};

    #[test]
    fn a_log_splits_into_its_records_and_a_torn_tail_is_told_apart() {
        let one = encode(&info());
        let mut log = one.clone();
        log.extend(&one);
        let split = split_log(&log).unwrap();
        assert_eq!(split.records.len(), 2);
        assert_eq!(split.torn_tail, None);
        assert_eq!(decode::<AgentInfo>(split.records[1]), Ok(info()));
        for cut in 1..one.len() {
            let torn = &log[..one.len() + cut];
            let split = split_log(torn).unwrap();
            assert_eq!(split.records.len(), 1, "{cut}");
            assert_eq!(split.torn_tail, Some(one.len()));
        }
        let mut garbage = one.clone();
        garbage.extend(b"XXXXXXXXXXXXXXXX");
        assert_eq!(split_log(&garbage).unwrap_err().0, one.len());
    }

    fn info() -> AgentInfo {
        AgentInfo {
            hostname: "a1".into(),
            port: Some(5051),
            resources: crate::resources::parse_resources("cpus:4;mem:1024").unwrap(),
            id: Some(AgentId {
                value: "c-S1".into(),
            }),
            ..AgentInfo::default()
        }
    }

    #[test]
    fn a_record_reads_back_to_its_message() {
        assert_eq!(decode::<AgentInfo>(&encode(&info())), Ok(info()));
    }

    #[test]
    fn every_truncation_is_detected() {
        let bytes = encode(&info());
        for cut in 0..bytes.len() {
            assert!(
                decode::<AgentInfo>(&bytes[..cut]).is_err(),
                "cut at {cut} of {}",
                bytes.len()
            );
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let bytes = encode(&info());
        for i in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[i / 8] ^= 1 << (i % 8);
            assert!(decode::<AgentInfo>(&flipped).is_err(), "bit {i}");
        }
    }

    #[test]
    fn foreign_and_future_files_are_named_as_such() {
        let bytes = encode(&info());
        assert_eq!(
            decode::<AgentInfo>(b"hello, this is not a record"),
            Err(RecordProblem::NoMarker)
        );
        let mut future = bytes.clone();
        future[4] = 9;
        assert_eq!(
            decode::<AgentInfo>(&future),
            Err(RecordProblem::UnknownVersion(9))
        );
        let mut longer = bytes;
        longer.push(0);
        assert!(matches!(
            decode::<AgentInfo>(&longer),
            Err(RecordProblem::LengthMismatch { .. })
        ));
    }

    #[test]
    fn a_valid_frame_around_garbage_is_undecodable() {
        let body = [0xff_u8; 8];
        let mut bytes = MAGIC.to_vec();
        bytes.push(VERSION);
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        assert!(matches!(
            decode::<AgentInfo>(&bytes),
            Err(RecordProblem::Undecodable(_))
        ));
    }
}
