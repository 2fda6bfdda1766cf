//! The history: every operation a client or the nemesis performed, as
//! invoke / completion records, with times relative to the start of the run.
//!
//! The format follows Jepsen's: an operation is two records on the same
//! `process`, an `invoke` and then exactly one of `ok` (it happened), `fail`
//! (it certainly did not happen) or `info` (unknown: it may happen at any
//! time after its invocation, or never). A process never has two operations
//! in flight, so a client whose operation ended in `info` continues under a
//! new process number.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::nemesis_record::NemesisRecord;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// Who performed an operation: a numbered client process or the nemesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(n) => s.serialize_u64(*n),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_u64()
                .map(Process::Client)
                .ok_or_else(|| serde::de::Error::custom("process must be a non-negative integer")),
            Value::String(s) if s == "nemesis" => Ok(Process::Nemesis),
            other => Err(serde::de::Error::custom(format!(
                "process must be a number or \"nemesis\", not {other}"
            ))),
        }
    }
}

/// A typed value a workload writes into an operation and its checker
/// reads back. Reading is lenient: a value of another shape reads as
/// `None` (the checker skips it).
pub trait HistoryValue: Serialize + serde::de::DeserializeOwned {
    fn of(value: &Value) -> Option<Self> {
        Self::deserialize(value).ok()
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One record of the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history (0-based, dense).
    pub index: usize,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: OpType,
    /// What the operation does: `read`, `write`, `status`, `start`, ...
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Value,
    /// Nanoseconds since the start of the run (monotonic clock).
    pub time: u64,
    /// The node the operation finally reached (after redirects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An invocation waiting for its completion.
#[derive(Clone, Debug)]
pub struct Pending {
    pub process: Process,
    pub f: String,
    pub key: Option<String>,
    pub invoke_index: usize,
}

/// Records operations from many tasks; the order of records is the order of
/// the `Mutex` acquisitions, and times are taken under the lock so they are
/// non-decreasing along the history.
pub struct Recorder {
    start: Mutex<Instant>,
    ops: Mutex<Vec<Op>>,
}

impl Recorder {
    pub fn new(start: Instant) -> Self {
        Self {
            start: Mutex::new(start),
            ops: Mutex::new(Vec::new()),
        }
    }

    pub fn start(&self) -> Instant {
        *self.start.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves time zero (before anything is recorded), e.g. to the moment
    /// the workload starts after the cluster came up.
    pub fn restart_clock(&self, start: Instant) {
        *self.start.lock().unwrap_or_else(|e| e.into_inner()) = start;
    }

    /// Nanoseconds since the start of the run.
    pub fn now(&self) -> u64 {
        self.start().elapsed().as_nanos() as u64
    }

    fn push(&self, mut op: Op) -> usize {
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        op.index = ops.len();
        op.time = self.now();
        ops.push(op);
        ops.len() - 1
    }

    pub fn invoke(&self, process: Process, f: &str, key: Option<&str>, value: Value) -> Pending {
        let invoke_index = self.push(Op {
            index: 0,
            process,
            kind: OpType::Invoke,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            time: 0,
            node: None,
            error: None,
        });
        Pending {
            process,
            f: f.to_string(),
            key: key.map(str::to_string),
            invoke_index,
        }
    }

    pub fn complete(
        &self,
        pending: Pending,
        kind: OpType,
        value: Value,
        node: Option<String>,
        error: Option<String>,
    ) {
        debug_assert!(kind != OpType::Invoke);
        self.push(Op {
            index: 0,
            process: pending.process,
            kind,
            f: pending.f,
            key: pending.key,
            value,
            time: 0,
            node,
            error,
        });
    }

    /// A nemesis event: a single `info` record (faults have no completion
    /// semantics; the report pairs `start`/`stop` events into windows).
    pub fn nemesis(&self, f: &str, record: &NemesisRecord, error: Option<String>) {
        self.push(Op {
            index: 0,
            process: Process::Nemesis,
            kind: OpType::Info,
            f: f.to_string(),
            key: None,
            value: record.to_value(),
            time: 0,
            node: None,
            error,
        });
    }

    pub fn snapshot(&self) -> Vec<Op> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// An operation with its completion (None: the run ended first, which means
/// the same as `info`).
#[derive(Clone, Debug)]
pub struct Completed<'a> {
    pub invoke: &'a Op,
    pub complete: Option<&'a Op>,
}

impl Completed<'_> {
    /// `Info` when the operation never completed.
    pub fn kind(&self) -> OpType {
        self.complete.map_or(OpType::Info, |c| c.kind)
    }

    pub fn invoke_time(&self) -> u64 {
        self.invoke.time
    }

    /// Completion time; None for operations with unknown outcome, which may
    /// take effect at any later time.
    pub fn return_time(&self) -> Option<u64> {
        match self.complete {
            Some(c) if c.kind != OpType::Info => Some(c.time),
            _ => None,
        }
    }

    /// The completion's value when there is one, else the invocation's.
    pub fn value(&self) -> &Value {
        match self.complete {
            Some(c) if !c.value.is_null() => &c.value,
            _ => &self.invoke.value,
        }
    }
}

/// Pairs every client invocation with its completion on the same process.
/// Nemesis records are skipped.
pub fn pair(history: &[Op]) -> Vec<Completed<'_>> {
    let mut open: std::collections::HashMap<Process, usize> = Default::default();
    let mut out: Vec<Completed> = Vec::new();
    for op in history {
        if op.process == Process::Nemesis {
            continue;
        }
        if op.kind == OpType::Invoke {
            open.insert(op.process, out.len());
            out.push(Completed {
                invoke: op,
                complete: None,
            });
        } else if let Some(i) = open.remove(&op.process) {
            out[i].complete = Some(op);
        }
    }
    out
}

pub fn write_jsonl(path: &Path, history: &[Op]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for op in history {
        serde_json::to_writer(&mut out, op)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Op>> {
    let file = std::fs::File::open(path)?;
    let mut ops = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let op: Op = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), n + 1))?;
        ops.push(op);
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_and_roundtrips() {
        let rec = Recorder::new(Instant::now());
        let a = rec.invoke(Process::Client(0), "write", Some("k"), json!(1.0));
        let b = rec.invoke(Process::Client(1), "read", None, Value::Null);
        rec.nemesis("start", &NemesisRecord::new("partition"), None);
        rec.complete(b, OpType::Ok, json!({"k": null}), Some("n1".into()), None);
        rec.complete(a, OpType::Info, Value::Null, None, Some("timeout".into()));
        let _c = rec.invoke(Process::Client(2), "read", None, Value::Null);
        let h = rec.snapshot();
        assert!(h.windows(2).all(|w| w[0].time <= w[1].time));
        let pairs = pair(&h);
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[0].kind(), OpType::Info);
        assert_eq!(pairs[0].value(), &json!(1.0));
        assert_eq!(pairs[1].kind(), OpType::Ok);
        assert!(pairs[1].return_time().is_some());
        assert_eq!(pairs[2].kind(), OpType::Info);
        assert!(pairs[2].return_time().is_none());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        write_jsonl(&path, &h).unwrap();
        assert_eq!(read_jsonl(&path).unwrap(), h);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"process\":\"nemesis\""));
    }
}
