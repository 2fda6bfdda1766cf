//! The master's figures under Mesos's names (`master/metrics.cpp`), for
//! `/metrics/snapshot` (Mesos's flat JSON) and Prometheus `/metrics` (the
//! same figures, `/` spelled `_`, under `mesoraft_`). One list feeds
//! both, so they cannot disagree. Pure: the leader's counts come in.

use std::collections::BTreeMap;

use mesoraft_proto::mesos::v1::TaskState;

use crate::agents::table::AgentCounts;
use crate::frameworks::FrameworkCounts;
use crate::tasks::table::TaskCounts;

/// What the leader's driver publishes for status and metrics (at most
/// `COUNTS_MAX_AGE` old).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeaderCounts {
    pub agents: AgentCounts,
    pub frameworks: FrameworkCounts,
    pub tasks: TaskCounts,
    pub outstanding_offers: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// Counts since this leader's term began (Mesos's counters count
    /// since its process started; a standby shows zero in both).
    Counter,
}

impl Kind {
    fn prometheus(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One figure: its Mesos name, what it means, its value (Mesos's figures
/// are doubles; so are these).
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub value: f64,
}

/// The live task states Mesos shows as gauges.
const LIVE_TASK_STATES: [(&str, &str, TaskState); 5] = [
    (
        "master/tasks_staging",
        "Tasks launched, not started yet.",
        TaskState::TaskStaging,
    ),
    (
        "master/tasks_starting",
        "Tasks starting.",
        TaskState::TaskStarting,
    ),
    (
        "master/tasks_running",
        "Tasks running.",
        TaskState::TaskRunning,
    ),
    (
        "master/tasks_killing",
        "Tasks being killed.",
        TaskState::TaskKilling,
    ),
    (
        "master/tasks_unreachable",
        "Tasks on unreachable agents (partition-aware frameworks).",
        TaskState::TaskUnreachable,
    ),
];

/// The terminal task states Mesos counts.
const ENDED_TASK_STATES: [(&str, &str, TaskState); 8] = [
    (
        "master/tasks_finished",
        "Tasks that finished.",
        TaskState::TaskFinished,
    ),
    (
        "master/tasks_failed",
        "Tasks that failed.",
        TaskState::TaskFailed,
    ),
    (
        "master/tasks_killed",
        "Tasks that were killed.",
        TaskState::TaskKilled,
    ),
    (
        "master/tasks_lost",
        "Tasks that were lost.",
        TaskState::TaskLost,
    ),
    (
        "master/tasks_error",
        "Tasks refused as invalid.",
        TaskState::TaskError,
    ),
    (
        "master/tasks_dropped",
        "Tasks dropped before they ran.",
        TaskState::TaskDropped,
    ),
    (
        "master/tasks_gone",
        "Tasks gone with their agent.",
        TaskState::TaskGone,
    ),
    (
        "master/tasks_gone_by_operator",
        "Tasks of agents an operator marked gone.",
        TaskState::TaskGoneByOperator,
    ),
];

/// Every figure. `counts` is the leader's (None on a master that does
/// not lead: its leader figures are zero, as on a Mesos standby).
pub fn figures(elected: bool, uptime_secs: f64, counts: Option<&LeaderCounts>) -> Vec<Figure> {
    let default = LeaderCounts::default();
    let c = counts.unwrap_or(&default);
    let (a, f, t) = (&c.agents, &c.frameworks, &c.tasks);
    let gauge = |name, help, value: f64| Figure {
        name,
        help,
        kind: Kind::Gauge,
        value,
    };
    let counter = |name, help, value: f64| Figure {
        name,
        help,
        kind: Kind::Counter,
        value,
    };
    let mut out = vec![
        gauge("master/elected", "1 if this master leads.", flag(elected)),
        gauge(
            "master/uptime_secs",
            "Seconds since this master started.",
            uptime_secs,
        ),
        // Disconnected agents are deactivated, as in Mesos: the connected
        // ones are the active ones.
        gauge(
            "master/slaves_active",
            "Registered agents with an open session.",
            a.registered as f64,
        ),
        gauge(
            "master/slaves_connected",
            "Registered agents with an open session.",
            a.registered as f64,
        ),
        gauge(
            "master/slaves_disconnected",
            "Registered agents whose session broke.",
            a.disconnected as f64,
        ),
        gauge(
            "master/slaves_inactive",
            "Registered agents that are not active.",
            a.disconnected as f64,
        ),
        gauge(
            "master/slaves_unreachable",
            "Agents marked unreachable.",
            a.unreachable as f64,
        ),
        gauge(
            "master/slaves_recovered",
            "Agents admitted before this term, not back yet.",
            a.recovered as f64,
        ),
        counter(
            "master/slave_unreachable_completed",
            "Agents this leader marked unreachable.",
            a.marked_unreachable as f64,
        ),
        counter(
            "master/recovery_slave_removals",
            "Recovered agents marked unreachable after the re-register timeout.",
            a.recovery_removals as f64,
        ),
        gauge(
            "master/recovery_agent_removals_refused",
            "Recovered agents the recovery removal limit kept from being marked unreachable.",
            a.recovery_removals_refused as f64,
        ),
        gauge(
            "master/frameworks_active",
            "Subscribed frameworks.",
            f.active as f64,
        ),
        gauge(
            "master/frameworks_connected",
            "Frameworks with an open event stream.",
            f.active as f64,
        ),
        gauge(
            "master/frameworks_disconnected",
            "Frameworks whose stream ended, within their failover timeout.",
            f.inactive as f64,
        ),
        gauge(
            "master/frameworks_inactive",
            "Frameworks whose stream ended, within their failover timeout.",
            f.inactive as f64,
        ),
        gauge(
            "master/frameworks_recovered",
            "Registered frameworks not subscribed since this term began.",
            f.recovered as f64,
        ),
        gauge(
            "master/frameworks_completed",
            "Completed framework ids the registry keeps.",
            f.completed as f64,
        ),
        gauge(
            "master/outstanding_offers",
            "Offers made and not answered yet.",
            c.outstanding_offers as f64,
        ),
    ];
    for (name, help, state) in LIVE_TASK_STATES {
        out.push(gauge(name, help, t.live_in(state) as f64));
    }
    for (name, help, state) in ENDED_TASK_STATES {
        out.push(counter(name, help, t.ended_in(state) as f64));
    }
    out
}

fn flag(on: bool) -> f64 {
    if on {
        1.0
    } else {
        0.0
    }
}

/// `/metrics/snapshot`: name -> value.
pub fn snapshot(figures: &[Figure]) -> BTreeMap<&'static str, f64> {
    figures.iter().map(|f| (f.name, f.value)).collect()
}

/// The Prometheus exposition of `figures`.
pub fn prometheus(figures: &[Figure]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for f in figures {
        let name = prometheus_name(f.name);
        let _ = writeln!(
            out,
            "# HELP {name} {}\n# TYPE {name} {}\n{name} {}",
            f.help,
            f.kind.prometheus(),
            f.value
        );
    }
    out
}

fn prometheus_name(mesos_name: &str) -> String {
    format!("mesoraft_{}", mesos_name.replace('/', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader_counts() -> LeaderCounts {
        let mut tasks = TaskCounts::default();
        tasks.live.insert(TaskState::TaskRunning, 7);
        tasks.live.insert(TaskState::TaskUnreachable, 2);
        tasks.ended.insert(TaskState::TaskFinished, 40);
        tasks.ended.insert(TaskState::TaskGoneByOperator, 1);
        LeaderCounts {
            agents: AgentCounts {
                registered: 12,
                recovered: 3,
                disconnected: 1,
                unreachable: 2,
                gone: 4,
                recovery_removals_refused: 5,
                marked_unreachable: 6,
                recovery_removals: 2,
            },
            frameworks: FrameworkCounts {
                active: 3,
                subscribing: 1,
                inactive: 2,
                recovered: 1,
                removing: 0,
                completed: 9,
            },
            tasks,
            outstanding_offers: 11,
        }
    }

    #[test]
    fn the_snapshot_uses_mesos_names() {
        let counts = leader_counts();
        let snapshot = snapshot(&figures(true, 7.5, Some(&counts)));
        let expected = [
            ("master/elected", 1.0),
            ("master/uptime_secs", 7.5),
            ("master/slaves_active", 12.0),
            ("master/slaves_disconnected", 1.0),
            ("master/slaves_unreachable", 2.0),
            ("master/slaves_recovered", 3.0),
            ("master/slave_unreachable_completed", 6.0),
            ("master/recovery_slave_removals", 2.0),
            ("master/recovery_agent_removals_refused", 5.0),
            ("master/frameworks_active", 3.0),
            ("master/frameworks_connected", 3.0),
            ("master/frameworks_disconnected", 2.0),
            ("master/frameworks_inactive", 2.0),
            ("master/outstanding_offers", 11.0),
            ("master/tasks_running", 7.0),
            ("master/tasks_unreachable", 2.0),
            ("master/tasks_staging", 0.0),
            ("master/tasks_finished", 40.0),
            ("master/tasks_gone_by_operator", 1.0),
            ("master/tasks_lost", 0.0),
        ];
        for (name, value) in expected {
            assert_eq!(snapshot.get(name), Some(&value), "{name}");
        }
    }

    #[test]
    fn a_standby_shows_zero_leader_figures() {
        let snapshot = snapshot(&figures(false, 1.0, None));
        assert_eq!(snapshot["master/elected"], 0.0);
        assert_eq!(snapshot["master/uptime_secs"], 1.0);
        assert_eq!(snapshot["master/slaves_active"], 0.0);
        assert_eq!(snapshot["master/tasks_running"], 0.0);
    }

    #[test]
    fn prometheus_carries_every_figure_once_with_its_type() {
        let figures = figures(true, 1.0, Some(&leader_counts()));
        let text = prometheus(&figures);
        for f in &figures {
            let name = prometheus_name(f.name);
            assert!(text.contains(&format!("\n{name} {}\n", f.value)), "{name}");
            let kind = f.kind.prometheus();
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
        }
        let names = snapshot(&figures).len();
        assert_eq!(names, figures.len(), "a name appears twice");
        assert_eq!(text.matches("# TYPE ").count(), figures.len());
    }
}
