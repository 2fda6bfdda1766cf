//! The scheduling bench's arithmetic, without I/O: resource amounts read
//! from offers, how many tasks fit an offer, dominant shares and their
//! gap over time, rates and memory per task.
//!
//! Amounts are kept in thousandths, as the master rounds them, so that
//! "how many 0.01-cpu tasks fit in 8 cpus" is exact.

use serde::Serialize;
use serde_json::Value;

/// Scalar resources in thousandths: what a task needs, an offer brings,
/// a framework holds or the cluster has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Amounts {
    pub cpus: i64,
    pub mem: i64,
    pub disk: i64,
}

fn thousandths(v: f64) -> i64 {
    if v.is_finite() && v > 0.0 {
        (v * 1000.0).round() as i64
    } else {
        0
    }
}

impl Amounts {
    pub fn new(cpus: f64, mem: f64, disk: f64) -> Amounts {
        Amounts {
            cpus: thousandths(cpus),
            mem: thousandths(mem),
            disk: thousandths(disk),
        }
    }

    /// The scalars of a Mesos `Resource` list in JSON (an offer's
    /// `resources`); other kinds and malformed entries are skipped.
    pub fn of_resources(resources: &Value) -> Amounts {
        let mut out = Amounts::default();
        for r in resources.as_array().into_iter().flatten() {
            let Some(value) = r["scalar"]["value"].as_f64() else {
                continue;
            };
            match r["name"].as_str() {
                Some("cpus") => out.cpus += thousandths(value),
                Some("mem") => out.mem += thousandths(value),
                Some("disk") => out.disk += thousandths(value),
                _ => {}
            }
        }
        out
    }

    pub fn times(self, n: i64) -> Amounts {
        Amounts {
            cpus: self.cpus.saturating_mul(n),
            mem: self.mem.saturating_mul(n),
            disk: self.disk.saturating_mul(n),
        }
    }

    pub fn plus(self, other: Amounts) -> Amounts {
        Amounts {
            cpus: self.cpus.saturating_add(other.cpus),
            mem: self.mem.saturating_add(other.mem),
            disk: self.disk.saturating_add(other.disk),
        }
    }

    pub fn minus(self, other: Amounts) -> Amounts {
        Amounts {
            cpus: self.cpus.saturating_sub(other.cpus).max(0),
            mem: self.mem.saturating_sub(other.mem).max(0),
            disk: self.disk.saturating_sub(other.disk).max(0),
        }
    }
}

/// How many tasks of size `task` fit in `offer` (kinds the task does not
/// need do not limit it; a task that needs nothing fits none, so a bad
/// task size cannot make the bench launch without bound).
pub fn fits(offer: Amounts, task: Amounts) -> u64 {
    let pairs = [
        (offer.cpus, task.cpus),
        (offer.mem, task.mem),
        (offer.disk, task.disk),
    ];
    pairs
        .iter()
        .filter(|(_, need)| *need > 0)
        .map(|(have, need)| (have / need).max(0) as u64)
        .min()
        .unwrap_or(0)
}

/// The dominant share of `held` in a cluster of `total`: the largest
/// fraction of any kind the cluster has (the master's DRF measure).
pub fn dominant_share(held: Amounts, total: Amounts) -> f64 {
    [
        (held.cpus, total.cpus),
        (held.mem, total.mem),
        (held.disk, total.disk),
    ]
    .iter()
    .filter(|(_, t)| *t > 0)
    .map(|(h, t)| *h as f64 / *t as f64)
    .fold(0.0, f64::max)
}

/// One sample of every framework's dominant share.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShareSample {
    /// Seconds since the frameworks started.
    pub at_s: f64,
    pub shares: Vec<f64>,
}

impl ShareSample {
    /// The largest minus the smallest share (0 with fewer than two).
    pub fn gap(&self) -> f64 {
        let max = self
            .shares
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let min = self.shares.iter().copied().fold(f64::INFINITY, f64::min);
        if self.shares.len() < 2 {
            0.0
        } else {
            max - min
        }
    }
}

