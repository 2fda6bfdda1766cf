//! The default executor's decisions, without I/O. The link to the agent
//! and the unacknowledged updates are the shared [`Session`]'s, each
//! task's phases and kill the shared [`TaskRun`]'s; the shell
//! (`http_executor::run`) feeds it [`Input`]s and carries out its
//! [`Action`]s in order.
//!
//! Behaviour follows Mesos's default executor
//! (`src/launcher/default_executor.cpp`):
//! - LAUNCH_GROUP: every task of the group starts at once, each in its
//!   own process group and its own sandbox `tasks/<task_id>/` under the
//!   executor's, and reports TASK_STARTING, TASK_RUNNING, then
//!   TASK_FINISHED (exit 0), TASK_FAILED (the exit status in the message)
//!   or TASK_KILLED (after a kill); one executor may run several groups;
//! - when a task of a group ends other than TASK_FINISHED (it failed or
//!   was killed), every other task of that group is killed (Mesos's
//!   default policy, `KILL_GROUP`), each with its own kill policy;
//! - KILL kills one task: SIGTERM to its process group (TASK_KILLING
//!   first if the framework can take it), SIGKILL after the grace period
//!   (the KILL's policy, else the task's, else the executor's shutdown
//!   grace period); the rule above then takes its group;
//! - LAUNCH (a single task) is not for this executor: it shuts down;
//! - SHUTDOWN kills every task; losing the agent is the command
//!   executor's story (subscribe again with checkpointing, shut down
//!   without);
//! - exit once every task ended and every terminal update is
//!   acknowledged (or 60 s after the last one while subscribed).

use std::path::PathBuf;

use mesoraft_proto::mesos::v1::executor::{event, Event};
use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::{KillPolicy, TaskGroupInfo, TaskId, TaskInfo, TaskState};

pub use crate::http_executor::session::{Lost, Session, Settings};
use crate::http_executor::task_run::{self, shutdown_kill_grace, TaskRun};
pub use crate::http_executor::vocab::*;

/// The directory of the executor's sandbox the tasks' sandboxes are in.
pub const TASKS_DIR: &str = "tasks";

/// One task of a group.
#[derive(Debug, Clone)]
struct Member {
    run: TaskRun,
    /// Index of its group in `DefaultExecutor::groups`.
    group: usize,
    terminal_uuid: Option<Vec<u8>>,
    terminal_acknowledged: bool,
}

/// The default executor's state.
pub struct DefaultExecutor {
    session: Session,
    /// Every task in launch order.
    tasks: Vec<Member>,
    /// Per group: its tasks are being killed because one of them ended
    /// other than TASK_FINISHED.
    groups: Vec<bool>,
    shutting_down: bool,
}

impl DefaultExecutor {
    pub fn new(settings: Settings, entropy: Box<dyn Entropy + Send>) -> Self {
        DefaultExecutor {
            session: Session::new(settings, entropy),
            tasks: Vec::new(),
            groups: Vec::new(),
            shutting_down: false,
        }
    }

    /// The updates not acknowledged yet (for tests and logs).
    pub fn unacknowledged_uuids(&self) -> Vec<Vec<u8>> {
        self.session.unacknowledged_uuids()
    }

    fn member(&mut self, task_id: &str) -> Option<&mut Member> {
        self.tasks.iter_mut().find(|m| m.run.id() == task_id)
    }

    fn event(&mut self, event: Event, now: Now) -> Vec<Action> {
        use event::Type;
        match event.r#type() {
            Type::Subscribed => match event.subscribed {
                Some(subscribed) => self.subscribed(subscribed),
                None => Vec::new(),
            },
            Type::Launch => {
                // A single task goes to a command or custom executor;
                // the agent got it wrong, so stop (as Mesos's does).
                tracing::error!("LAUNCH is not supported by the default executor; shutting down");
                self.shutdown(now)
            }
            Type::LaunchGroup => match event.launch_group {
                Some(launch) => self.launch_group(launch.task_group, now),
                None => Vec::new(),
            },
            Type::Kill => match event.kill {
                Some(kill) => self.kill_event(&kill.task_id, kill.kill_policy, now),
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
        if self.awaiting_acknowledgements() {
            actions.push(Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT));
        }
        actions
    }

