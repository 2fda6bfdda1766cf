//! The fault schedule: a seeded list of (time, nemesis, start/stop) steps.
//! Faults do not overlap: quiet period, fault, heal, quiet period, ...
//! The same seed, nemesis list and timings always give the same schedule;
//! it is printed before the run and saved with its results.

use std::fmt::Write;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

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

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Timing {
    pub fault_min: Duration,
    pub fault_max: Duration,
    pub quiet_min: Duration,
    pub quiet_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            fault_min: Duration::from_secs(5),
            fault_max: Duration::from_secs(10),
            quiet_min: Duration::from_secs(3),
            quiet_max: Duration::from_secs(5),
        }
    }
}

fn between(rng: &mut StdRng, lo: Duration, hi: Duration) -> u64 {
    let (lo, hi) = (lo.as_millis() as u64, hi.as_millis() as u64);
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..=hi)
    }
}

/// Faults fit inside `time_limit`: the last one stops by then (shortened
/// if needed, but never below `fault_min`, else it is not scheduled).
pub fn generate(seed: u64, nemeses: &[String], time_limit: Duration, timing: &Timing) -> Vec<Step> {
    let mut steps = Vec::new();
    if nemeses.is_empty() {
        return steps;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let limit = time_limit.as_millis() as u64;
    let mut t = between(&mut rng, timing.quiet_min, timing.quiet_max);
    loop {
        let nemesis = nemeses[rng.gen_range(0..nemeses.len())].clone();
        let duration = between(&mut rng, timing.fault_min, timing.fault_max);
        let step_seed: u64 = rng.gen();
        let stop = (t + duration).min(limit);
        if stop < t + timing.fault_min.as_millis() as u64 {
            break;
        }
        steps.push(Step {
            at_ms: t,
            nemesis: nemesis.clone(),
            action: Action::Start,
            seed: step_seed,
        });
        steps.push(Step {
            at_ms: stop,
            nemesis,
            action: Action::Stop,
            seed: step_seed,
        });
        t = stop + between(&mut rng, timing.quiet_min, timing.quiet_max);
    }
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

    #[test]
    fn seeded_non_overlapping_and_within_limit() {
        let n: Vec<String> = vec!["partition".into(), "kill".into()];
        let limit = Duration::from_secs(60);
        let a = generate(7, &n, limit, &Timing::default());
        let b = generate(7, &n, limit, &Timing::default());
        let c = generate(8, &n, limit, &Timing::default());
        assert_eq!(a, b, "same seed, same schedule");
        assert_ne!(a, c);
        assert!(a.len() >= 6, "{}", render(&a));
        for pair in a.chunks(2) {
            assert_eq!(pair[0].action, Action::Start);
            assert_eq!(pair[1].action, Action::Stop);
            assert_eq!(pair[0].nemesis, pair[1].nemesis);
            assert!(pair[1].at_ms - pair[0].at_ms >= 5000);
            assert!(pair[1].at_ms <= 60_000);
        }
        assert!(a.windows(2).all(|w| w[0].at_ms < w[1].at_ms), "no overlap");
        assert!(
            a.iter().any(|s| s.nemesis == "kill") && a.iter().any(|s| s.nemesis == "partition")
        );
        assert!(generate(7, &[], limit, &Timing::default()).is_empty());
        assert!(render(&a).contains("partition"));
    }
}
