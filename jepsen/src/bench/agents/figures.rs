//! The agents bench's figures, computed without I/O from what the
//! simulators reported (one record per (re-)registration with its time)
//! and from the times the bench took itself.

use std::collections::HashMap;

use serde::Serialize;

use crate::bench::stats::Summary;

/// Unix time in nanoseconds.
pub type UnixNs = i64;

/// Width of the windows the peak rate is counted in.
pub const RATE_WINDOW_NS: i64 = 100_000_000;

/// One (re-)registration a simulator reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    /// The simulated agent's name (unique across simulators).
    pub agent: String,
    pub master: String,
    pub again: bool,
    /// When the answer arrived.
    pub at_ns: UnixNs,
    /// When the session that succeeded was opened.
    pub attempt_started_ns: UnixNs,
    /// Sessions it took since the agent was last registered.
    pub attempts: u32,
}

/// How a crowd of agents came in: after a failover (times from the kill)
/// or at the first registration (times from the simulators' start).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Arrival {
    /// Agents expected.
    pub agents: usize,
    /// Of them, those that (re-)registered after `from`.
    pub arrived: usize,
    /// Of those, the ones the named master took (the new leader).
    pub at_master: usize,
    /// `from` -> the last agent's registration, when every agent came.
    pub all_ms: Option<f64>,
    /// `from` -> the first registration.
    pub first_ms: Option<f64>,
    /// `from` -> the registration that made half (99 %) of the agents
    /// back, when that many came.
    pub half_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Registrations per second between the first and the last.
    pub mean_rate_per_s: Option<f64>,
    /// The most registrations in one 100 ms window, per second.
    pub peak_rate_per_s: Option<f64>,
    /// Session opened -> registered answer, per agent (ms): the master's
    /// queueing as the agents saw it.
    pub latency_ms: Option<Summary>,
    /// Sessions each agent needed (redirects and refusals included).
    pub attempts: Option<Summary>,
}

/// The first registration of each agent at or after `from_ns`; `master`,
/// if given, is the one whose share is counted in `at_master`.
pub fn arrival(
    registrations: &[Registration],
    from_ns: UnixNs,
    agents: usize,
    master: Option<&str>,
) -> Arrival {
    let mut first: HashMap<&str, &Registration> = HashMap::new();
    for r in registrations.iter().filter(|r| r.at_ns >= from_ns) {
        first
            .entry(r.agent.as_str())
            .and_modify(|seen| {
                if r.at_ns < seen.at_ns {
                    *seen = r;
                }
            })
            .or_insert(r);
    }
    let mut times: Vec<UnixNs> = first.values().map(|r| r.at_ns).collect();
    times.sort_unstable();
    let ms = |at: UnixNs| (at - from_ns) as f64 / 1e6;
    // The time by which `share` of all expected agents were back.
    let by_share = |share: f64| {
        let needed = ((agents as f64) * share).ceil().max(1.0) as usize;
        times.get(needed - 1).map(|at| ms(*at))
    };
    let span_s = match (times.first(), times.last()) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1e9),
        _ => None,
    };
    Arrival {
        agents,
        arrived: times.len(),
        at_master: master.map_or(0, |m| first.values().filter(|r| r.master == m).count()),
        all_ms: (times.len() >= agents && agents > 0)
            .then(|| times.last().map(|at| ms(*at)))
            .flatten(),
        first_ms: times.first().map(|at| ms(*at)),
        half_ms: by_share(0.5),
        p99_ms: by_share(0.99),
        mean_rate_per_s: span_s.map(|s| times.len().saturating_sub(1) as f64 / s),
        peak_rate_per_s: peak_per_window(&times, RATE_WINDOW_NS)
            .map(|n| n as f64 * 1e9 / RATE_WINDOW_NS as f64),
        latency_ms: Summary::of(
            &first
                .values()
                .map(|r| (r.at_ns - r.attempt_started_ns) as f64 / 1e6)
                .collect::<Vec<_>>(),
        ),
        attempts: Summary::of(
            &first
                .values()
                .map(|r| f64::from(r.attempts))
                .collect::<Vec<_>>(),
        ),
    }
}

