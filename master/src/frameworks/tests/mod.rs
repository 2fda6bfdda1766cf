//! The framework table driven by hand: events in, actions out, a clock
//! moved by the tests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mesoraft_proto::mesos::v1::{FrameworkId, FrameworkInfo};
use mesoraft_registry::{Command, FrameworkRecord, RegistryError, Response, TimeNs};

use super::*;

mod failover;
mod subscribe;
mod writes;

/// Unix ns of the fixture's start.
const BASE_NS: TimeNs = 1_000_000_000_000;
const HEARTBEAT: Duration = Duration::from_secs(15);
const GRACE: Duration = Duration::from_secs(60);
const RETRY: Duration = Duration::from_secs(1);

fn policy() -> FrameworkPolicy {
    FrameworkPolicy {
        heartbeat_interval: HEARTBEAT,
        recovery_grace: GRACE,
        write_retry_interval: RETRY,
        completed_capacity: 3,
        tick_interval: Duration::from_millis(500),
    }
}

fn fid(id: &str) -> FrameworkId {
    FrameworkId { value: id.into() }
}

/// A FrameworkInfo as a scheduler sends it.
fn info(id: Option<&str>, failover_timeout: f64) -> FrameworkInfo {
    FrameworkInfo {
        user: "alice".into(),
        name: "sched".into(),
        id: id.map(fid),
        failover_timeout: Some(failover_timeout),
        checkpoint: Some(true),
        principal: Some("p".into()),
        ..Default::default()
    }
}

fn record(id: &str, failover_timeout: f64, disconnected_ns: Option<TimeNs>) -> FrameworkRecord {
    FrameworkRecord {
        info: info(Some(id), failover_timeout),
        registered_ns: 1,
        disconnected_ns,
    }
}

struct Fixture {
    table: FrameworkTable,
    t0: Instant,
    elapsed: Duration,
}

impl Fixture {
    fn new() -> Self {
        Self::with(Vec::new(), &[])
    }

    fn with(frameworks: Vec<FrameworkRecord>, completed: &[&str]) -> Self {
        let t0 = Instant::now();
        let registry = RegistryFrameworks {
            cluster_id: "c".into(),
            frameworks,
            completed: completed
                .iter()
                .enumerate()
                .map(|(i, id)| (id.to_string(), i as TimeNs))
                .collect::<BTreeMap<_, _>>(),
        };
        let now = Now {
            instant: t0,
            unix_ns: BASE_NS,
        };
        Self {
            table: FrameworkTable::recover(policy(), registry, now),
            t0,
            elapsed: Duration::ZERO,
        }
    }

    fn now(&self) -> Now {
        Now {
            instant: self.t0 + self.elapsed,
            unix_ns: BASE_NS + self.elapsed.as_nanos() as TimeNs,
        }
    }

    fn step(&mut self, event: Event) -> Vec<Action> {
        let now = self.now();
        self.table.step(event, now)
    }

    /// Moves the clock on by `by`, ticking on the way as the runtime does.
    fn advance(&mut self, by: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        let end = self.elapsed + by;
        let tick = self.table.policy().tick_interval;
        while self.elapsed < end {
            self.elapsed = (self.elapsed + tick).min(end);
            out.extend(self.step(Event::Tick));
        }
        out
    }

    /// Gives every proposal in `actions` the outcome `outcome_of` says,
    /// returning what those outcomes led to.
    fn apply(
        &mut self,
        actions: &[Action],
        outcome_of: impl Fn(&Command) -> WriteOutcome,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        for action in actions {
            if let Action::Propose { write, command } = action {
                out.extend(self.step(Event::Written {
                    write: *write,
                    outcome: outcome_of(command),
                }));
            }
        }
        out
    }

    /// Applies proposals, and the proposals they lead to, until none is left.
    fn apply_all(&mut self, actions: Vec<Action>) -> Vec<Action> {
        let mut all = actions.clone();
        let mut next = self.apply(&actions, applied);
        while !proposals(&next).is_empty() {
            all.extend(next.clone());
            next = self.apply(&next, applied);
        }
        all.extend(next);
        all
    }

    fn subscribe(&mut self, stream: StreamId, info: FrameworkInfo) -> Vec<Action> {
        self.step(Event::Subscribe { stream, info })
    }

    /// Subscribes a new framework and applies its writes: its id.
    fn subscribed(&mut self, stream: StreamId, failover_timeout: f64) -> String {
        let out = self.subscribe(stream, info(None, failover_timeout));
        let out = self.apply_all(out);
        subscribed_id(&out, stream).expect("SUBSCRIBED")
    }

    fn presence(&self, id: &str) -> Option<Presence> {
        self.table.frameworks().get(id).map(|e| e.presence.clone())
    }

    fn state(&self, id: &str) -> Option<FrameworkState> {
        self.table.frameworks().get(id).map(|e| e.state())
    }
}

/// The registry's answer when a command applies.
fn applied(command: &Command) -> WriteOutcome {
    match command {
        Command::AddFramework { info, .. } => WriteOutcome::Applied(Response::FrameworkAdded {
            framework_id: info
                .id
                .as_ref()
                .map(|id| id.value.clone())
                .unwrap_or_default(),
        }),
        _ => WriteOutcome::Applied(Response::Applied),
    }
}

fn failed(maybe_applied: bool) -> impl Fn(&Command) -> WriteOutcome {
    move |_| WriteOutcome::Failed { maybe_applied }
}

fn refused(error: RegistryError) -> impl Fn(&Command) -> WriteOutcome {
    move |_| WriteOutcome::Refused(error.clone())
}

fn proposals(actions: &[Action]) -> Vec<&Command> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Propose { command, .. } => Some(command),
            _ => None,
        })
        .collect()
}

fn subscribed_id(actions: &[Action], on: StreamId) -> Option<String> {
    actions.iter().find_map(|a| match a {
        Action::Send {
            stream,
            event: SchedulerEvent::Subscribed { framework_id, .. },
        } if *stream == on => Some(framework_id.value.clone()),
        _ => None,
    })
}

fn errors_on(actions: &[Action], on: StreamId) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                stream,
                event: SchedulerEvent::Error { message },
            } if *stream == on => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn closes(actions: &[Action], on: StreamId) -> bool {
    actions.contains(&Action::Close { stream: on })
}

fn removed(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::FrameworkRemoved { framework_id } => Some(framework_id.clone()),
            _ => None,
        })
        .collect()
}

fn answers(actions: &[Action]) -> Vec<(RequestId, CallAnswer)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Answer { request, answer } => Some((*request, answer.clone())),
            _ => None,
        })
        .collect()
}

fn is_complete(command: &Command, id: &str) -> bool {
    matches!(command, Command::CompleteFramework { framework_id, .. } if framework_id.value == id)
}
