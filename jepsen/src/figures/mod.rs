//! The run's figures, computed from its history: fault windows
//! reconstructed from the nemesis records, and the statistics ([`stats`])
//! the results carry and the report and the matrix show. Computation only;
//! the report renders them.

pub mod stats;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::history::{Op, Process};
use crate::nemesis_record::NemesisRecord;
pub use stats::{stats, Stats};

/// A fault window reconstructed from the nemesis records of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    pub nemesis: String,
    /// When the nemesis began injecting (`began_ns` of the record; the
    /// record itself is written once the injection is done).
    pub start_ns: u64,
    /// None: never stopped (the run ended).
    pub stop_ns: Option<u64>,
    pub description: Value,
    pub error: Option<String>,
    /// False when the injection failed or changed nothing (e.g. no running
    /// master was left to kill): not a fault window for the figures.
    pub injected: bool,
    /// A workload's own final fault (durability's kill-all after the run),
    /// not part of the schedule.
    pub final_phase: bool,
}

/// Pairs nemesis `start`/`stop` records by nemesis name.
pub fn fault_windows(history: &[Op]) -> Vec<FaultWindow> {
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<FaultWindow> = Vec::new();
    for op in history.iter().filter(|o| o.process == Process::Nemesis) {
        let record = NemesisRecord::of(&op.value);
        match op.f.as_str() {
            "start" => {
                open.insert(record.nemesis.clone(), out.len());
                out.push(FaultWindow {
                    start_ns: record.began_ns.unwrap_or(op.time).min(op.time),
                    stop_ns: None,
                    error: op.error.clone(),
                    injected: op.error.is_none() && record.injected != Some(false),
                    final_phase: record.final_phase,
                    nemesis: record.nemesis,
                    description: record.value,
                });
            }
            "stop" => {
                if let Some(i) = open.remove(&record.nemesis) {
                    out[i].stop_ns = Some(op.time);
                }
            }
            _ => {}
        }
    }
    out
}
