//! A RecordIO event stream (the scheduler API's and the operator API's)
//! as tests read it: a task reads the response chunk by chunk into a
//! queue; waits take the next event of a type, keeping the others.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

/// Decodes the RecordIO records complete in `buffer`, leaving the rest.
pub fn take_records(buffer: &mut Vec<u8>) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let Some(newline) = buffer.iter().position(|b| *b == b'\n') else {
            return out;
        };
        let len: usize = std::str::from_utf8(&buffer[..newline])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .expect("a RecordIO length");
        if buffer.len() < newline + 1 + len {
            return out;
        }
        let record: Vec<u8> = buffer
            .drain(..newline + 1 + len)
            .skip(newline + 1)
            .collect();
        out.push(serde_json::from_slice(&record).expect("a JSON event"));
    }
}

pub struct EventStream {
    /// Named in panics ("scheduler", "operator").
    what: &'static str,
    events: mpsc::UnboundedReceiver<Value>,
    /// Events read while waiting for another kind.
    seen: VecDeque<Value>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl EventStream {
    /// Reads `response`'s body as events until it ends.
    pub fn read(what: &'static str, mut response: reqwest::Response) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut buffer = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.extend_from_slice(&chunk);
                for event in take_records(&mut buffer) {
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            }
        });
        EventStream {
            what,
            events,
            seen: VecDeque::new(),
            reader,
        }
    }

    /// The next event of type `kind` that `pred` accepts (others are kept
    /// for later); panics after `limit`.
    pub async fn next_matching(
        &mut self,
        kind: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.seen.iter().position(|e| e["type"] == kind && pred(e)) {
            return self.seen.remove(i).unwrap();
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(e)) if e["type"] == kind && pred(&e) => return e,
                Ok(Some(e)) => self.seen.push_back(e),
                Ok(None) => panic!(
                    "the {} stream ended while waiting for {kind}; seen {:?}",
                    self.what, self.seen
                ),
                Err(_) => panic!(
                    "no {kind} {} event within {limit:?}; seen {:?}",
                    self.what, self.seen
                ),
            }
        }
    }

    /// Whether an event of `kind` arrives within `within`.
    pub async fn sees(&mut self, kind: &str, within: Duration) -> bool {
        if self.seen.iter().any(|e| e["type"] == kind) {
            return true;
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(e)) => {
                    let hit = e["type"] == kind;
                    self.seen.push_back(e);
                    if hit {
                        return true;
                    }
                }
                Ok(None) | Err(_) => return false,
            }
        }
    }

    /// Whether the stream has ended (the master closed it).
    pub async fn ends(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(e)) => self.seen.push_back(e),
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }
}
