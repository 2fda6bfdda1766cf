//! One task inside a built-in executor, decided without I/O: its phase
//! from start to end, how a kill proceeds (SIGTERM to its process group,
//! TASK_KILLING first if the framework takes it, SIGKILL after the grace
//! period; a later kill can only shorten that period; a kill while it is
//! still starting waits for it to run), the command it starts with and
//! the state it ends in.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mesoraft_proto::mesos::v1::{TaskInfo, TaskState};

use super::session::Session;
use super::vocab::{Action, Launch, Now, Signal, TaskExit, Timer};

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Asked the shell to start it.
    Starting,
    Running,
    Killing {
        since: Instant,
        deadline: Instant,
    },
    Terminated,
}

#[derive(Debug, Clone)]
pub struct TaskRun {
    pub info: TaskInfo,
    pub phase: Phase,
    /// A kill reached it: it ends TASK_KILLED.
    pub killed: bool,
    /// The agent acknowledged one of its updates, so it knows the task.
    pub acknowledged: bool,
    /// A kill that arrived while the task was starting.
    pub pending_kill: Option<Duration>,
}

impl TaskRun {
    pub fn new(info: TaskInfo) -> Self {
        TaskRun {
            info,
            phase: Phase::Starting,
            killed: false,
            acknowledged: false,
            pending_kill: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.info.task_id.value
    }

    pub fn is_terminated(&self) -> bool {
        self.phase == Phase::Terminated
    }

    /// What to start for it, or why it cannot start: the task's command
    /// as the command's user, else the framework's.
    pub fn launch(
        &self,
        framework_user: Option<&str>,
        sandbox: Option<PathBuf>,
    ) -> Result<Launch, String> {
        let command = self
            .info
            .command
            .clone()
            .filter(|c| c.value.as_deref().is_some_and(|v| !v.is_empty()))
            .ok_or("the task has no command to run (CommandInfo.value is missing)")?;
        let user = command
            .user
            .clone()
            .or_else(|| framework_user.map(str::to_string))
            .filter(|u| !u.is_empty());
        Ok(Launch {
            task_id: self.info.task_id.clone(),
            command,
            user,
            sandbox,
        })
    }

    /// The process runs: the kill that waited for it, if any.
    pub fn started(&mut self) -> Option<Duration> {
        if self.phase != Phase::Starting {
            return None;
        }
        self.phase = Phase::Running;
        self.pending_kill.take()
    }

    /// The process ended: the state its terminal update reports (`None`
    /// if it had ended already).
    pub fn exited(&mut self, exit: &TaskExit) -> Option<TaskState> {
        if self.is_terminated() {
            return None;
        }
        self.phase = Phase::Terminated;
        Some(match exit {
            _ if self.killed => TaskState::TaskKilled,
            TaskExit::Exited(0) => TaskState::TaskFinished,
            _ => TaskState::TaskFailed,
        })
    }

    /// The escalation timer fired: SIGKILL if the kill is still on.
    pub fn escalate(&self) -> Vec<Action> {
        match self.phase {
            Phase::Killing { .. } => vec![Action::Signal(self.info.task_id.clone(), Signal::Kill)],
            _ => Vec::new(),
        }
    }
}

/// Kills `task` with `grace` before SIGKILL; updates go through `session`.
pub fn kill(session: &mut Session, task: &mut TaskRun, grace: Duration, now: Now) -> Vec<Action> {
    let timer = Timer::Escalate(task.id().to_string());
    match task.phase.clone() {
        Phase::Terminated => Vec::new(),
        Phase::Starting => {
            task.pending_kill = Some(task.pending_kill.map_or(grace, |g| g.min(grace)));
            Vec::new()
        }
        Phase::Running => {
            task.killed = true;
            task.phase = Phase::Killing {
                since: now.mono,
                deadline: now.mono + grace,
            };
            let mut actions = Vec::new();
            if session.framework_takes_killing() {
                let killing = session.status(
                    task.info.task_id.clone(),
                    TaskState::TaskKilling,
                    None,
                    None,
                    now,
                );
                actions.extend(session.forward(killing));
            }
            actions.push(Action::Signal(task.info.task_id.clone(), Signal::Term));
            actions.push(Action::StartTimer(timer, grace));
            actions
        }
        Phase::Killing { since, deadline } => {
            // Only ever shorten: a retried kill must not restart the
            // clock, a longer one must not extend it.
            let wanted = since + grace;
            if wanted >= deadline {
                return Vec::new();
            }
            let deadline = wanted.max(now.mono);
            task.phase = Phase::Killing { since, deadline };
            vec![Action::StartTimer(
                timer,
                deadline.saturating_duration_since(now.mono),
            )]
        }
    }
}

/// The grace period tasks get when the agent asks for a shutdown: leave
/// time for the terminal updates before the agent's own deadline (Mesos
/// keeps a similar margin).
pub fn shutdown_kill_grace(shutdown_grace: Duration) -> Duration {
    let margin = Duration::from_secs(2).min(shutdown_grace / 2);
    shutdown_grace - margin
}
