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
    json!({"operations": by_f, "ok_latency": lat})
}