    fn launch_group(&mut self, group: TaskGroupInfo, now: Now) -> Vec<Action> {
        if self.shutting_down {
            tracing::warn!(
                tasks = group.tasks.len(),
                "task group while shutting down: ignored (the agent reports its tasks)"
            );
            return Vec::new();
        }
        let index = self.groups.len();
        self.groups.push(false);
        let framework_user = self.session.framework().map(|f| f.user.clone());
        let mut actions = Vec::new();
        let mut failed = Vec::new();
        for task in group.tasks {
            if let Err(problem) = self.usable_id(&task.task_id) {
                let status = self.session.status(
                    task.task_id.clone(),
                    TaskState::TaskFailed,
                    Some(Reason::TaskInvalid),
                    Some(problem),
                    now,
                );
                actions.extend(self.session.forward(status));
                continue;
            }
            let run = TaskRun::new(task);
            let sandbox = PathBuf::from(TASKS_DIR).join(run.id());
            let launch = run.launch(framework_user.as_deref(), Some(sandbox));
            let task_id = run.info.task_id.clone();
            self.tasks.push(Member {
                run,
                group: index,
                terminal_uuid: None,
                terminal_acknowledged: false,
            });
            let starting =
                self.session
                    .status(task_id.clone(), TaskState::TaskStarting, None, None, now);
            actions.extend(self.session.forward(starting));
            match launch {
                Ok(launch) => actions.push(Action::Start(launch)),
                Err(error) => failed.push((task_id, error)),
            }
        }
        // After every task of the group is known, so that the group's
        // rule reaches all of them.
        for (task_id, error) in failed {
            actions.extend(self.start_failed(&task_id, error, now));
        }
        actions
    }