/// The gap of the first sample taken at or after `at_s`, and the largest
/// gap of every sample from then on: a gap that closed once and opened
/// again shows in the second.
pub fn gap_from(samples: &[ShareSample], at_s: f64) -> Option<(f64, f64)> {
    let later: Vec<&ShareSample> = samples.iter().filter(|s| s.at_s >= at_s).collect();
    let first = later.first()?.gap();
    let worst = later.iter().map(|s| s.gap()).fold(0.0, f64::max);
    Some((first, worst))
}

/// Tasks per second over `seconds` (None for an empty window).
pub fn rate(tasks: u64, seconds: f64) -> Option<f64> {
    (seconds > 0.0).then(|| tasks as f64 / seconds)
}

/// Resident memory gained per task, in KiB (None without tasks).
pub fn kib_per_task(before_kib: u64, after_kib: u64, tasks: u64) -> Option<f64> {
    (tasks > 0).then(|| (after_kib as f64 - before_kib as f64) / tasks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(at_s: f64, shares: &[f64]) -> ShareSample {
        ShareSample {
            at_s,
            shares: shares.to_vec(),
        }
    }

    #[test]
    fn offers_are_read_exactly_and_tasks_fit_by_their_scarcest_kind() {
        let offer = json!([
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 8.0}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 16384.0}},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 65536.0}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 2}]}},
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.3}},
            {"name": "gpus", "scalar": {"value": "x"}}
        ]);
        let have = Amounts::of_resources(&offer);
        assert_eq!(have, Amounts::new(8.3, 16384.0, 65536.0));
        let task = Amounts::new(0.01, 1.0, 0.0);
        // 8.3 cpus hold exactly 830 tasks of 0.01, with no rounding loss.
        assert_eq!(fits(have, task), 830);
        assert_eq!(fits(have, Amounts::new(0.01, 100.0, 0.0)), 163);
        assert_eq!(fits(have, Amounts::default()), 0);
        assert_eq!(fits(Amounts::default(), task), 0);
        assert_eq!(Amounts::of_resources(&json!("nope")), Amounts::default());
        assert_eq!(have.minus(task.times(830)).cpus, 0);
        assert_eq!(task.times(3).plus(task), task.times(4));
    }

    #[test]
    fn the_dominant_share_is_the_largest_fraction_of_the_cluster() {
        let total = Amounts::new(100.0, 1000.0, 0.0);
        assert_eq!(dominant_share(Amounts::new(10.0, 500.0, 5.0), total), 0.5);
        assert_eq!(dominant_share(Amounts::new(25.0, 10.0, 0.0), total), 0.25);
        assert_eq!(dominant_share(Amounts::default(), Amounts::default()), 0.0);
    }

    #[test]
    fn the_gap_is_read_at_and_after_a_time() {
        let samples = [
            sample(1.0, &[0.4, 0.0]),
            sample(2.0, &[0.3, 0.2]),
            sample(10.2, &[0.5, 0.48]),
            sample(11.1, &[0.5, 0.45]),
            sample(12.0, &[0.5, 0.5]),
        ];
        assert_eq!(samples[0].gap(), 0.4);
        let (at, worst) = gap_from(&samples, 10.0).unwrap();
        assert!((at - 0.02).abs() < 1e-9, "{at}");
        assert!((worst - 0.05).abs() < 1e-9, "{worst}");
        assert_eq!(gap_from(&samples, 20.0), None);
        assert_eq!(sample(0.0, &[0.7]).gap(), 0.0);
    }

    #[test]
    fn rates_and_memory_per_task() {
        assert_eq!(rate(10_000, 2.0), Some(5_000.0));
        assert_eq!(rate(10, 0.0), None);
        assert_eq!(kib_per_task(1_000, 11_000, 10_000), Some(1.0));
        assert_eq!(kib_per_task(2_000, 1_000, 1_000), Some(-1.0));
        assert_eq!(kib_per_task(1, 2, 0), None);
    }
}
