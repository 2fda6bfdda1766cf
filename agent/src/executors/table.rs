//! The agent's frameworks, executors and tasks, decided without I/O:
//! `step(event) -> actions` (Mesos's `Slave`, `Framework` and `Executor`
//! bookkeeping in `src/slave/slave.cpp`).
//!
//! - A task the master runs is queued (TASK_STAGING) on its executor,
//!   started if new (the command executor for a task with a command, the
//!   framework's own for a task with an ExecutorInfo, the default
//!   executor for a task group, see `groups`), and sent to the executor
//!   (LAUNCH, or one LAUNCH_GROUP per group) once it subscribes.
//! - KILL of a task not yet sent to its executor answers TASK_KILLED
//!   (REASON_TASK_KILLED_DURING_LAUNCH) at once; of a launched one goes to
//!   the executor (held until it subscribes again if it is away); of an
//!   unknown one answers TASK_LOST (TASK_DROPPED for partition-aware
//!   frameworks).
//! - An executor that ends leaves its unfinished tasks TASK_FAILED with
//!   REASON_EXECUTOR_TERMINATED (or the reason the containerizer gave,
//!   e.g. a memory limit), from SOURCE_AGENT; one of a shutting-down
//!   framework leaves no updates.
//! - Every update reaches the update manager through
//!   [`Action::StatusUpdate`]; a task is complete once the update that
//!   ended it is acknowledged ([`Event::TaskCompleted`]); an ended
//!   executor without incomplete tasks is forgotten, and so is a
//!   framework without executors.

use std::collections::BTreeMap;
use std::time::Duration;

use mesoraft_proto::agent::StatusUpdate;
use mesoraft_proto::mesos::v1::executor::{event, Event as ExecutorEvent};
use mesoraft_proto::mesos::v1::task_status::Reason;
use mesoraft_proto::mesos::v1::{
    AgentInfo, ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, Task, TaskId, TaskInfo,
    TaskState,
};

use crate::checkpoint::layout::check_id;

use super::model::{
    Action, Checkpoint, Event, ExecutorKey, LaunchSpec, Refusal, RunKey, TableTimer, Termination,
};

/// Mesos's default `--executor_registration_timeout`.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// What the table needs from outside that is not an event.
pub trait Stamps {
    /// A fresh 16-byte uuid (updates, container ids).
    fn uuid(&mut self) -> Vec<u8>;
    /// Now, in seconds since the Unix epoch.
    fn unix_secs(&self) -> f64;
}

