//! An executor's link to its agent, decided without I/O (Mesos's executor
//! library, `src/executor/executor.cpp`): subscribing, the updates not
//! acknowledged yet (every SUBSCRIBE carries them again), and what losing
//! the agent means: with checkpointing, subscribe again after a random
//! delay up to the backoff ceiling until the recovery timeout; without,
//! give up. Both built-in executors keep one.

use std::time::Duration;

use mesoraft_proto::mesos::v1::executor::{call, event, Call};
use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
use mesoraft_proto::mesos::v1::{
    ExecutorId, FrameworkId, FrameworkInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};

use super::vocab::{Action, Entropy, ExitReason, Now, Timer};

/// The executor's settings the decisions depend on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub subscription_backoff_max: Duration,
    pub shutdown_grace_period: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// A SUBSCRIBE is on its way; no SUBSCRIBED yet.
    Subscribing,
    Subscribed,
    /// Waiting for the next attempt.
    Disconnected,
}

/// What losing the agent means.
#[derive(Debug, Clone, PartialEq)]
pub enum Lost {
    /// Subscribed without checkpointing: the agent will not come back
    /// for this executor, which must shut down.
    GiveUp,
    /// Subscribe again; these actions start the timers for it.
    Retry(Vec<Action>),
}

/// The link to the agent and the updates it has not acknowledged.
pub struct Session {
    settings: Settings,
    link: Link,
    recovery_running: bool,
    framework: Option<FrameworkInfo>,
    /// Unacknowledged updates in the order they were made.
    unacknowledged: Vec<call::Update>,
    /// The uuids of the updates the SUBSCRIBE on its way carries. An
    /// update made after it was sent is in neither that call nor any
    /// other: SUBSCRIBED sends it.
    carried: Vec<Vec<u8>>,
    entropy: Box<dyn Entropy + Send>,
}

