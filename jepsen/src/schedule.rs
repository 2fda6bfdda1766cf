//! The fault schedule: a seeded list of (time, nemesis, start/stop) steps.
//!
//! Fault durations are log-uniform between `fault_min` and `fault_max`, so
//! a run sees faults shorter than an election timeout as well as faults of
//! many seconds. With probability `overlap` the next fault starts while the
//! current one is still in place; overlapping faults are always of
//! different classes (a network fault and a process fault, see
//! [`nemesis::class`]), so they never fight over the same state, and no
//! nemesis ever overlaps itself. Every fault stops at least `quiet_min`
//! before the time limit, so recovery after the last one is observed.
//! The same seed, nemesis list and timing always give the same schedule;
//! it is printed before the run and saved with its results.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::nemesis::{self, Class};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Start,
    Stop,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Milliseconds after the workload starts.
    pub at_ms: u64,
    pub nemesis: String,
    pub action: Action,
    /// Drives the nemesis's random choices (same on start and stop).
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub fault_min_ms: u64,
    pub fault_max_ms: u64,
    pub quiet_min_ms: u64,
    pub quiet_max_ms: u64,
    /// Probability that the next fault begins during the current one.
    pub overlap: f64,
}

impl Default for Timing {
    /// From below an election timeout to ten seconds, quiet gaps of a few
    /// seconds, a third of faults overlapping another.
    fn default() -> Self {
        Self {
            fault_min_ms: 100,
            fault_max_ms: 10_000,
            quiet_min_ms: 2_000,
            quiet_max_ms: 5_000,
            overlap: 0.3,
        }
    }
}

fn uniform(rng: &mut StdRng, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..=hi)
    }
}

fn log_uniform(rng: &mut StdRng, lo: u64, hi: u64) -> u64 {
    let lo = lo.max(1);
    if hi <= lo {
        return lo;
    }
    let x: f64 = rng.gen_range((lo as f64).ln()..=(hi as f64).ln());
    (x.exp().round() as u64).clamp(lo, hi)
}

/// One fault of the schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fault {
    start: u64,
    stop: u64,
    nemesis: String,
    seed: u64,
}