pub use crate::task_state::is_terminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExecState {
    /// Started (or recovered), not subscribed yet.
    Registering,
    Running {
        connection: u64,
    },
    /// Subscribed once, its stream closed; a checkpointing framework's
    /// executor subscribes again.
    Disconnected,
    Terminating,
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskPhase {
    /// Waiting for the executor to subscribe.
    Queued,
    /// Sent to the executor.
    Launched,
    /// Ended; its terminal update not acknowledged yet.
    Terminated,
}

#[derive(Debug, Clone)]
pub(super) struct TaskEntry {
    pub(super) info: TaskInfo,
    pub(super) task: Task,
    pub(super) phase: TaskPhase,
    /// Launch order.
    pub(super) seq: u64,
    /// The task group it came in (the `seq` of the group's first task):
    /// launched together, killed together while queued.
    pub(super) group: Option<u64>,
    /// A kill for the executor when it subscribes again.
    pub(super) pending_kill: Option<Option<KillPolicy>>,
}

#[derive(Debug, Clone)]
pub(super) struct Executor {
    pub(super) info: ExecutorInfo,
    pub(super) container_id: String,
    pub(super) command_executor: bool,
    pub(super) state: ExecState,
    pub(super) tasks: BTreeMap<String, TaskEntry>,
    pub(super) ever_sent_task: bool,
    pub(super) pending_termination: Option<Termination>,
    pub(super) next_seq: u64,
}

#[derive(Debug, Clone)]
pub(super) struct Framework {
    pub(super) info: FrameworkInfo,
    pub(super) terminating: bool,
    pub(super) executors: BTreeMap<String, Executor>,
}

/// The agent's frameworks, executors and tasks.
pub struct Table {
    pub(super) agent: AgentInfo,
    pub(super) shutdown_grace: Duration,
    pub(super) frameworks: BTreeMap<String, Framework>,
}

impl Table {
    pub fn new(agent: AgentInfo, shutdown_grace: Duration) -> Self {
        Table {
            agent,
            shutdown_grace,
            frameworks: BTreeMap::new(),
        }
    }

    /// The agent's info (its id once registered), as executors are told.
    pub fn set_agent(&mut self, agent: AgentInfo) {
        self.agent = agent;
    }

    pub fn agent_id(&self) -> Option<&str> {
        self.agent.id.as_ref().map(|id| id.value.as_str())
    }

    pub fn step(&mut self, event: Event, stamps: &mut dyn Stamps) -> Result<Vec<Action>, Refusal> {
        match event {
            Event::RunTask { framework, task } => Ok(self.run_task(framework, task, stamps)),
            Event::RunTaskGroup {
                framework,
                executor,
                tasks,
            } => Ok(self.run_task_group(framework, executor, tasks, stamps)),
            Event::KillTask {
                framework_id,
                task_id,
                kill_policy,
            } => Ok(self.kill_task(&framework_id, &task_id, kill_policy, stamps)),
            Event::ShutdownFramework { framework_id } => Ok(self.shutdown_framework(&framework_id)),
            Event::ShutdownExecutor { executor } => Ok(self.shutdown_one_executor(&executor)),
            Event::FrameworkMessage { executor, data } => {
                Ok(self.framework_message(executor, data))
            }
            Event::Subscribe {
                executor,
                connection,
                subscribe,
            } => self.subscribe(executor, connection, subscribe, stamps),
            Event::Update { executor, status } => self.executor_update(executor, status, stamps),
            Event::ExecutorMessage { executor, data } => self.executor_message(executor, data),
            Event::Disconnected {
                executor,
                connection,
            } => Ok(self.disconnected(&executor, connection)),
            Event::LaunchFailed { run, error } => Ok(self.launch_failed(&run, error, stamps)),
            Event::ExecutorExited { run, limitation } => {
                Ok(self.executor_exited(&run, limitation, stamps))
            }
            Event::TaskCompleted {
                framework_id,
                task_id,
            } => Ok(self.task_completed(&framework_id, &task_id)),
            Event::Timer(timer) => Ok(self.timer(timer)),
        }
    }

    fn run_task(
        &mut self,
        framework_info: FrameworkInfo,
        task: TaskInfo,
        stamps: &mut dyn Stamps,
    ) -> Vec<Action> {
        let Some(framework_id) = framework_info.id.clone() else {
            tracing::warn!(task_id = %task.task_id.value, "run task without a framework id: ignored");
            return Vec::new();
        };
        let fid = framework_id.value.clone();
        // Ids name directories of the sandbox and the checkpoint.
        let ids = check_id("framework id", &fid)
            .and_then(|()| check_id("task id", &task.task_id.value))
            .and_then(|()| match &task.executor {
                Some(e) => check_id("executor id", &e.executor_id.value),
                None => Ok(()),
            });
        if let Err(problem) = ids {
            let agent_id = self.agent.id.clone().unwrap_or_default();
            let update = agent_update(
                &framework_id,
                None,
                &agent_id,
                &task.task_id,
                TaskState::TaskError,
                Reason::TaskInvalid,
                &problem,
                stamps,
            );
            return vec![status_action(update, None, None)];
        }
        if self.frameworks.get(&fid).is_some_and(|f| f.terminating) {
            tracing::warn!(framework_id = %fid, task_id = %task.task_id.value, "run task of a terminating framework: ignored");
            return Vec::new();
        }
        if self.find_task(&fid, &task.task_id.value).is_some() {
            tracing::warn!(framework_id = %fid, task_id = %task.task_id.value, "run task of a task this agent already has: ignored");
            return Vec::new();
        }
        let (executor_info, command_executor) = executor_for(&framework_id, &task);
        self.admit(
            framework_info,
            executor_info,
            command_executor,
            vec![task],
            false,
            stamps,
        )
    }

    /// Queues `tasks` on their executor (started if new) and hands them
    /// over if it runs; `group`: they are one task group, launched
    /// together. The framework has an id; every id was checked.
    fn admit(
        &mut self,
        framework_info: FrameworkInfo,
        executor_info: ExecutorInfo,
        command_executor: bool,
        tasks: Vec<TaskInfo>,
        group: bool,
        stamps: &mut dyn Stamps,
    ) -> Vec<Action> {
        let framework_id = framework_info.id.clone().unwrap_or_default();
        let fid = framework_id.value.clone();
        let mut actions = Vec::new();
        let checkpoint = framework_info.checkpoint.unwrap_or(false);
        let framework = self.frameworks.entry(fid.clone()).or_insert_with(|| {
            if checkpoint {
                actions.push(Action::Checkpoint(Checkpoint::Framework(
                    framework_info.clone(),
                )));
            }
            Framework {
                info: framework_info.clone(),
                terminating: false,
                executors: BTreeMap::new(),
            }
        });
        // The newest info wins (a failed-over scheduler may change it).
        framework.info = framework_info;

        let eid = executor_info.executor_id.value.clone();
        let key = ExecutorKey::new(&framework_id, &executor_info.executor_id);
        let agent_id = self.agent.id.clone().unwrap_or_default();

        if !framework.executors.contains_key(&eid) {
            let container_id = uuid_text(&stamps.uuid());
            let run = RunKey {
                executor: key.clone(),
                container_id: container_id.clone(),
            };
            if checkpoint {
                actions.push(Action::Checkpoint(Checkpoint::Executor {
                    run: run.clone(),
                    info: executor_info.clone(),
                    command_executor,
                }));
            }
            let limits = limits_of(
                executor_info
                    .resources
                    .iter()
                    .chain(tasks.iter().flat_map(|t| &t.resources)),
            );
            actions.push(Action::Launch(Box::new(LaunchSpec {
                run: run.clone(),
                executor: executor_info.clone(),
                framework: framework.info.clone(),
                command_executor,
                limits,
                shutdown_grace_period: grace_of_executor(&executor_info, self.shutdown_grace),
            })));
            actions.push(Action::StartTimer(
                TableTimer::Registration(run),
                REGISTRATION_TIMEOUT,
            ));
            framework.executors.insert(
                eid.clone(),
                Executor {
                    info: executor_info,
                    container_id,
                    command_executor,
                    state: ExecState::Registering,
                    tasks: BTreeMap::new(),
                    ever_sent_task: false,
                    pending_termination: None,
                    next_seq: 0,
                },
            );
        }
        let partition_aware = partition_aware(&framework.info);
        let Some(executor) = framework.executors.get_mut(&eid) else {
            return actions;
        };
        if matches!(
            executor.state,
            ExecState::Terminating | ExecState::Terminated
        ) {
            let state = if partition_aware {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            for task in &tasks {
                let update = agent_update(
                    &framework_id,
                    Some(&executor.info.executor_id),
                    &agent_id,
                    &task.task_id,
                    state,
                    Reason::ExecutorTerminated,
                    "Executor terminating",
                    stamps,
                );
                actions.push(status_action(update, None, None));
            }
            return actions;
        }
        let run = RunKey {
            executor: key.clone(),
            container_id: executor.container_id.clone(),
        };
        // A group is named by the sequence number of its first task.
        let group = group.then_some(executor.next_seq);
        for task in tasks {
            let seq = executor.next_seq;
            executor.next_seq += 1;
            let entry = TaskEntry {
                task: task_of(&task, &framework_id, &executor.info.executor_id, &agent_id),
                info: task,
                phase: TaskPhase::Queued,
                seq,
                group,
                pending_kill: None,
            };
            if checkpoint {
                actions.push(Action::Checkpoint(Checkpoint::Task {
                    run: run.clone(),
                    task: Box::new(entry.task.clone()),
                }));
            }
            executor
                .tasks
                .insert(entry.info.task_id.value.clone(), entry);
        }
        if let ExecState::Running { .. } = executor.state {
            // Further tasks for a running executor: grow its container,
            // then hand the tasks over.
            actions.push(Action::UpdateLimits {
                run,
                limits: executor_limits(executor),
            });
            actions.extend(launch_queued(&key, executor));
        }
        actions
    }

    fn kill_task(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        kill_policy: Option<KillPolicy>,
        stamps: &mut dyn Stamps,
    ) -> Vec<Action> {
        let agent_id = self.agent.id.clone().unwrap_or_default();
        let Some(framework) = self.frameworks.get_mut(&framework_id.value) else {
            tracing::warn!(framework_id = %framework_id.value, task_id = %task_id.value, "kill of a task of an unknown framework: ignored");
            return Vec::new();
        };
        if framework.terminating {
            return Vec::new();
        }
        let partition_aware = partition_aware(&framework.info);
        let found = framework
            .executors
            .iter_mut()
            .find(|(_, e)| e.tasks.contains_key(&task_id.value));
        let Some((_, executor)) = found else {
            let state = if partition_aware {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            let update = agent_update(
                framework_id,
                None,
                &agent_id,
                task_id,
                state,
                Reason::ExecutorTerminated,
                "Cannot find executor",
                stamps,
            );
            return vec![status_action(update, None, None)];
        };
        let key = ExecutorKey::new(framework_id, &executor.info.executor_id);
        let run = RunKey {
            executor: key.clone(),
            container_id: executor.container_id.clone(),
        };
        let checkpoint = framework.info.checkpoint.unwrap_or(false);
        let Some(entry) = executor.tasks.get_mut(&task_id.value) else {
            return Vec::new();
        };
        match (entry.phase, executor.state) {
            (TaskPhase::Terminated, _) => Vec::new(),
            (TaskPhase::Queued, _) => {
                // A queued task of a group takes its whole group along
                // (none of it has reached the executor).
                let doomed: Vec<String> = match entry.group {
                    Some(group) => executor
                        .tasks
                        .values()
                        .filter(|t| t.group == Some(group) && t.phase == TaskPhase::Queued)
                        .map(|t| t.info.task_id.value.clone())
                        .collect(),
                    None => vec![task_id.value.clone()],
                };
                let mut actions = Vec::new();
                for id in doomed {
                    let Some(entry) = executor.tasks.get_mut(&id) else {
                        continue;
                    };
                    let update = agent_update(
                        framework_id,
                        Some(&executor.info.executor_id),
                        &agent_id,
                        &entry.info.task_id,
                        TaskState::TaskKilled,
                        Reason::TaskKilledDuringLaunch,
                        "Killed before delivery to the executor",
                        stamps,
                    );
                    set_state(entry, &update.status);
                    entry.phase = TaskPhase::Terminated;
                    actions.push(status_action(update, checkpoint.then(|| run.clone()), None));
                }
                // MESOS-8411: an executor all of whose tasks were killed
                // before delivery would wait forever.
                let nothing_left = !executor
                    .tasks
                    .values()
                    .any(|t| t.phase != TaskPhase::Terminated);
                if !executor.ever_sent_task && nothing_left {
                    actions.extend(shutdown_executor(&key, executor, self.shutdown_grace));
                }
                actions
            }
            (TaskPhase::Launched, ExecState::Running { .. }) => vec![Action::Send {
                executor: key,
                event: Box::new(ExecutorEvent {
                    r#type: Some(event::Type::Kill as i32),
                    kill: Some(event::Kill {
                        task_id: task_id.clone(),
                        kill_policy,
                    }),
                    ..Default::default()
                }),
            }],
            (TaskPhase::Launched, ExecState::Registering | ExecState::Disconnected) => {
                entry.pending_kill = Some(kill_policy);
                Vec::new()
            }
            (TaskPhase::Launched, ExecState::Terminating | ExecState::Terminated) => Vec::new(),
        }
    }

    fn shutdown_framework(&mut self, framework_id: &FrameworkId) -> Vec<Action> {
        let Some(framework) = self.frameworks.get_mut(&framework_id.value) else {
            return Vec::new();
        };
        framework.terminating = true;
        // A terminating framework acknowledges nothing: its streams go.
        let mut actions = vec![Action::DropUpdates {
            framework_id: framework_id.clone(),
        }];
        for executor in framework.executors.values_mut() {
            let key = ExecutorKey::new(framework_id, &executor.info.executor_id);
            actions.extend(shutdown_executor(&key, executor, self.shutdown_grace));
        }
        actions.extend(self.forget_idle(&framework_id.value));
        actions
    }

    /// SHUTDOWN from the framework: as for a framework shut down, but its
    /// updates still go to the framework (it stays).
    fn shutdown_one_executor(&mut self, key: &ExecutorKey) -> Vec<Action> {
        let grace = self.shutdown_grace;
        let Some(executor) = self
            .frameworks
            .get_mut(&key.framework_id)
            .and_then(|f| f.executors.get_mut(&key.executor_id))
        else {
            tracing::warn!(executor = %key, "SHUTDOWN of an executor not here: ignored");
            return Vec::new();
        };
        shutdown_executor(key, executor, grace)
    }

    fn framework_message(&mut self, key: ExecutorKey, data: Vec<u8>) -> Vec<Action> {
        let running = self
            .executor(&key)
            .is_some_and(|e| matches!(e.state, ExecState::Running { .. }));
        if !running {
            tracing::warn!(executor = %key, "framework message for an executor not subscribed: dropped");
            return Vec::new();
        }
        vec![Action::Send {
            executor: key,
            event: Box::new(ExecutorEvent {
                r#type: Some(event::Type::Message as i32),
                message: Some(event::Message { data }),
                ..Default::default()
            }),
        }]
    }

    fn task_completed(&mut self, framework_id: &FrameworkId, task_id: &TaskId) -> Vec<Action> {
        let Some(framework) = self.frameworks.get_mut(&framework_id.value) else {
            return Vec::new();
        };
        for executor in framework.executors.values_mut() {
            if executor
                .tasks
                .get(&task_id.value)
                .is_some_and(|t| t.phase == TaskPhase::Terminated)
            {
                executor.tasks.remove(&task_id.value);
            }
        }
        self.forget_idle(&framework_id.value)
    }

    fn timer(&mut self, timer: TableTimer) -> Vec<Action> {
        match timer {
            TableTimer::ShutdownGrace(run) => match self.executor_of_run(&run) {
                Some(e) if e.state != ExecState::Terminated => vec![Action::Destroy(run)],
                _ => Vec::new(),
            },
            TableTimer::Registration(run) => match self.executor_of_run(&run) {
                Some(e) if e.state == ExecState::Registering => {
                    e.state = ExecState::Terminating;
                    e.pending_termination = Some(Termination {
                        state: TaskState::TaskFailed,
                        reason: Reason::ExecutorRegistrationTimeout,
                        message: format!(
                            "Executor did not register within {}secs",
                            REGISTRATION_TIMEOUT.as_secs()
                        ),
                    });
                    vec![Action::Destroy(run)]
                }
                _ => Vec::new(),
            },
            TableTimer::Reregistration => self.reregistration_timeout(),
        }
    }

    /// Executors recovered after a restart that did not subscribe again:
    /// killed, their tasks gone (partition-aware) or lost.
    fn reregistration_timeout(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        for (fid, framework) in self.frameworks.iter_mut() {
            let state = if partition_aware(&framework.info) {
                TaskState::TaskGone
            } else {
                TaskState::TaskLost
            };
            for (eid, executor) in framework.executors.iter_mut() {
                if executor.state != ExecState::Registering {
                    continue;
                }
                executor.state = ExecState::Terminating;
                executor.pending_termination = Some(Termination {
                    state,
                    reason: Reason::ExecutorReregistrationTimeout,
                    message: "Executor did not reregister in time".into(),
                });
                actions.push(Action::Destroy(RunKey {
                    executor: ExecutorKey {
                        framework_id: fid.clone(),
                        executor_id: eid.clone(),
                    },
                    container_id: executor.container_id.clone(),
                }));
            }
        }
        actions
    }

    /// Removes ended executors without incomplete tasks, then the
    /// framework if it has no executor left.
    fn forget_idle(&mut self, framework_id: &str) -> Vec<Action> {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return Vec::new();
        };
        let checkpoint = framework.info.checkpoint.unwrap_or(false);
        let mut actions = Vec::new();
        let done: Vec<String> = framework
            .executors
            .iter()
            .filter(|(_, e)| e.state == ExecState::Terminated && e.tasks.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        for eid in done {
            framework.executors.remove(&eid);
            if checkpoint {
                actions.push(Action::Checkpoint(Checkpoint::RemoveExecutor(
                    ExecutorKey {
                        framework_id: framework_id.to_string(),
                        executor_id: eid,
                    },
                )));
            }
        }
        if framework.executors.is_empty() {
            self.frameworks.remove(framework_id);
            if checkpoint {
                actions.push(Action::Checkpoint(Checkpoint::RemoveFramework(
                    FrameworkId {
                        value: framework_id.to_string(),
                    },
                )));
            }
        }
        actions
    }

    pub(super) fn executor(&self, key: &ExecutorKey) -> Option<&Executor> {
        self.frameworks
            .get(&key.framework_id)?
            .executors
            .get(&key.executor_id)
    }

    fn executor_of_run(&mut self, run: &RunKey) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(&run.executor.framework_id)?
            .executors
            .get_mut(&run.executor.executor_id)
            .filter(|e| e.container_id == run.container_id)
    }

    fn refusal(&self, key: &ExecutorKey) -> Refusal {
        if self.frameworks.contains_key(&key.framework_id) {
            Refusal::UnknownExecutor
        } else {
            Refusal::UnknownFramework
        }
    }

    fn find_task(&self, framework_id: &str, task_id: &str) -> Option<&TaskEntry> {
        self.frameworks
            .get(framework_id)?
            .executors
            .values()
            .find_map(|e| e.tasks.get(task_id))
    }

    /// Called as the update manager forwards `update` to the master: the
    /// task's status-update state becomes the update's, and the update
    /// carries the task's latest state (so the master can free resources
    /// of an ended task while earlier updates are still being delivered).
    pub fn forwarding(&mut self, update: &mut StatusUpdate) {
        let Some(framework) = self.frameworks.get_mut(&update.framework_id.value) else {
            return;
        };
        let task_id = &update.status.task_id.value;
        if let Some(entry) = framework
            .executors
            .values_mut()
            .find_map(|e| e.tasks.get_mut(task_id))
        {
            entry.task.status_update_state = Some(update.status.state);
            entry.task.status_update_uuid = update.uuid.clone();
            update.latest_state = Some(entry.task.state);
        }
    }

    /// What a re-registration tells the master: every task (queued ones
    /// as TASK_STAGING, ended ones until acknowledged), the executors the
    /// frameworks gave (not the generated command executors: the master
    /// does not keep those), every framework.
    pub fn reregistration(&self) -> (Vec<Task>, Vec<ExecutorInfo>, Vec<FrameworkInfo>) {
        let mut tasks = Vec::new();
        let mut executors = Vec::new();
        let mut frameworks = Vec::new();
        for framework in self.frameworks.values() {
            frameworks.push(framework.info.clone());
            for executor in framework.executors.values() {
                if !executor.command_executor {
                    executors.push(executor.info.clone());
                }
                let mut entries: Vec<&TaskEntry> = executor.tasks.values().collect();
                entries.sort_by_key(|t| t.seq);
                tasks.extend(entries.into_iter().map(|t| t.task.clone()));
            }
        }
        (tasks, executors, frameworks)
    }

    /// The framework's info, if the agent has the framework.
    pub fn framework_info(&self, framework_id: &str) -> Option<&FrameworkInfo> {
        self.frameworks.get(framework_id).map(|f| &f.info)
    }

    /// The run of every executor, for the containerizer's bookkeeping.
    pub fn runs(&self) -> Vec<RunKey> {
        let mut runs = Vec::new();
        for (fid, framework) in &self.frameworks {
            for (eid, executor) in &framework.executors {
                runs.push(RunKey {
                    executor: ExecutorKey {
                        framework_id: fid.clone(),
                        executor_id: eid.clone(),
                    },
                    container_id: executor.container_id.clone(),
                });
            }
        }
        runs
    }
}

mod executor_calls;
mod groups;
mod parts;
mod recover;

use parts::*;

#[cfg(test)]
mod tests;
