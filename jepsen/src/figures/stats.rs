//! Figures of a run: operation counts, latencies, and how long each fault
//! left clients without an acknowledged operation (unavailability).
//!
//! Unavailability of one fault is the longest stretch between two
//! consecutive acknowledged operations that overlaps the fault, from the
//! moment the nemesis began injecting it until the first acknowledgement
//! after it was healed. A write acknowledged just after the fault began
//! does not hide the outage that follows it, and a slow recovery after the
//! heal counts. When nothing was acknowledged after the fault the group
//! never recovered within the run: the figure is then a lower bound
//! (`recovered: false`, shown as `> X ms`), never dropped. Faults whose
//! injection failed or did nothing are not windows at all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{fault_windows, FaultWindow};
use crate::history::{pair, Completed, Op, OpType, Process};
use crate::workload::{POLLER_PROCESS, PROCESS_SPAN};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

impl OutcomeCounts {
    pub fn attempted(&self) -> u64 {
        self.ok + self.fail + self.info
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One measured outage.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub ms: f64,
    /// False: nothing was acknowledged after the fault, so `ms` is only a
    /// lower bound (the run ended first).
    pub recovered: bool,
}

impl Gap {
    pub fn render(&self) -> String {
        if self.recovered {
            format!("{:.0}", self.ms)
        } else {
            format!("> {:.0}", self.ms)
        }
    }
}

/// Figures of one fault window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultFigures {
    pub nemesis: String,
    pub start_ms: f64,
    pub stop_ms: Option<f64>,
    /// Longest stretch without an acknowledged write overlapping the fault.
    pub write_gap: Option<Gap>,
    /// The same for successful reads.
    pub read_gap: Option<Gap>,
    /// Each client's own longest stretch without a successful operation:
    /// the median client and the worst one.
    pub client_gap_p50: Option<Gap>,
    pub client_gap_max: Option<Gap>,
    /// Operations acknowledged while the fault was in place.
    pub writes_ok: u64,
    pub reads_ok: u64,
}

/// A percentile summary of gaps; `max` carries `recovered: false` when the
/// worst one is a lower bound.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GapSummary {
    pub p50: Gap,
    pub max: Gap,
    /// Faults after which nothing was acknowledged until the end.
    pub unrecovered: u64,
}

impl GapSummary {
    pub fn of(gaps: &[Gap]) -> Option<GapSummary> {
        let mut sorted = gaps.to_vec();
        sorted.sort_by(|a, b| a.ms.total_cmp(&b.ms));
        Some(GapSummary {
            p50: *percentile(&sorted, 0.5)?,
            max: *sorted.last()?,
            unrecovered: sorted.iter().filter(|g| !g.recovered).count() as u64,
        })
    }

    pub fn render(&self) -> String {
        format!("{} / {}", self.p50.render(), self.max.render())
    }
}

/// Unavailability of one nemesis over all its faults in the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unavailability {
    pub faults: u64,
    pub write: Option<GapSummary>,
    pub read: Option<GapSummary>,
    /// Per fault the worst client's gap, summarized over the faults.
    pub client_max: Option<GapSummary>,
    /// Fewest successful reads seen during one of its faults.
    pub min_reads_ok: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Per operation kind (`read`, `write`, `status`, ...).
    pub operations: BTreeMap<String, OutcomeCounts>,
    pub ok_latency: BTreeMap<String, Latency>,
    /// Per nemesis.
    pub unavailability: BTreeMap<String, Unavailability>,
    /// Every fault window of the run, in order.
    pub faults: Vec<FaultFigures>,
}

impl Stats {
    /// Operations on the system (status polls are observations).
    pub fn operation_totals(&self) -> OutcomeCounts {
        let mut total = OutcomeCounts::default();
        for (_, c) in self.operations.iter().filter(|(f, _)| *f != "status") {
            total.ok += c.ok;
            total.fail += c.fail;
            total.info += c.info;
        }
        total
    }
}

