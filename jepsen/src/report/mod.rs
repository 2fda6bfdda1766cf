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

/// How long each fault left the group without an acknowledged write, per
/// nemesis: the longest stretch between two consecutive acknowledged writes
/// (completion times) that overlaps the fault, from its start until it was
/// healed. A write acknowledged just after the fault began does not hide
/// the outage that follows it, and a slow recovery after the heal counts.
/// Faults with no acknowledged write after them (end of the run) are left
/// out.
pub fn unavailability(history: &[Op]) -> Value {
    let mut acked: Vec<u64> = pair(history)
        .into_iter()
        .filter(|c| c.kind() == OpType::Ok && c.invoke.f == "write")
        .filter_map(|c| c.complete.map(|done| done.time))
        .collect();
    acked.sort_unstable();
    let mut windows: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for fault in fault_windows(history) {
        let end = fault.stop_ns.unwrap_or(fault.start_ns);
        // The last ack before the fault, then every ack up to the first one
        // after the heal: the gaps between them are the candidates.
        let first = acked.partition_point(|t| *t < fault.start_ns);
        let last = acked.partition_point(|t| *t <= end);
        if first == 0 || last >= acked.len() {
            continue;
        }
        let longest = acked[first - 1..=last]
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0);
        windows
            .entry(fault.nemesis)
            .or_default()
            .push(longest as f64 / 1e6);
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

    fn fault(index: usize, f: &str, value: Value, ms: u64) -> Op {
        op(index, Process::Nemesis, OpType::Info, f, value, ms)
    }

    #[test]
    fn unavailability_is_the_longest_gap_overlapping_the_fault() {
        let c = Process::Client(0);
        let start = json!({"nemesis": "pause"});
        let history = vec![
            op(0, c, OpType::Invoke, "write", json!(1.0), 0),
            op(1, c, OpType::Ok, "write", json!(1.0), 10),
            fault(2, "start", start.clone(), 20),
            // In flight when the fault began: acknowledged at once.
            op(3, c, OpType::Invoke, "write", json!(2.0), 15),
            op(4, c, OpType::Ok, "write", json!(2.0), 25),
            // Then nothing until well after the heal at 1000.
            op(5, c, OpType::Invoke, "write", json!(3.0), 30),
            fault(6, "stop", start.clone(), 1000),
            op(7, c, OpType::Ok, "write", json!(3.0), 1225),
            op(8, c, OpType::Invoke, "write", json!(4.0), 1230),
            op(9, c, OpType::Ok, "write", json!(4.0), 1240),
        ];
        let u = unavailability(&history);
        assert_eq!(u["pause"]["faults"], 1);
        assert_eq!(u["pause"]["max_ms"], 1200.0);
    }

    #[test]
    fn unavailability_is_the_gap_around_each_fault() {
        let c = Process::Client(0);
        let history = vec![
            op(0, c, OpType::Invoke, "write", json!(1.0), 0),
            op(1, c, OpType::Ok, "write", json!(1.0), 10),
            fault(2, "start", json!({"nemesis": "kill"}), 20),
            op(3, c, OpType::Invoke, "write", json!(2.0), 30),
            op(4, c, OpType::Ok, "write", json!(2.0), 510),
            fault(5, "start", json!({"nemesis": "kill"}), 600),
            op(6, c, OpType::Invoke, "write", json!(3.0), 610),
            op(7, c, OpType::Ok, "write", json!(3.0), 820),
        ];
        let u = unavailability(&history);
        assert_eq!(u["kill"]["faults"], 2);
        assert_eq!(u["kill"]["max_ms"], 500.0);
        assert_eq!(u["kill"]["p50_ms"], 500.0);
    }
}
