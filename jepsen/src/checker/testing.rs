//! Histories for checker tests, built from operations with explicit times.

use serde_json::{json, Value};

use crate::history::{Op, OpType, Process};
use crate::workload::FINAL_PROCESS;

/// Builds a history from operations given with explicit times (ms).
#[derive(Default)]
pub struct Builder {
    events: Vec<(u64, u64, Op)>,
    seq: u64,
}

impl Builder {
    fn record(&mut self, t_ms: u64, op: Op) {
        self.seq += 1;
        self.events.push((t_ms * 1_000_000, self.seq, op));
    }

    #[allow(clippy::too_many_arguments)]
    pub fn op(
        &mut self,
        p: u64,
        f: &str,
        key: Option<&str>,
        arg: Value,
        t0: u64,
        kind: OpType,
        result: Value,
        t1: Option<u64>,
    ) -> &mut Self {
        let base = Op {
            index: 0,
            process: Process::Client(p),
            kind: OpType::Invoke,
            f: f.into(),
            key: key.map(Into::into),
            value: arg,
            time: 0,
            node: None,
            error: None,
        };
        self.record(t0, base.clone());
        if let Some(t1) = t1 {
            self.record(
                t1,
                Op {
                    kind,
                    value: result,
                    ..base
                },
            );
        }
        self
    }

    pub fn write(
        &mut self,
        p: u64,
        key: &str,
        v: f64,
        t0: u64,
        t1: u64,
        kind: OpType,
    ) -> &mut Self {
        self.op(
            p,
            "write",
            Some(key),
            json!(v),
            t0,
            kind,
            Value::Null,
            Some(t1),
        )
    }

    /// A write that never completed (the run ended): unknown outcome.
    pub fn write_open(&mut self, p: u64, key: &str, v: f64, t0: u64) -> &mut Self {
        self.op(
            p,
            "write",
            Some(key),
            json!(v),
            t0,
            OpType::Info,
            Value::Null,
            None,
        )
    }

    pub fn read(&mut self, p: u64, key: &str, seen: Option<f64>, t0: u64, t1: u64) -> &mut Self {
        self.op(
            p,
            "read",
            Some(key),
            Value::Null,
            t0,
            OpType::Ok,
            json!(seen),
            Some(t1),
        )
    }

    pub fn read_all(&mut self, p: u64, seen: Value, t0: u64, t1: u64) -> &mut Self {
        self.op(p, "read", None, Value::Null, t0, OpType::Ok, seen, Some(t1))
    }

    /// The workload's final read, after healing.
    pub fn final_read(&mut self, seen: Value, t0: u64, t1: u64) -> &mut Self {
        let p = FINAL_PROCESS;
        self.op(
            p,
            "final-read",
            None,
            Value::Null,
            t0,
            OpType::Ok,
            seen,
            Some(t1),
        )
    }

    /// One write of several keys (`{key: value}`).
    pub fn write_map(&mut self, p: u64, sets: Value, t0: u64, t1: u64, kind: OpType) -> &mut Self {
        self.op(p, "write", None, sets, t0, kind, Value::Null, Some(t1))
    }

    /// A multi-key write that never completed (the run ended).
    pub fn write_map_open(&mut self, p: u64, sets: Value, t0: u64) -> &mut Self {
        self.op(p, "write", None, sets, t0, OpType::Info, Value::Null, None)
    }

    /// A nemesis record (`start`, `stop`, `heal`) written at `t_ms`.
    pub fn nemesis(
        &mut self,
        t_ms: u64,
        f: &str,
        record: &crate::nemesis_record::NemesisRecord,
    ) -> &mut Self {
        self.record(
            t_ms,
            Op {
                index: 0,
                process: Process::Nemesis,
                kind: OpType::Info,
                f: f.into(),
                key: None,
                value: record.to_value(),
                time: 0,
                node: None,
                error: None,
            },
        );
        self
    }

    pub fn build(&self) -> Vec<Op> {
        let mut ev = self.events.clone();
        ev.sort_by_key(|(t, seq, _)| (*t, *seq));
        ev.into_iter()
            .enumerate()
            .map(|(i, (t, _, mut op))| {
                op.index = i;
                op.time = t;
                op
            })
            .collect()
    }
}
