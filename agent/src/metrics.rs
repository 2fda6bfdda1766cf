//! The agent's figures under Mesos's names (`slave/registered`,
//! `slave/tasks_running`, ...): `GET /metrics/snapshot` as Mesos's flat
//! JSON, `GET /metrics` as Prometheus text (`mesoraft_slave_...`). One list
//! of figures feeds both, so they never disagree. Building it is pure; the
//! counters are bumped by the runtime.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use mesoraft_proto::mesos::v1::{Resource, Task, TaskState};

/// Counters since the agent started, bumped by the runtime.
#[derive(Debug, Default)]
pub struct TaskCounters {
    /// Status updates the update manager took.
    pub valid_status_updates: AtomicU64,
    pub finished: AtomicU64,
    pub failed: AtomicU64,
    pub killed: AtomicU64,
    pub lost: AtomicU64,
    pub gone: AtomicU64,
    pub dropped: AtomicU64,
}

impl TaskCounters {
    /// A status update of `state` was taken.
    pub fn update_taken(&self, state: i32) {
        self.valid_status_updates.fetch_add(1, Ordering::Relaxed);
        let counter = match TaskState::try_from(state) {
            Ok(TaskState::TaskFinished) => &self.finished,
            Ok(TaskState::TaskFailed | TaskState::TaskError) => &self.failed,
            Ok(TaskState::TaskKilled) => &self.killed,
            Ok(TaskState::TaskLost) => &self.lost,
            Ok(TaskState::TaskGone | TaskState::TaskGoneByOperator) => &self.gone,
            Ok(TaskState::TaskDropped) => &self.dropped,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the figures are computed from.
pub struct Inputs<'a> {
    pub registered: bool,
    pub uptime_secs: f64,
    pub resources: &'a [Resource],
    /// The tasks the agent runs now (as it would re-register them).
    pub tasks: &'a [Task],
    pub counters: &'a TaskCounters,
}

/// One figure: Mesos's key, its help text, Prometheus type, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub key: &'static str,
    pub help: &'static str,
    pub kind: &'static str,
    pub value: f64,
}

fn figure(key: &'static str, help: &'static str, kind: &'static str, value: f64) -> Figure {
    Figure {
        key,
        help,
        kind,
        value,
    }
}

fn scalar_total(resources: &[Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

pub fn figures(inputs: &Inputs) -> Vec<Figure> {
    let in_state = |state: TaskState| {
        inputs
            .tasks
            .iter()
            .filter(|t| t.state == state as i32)
            .count() as f64
    };
    let executors: std::collections::BTreeSet<(&str, &str)> = inputs
        .tasks
        .iter()
        .filter_map(|t| {
            Some((
                t.framework_id.value.as_str(),
                t.executor_id.as_ref()?.value.as_str(),
            ))
        })
        .collect();
    let count = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    let c = inputs.counters;
    vec![
        figure(
            "slave/registered",
            "1 if registered with a master.",
            "gauge",
            f64::from(u8::from(inputs.registered)),
        ),
        figure(
            "slave/uptime_secs",
            "Seconds since the agent started.",
            "gauge",
            inputs.uptime_secs,
        ),
        figure(
            "slave/cpus_total",
            "CPUs the agent offers.",
            "gauge",
            scalar_total(inputs.resources, "cpus"),
        ),
        figure(
            "slave/mem_total",
            "Memory the agent offers, MB.",
            "gauge",
            scalar_total(inputs.resources, "mem"),
        ),
        figure(
            "slave/disk_total",
            "Disk the agent offers, MB.",
            "gauge",
            scalar_total(inputs.resources, "disk"),
        ),
        figure(
            "slave/executors_running",
            "Executors with unfinished tasks.",
            "gauge",
            executors.len() as f64,
        ),
        figure(
            "slave/tasks_staging",
            "Tasks waiting for their executor.",
            "gauge",
            in_state(TaskState::TaskStaging),
        ),
        figure(
            "slave/tasks_starting",
            "Tasks starting.",
            "gauge",
            in_state(TaskState::TaskStarting),
        ),
        figure(
            "slave/tasks_running",
            "Tasks running.",
            "gauge",
            in_state(TaskState::TaskRunning),
        ),
        figure(
            "slave/tasks_killing",
            "Tasks being killed.",
            "gauge",
            in_state(TaskState::TaskKilling),
        ),
        figure(
            "slave/tasks_finished",
            "Tasks finished since the agent started.",
            "counter",
            count(&c.finished),
        ),
        figure(
            "slave/tasks_failed",
            "Tasks failed (or in error) since the agent started.",
            "counter",
            count(&c.failed),
        ),
        figure(
            "slave/tasks_killed",
            "Tasks killed since the agent started.",
            "counter",
            count(&c.killed),
        ),
        figure(
            "slave/tasks_lost",
            "Tasks lost since the agent started.",
            "counter",
            count(&c.lost),
        ),
        figure(
            "slave/tasks_gone",
            "Tasks gone since the agent started.",
            "counter",
            count(&c.gone),
        ),
        figure(
            "slave/tasks_dropped",
            "Tasks dropped since the agent started.",
            "counter",
            count(&c.dropped),
        ),
        figure(
            "slave/valid_status_updates",
            "Status updates taken since the agent started.",
            "counter",
            count(&c.valid_status_updates),
        ),
    ]
}

/// Mesos's flat JSON object.
pub fn snapshot(figures: &[Figure]) -> BTreeMap<&'static str, f64> {
    figures.iter().map(|f| (f.key, f.value)).collect()
}

/// Prometheus text exposition: `slave/tasks_running` is
/// `mesoraft_slave_tasks_running`.
pub fn prometheus(figures: &[Figure]) -> String {
    let mut out = String::new();
    for f in figures {
        let name = format!("mesoraft_{}", f.key.replace('/', "_"));
        let _ = writeln!(
            out,
            "# HELP {name} {}\n# TYPE {name} {}\n{name} {}",
            f.help, f.kind, f.value
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::mesos::v1::{ExecutorId, FrameworkId, TaskId};

    fn task(id: &str, executor: &str, state: TaskState) -> Task {
        Task {
            task_id: TaskId { value: id.into() },
            framework_id: FrameworkId { value: "f".into() },
            executor_id: Some(ExecutorId {
                value: executor.into(),
            }),
            state: state as i32,
            ..Task::default()
        }
    }

    #[test]
    fn figures_count_tasks_by_state_executors_and_taken_updates() {
        let counters = TaskCounters::default();
        counters.update_taken(TaskState::TaskRunning as i32);
        counters.update_taken(TaskState::TaskFinished as i32);
        counters.update_taken(TaskState::TaskGoneByOperator as i32);
        let tasks = [
            task("a", "e1", TaskState::TaskRunning),
            task("b", "e1", TaskState::TaskRunning),
            task("c", "e2", TaskState::TaskStaging),
        ];
        let resources = [crate::resources::scalar("cpus", 2.0)];
        let figures = figures(&Inputs {
            registered: true,
            uptime_secs: 3.0,
            resources: &resources,
            tasks: &tasks,
            counters: &counters,
        });
        let snap = snapshot(&figures);
        assert_eq!(snap["slave/registered"], 1.0);
        assert_eq!(snap["slave/cpus_total"], 2.0);
        assert_eq!(snap["slave/tasks_running"], 2.0);
        assert_eq!(snap["slave/tasks_staging"], 1.0);
        assert_eq!(snap["slave/executors_running"], 2.0);
        assert_eq!(snap["slave/tasks_finished"], 1.0);
        assert_eq!(snap["slave/tasks_gone"], 1.0);
        assert_eq!(snap["slave/valid_status_updates"], 3.0);
        let text = prometheus(&figures);
        assert!(
            text.contains(
                "# TYPE mesoraft_slave_tasks_running gauge\nmesoraft_slave_tasks_running 2\n"
            ),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE").count(), snap.len());
    }
}
