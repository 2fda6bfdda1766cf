//! The command executor's decisions, without I/O: when to start, signal
//! and give up on the task, and when to exit. The link to the agent and
//! the unacknowledged updates are the shared [`Session`]'s; the shell
//! (`http_executor::run`) feeds it [`Input`]s and carries out its
//! [`Action`]s in order.
//!
//! Behaviour follows Mesos's command executor (`src/launcher/executor.cpp`)
//! and its executor library (`src/executor/executor.cpp`):
//! - one task per executor; TASK_STARTING before the command starts,
//!   TASK_RUNNING once it runs, then TASK_FINISHED (exit 0), TASK_FAILED
//!   (the exit status in the message) or TASK_KILLED (after a kill);
//! - every update gets a fresh uuid and stays unacknowledged until the
//!   agent's ACKNOWLEDGED; a SUBSCRIBE carries every unacknowledged update,
//!   and the task until any of its updates was acknowledged;
//! - KILL: SIGTERM to the task's process group (TASK_KILLING first if the
//!   framework can take it), SIGKILL after the grace period (the KILL's
//!   policy, else the task's, else the executor's shutdown grace period);
//!   a later KILL can only shorten the grace period;
//! - losing the agent: with checkpointing, subscribe again after a random
//!   delay up to the backoff ceiling until the recovery timeout; without,
//!   shut down;
//! - exit once the terminal update is acknowledged (or, Mesos's fail-safe,
//!   60 s after sending it while subscribed).

use std::time::Duration;

use mesoraft_proto::mesos::v1::executor::{event, Event};
use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::{KillPolicy, TaskId, TaskInfo, TaskState, TaskStatus};

pub use crate::http_executor::session::{Lost, Session, Settings};
use crate::http_executor::task_run::{self, shutdown_kill_grace, TaskRun};
pub use crate::http_executor::vocab::*;

/// The command executor's state.
pub struct CommandExecutor {
    session: Session,
    task: Option<TaskRun>,
    terminal_uuid: Option<Vec<u8>>,
    shutting_down: bool,
}

impl CommandExecutor {
    pub fn new(settings: Settings, entropy: Box<dyn Entropy + Send>) -> Self {
        CommandExecutor {
            session: Session::new(settings, entropy),
            task: None,
            terminal_uuid: None,
            shutting_down: false,
        }
    }

    /// The updates not acknowledged yet (for tests and logs).
    pub fn unacknowledged_uuids(&self) -> Vec<Vec<u8>> {
        self.session.unacknowledged_uuids()
    }