fn percentile<T>(sorted: &[T], p: f64) -> Option<&T> {
    if sorted.is_empty() {
        return None;
    }
    sorted.get(((sorted.len() - 1) as f64 * p).round() as usize)
}

/// Reads of the main phase (a final read after healing says nothing about
/// availability during a fault; workloads without reads get no figure).
fn is_read(f: &str) -> bool {
    f == "read"
}

/// The client worker of a process number (workers change process numbers
/// after each `info`, see `workload::ProcessNumber`); None for pollers and
/// final operations.
pub fn worker_of(process: Process, concurrency: u64) -> Option<u64> {
    let Process::Client(p) = process else {
        return None;
    };
    let (part, rel) = (p / PROCESS_SPAN, p % PROCESS_SPAN);
    (rel < POLLER_PROCESS && concurrency > 0).then(|| part * concurrency + rel % concurrency)
}

/// Counts, latencies and unavailability of a history. `concurrency` is the
/// number of clients per workload (it maps process numbers to clients).
pub fn stats(history: &[Op], concurrency: u64) -> Stats {
    let ops = pair(history);
    let mut operations: BTreeMap<String, OutcomeCounts> = BTreeMap::new();
    let mut latencies: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for c in &ops {
        let counts = operations.entry(c.invoke.f.clone()).or_default();
        match c.kind() {
            OpType::Ok => counts.ok += 1,
            OpType::Fail => counts.fail += 1,
            OpType::Info | OpType::Invoke => counts.info += 1,
        }
        if let (OpType::Ok, Some(done)) = (c.kind(), c.complete) {
            latencies
                .entry(c.invoke.f.clone())
                .or_default()
                .push(done.time.saturating_sub(c.invoke.time) as f64 / 1e6);
        }
    }
    let ok_latency = latencies
        .into_iter()
        .filter_map(|(f, mut v)| {
            v.sort_by(|a, b| a.total_cmp(b));
            let l = Latency {
                p50_ms: *percentile(&v, 0.5)?,
                p99_ms: *percentile(&v, 0.99)?,
                max_ms: *v.last()?,
            };
            Some((f, l))
        })
        .collect();
    let end = history.last().map_or(0, |o| o.time);
    let faults: Vec<FaultFigures> = fault_windows(history)
        .iter()
        .filter(|w| w.injected && !w.final_phase)
        .map(|w| fault_figures(w, &ops, end, concurrency))
        .collect();
    Stats {
        operations,
        ok_latency,
        unavailability: summarize(&faults),
        faults,
    }
}

/// Completion times of acknowledged operations selected by `pick`, sorted.
fn acked_times(ops: &[Completed], pick: impl Fn(&Completed) -> bool) -> Vec<u64> {
    let mut t: Vec<u64> = ops
        .iter()
        .filter(|c| c.kind() == OpType::Ok && pick(c))
        .filter_map(|c| c.complete.map(|d| d.time))
        .collect();
    t.sort_unstable();
    t
}

/// The longest stretch between consecutive acknowledgements in `acked`
/// overlapping `[start, stop]`; `end` is the end of the history. None when
/// nothing was acknowledged around the fault at all (no such operation in
/// the history).
pub fn longest_gap(acked: &[u64], start: u64, stop: u64, end: u64) -> Option<Gap> {
    if acked.is_empty() {
        return None;
    }
    let first = acked.partition_point(|t| *t < start);
    let after = acked.partition_point(|t| *t <= stop);
    // From the last acknowledgement before the fault (or its start).
    let mut points = vec![if first > 0 { acked[first - 1] } else { start }];
    points.extend_from_slice(&acked[first..after]);
    let recovered = after < acked.len();
    points.push(if recovered {
        acked[after]
    } else {
        end.max(stop)
    });
    let longest = points
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or(0);
    Some(Gap {
        ms: longest as f64 / 1e6,
        recovered,
    })
}