    /// A task id that can name its sandbox and is not taken here.
    fn usable_id(&self, task_id: &TaskId) -> Result<(), String> {
        let id = task_id.value.as_str();
        if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\\', '\0']) {
            return Err(format!(
                "Task id {id:?} cannot name a sandbox directory (no '/', '\\', '.' or '..')"
            ));
        }
        if self.tasks.iter().any(|m| m.run.id() == id) {
            return Err(format!(
                "Task id {id:?} is already used by a task of this executor"
            ));
        }
        Ok(())
    }

    fn task_started(&mut self, task_id: &TaskId, now: Now) -> Vec<Action> {
        let Some(member) = self.member(&task_id.value) else {
            return Vec::new();
        };
        if member.run.phase != task_run::Phase::Starting {
            return Vec::new();
        }
        let pending_kill = member.run.started();
        let running = self
            .session
            .status(task_id.clone(), TaskState::TaskRunning, None, None, now);
        let mut actions = self.session.forward(running);
        if let Some(grace) = pending_kill {
            actions.extend(self.kill(&task_id.value, grace, now));
        }
        actions
    }

    fn start_failed(&mut self, task_id: &TaskId, error: String, now: Now) -> Vec<Action> {
        let Some(member) = self.member(&task_id.value) else {
            return Vec::new();
        };
        // Only a task being started can fail to start.
        if member.run.phase != task_run::Phase::Starting {
            return Vec::new();
        }
        member.run.phase = task_run::Phase::Terminated;
        let status = self.session.status(
            task_id.clone(),
            TaskState::TaskFailed,
            Some(Reason::ContainerLaunchFailed),
            Some(format!("Failed to launch the task: {error}")),
            now,
        );
        self.ended(task_id, status, now)
    }

    fn task_exited(&mut self, task_id: &TaskId, exit: TaskExit, now: Now) -> Vec<Action> {
        let Some(member) = self.member(&task_id.value) else {
            return Vec::new();
        };
        let Some(state) = member.run.exited(&exit) else {
            return Vec::new();
        };
        let status =
            self.session
                .status(task_id.clone(), state, None, Some(exit_message(&exit)), now);
        let mut actions = vec![Action::CancelTimer(Timer::Escalate(task_id.value.clone()))];
        actions.extend(self.ended(task_id, status, now));
        actions
    }

    /// A task ended with `status`: send it, apply the group's rule, and
    /// wait for the acknowledgements once nothing runs.
    fn ended(
        &mut self,
        task_id: &TaskId,
        status: mesoraft_proto::mesos::v1::TaskStatus,
        now: Now,
    ) -> Vec<Action> {
        let state = status.state();
        let uuid = status.uuid.clone();
        let Some(member) = self.member(&task_id.value) else {
            return Vec::new();
        };
        member.terminal_uuid = uuid;
        let group = member.group;
        let mut actions = self.session.forward(status);
        if state != TaskState::TaskFinished && !self.shutting_down && !self.groups[group] {
            self.groups[group] = true;
            tracing::info!(task_id = %task_id.value, ?state, "a task of the group did not finish; killing the others");
            let others: Vec<(String, Option<KillPolicy>)> = self
                .tasks
                .iter()
                .filter(|m| m.group == group && !m.run.is_terminated())
                .map(|m| (m.run.id().to_string(), m.run.info.kill_policy))
                .collect();
            for (other, policy) in others {
                let grace = grace_of(policy.as_ref())
                    .unwrap_or(self.session.settings().shutdown_grace_period);
                actions.extend(self.kill(&other, grace, now));
            }
        }
        if self.tasks.iter().all(|m| m.run.is_terminated()) {
            if self.shutting_down
                && !self.session.is_subscribed()
                && !self.session.settings().checkpoint
            {
                // Nobody can hear the updates any more.
                actions.push(Action::Exit(ExitReason::Shutdown));
            } else if self.session.is_subscribed() {
                actions.push(Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT));
            }
        }
        actions
    }

    fn kill_event(
        &mut self,
        task_id: &TaskId,
        policy: Option<KillPolicy>,
        now: Now,
    ) -> Vec<Action> {
        let default_grace = self.session.settings().shutdown_grace_period;
        let Some(member) = self.member(&task_id.value) else {
            tracing::warn!(task_id = %task_id.value, "kill of a task this executor does not have: ignored");
            return Vec::new();
        };
        let grace = grace_of(policy.as_ref())
            .or_else(|| grace_of(member.run.info.kill_policy.as_ref()))
            .unwrap_or(default_grace);
        self.kill(&task_id.value, grace, now)
    }

    fn kill(&mut self, task_id: &str, grace: std::time::Duration, now: Now) -> Vec<Action> {
        match self.tasks.iter_mut().find(|m| m.run.id() == task_id) {
            Some(member) => task_run::kill(&mut self.session, &mut member.run, grace, now),
            None => Vec::new(),
        }
    }

    fn shutdown(&mut self, now: Now) -> Vec<Action> {
        self.shutting_down = true;
        let grace = shutdown_kill_grace(self.session.settings().shutdown_grace_period);
        let running: Vec<String> = self
            .tasks
            .iter()
            .filter(|m| !m.run.is_terminated())
            .map(|m| m.run.id().to_string())
            .collect();
        if running.is_empty() && !self.awaiting_acknowledgements() {
            return vec![Action::Exit(ExitReason::Shutdown)];
        }
        running
            .iter()
            .flat_map(|id| self.kill(id, grace, now))
            .collect()
    }

    fn acknowledged(&mut self, task_id: &TaskId, uuid: &[u8]) -> Vec<Action> {
        if !self.session.acknowledge(uuid) {
            return Vec::new();
        }
        let Some(member) = self.member(&task_id.value) else {
            return Vec::new();
        };
        member.run.acknowledged = true;
        if member.terminal_uuid.as_deref() == Some(uuid) {
            member.terminal_acknowledged = true;
        }
        let done = !self.tasks.is_empty()
            && self
                .tasks
                .iter()
                .all(|m| m.run.is_terminated() && m.terminal_acknowledged);
        if !done {
            return Vec::new();
        }
        vec![
            Action::CancelTimer(Timer::TerminalAck),
            Action::Exit(if self.shutting_down {
                ExitReason::Shutdown
            } else {
                ExitReason::Done
            }),
        ]
    }

    /// Every task ended, some terminal update is not acknowledged yet.
    fn awaiting_acknowledgements(&self) -> bool {
        !self.tasks.is_empty()
            && self.tasks.iter().all(|m| m.run.is_terminated())
            && self.tasks.iter().any(|m| !m.terminal_acknowledged)
    }

    fn disconnected(&mut self, now: Now) -> Vec<Action> {
        let mut actions = vec![Action::CancelTimer(Timer::TerminalAck)];
        match self.session.lost() {
            Lost::GiveUp => {
                // Nothing will come back for a framework without
                // checkpointing: the agent is gone for good.
                if self.tasks.iter().all(|m| m.run.is_terminated()) {
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
        if let Timer::Escalate(task_id) = &timer {
            return self
                .tasks
                .iter()
                .find(|m| m.run.id() == task_id)
                .map(|m| m.run.escalate())
                .unwrap_or_default();
        }
        let unacknowledged = self.unacknowledged_tasks();
        self.session
            .timer(&timer, unacknowledged)
            .unwrap_or_default()
    }

    /// The tasks none of whose updates the agent acknowledged yet.
    fn unacknowledged_tasks(&self) -> Vec<TaskInfo> {
        self.tasks
            .iter()
            .filter(|m| !m.run.acknowledged)
            .map(|m| m.run.info.clone())
            .collect()
    }
}

impl ExecutorCore for DefaultExecutor {
    fn start(&mut self) -> Vec<Action> {
        let tasks = self.unacknowledged_tasks();
        self.session.start(tasks)
    }

    fn step(&mut self, input: Input, now: Now) -> Vec<Action> {
        match input {
            Input::Disconnected { .. } => self.disconnected(now),
            Input::Event(event) => self.event(*event, now),
            Input::TaskStarted(task_id) => self.task_started(&task_id, now),
            Input::StartFailed { task_id, error } => self.start_failed(&task_id, error, now),
            Input::TaskExited(task_id, exit) => self.task_exited(&task_id, exit, now),
            Input::TimerFired(timer) => self.timer(timer),
        }
    }
}

#[cfg(test)]
mod tests;