    fn event(&mut self, event: Event, now: Now) -> Vec<Action> {
        use event::Type;
        match event.r#type() {
            Type::Subscribed => match event.subscribed {
                Some(subscribed) => self.subscribed(subscribed),
                None => Vec::new(),
            },
            Type::Launch => match event.launch {
                Some(launch) => self.launch(launch.task, now),
                None => Vec::new(),
            },
            Type::LaunchGroup => {
                // Task groups go to the default executor, never here.
                vec![Action::Exit(ExitReason::Unsupported(
                    "LAUNCH_GROUP is not supported by the command executor".into(),
                ))]
            }
            Type::Kill => match event.kill {
                Some(kill) => self.kill_event(kill.task_id, kill.kill_policy, now),
                None => Vec::new(),
            },
            Type::Acknowledged => match event.acknowledged {
                Some(ack) => self.acknowledged(&ack.task_id, &ack.uuid),
                None => Vec::new(),
            },
            Type::Shutdown => self.shutdown(now),
            Type::Message | Type::Error | Type::Heartbeat | Type::Unknown => Vec::new(),
        }
    }

    fn subscribed(&mut self, subscribed: event::Subscribed) -> Vec<Action> {
        let mut actions = self.session.subscribed(subscribed);
        if self.terminal_uuid.is_some() {
            actions.push(Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT));
        }
        actions
    }

    fn launch(&mut self, task: TaskInfo, now: Now) -> Vec<Action> {
        if self.task.is_some() {
            let status = self.session.status(
                task.task_id.clone(),
                TaskState::TaskFailed,
                None,
                Some("Attempted to run multiple tasks using a \"command\" executor".into()),
                now,
            );
            return self.session.forward(status);
        }
        let run = TaskRun::new(task);
        let task_id = run.info.task_id.clone();
        let framework_user = self.session.framework().map(|f| f.user.clone());
        let launch = run.launch(framework_user.as_deref(), None);
        self.task = Some(run);
        let starting =
            self.session
                .status(task_id.clone(), TaskState::TaskStarting, None, None, now);
        let mut actions = self.session.forward(starting);
        match launch {
            Ok(launch) => actions.push(Action::Start(launch)),
            Err(error) => actions.extend(self.start_failed(error, now)),
        }
        actions
    }

    fn task_started(&mut self, now: Now) -> Vec<Action> {
        let Some(task) = self.task.as_mut() else {
            return Vec::new();
        };
        if task.phase != task_run::Phase::Starting {
            return Vec::new();
        }
        let pending_kill = task.started();
        let task_id = task.info.task_id.clone();
        let running = self
            .session
            .status(task_id.clone(), TaskState::TaskRunning, None, None, now);
        let mut actions = self.session.forward(running);
        if let Some(grace) = pending_kill {
            actions.extend(self.kill(&task_id, grace, now));
        }
        actions
    }

    fn start_failed(&mut self, error: String, now: Now) -> Vec<Action> {
        let Some(task) = self.task.as_mut() else {
            return Vec::new();
        };
        task.phase = task_run::Phase::Terminated;
        let task_id = task.info.task_id.clone();
        let failed = self.session.status(
            task_id,
            TaskState::TaskFailed,
            Some(Reason::CommandExecutorFailed),
            Some(format!("Failed to launch the command: {error}")),
            now,
        );
        self.terminal(failed)
    }

    fn kill_event(&mut self, task_id: TaskId, policy: Option<KillPolicy>, now: Now) -> Vec<Action> {
        let Some(task) = self.task.as_ref() else {
            // Mesos's command executor terminates on a kill before any
            // launch (MESOS-8297): there is nothing it could ever run.
            return vec![Action::Exit(ExitReason::Shutdown)];
        };
        let grace = grace_of(policy.as_ref())
            .or_else(|| grace_of(task.info.kill_policy.as_ref()))
            .unwrap_or(self.session.settings().shutdown_grace_period);
        self.kill(&task_id, grace, now)
    }

    fn kill(&mut self, task_id: &TaskId, grace: Duration, now: Now) -> Vec<Action> {
        match self.task.as_mut() {
            Some(task) if &task.info.task_id == task_id => {
                task_run::kill(&mut self.session, task, grace, now)
            }
            _ => Vec::new(),
        }
    }

    fn shutdown(&mut self, now: Now) -> Vec<Action> {
        self.shutting_down = true;
        let grace = shutdown_kill_grace(self.session.settings().shutdown_grace_period);
        match self.task.as_ref() {
            Some(task) if !task.is_terminated() => {
                let task_id = task.info.task_id.clone();
                self.kill(&task_id, grace, now)
            }
            Some(_) if self.terminal_uuid.is_some() => Vec::new(),
            _ => vec![Action::Exit(ExitReason::Shutdown)],
        }
    }

    fn task_exited(&mut self, exit: TaskExit, now: Now) -> Vec<Action> {
        let Some(task) = self.task.as_mut() else {
            return Vec::new();
        };
        let Some(state) = task.exited(&exit) else {
            return Vec::new();
        };
        let task_id = task.info.task_id.clone();
        let status =
            self.session
                .status(task_id.clone(), state, None, Some(exit_message(&exit)), now);
        let mut actions = vec![Action::CancelTimer(Timer::Escalate(task_id.value))];
        actions.extend(self.terminal(status));
        actions
    }

    /// Sends a terminal update; after it the executor only waits for its
    /// acknowledgement (or exits at once when no agent can hear it).
    fn terminal(&mut self, status: TaskStatus) -> Vec<Action> {
        self.terminal_uuid = status.uuid.clone();
        let mut actions = self.session.forward(status);
        let subscribed = self.session.is_subscribed();
        if self.shutting_down && !subscribed && !self.session.settings().checkpoint {
            actions.push(Action::Exit(ExitReason::Shutdown));
        } else if subscribed {
            actions.push(Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT));
        }
        actions
    }

    fn acknowledged(&mut self, task_id: &TaskId, uuid: &[u8]) -> Vec<Action> {
        if !self.session.acknowledge(uuid) {
            return Vec::new();
        }
        if let Some(task) = self.task.as_mut().filter(|t| &t.info.task_id == task_id) {
            task.acknowledged = true;
        }
        if self.terminal_uuid.as_deref() == Some(uuid) {
            return vec![
                Action::CancelTimer(Timer::TerminalAck),
                Action::Exit(if self.shutting_down {
                    ExitReason::Shutdown
                } else {
                    ExitReason::Done
                }),
            ];
        }
        Vec::new()
    }

    fn disconnected(&mut self, now: Now) -> Vec<Action> {
        let mut actions = vec![Action::CancelTimer(Timer::TerminalAck)];
        match self.session.lost() {
            Lost::GiveUp => {
                // Nothing will come back for a framework without
                // checkpointing: the agent is gone for good.
                let idle = self.task.as_ref().is_none_or(TaskRun::is_terminated);
                if idle {
                    actions.push(Action::Exit(ExitReason::AgentLost));
                } else {
                    actions.extend(self.shutdown(now));
                }
            }
            Lost::Retry(retry) => actions.extend(retry),
        }
        actions
    }

    fn timer(&mut self, timer: Timer) -> Vec<Action> {
        if let Timer::Escalate(_) = timer {
            return self
                .task
                .as_ref()
                .map(TaskRun::escalate)
                .unwrap_or_default();
        }
        let unacknowledged = self.unacknowledged_tasks();
        self.session
            .timer(&timer, unacknowledged)
            .unwrap_or_default()
    }

    /// The task, until the agent acknowledged any of its updates.
    fn unacknowledged_tasks(&self) -> Vec<TaskInfo> {
        self.task
            .iter()
            .filter(|t| !t.acknowledged)
            .map(|t| t.info.clone())
            .collect()
    }
}

impl ExecutorCore for CommandExecutor {
    /// Subscribe, and give up if the agent cannot be reached within the
    /// recovery timeout.
    fn start(&mut self) -> Vec<Action> {
        let tasks = self.unacknowledged_tasks();
        self.session.start(tasks)
    }

    fn step(&mut self, input: Input, now: Now) -> Vec<Action> {
        match input {
            Input::Disconnected { .. } => self.disconnected(now),
            Input::Event(event) => self.event(*event, now),
            Input::TaskStarted(_) => self.task_started(now),
            Input::StartFailed { error, .. } => self.start_failed(error, now),
            Input::TaskExited(_, exit) => self.task_exited(exit, now),
            Input::TimerFired(timer) => self.timer(timer),
        }
    }
}

#[cfg(test)]
mod tests;