pub fn generate(seed: u64, nemeses: &[String], time_limit: Duration, timing: &Timing) -> Vec<Step> {
    if nemeses.is_empty() {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let horizon = (time_limit.as_millis() as u64).saturating_sub(timing.quiet_min_ms);
    let mut busy_until: BTreeMap<Class, u64> = BTreeMap::new();
    let mut faults: Vec<Fault> = Vec::new();
    let mut t = uniform(&mut rng, timing.quiet_min_ms, timing.quiet_max_ms);
    // Nemeses not yet scheduled in this round: every nemesis comes once
    // before any comes again, so short runs still cover all of them.
    let mut round: Vec<&String> = nemeses.iter().collect();
    loop {
        let free: Vec<&String> = nemeses
            .iter()
            .filter(|n| busy_until.get(&nemesis::class(n)).is_none_or(|u| *u <= t))
            .collect();
        if free.is_empty() {
            break;
        }
        if round.is_empty() {
            round = nemeses.iter().collect();
        }
        let fresh: Vec<&String> = free.iter().copied().filter(|n| round.contains(n)).collect();
        let pool = if fresh.is_empty() { &free } else { &fresh };
        let name = pool[rng.gen_range(0..pool.len())].clone();
        round.retain(|n| **n != name);
        let duration = log_uniform(&mut rng, timing.fault_min_ms, timing.fault_max_ms);
        let step_seed: u64 = rng.gen();
        let stop = (t + duration).min(horizon);
        if stop < t + timing.fault_min_ms {
            break;
        }
        let class = nemesis::class(&name);
        busy_until.insert(class, stop);
        // Overlap only with a class that is free now (not already holding
        // a fault that began before this one).
        let another_free = nemeses.iter().any(|n| {
            let c = nemesis::class(n);
            c != class && busy_until.get(&c).is_none_or(|u| *u <= t)
        });
        let overlap_next = another_free && rng.gen_bool(timing.overlap.clamp(0.0, 1.0));
        faults.push(Fault {
            start: t,
            stop,
            nemesis: name,
            seed: step_seed,
        });
        t = if overlap_next {
            t + uniform(&mut rng, 0, stop - t)
        } else {
            busy_until.values().copied().max().unwrap_or(stop)
                + uniform(&mut rng, timing.quiet_min_ms, timing.quiet_max_ms)
        };
    }
    let mut steps: Vec<Step> = faults
        .into_iter()
        .flat_map(|f| {
            [
                Step {
                    at_ms: f.start,
                    nemesis: f.nemesis.clone(),
                    action: Action::Start,
                    seed: f.seed,
                },
                Step {
                    at_ms: f.stop,
                    nemesis: f.nemesis,
                    action: Action::Stop,
                    seed: f.seed,
                },
            ]
        })
        .collect();
    // Stable: a nemesis's stop stays before its next start at equal times.
    steps.sort_by_key(|s| s.at_ms);
    steps
}

pub fn render(steps: &[Step]) -> String {
    let mut out = String::new();
    if steps.is_empty() {
        out.push_str("  (no faults)\n");
    }
    for s in steps {
        let _ = writeln!(
            out,
            "  {:>8.1}s  {:<5}  {:<18} seed {:#018x}",
            s.at_ms as f64 / 1000.0,
            match s.action {
                Action::Start => "start",
                Action::Stop => "stop",
            },
            s.nemesis,
            s.seed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Every nemesis's own steps alternate start, stop.
    fn per_nemesis(steps: &[Step]) -> BTreeMap<String, Vec<(u64, u64)>> {
        let mut out: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        let mut open: BTreeMap<String, u64> = BTreeMap::new();
        for s in steps {
            match s.action {
                Action::Start => {
                    assert!(open.insert(s.nemesis.clone(), s.at_ms).is_none(), "{s:?}");
                }
                Action::Stop => {
                    let start = open.remove(&s.nemesis).expect("stop after start");
                    out.entry(s.nemesis.clone())
                        .or_default()
                        .push((start, s.at_ms));
                }
            }
        }
        assert!(open.is_empty());
        out
    }

    #[test]
    fn seeded_within_limit_and_never_overlapping_itself() {
        let n = names(&["partition", "kill", "pause", "partition-ring"]);
        let limit = Duration::from_secs(300);
        let t = Timing::default();
        let a = generate(7, &n, limit, &t);
        assert_eq!(a, generate(7, &n, limit, &t), "same seed, same schedule");
        assert_ne!(a, generate(8, &n, limit, &t));
        let faults = per_nemesis(&a);
        let mut all: Vec<(u64, u64, Class)> = Vec::new();
        for (name, windows) in &faults {
            for (start, stop) in windows {
                assert!(stop - start >= t.fault_min_ms && stop - start <= t.fault_max_ms);
                assert!(*stop <= 300_000 - t.quiet_min_ms, "recovery is observed");
                all.push((*start, *stop, nemesis::class(name)));
            }
        }
        // Same class never overlaps; some faults of different classes do.
        let mut overlapping = 0;
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let overlap = a.0 < b.1 && b.0 < a.1;
                if overlap {
                    assert_ne!(a.2, b.2, "{a:?} overlaps {b:?}");
                    overlapping += 1;
                }
            }
        }
        assert!(overlapping > 0, "{}", render(&a));
        // Every nemesis comes once before any comes twice.
        let first: Vec<&String> = a
            .iter()
            .filter(|s| s.action == Action::Start)
            .map(|s| &s.nemesis)
            .take(n.len())
            .collect();
        let distinct: std::collections::BTreeSet<&&String> = first.iter().collect();
        assert_eq!(distinct.len(), n.len(), "{first:?}");
        // Durations span short and long faults.
        let durations: Vec<u64> = all.iter().map(|(s, e, _)| e - s).collect();
        assert!(durations.iter().any(|d| *d < 1000), "{durations:?}");
        assert!(durations.iter().any(|d| *d > 3000), "{durations:?}");
        assert!(generate(7, &[], limit, &t).is_empty());
        assert!(render(&a).contains("partition"));
    }

    #[test]
    fn no_overlap_when_asked_or_when_only_one_class() {
        let t = Timing {
            overlap: 0.0,
            ..Timing::default()
        };
        let s = generate(
            3,
            &names(&["partition", "kill"]),
            Duration::from_secs(200),
            &t,
        );
        assert!(
            s.windows(2).all(|w| w[0].action != w[1].action),
            "{}",
            render(&s)
        );
        let t = Timing {
            overlap: 1.0,
            ..Timing::default()
        };
        let s = generate(3, &names(&["kill", "pause"]), Duration::from_secs(200), &t);
        assert!(
            s.windows(2).all(|w| w[0].action != w[1].action),
            "{}",
            render(&s)
        );
        assert!(!s.is_empty());
    }
}