fn fault_figures(w: &FaultWindow, ops: &[Completed], end: u64, concurrency: u64) -> FaultFigures {
    let stop = w.stop_ns.unwrap_or(end);
    let writes = acked_times(ops, |c| c.invoke.f == "write");
    let reads = acked_times(ops, |c| is_read(&c.invoke.f));
    let during = |t: &[u64]| t.iter().filter(|x| (w.start_ns..=stop).contains(x)).count() as u64;
    let mut per_client: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for c in ops.iter().filter(|c| c.kind() == OpType::Ok) {
        if let (Some(worker), Some(done)) = (worker_of(c.invoke.process, concurrency), c.complete) {
            per_client.entry(worker).or_default().push(done.time);
        }
    }
    let mut client_gaps: Vec<Gap> = per_client
        .values_mut()
        .filter_map(|t| {
            t.sort_unstable();
            longest_gap(t, w.start_ns, stop, end)
        })
        .collect();
    client_gaps.sort_by(|a, b| a.ms.total_cmp(&b.ms));
    FaultFigures {
        nemesis: w.nemesis.clone(),
        start_ms: w.start_ns as f64 / 1e6,
        stop_ms: w.stop_ns.map(|s| s as f64 / 1e6),
        write_gap: longest_gap(&writes, w.start_ns, stop, end),
        read_gap: longest_gap(&reads, w.start_ns, stop, end),
        client_gap_p50: percentile(&client_gaps, 0.5).copied(),
        client_gap_max: client_gaps.last().copied(),
        writes_ok: during(&writes),
        reads_ok: during(&reads),
    }
}