/// The most of `sorted` times in any window of `width` (sliding).
pub fn peak_per_window(sorted: &[UnixNs], width: i64) -> Option<usize> {
    if sorted.is_empty() {
        return None;
    }
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= width {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    Some(best)
}

/// Resident memory added per agent, in KiB.
pub fn kib_per_agent(before_kib: u64, after_kib: u64, agents: usize) -> Option<f64> {
    (agents > 0).then(|| (after_kib as f64 - before_kib as f64) / agents as f64)
}

/// CPU time used over a wall-clock window, in % of one core.
pub fn cpu_pct(cpu_s_before: f64, cpu_s_after: f64, wall_s: f64) -> Option<f64> {
    (wall_s > 0.0).then(|| (cpu_s_after - cpu_s_before) / wall_s * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(agent: &str, master: &str, at_ms: i64, started_ms: i64, attempts: u32) -> Registration {
        Registration {
            agent: agent.into(),
            master: master.into(),
            again: true,
            at_ns: at_ms * 1_000_000,
            attempt_started_ns: started_ms * 1_000_000,
            attempts,
        }
    }

    #[test]
    fn a_failover_counts_each_agent_once_from_the_kill() {
        let regs = vec![
            // Before the kill: not counted.
            reg("a", "m1", 5, 4, 1),
            reg("b", "m1", 6, 5, 1),
            reg("c", "m1", 7, 6, 1),
            // After the kill at 1000 ms.
            reg("a", "m2", 1_200, 1_190, 2),
            reg("b", "m2", 1_500, 1_450, 1),
            // Registered twice after the kill: the first one counts.
            reg("a", "m2", 1_900, 1_899, 1),
            reg("c", "m3", 2_000, 1_000, 4),
        ];
        let f = arrival(&regs, 1_000 * 1_000_000, 3, Some("m2"));
        assert_eq!((f.arrived, f.at_master), (3, 2));
        assert_eq!(f.first_ms, Some(200.0));
        assert_eq!(f.all_ms, Some(1_000.0));
        assert_eq!(f.half_ms, Some(500.0));
        assert_eq!(f.p99_ms, Some(1_000.0));
        // Three arrivals over 800 ms: two intervals.
        assert_eq!(f.mean_rate_per_s, Some(2.0 / 0.8));
        assert_eq!(f.peak_rate_per_s, Some(10.0));
        let latency = f.latency_ms.unwrap();
        assert_eq!((latency.min, latency.max), (10.0, 1_000.0));
        assert_eq!(f.attempts.unwrap().max, 4.0);
    }

    #[test]
    fn an_agent_that_never_came_back_leaves_the_total_open() {
        let regs = vec![reg("a", "m2", 1_100, 1_050, 1)];
        let f = arrival(&regs, 1_000 * 1_000_000, 2, Some("m2"));
        assert_eq!((f.arrived, f.all_ms), (1, None));
        assert_eq!(f.half_ms, Some(100.0));
        assert_eq!(f.p99_ms, None);
        assert_eq!(f.mean_rate_per_s, None);
        let none = arrival(&[], 0, 5, None);
        assert_eq!(
            (none.arrived, none.first_ms, none.peak_rate_per_s),
            (0, None, None)
        );
    }

    #[test]
    fn the_peak_window_slides() {
        let ms = |v: &[i64]| v.iter().map(|m| m * 1_000_000).collect::<Vec<_>>();
        assert_eq!(
            peak_per_window(&ms(&[0, 50, 99, 100, 150]), RATE_WINDOW_NS),
            Some(3)
        );
        assert_eq!(
            peak_per_window(&ms(&[0, 200, 400]), RATE_WINDOW_NS),
            Some(1)
        );
        assert_eq!(peak_per_window(&[], RATE_WINDOW_NS), None);
    }

    #[test]
    fn memory_and_cpu_shares() {
        assert_eq!(kib_per_agent(100_000, 140_000, 10_000), Some(4.0));
        assert_eq!(kib_per_agent(100, 90, 10), Some(-1.0));
        assert_eq!(kib_per_agent(1, 2, 0), None);
        assert_eq!(cpu_pct(10.0, 10.5, 10.0), Some(5.0));
        assert_eq!(cpu_pct(1.0, 2.0, 0.0), None);
    }
}
