//! Run results: `results.json` (verdicts and statistics) and an HTML page.

pub mod html;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::history::{pair, Op, OpType, Process};

/// A fault window reconstructed from the nemesis records of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    pub nemesis: String,
    pub start_ns: u64,
    /// None: never stopped (the run ended).
    pub stop_ns: Option<u64>,
    pub description: Value,
    pub error: Option<String>,
}

/// Pairs nemesis `start`/`stop` records by nemesis name.
pub fn fault_windows(history: &[Op]) -> Vec<FaultWindow> {
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<FaultWindow> = Vec::new();
    for op in history.iter().filter(|o| o.process == Process::Nemesis) {
        let name = op.value["nemesis"].as_str().unwrap_or("?").to_string();
        match op.f.as_str() {
            "start" => {
                open.insert(name.clone(), out.len());
                out.push(FaultWindow {
                    nemesis: name,
                    start_ns: op.time,
                    stop_ns: None,
                    description: op.value["value"].clone(),
                    error: op.error.clone(),
                });
            }
            "stop" => {
                if let Some(i) = open.remove(&name) {
                    out[i].stop_ns = Some(op.time);
                }
            }
            _ => {}
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i])
}

/// Counts per operation kind and outcome, and latency percentiles.
pub fn stats(history: &[Op]) -> Value {
    let mut by_f: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut latencies: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for c in pair(history) {
        let kind = match c.kind() {
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info | OpType::Invoke => "info",
        };
        *by_f
            .entry(c.invoke.f.clone())
            .or_default()
            .entry(kind)
            .or_default() += 1;
        if let Some(done) = c.complete {
            if c.kind() == OpType::Ok {
                latencies
                    .entry(c.invoke.f.clone())
                    .or_default()
                    .push((done.time - c.invoke.time) as f64 / 1e6);
            }
        }
    }
    let lat: BTreeMap<String, Value> = latencies
        .into_iter()
        .map(|(f, mut v)| {
            v.sort_by(|a, b| a.total_cmp(b));
            (
                f,
                json!({"p50_ms": percentile(&v, 0.5), "p99_ms": percentile(&v, 0.99), "max_ms": v.last()}),
            )
        })
        .collect();
    json!({
        "operations": by_f,
        "ok_latency": lat,
        "unavailability": unavailability(history),
    })
}

/// How long each fault left the group without an acknowledged write: the
/// gap between the last acknowledged write completed before the fault
/// started and the first one completed after it, per nemesis.
pub fn unavailability(history: &[Op]) -> Value {
    let mut acked: Vec<u64> = pair(history)
        .into_iter()
        .filter(|c| c.kind() == OpType::Ok && c.invoke.f == "write")
        .filter_map(|c| c.complete.map(|done| done.time))
        .collect();
    acked.sort_unstable();
    let mut windows: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for op in history
        .iter()
        .filter(|op| op.process == Process::Nemesis && op.f == "start")
    {
        let name = op.value["nemesis"].as_str().unwrap_or("?").to_string();
        let after = acked.partition_point(|t| *t < op.time);
        let (Some(before), Some(next)) = (after.checked_sub(1).map(|i| acked[i]), acked.get(after))
        else {
            continue;
        };
        windows
            .entry(name)
            .or_default()
            .push((next - before) as f64 / 1e6);
    }
    windows
        .into_iter()
        .map(|(name, mut v)| {
            v.sort_by(|a, b| a.total_cmp(b));
            let summary = json!({
                "faults": v.len(),
                "p50_ms": percentile(&v, 0.5),
                "max_ms": v.last(),
            });
            (name, summary)
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(index: usize, process: Process, kind: OpType, f: &str, value: Value, ms: u64) -> Op {
        Op {
            index,
            process,
            kind,
            f: f.into(),
            key: Some("r".into()),
            value,
            time: ms * 1_000_000,
            node: None,
            error: None,
        }
    }

    #[test]
    fn unavailability_is_the_gap_around_each_fault() {
        let c = Process::Client(0);
        let history = vec![
            op(0, c, OpType::Invoke, "write", json!(1.0), 0),
            op(1, c, OpType::Ok, "write", json!(1.0), 10),
            op(
                2,
                Process::Nemesis,
                OpType::Info,
                "start",
                json!({"nemesis": "kill"}),
                20,
            ),
            op(3, c, OpType::Invoke, "write", json!(2.0), 30),
            op(4, c, OpType::Ok, "write", json!(2.0), 510),
            op(
                5,
                Process::Nemesis,
                OpType::Info,
                "start",
                json!({"nemesis": "kill"}),
                600,
            ),
            op(6, c, OpType::Invoke, "write", json!(3.0), 610),
            op(7, c, OpType::Ok, "write", json!(3.0), 820),
        ];
        let u = unavailability(&history);
        assert_eq!(u["kill"]["faults"], 2);
        assert_eq!(u["kill"]["max_ms"], 500.0);
        assert_eq!(u["kill"]["p50_ms"], 500.0);
    }
}
