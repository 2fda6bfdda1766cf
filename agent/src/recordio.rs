//! RecordIO, the framing of Mesos's streaming HTTP responses: each record
//! is its length in decimal ASCII, a newline, then that many bytes
//! (`"5\nhello"`). The executor API's event stream uses it in both
//! directions of this crate: the agent writes it, the command executor
//! reads it.
//!
//! The decoder takes bytes as they arrive (chunks may split a record or
//! its length anywhere) and refuses a malformed length or a record over
//! its limit instead of buffering without bound. Pure; never panics.

/// Frames `record`.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut framed = format!("{}\n", record.len()).into_bytes();
    framed.extend_from_slice(record);
    framed
}

/// Why a stream is not RecordIO.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    #[error("malformed RecordIO length {0:?}: expected decimal digits and a newline")]
    BadLength(String),
    #[error("RecordIO record of {length} bytes is over the limit of {limit} bytes")]
    TooLarge { length: usize, limit: usize },
}

/// The longest length prefix accepted (20 digits hold any u64).
const MAX_LENGTH_DIGITS: usize = 20;

/// Incremental decoder of one stream.
#[derive(Debug)]
pub struct Decoder {
    buffer: Vec<u8>,
    max_record: usize,
    failed: bool,
}

impl Decoder {
    /// A decoder refusing records longer than `max_record` bytes.
    pub fn new(max_record: usize) -> Self {
        Decoder {
            buffer: Vec::new(),
            max_record,
            failed: false,
        }
    }

    /// Adds `bytes` and returns every record now complete, in order. After
    /// an error the stream is unusable and every later call errs too.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, RecordIoError> {
        if self.failed {
            return Err(RecordIoError::BadLength("(after an earlier error)".into()));
        }
        self.buffer.extend_from_slice(bytes);
        let mut records = Vec::new();
        loop {
            match self.next_record() {
                Ok(Some(record)) => records.push(record),
                Ok(None) => return Ok(records),
                Err(e) => {
                    self.failed = true;
                    self.buffer.clear();
                    return Err(e);
                }
            }
        }
    }

    /// Bytes of an incomplete record still held (a stream that ends with
    /// some was cut mid-record).
    pub fn pending_bytes(&self) -> usize {
        self.buffer.len()
    }

    fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordIoError> {
        let Some(newline) = self.buffer.iter().position(|&b| b == b'\n') else {
            if self.buffer.len() > MAX_LENGTH_DIGITS {
                return Err(bad_length(&self.buffer));
            }
            return Ok(None);
        };
        let digits = &self.buffer[..newline];
        if digits.is_empty()
            || digits.len() > MAX_LENGTH_DIGITS
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return Err(bad_length(digits));
        }
        let length: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| bad_length(digits))?;
        if length > self.max_record {
            return Err(RecordIoError::TooLarge {
                length,
                limit: self.max_record,
            });
        }
        let start = newline + 1;
        if self.buffer.len() - start < length {
            return Ok(None);
        }
        let record = self.buffer[start..start + length].to_vec();
        self.buffer.drain(..start + length);
        Ok(Some(record))
    }
}

fn bad_length(bytes: &[u8]) -> RecordIoError {
    let shown: String = String::from_utf8_lossy(bytes).chars().take(24).collect();
    RecordIoError::BadLength(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_anywhere_come_out_whole_and_in_order() {
        let mut stream = encode(b"hello");
        stream.extend(encode(b""));
        stream.extend(encode(&[7u8; 300]));
        for split in 0..stream.len() {
            let mut decoder = Decoder::new(1024);
            let mut records = decoder.feed(&stream[..split]).unwrap();
            records.extend(decoder.feed(&stream[split..]).unwrap());
            assert_eq!(
                records,
                vec![b"hello".to_vec(), vec![], vec![7u8; 300]],
                "{split}"
            );
            assert_eq!(decoder.pending_bytes(), 0);
        }
    }

    #[test]
    fn bad_lengths_and_oversized_records_are_errors_not_panics() {
        for bad in [&b"x\nabc"[..], b"\nabc", b"-1\n", &[b'9'; 40], b"1 2\nab"] {
            let mut decoder = Decoder::new(1024);
            assert!(
                matches!(decoder.feed(bad), Err(RecordIoError::BadLength(_))),
                "{bad:?}"
            );
            assert!(decoder.feed(b"1\na").is_err());
        }
        let mut decoder = Decoder::new(10);
        assert_eq!(
            decoder.feed(b"11\n"),
            Err(RecordIoError::TooLarge {
                length: 11,
                limit: 10
            })
        );
        let mut decoder = Decoder::new(10);
        assert!(decoder.feed(b"99999999999999999999\n").is_err());
    }

    #[test]
    fn an_incomplete_record_waits_for_more() {
        let mut decoder = Decoder::new(1024);
        assert_eq!(decoder.feed(b"5\nhel").unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(decoder.pending_bytes(), 5);
        assert_eq!(decoder.feed(b"lo").unwrap(), vec![b"hello".to_vec()]);
    }
}