fn summarize(faults: &[FaultFigures]) -> BTreeMap<String, Unavailability> {
    let mut by_nemesis: BTreeMap<String, Vec<&FaultFigures>> = BTreeMap::new();
    for f in faults {
        by_nemesis.entry(f.nemesis.clone()).or_default().push(f);
    }
    by_nemesis
        .into_iter()
        .map(|(name, fs)| {
            let gaps = |pick: fn(&FaultFigures) -> Option<Gap>| -> Option<GapSummary> {
                GapSummary::of(&fs.iter().filter_map(|f| pick(f)).collect::<Vec<_>>())
            };
            let u = Unavailability {
                faults: fs.len() as u64,
                write: gaps(|f| f.write_gap),
                read: gaps(|f| f.read_gap),
                client_max: gaps(|f| f.client_gap_max),
                min_reads_ok: fs.iter().map(|f| f.reads_ok).min().unwrap_or(0),
            };
            (name, u)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

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
        let u = &stats(&history, 1).unavailability["pause"];
        assert_eq!(u.faults, 1);
        let w = u.write.unwrap();
        assert_eq!(w.max.ms, 1200.0);
        assert!(w.max.recovered);
        assert_eq!(u.client_max.unwrap().max.ms, 1200.0);
    }

    #[test]
    fn windows_start_when_the_nemesis_began() {
        let c = Process::Client(0);
        // The record is written when the kill is done (at 300), but the
        // nemesis began at 100: the outage counts from 100.
        let history = vec![
            op(0, c, OpType::Invoke, "write", json!(1.0), 0),
            op(1, c, OpType::Ok, "write", json!(1.0), 50),
            fault(
                2,
                "start",
                json!({"nemesis": "kill", "began_ns": 100_000_000u64}),
                300,
            ),
            fault(3, "stop", json!({"nemesis": "kill"}), 400),
            op(4, c, OpType::Invoke, "write", json!(2.0), 60),
            op(5, c, OpType::Ok, "write", json!(2.0), 120),
            op(6, c, OpType::Invoke, "write", json!(3.0), 130),
            op(7, c, OpType::Ok, "write", json!(3.0), 900),
        ];
        let s = stats(&history, 1);
        assert_eq!(s.faults[0].start_ms, 100.0);
        assert_eq!(s.faults[0].write_gap.unwrap().ms, 780.0);
    }

    #[test]
    fn unrecovered_faults_are_lower_bounds_not_dropped() {
        let c = Process::Client(0);
        let history = vec![
            op(0, c, OpType::Invoke, "write", json!(1.0), 0),
            op(1, c, OpType::Ok, "write", json!(1.0), 10),
            fault(2, "start", json!({"nemesis": "kill-all"}), 20),
            op(3, c, OpType::Invoke, "write", json!(2.0), 30),
            op(4, c, OpType::Fail, "write", json!(2.0), 40),
            fault(5, "stop", json!({"nemesis": "kill-all"}), 500),
            op(6, c, OpType::Invoke, "read", json!(null), 2000),
            op(7, c, OpType::Fail, "read", json!(null), 2010),
        ];
        let u = &stats(&history, 1).unavailability["kill-all"];
        let w = u.write.unwrap();
        assert!(!w.max.recovered);
        assert_eq!(w.max.ms, 2000.0);
        assert_eq!(w.unrecovered, 1);
        assert_eq!(w.max.render(), "> 2000");
    }

    #[test]
    fn failed_or_empty_injections_are_not_windows() {
        let c = Process::Client(0);
        let history = vec![
            op(0, c, OpType::Invoke, "write", json!(1.0), 0),
            op(1, c, OpType::Ok, "write", json!(1.0), 10),
            op(
                2,
                Process::Nemesis,
                OpType::Info,
                "start",
                json!({"nemesis": "partition"}),
                20,
            ),
            fault(3, "stop", json!({"nemesis": "partition"}), 30),
            fault(
                4,
                "start",
                json!({"nemesis": "kill", "injected": false}),
                40,
            ),
            fault(5, "stop", json!({"nemesis": "kill"}), 50),
            op(6, c, OpType::Invoke, "write", json!(2.0), 60),
            op(7, c, OpType::Ok, "write", json!(2.0), 70),
        ];
        let mut history = history;
        history[2].error = Some("iptables failed".into());
        let s = stats(&history, 1);
        assert!(s.faults.is_empty(), "{:?}", s.faults);
        assert!(s.unavailability.is_empty());
    }

    #[test]
    fn reads_and_clients_have_their_own_figures() {
        let (a, b) = (Process::Client(0), Process::Client(1));
        let history = vec![
            op(0, a, OpType::Invoke, "read", json!(null), 0),
            op(1, a, OpType::Ok, "read", json!({}), 5),
            op(2, b, OpType::Invoke, "write", json!(1.0), 0),
            op(3, b, OpType::Ok, "write", json!(1.0), 6),
            fault(4, "start", json!({"nemesis": "pause"}), 10),
            op(5, a, OpType::Invoke, "read", json!(null), 11),
            op(6, a, OpType::Ok, "read", json!({}), 100),
            op(7, b, OpType::Invoke, "write", json!(2.0), 12),
            fault(8, "stop", json!({"nemesis": "pause"}), 200),
            op(9, b, OpType::Ok, "write", json!(2.0), 700),
            op(10, a, OpType::Invoke, "read", json!(null), 701),
            op(11, a, OpType::Ok, "read", json!({}), 710),
        ];
        let s = stats(&history, 2);
        let f = &s.faults[0];
        assert_eq!(f.reads_ok, 1);
        assert_eq!(f.writes_ok, 0);
        assert_eq!(f.read_gap.unwrap().ms, 610.0);
        assert_eq!(f.write_gap.unwrap().ms, 694.0);
        assert_eq!(f.client_gap_max.unwrap().ms, 694.0);
        assert_eq!(f.client_gap_p50.unwrap().ms, 694.0);
        assert_eq!(s.operations["read"].ok, 3);
        assert_eq!(s.operation_totals().attempted(), 5);
        assert_eq!(s.unavailability["pause"].min_reads_ok, 1);
    }
}
