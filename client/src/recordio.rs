//! RecordIO, the framing of the SUBSCRIBE stream: every event is its
//! length in decimal ASCII, a newline, then that many bytes
//! (`"20\n{\"type\":\"HEARTBEAT\"}"`).
//!
//! HTTP chunks do not follow record boundaries: a chunk may hold half a
//! length, several records, or end inside one. [`RecordReader`] takes the
//! bytes as they come and hands out whole records. A length that is not
//! decimal digits, or is over the reader's limit, ends the stream with an
//! error: a framing error cannot be resynchronised, and a stream that
//! announces gigabytes is broken or hostile either way. Pure, and never
//! panics on any input.

/// Why the bytes are not a RecordIO stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("malformed RecordIO length {0:?}: expected decimal digits then a newline")]
    BadLength(String),
    #[error(
        "a RecordIO record of {length} bytes is over the limit of {limit} bytes \
         (raise the limit if the masters really send events this large)"
    )]
    TooLong { length: u64, limit: usize },
    #[error("the stream was already found malformed")]
    Poisoned,
}

/// Digits a length may have: 20 hold any u64; more is not a length.
const MAX_DIGITS: usize = 20;

/// Frames `record` (what a master writes; the tests' fake master uses it).
pub fn frame(record: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", record.len()).into_bytes();
    out.extend_from_slice(record);
    out
}

/// Reassembles the records of one stream from its chunks.
#[derive(Debug)]
pub struct RecordReader {
    /// Bytes received and not yet handed out. Only ever holds the tail of
    /// the last chunk: complete records are drained on every push.
    pending: Vec<u8>,
    limit: usize,
    poisoned: bool,
}

impl RecordReader {
    /// A reader refusing records over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        RecordReader {
            pending: Vec::new(),
            limit,
            poisoned: false,
        }
    }

    /// Takes the next chunk; returns the records it completed, in order.
    /// After an error every later push fails too.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, FramingError> {
        if self.poisoned {
            return Err(FramingError::Poisoned);
        }
        self.pending.extend_from_slice(chunk);
        let mut records = Vec::new();
        let mut consumed = 0;
        let result = loop {
            match split_record(&self.pending[consumed..], self.limit) {
                Ok(Some((record, used))) => {
                    records.push(record.to_vec());
                    consumed += used;
                }
                Ok(None) => break Ok(records),
                Err(e) => break Err(e),
            }
        };
        if result.is_err() {
            self.poisoned = true;
            self.pending = Vec::new();
        } else {
            self.pending.drain(..consumed);
        }
        result
    }

    /// Whether the stream stopped between records (a stream that ends with
    /// bytes pending was cut inside one).
    pub fn at_boundary(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The first record of `bytes` and how many bytes it took, or None when
/// it is not complete yet.
fn split_record(bytes: &[u8], limit: usize) -> Result<Option<(&[u8], usize)>, FramingError> {
    let Some(newline) = bytes.iter().position(|&b| b == b'\n') else {
        // No newline yet: refuse early what can no longer become a length,
        // so a stream of garbage is not buffered.
        if bytes.len() > MAX_DIGITS || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(bad_length(bytes));
        }
        return Ok(None);
    };
    let digits = &bytes[..newline];
    if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad_length(digits));
    }
    let length = digits
        .iter()
        .try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or_else(|| bad_length(digits))?;
    let within = usize::try_from(length).ok().filter(|&l| l <= limit);
    let Some(length) = within else {
        return Err(FramingError::TooLong { length, limit });
    };
    // `newline + 1 + length` cannot overflow: `length <= limit` and the
    // newline is inside a buffer, but checked arithmetic costs nothing.
    let start = newline + 1;
    let Some(end) = start.checked_add(length) else {
        return Err(FramingError::TooLong {
            length: length as u64,
            limit,
        });
    };
    Ok(bytes.get(start..end).map(|record| (record, end)))
}

fn bad_length(bytes: &[u8]) -> FramingError {
    let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(32)]).into_owned();
    FramingError::BadLength(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(records: &[&[u8]]) -> Vec<u8> {
        records.iter().flat_map(|r| frame(r)).collect()
    }

    #[test]
    fn records_come_out_whatever_the_chunk_boundaries() {
        let records: Vec<&[u8]> = vec![b"{\"type\":\"HEARTBEAT\"}", b"", b"x", &[b'a'; 300]];
        let bytes = stream(&records);
        for size in 1..=bytes.len() {
            let mut reader = RecordReader::new(1024);
            let mut out = Vec::new();
            for chunk in bytes.chunks(size) {
                out.extend(reader.push(chunk).unwrap());
            }
            assert_eq!(out, records, "chunk size {size}");
            assert!(reader.at_boundary());
        }
    }

    #[test]
    fn a_cut_record_is_pending() {
        let mut reader = RecordReader::new(1024);
        assert!(reader.push(b"5\nhel").unwrap().is_empty());
        assert!(!reader.at_boundary());
        assert_eq!(reader.push(b"lo").unwrap(), vec![b"hello".to_vec()]);
    }

    #[test]
    fn malformed_lengths_are_refused_and_poison_the_stream() {
        for bad in [&b"x\n"[..], b"\n", b"-1\n", b" 5\n", b"5 \nhello", b"abc"] {
            let mut reader = RecordReader::new(1024);
            let e = reader.push(bad).unwrap_err();
            assert!(matches!(e, FramingError::BadLength(_)), "{bad:?}: {e}");
            assert_eq!(reader.push(b"1\nx"), Err(FramingError::Poisoned));
        }
        // 21 digits with no newline can never be a length.
        let mut reader = RecordReader::new(1024);
        assert!(reader.push(&[b'1'; 21]).is_err());
    }

    #[test]
    fn absurd_lengths_are_refused_before_buffering() {
        let mut reader = RecordReader::new(1024);
        let e = reader.push(b"1025\n").unwrap_err();
        assert_eq!(
            e,
            FramingError::TooLong {
                length: 1025,
                limit: 1024
            }
        );
        let mut reader = RecordReader::new(usize::MAX);
        assert!(reader.push(b"99999999999999999999\n").is_err());
        // The largest u64 under no limit: refused, not an overflow.
        let mut reader = RecordReader::new(usize::MAX);
        assert!(matches!(
            reader.push(b"18446744073709551615\n"),
            Err(FramingError::TooLong { .. })
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every byte value at every position of
        // a few seeds, fed in odd-sized chunks.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut bytes = Vec::new();
            for _ in 0..(state % 64) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let b = (state & 0xff) as u8;
                // Bias towards digits and newlines, which reach deeper.
                bytes.push(match b % 4 {
                    0 => b'\n',
                    1 => b'0' + (b % 10),
                    _ => b,
                });
            }
            let mut reader = RecordReader::new(64);
            for chunk in bytes.chunks(((state >> 8) % 7 + 1) as usize) {
                let _ = reader.push(chunk);
            }
        }
    }
}