impl Session {
    pub fn new(settings: Settings, entropy: Box<dyn Entropy + Send>) -> Self {
        Session {
            settings,
            link: Link::Disconnected,
            recovery_running: false,
            framework: None,
            unacknowledged: Vec::new(),
            carried: Vec::new(),
            entropy,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The first actions: subscribe, and give up if the agent cannot be
    /// reached within the recovery timeout.
    pub fn start(&mut self, unacknowledged_tasks: Vec<TaskInfo>) -> Vec<Action> {
        self.recovery_running = true;
        self.link = Link::Subscribing;
        vec![
            Action::StartTimer(Timer::Recovery, self.settings.recovery_timeout),
            Action::Subscribe(self.subscribe_call(unacknowledged_tasks)),
        ]
    }

    /// SUBSCRIBED arrived: the updates made while the SUBSCRIBE was on
    /// its way are sent now, in the order they were made (the agent took
    /// the ones it carried).
    pub fn subscribed(&mut self, subscribed: event::Subscribed) -> Vec<Action> {
        self.link = Link::Subscribed;
        self.recovery_running = false;
        self.framework = Some(subscribed.framework_info);
        let carried = std::mem::take(&mut self.carried);
        let mut actions = vec![
            Action::CancelTimer(Timer::Recovery),
            Action::CancelTimer(Timer::Resubscribe),
        ];
        let made_since: Vec<call::Update> = self
            .unacknowledged
            .iter()
            .filter(|u| {
                u.status
                    .uuid
                    .as_ref()
                    .is_none_or(|id| !carried.contains(id))
            })
            .cloned()
            .collect();
        actions.extend(made_since.into_iter().map(|u| self.update_call(u)));
        actions
    }

    pub fn is_subscribed(&self) -> bool {
        self.link == Link::Subscribed
    }

    pub fn framework(&self) -> Option<&FrameworkInfo> {
        self.framework.as_ref()
    }

    /// The framework takes TASK_KILLING.
    pub fn framework_takes_killing(&self) -> bool {
        self.framework.as_ref().is_some_and(|f| {
            f.capabilities
                .iter()
                .any(|c| c.r#type() == Capability::TaskKillingState)
        })
    }

    /// The subscription failed or its stream ended.
    pub fn lost(&mut self) -> Lost {
        let was_subscribed = self.link == Link::Subscribed;
        self.link = Link::Disconnected;
        if was_subscribed && !self.settings.checkpoint {
            return Lost::GiveUp;
        }
        let mut actions = Vec::new();
        if was_subscribed && !self.recovery_running {
            self.recovery_running = true;
            actions.push(Action::StartTimer(
                Timer::Recovery,
                self.settings.recovery_timeout,
            ));
        }
        let delay = self
            .settings
            .subscription_backoff_max
            .mul_f64(self.entropy.unit().clamp(0.0, 1.0));
        actions.push(Action::StartTimer(Timer::Resubscribe, delay));
        Lost::Retry(actions)
    }

    /// The resubscribe timer fired: subscribe again if still away.
    pub fn resubscribe(&mut self, unacknowledged_tasks: Vec<TaskInfo>) -> Vec<Action> {
        if self.link != Link::Disconnected {
            return Vec::new();
        }
        self.link = Link::Subscribing;
        vec![Action::Subscribe(self.subscribe_call(unacknowledged_tasks))]
    }

    /// A timer of the session itself (every executor treats them the
    /// same); `None` for the executor's own (`Escalate`).
    pub fn timer(
        &mut self,
        timer: &Timer,
        unacknowledged_tasks: Vec<TaskInfo>,
    ) -> Option<Vec<Action>> {
        let actions = match timer {
            Timer::Escalate(_) => return None,
            Timer::Resubscribe => self.resubscribe(unacknowledged_tasks),
            Timer::Recovery if self.recovery_expired() => {
                vec![Action::Exit(ExitReason::AgentLost)]
            }
            Timer::TerminalAck if self.is_subscribed() => {
                vec![Action::Exit(ExitReason::TerminalUnacknowledged)]
            }
            Timer::Recovery | Timer::TerminalAck => Vec::new(),
        };
        Some(actions)
    }

    /// The recovery timer fired while the agent is still away.
    pub fn recovery_expired(&self) -> bool {
        self.link != Link::Subscribed && self.recovery_running
    }

    /// Records `status` as unacknowledged and sends it if subscribed;
    /// otherwise the next SUBSCRIBE carries it, or, when one is already on
    /// its way, SUBSCRIBED sends it.
    pub fn forward(&mut self, status: TaskStatus) -> Vec<Action> {
        let update = call::Update { status };
        self.unacknowledged.push(update.clone());
        if self.link != Link::Subscribed {
            return Vec::new();
        }
        vec![self.update_call(update)]
    }

    fn update_call(&self, update: call::Update) -> Action {
        Action::Send(Call {
            executor_id: self.settings.executor_id.clone(),
            framework_id: self.settings.framework_id.clone(),
            r#type: Some(call::Type::Update as i32),
            update: Some(update),
            ..Default::default()
        })
    }

    /// ACKNOWLEDGED for `uuid`: whether it acknowledged an update not
    /// acknowledged before.
    pub fn acknowledge(&mut self, uuid: &[u8]) -> bool {
        let before = self.unacknowledged.len();
        self.unacknowledged
            .retain(|u| u.status.uuid.as_deref() != Some(uuid));
        self.unacknowledged.len() != before
    }

    /// The updates not acknowledged yet (for tests and logs).
    pub fn unacknowledged_uuids(&self) -> Vec<Vec<u8>> {
        self.unacknowledged
            .iter()
            .filter_map(|u| u.status.uuid.clone())
            .collect()
    }

    /// A fresh update of this executor's.
    pub fn status(
        &mut self,
        task_id: TaskId,
        state: TaskState,
        reason: Option<Reason>,
        message: Option<String>,
        now: Now,
    ) -> TaskStatus {
        TaskStatus {
            task_id,
            state: state as i32,
            message,
            source: Some(Source::Executor as i32),
            reason: reason.map(|r| r as i32),
            executor_id: Some(self.settings.executor_id.clone()),
            timestamp: Some(now.unix_secs),
            uuid: Some(self.entropy.uuid()),
            ..Default::default()
        }
    }

    /// The SUBSCRIBE call; records which updates it carries.
    fn subscribe_call(&mut self, unacknowledged_tasks: Vec<TaskInfo>) -> Call {
        self.carried = self.unacknowledged_uuids();
        Call {
            executor_id: self.settings.executor_id.clone(),
            framework_id: self.settings.framework_id.clone(),
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                unacknowledged_tasks,
                unacknowledged_updates: self.unacknowledged.clone(),
            }),
            ..Default::default()
        }
    }
}
