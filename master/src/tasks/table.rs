//! The leader's task table as a pure state machine. Launches and kills
//! are calls that may be refused; everything else is an [`Event`] whose
//! consequences come back as [`Action`]s: messages to agents and status
//! updates for frameworks. No clock (times are arguments), no I/O.
//!
//! A task lives in `live` from its launch (or from the re-registration
//! that brought it) until its terminal update is acknowledged or the
//! master ends it (agent gone or removed, missing on its agent); then it
//! moves to `completed`, which keeps the latest [`COMPLETED_TASKS_KEPT`].
//! Tasks of an unreachable agent stay live, in their UNREACHABLE (or LOST)
//! state, because the agent may come back with them (SPEC 3).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use mesoraft_proto::agent::{
    master_to_agent, KillTaskMessage, RunTaskGroupMessage, RunTaskMessage, StatusUpdate,
    StatusUpdateAcknowledgementMessage,
};
use mesoraft_proto::mesos::v1::{
    AgentId, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Resource, Task, TaskGroupInfo,
    TaskId, TaskInfo, TaskState, TaskStatus,
};
use mesoraft_registry::TimeNs;

use super::launch::{self, KillError, LaunchError};
use super::status::{is_terminal, master_update, MasterReason};

/// How many ended tasks the master remembers for the operator views.
pub const COMPLETED_TASKS_KEPT: usize = 1000;
/// How many statuses a task keeps (the latest); a health check flapping
/// for days must not grow the leader without bound.
pub const STATUSES_KEPT: usize = 100;

/// (framework id, task id): task ids are unique within a framework.
pub type TaskKey = (String, String);

/// Why an agent left the leader's set of registered agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Departure {
    /// Marked unreachable (replicated) at `since_ns`.
    Unreachable { since_ns: TimeNs },
    /// Marked gone by the operator (replicated).
    Gone,
    /// Unregistered itself (replicated).
    Removed,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once into `step`
pub enum Event {
    /// A registered agent forwarded a status update.
    Update {
        agent_id: String,
        update: StatusUpdate,
    },
    /// A framework acknowledged the update `uuid` of a task.
    Acknowledged {
        agent_id: String,
        framework_id: String,
        task_id: String,
        uuid: Vec<u8>,
    },
    /// An agent re-registration was accepted, with what it runs.
    AgentReregistered {
        agent_id: String,
        tasks: Vec<Task>,
        frameworks: Vec<FrameworkInfo>,
        /// It was unreachable in the registry when it came back.
        was_unreachable: bool,
    },
    AgentDeparted {
        agent_id: String,
        departure: Departure,
    },
    /// The framework was completed in the registry: its live tasks end
    /// here (TASK_KILLED, as Mesos's master records them), since its
    /// agents drop the updates of a framework they shut down.
    FrameworkRemoved { framework_id: String },
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // moved once to the shell
pub enum Action {
    /// Send on the agent's session (dropped if it has none: the agent
    /// learns the truth when it re-registers).
    ToAgent {
        agent_id: String,
        message: master_to_agent::Message,
    },
    /// A status update for a framework. `status.uuid` is set when the
    /// agent waits for an acknowledgement of it.
    ToFramework {
        framework_id: String,
        status: TaskStatus,
    },
    /// The agent reported the task's end: what it used is free again
    /// (SPEC 5: resources are freed when the latest state is terminal,
    /// before the update is acknowledged). Ends the master decides
    /// (agent unreachable, gone, task missing) come with the agent
    /// leaving or re-registering, which resets its resources as a whole.
    Released {
        agent_id: String,
        framework_id: String,
        resources: Vec<Resource>,
    },
}

/// What the operator views show.
#[derive(Clone, Debug, Default)]
pub struct TasksView {
    pub tasks: Vec<Task>,
    pub unreachable_tasks: Vec<Task>,
    pub completed_tasks: Vec<Task>,
    pub frameworks: Vec<FrameworkInfo>,
}

/// The task figures of the metrics (Mesos's `master/tasks_*`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskCounts {
    /// Live tasks by their current state.
    pub live: BTreeMap<TaskState, u64>,
    /// Tasks that ended in this leader's term, by their terminal state,
    /// counted when the leader stops keeping them live (terminal update
    /// acknowledged, or ended by the master).
    pub ended: BTreeMap<TaskState, u64>,
}

impl TaskCounts {
    pub fn live_in(&self, state: TaskState) -> u64 {
        self.live.get(&state).copied().unwrap_or(0)
    }

    pub fn ended_in(&self, state: TaskState) -> u64 {
        self.ended.get(&state).copied().unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub struct TaskTable {
    live: HashMap<TaskKey, Task>,
    by_agent: HashMap<String, BTreeSet<TaskKey>>,
    frameworks: HashMap<String, FrameworkInfo>,
    unreachable_agents: HashSet<String>,
    completed: VecDeque<Task>,
    ended: BTreeMap<TaskState, u64>,
}

fn key_of(framework_id: &str, task_id: &str) -> TaskKey {
    (framework_id.to_string(), task_id.to_string())
}

impl TaskTable {
    pub fn task(&self, framework_id: &str, task_id: &str) -> Option<&Task> {
        self.live.get(&key_of(framework_id, task_id))
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Every live task, in no particular order.
    pub fn live_tasks(&self) -> impl Iterator<Item = &Task> {
        self.live.values()
    }

    /// The live tasks of a framework (any agent, unreachable ones too).
    pub fn tasks_of_framework<'a>(
        &'a self,
        framework_id: &'a str,
    ) -> impl Iterator<Item = &'a Task> {
        self.live
            .iter()
            .filter(move |((f, _), _)| f == framework_id)
            .map(|(_, t)| t)
    }

    /// The live tasks on an agent.
    pub fn tasks_on_agent<'a>(&'a self, agent_id: &str) -> impl Iterator<Item = &'a Task> {
        self.by_agent
            .get(agent_id)
            .into_iter()
            .flatten()
            .filter_map(|key| self.live.get(key))
    }

    /// Whether the table counts `agent_id` as unreachable.
    pub fn is_agent_unreachable(&self, agent_id: &str) -> bool {
        self.unreachable_agents.contains(agent_id)
    }

    /// Sends `task` to its agent, if it may be. `agent_registered` says
    /// whether the agent has an open, registered session now.
    pub fn launch(
        &mut self,
        framework: FrameworkInfo,
        task: TaskInfo,
        agent_registered: bool,
    ) -> Result<Vec<Action>, LaunchError> {
        launch::validate(&framework, &task)?;
        let framework_id = framework.id.clone().unwrap_or_default();
        let agent_id = task.agent_id.value.clone();
        if !agent_registered {
            return Err(LaunchError::AgentNotRegistered(agent_id));
        }
        let key = key_of(&framework_id.value, &task.task_id.value);
        self.check_unused(&key)?;
        let executor_id = task.executor.as_ref().map(|e| e.executor_id.clone());
        self.insert(key, task_record(&framework, &task, executor_id));
        self.frameworks
            .insert(framework_id.value.clone(), framework.clone());
        Ok(vec![Action::ToAgent {
            agent_id,
            message: master_to_agent::Message::RunTask(RunTaskMessage {
                framework_id: Some(framework_id),
                framework,
                task,
            }),
        }])
    }

    /// Sends a task group to its agent, to run in `executor` (the
    /// framework's default executor), if it may be: all of it or nothing.
    pub fn launch_group(
        &mut self,
        framework: FrameworkInfo,
        mut executor: ExecutorInfo,
        task_group: TaskGroupInfo,
        agent_registered: bool,
    ) -> Result<Vec<Action>, LaunchError> {
        launch::validate_group(&framework, &executor, &task_group)?;
        let framework_id = framework.id.clone().unwrap_or_default();
        let agent_id = task_group.tasks[0].agent_id.value.clone();
        if !agent_registered {
            return Err(LaunchError::AgentNotRegistered(agent_id));
        }
        for task in &task_group.tasks {
            self.check_unused(&key_of(&framework_id.value, &task.task_id.value))?;
        }
        executor.framework_id = Some(framework_id.clone());
        for task in &task_group.tasks {
            let key = key_of(&framework_id.value, &task.task_id.value);
            let record = task_record(&framework, task, Some(executor.executor_id.clone()));
            self.insert(key, record);
        }
        self.frameworks
            .insert(framework_id.value.clone(), framework.clone());
        Ok(vec![Action::ToAgent {
            agent_id,
            message: master_to_agent::Message::RunTaskGroup(RunTaskGroupMessage {
                framework,
                executor,
                task_group,
            }),
        }])
    }

    /// A task id of a framework may be used again once its task ended.
    fn check_unused(&self, key: &TaskKey) -> Result<(), LaunchError> {
        if self.live.get(key).is_some_and(|t| !is_terminal(t.state)) {
            return Err(LaunchError::DuplicateTaskId {
                framework_id: key.0.clone(),
                task_id: key.1.clone(),
            });
        }
        Ok(())
    }

    /// Asks the agent of a live task to kill it.
    pub fn kill(&self, framework_id: &str, task_id: &str) -> Result<Vec<Action>, KillError> {
        let Some(task) = self.live.get(&key_of(framework_id, task_id)) else {
            return Err(KillError::UnknownTask {
                framework_id: framework_id.to_string(),
                task_id: task_id.to_string(),
            });
        };
        if is_terminal(task.state) {
            return Err(KillError::Ended {
                task_id: task_id.to_string(),
            });
        }
        Ok(vec![Action::ToAgent {
            agent_id: task.agent_id.value.clone(),
            message: master_to_agent::Message::KillTask(KillTaskMessage {
                framework_id: task.framework_id.clone(),
                task_id: task.task_id.clone(),
                kill_policy: task.kill_policy,
            }),
        }])
    }

    /// The one entry point for what happened, at `now_ns`.
    pub fn step(&mut self, event: Event, now_ns: TimeNs) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Update { agent_id, update } => self.on_update(agent_id, update, &mut out),
            Event::Acknowledged {
                agent_id,
                framework_id,
                task_id,
                uuid,
            } => self.on_acknowledged(agent_id, framework_id, task_id, uuid, &mut out),
            Event::AgentReregistered {
                agent_id,
                tasks,
                frameworks,
                was_unreachable,
            } => self.on_reregistered(
                agent_id,
                tasks,
                frameworks,
                was_unreachable,
                now_ns,
                &mut out,
            ),
            Event::AgentDeparted {
                agent_id,
                departure,
            } => self.on_departed(agent_id, departure, now_ns, &mut out),
            Event::FrameworkRemoved { framework_id } => {
                self.on_framework_removed(&framework_id, now_ns, &mut out)
            }
        }
        out
    }

    pub fn counts(&self) -> TaskCounts {
        let mut live = BTreeMap::new();
        for task in self.live.values() {
            let state = TaskState::try_from(task.state).unwrap_or(TaskState::TaskUnknown);
            *live.entry(state).or_insert(0) += 1;
        }
        TaskCounts {
            live,
            ended: self.ended.clone(),
        }
    }

    pub fn view(&self) -> TasksView {
        let mut view = TasksView::default();
        for task in self.live.values() {
            if self.unreachable_agents.contains(&task.agent_id.value) {
                view.unreachable_tasks.push(task.clone());
            } else {
                view.tasks.push(task.clone());
            }
        }
        view.tasks
            .sort_by(|a, b| a.task_id.value.cmp(&b.task_id.value));
        view.unreachable_tasks
            .sort_by(|a, b| a.task_id.value.cmp(&b.task_id.value));
        view.completed_tasks = self.completed.iter().cloned().collect();
        view.frameworks = self.frameworks.values().cloned().collect();
        view.frameworks
            .sort_by(|a, b| framework_key(a).cmp(framework_key(b)));
        view
    }

    // --- events -------------------------------------------------------------

    fn on_update(&mut self, agent_id: String, update: StatusUpdate, out: &mut Vec<Action>) {
        let framework_id = update.framework_id.value.clone();
        let mut status = update.status;
        // The agent stamps the uuid on the update; the framework
        // acknowledges the status it receives.
        status.uuid = update.uuid.clone().or(status.uuid);
        status.agent_id.get_or_insert(AgentId {
            value: agent_id.clone(),
        });
        let key = key_of(&framework_id, &status.task_id.value);
        if let Some(task) = self.live.get_mut(&key) {
            if task.agent_id.value == agent_id {
                let was_terminal = is_terminal(task.state);
                task.state = update.latest_state.unwrap_or(status.state);
                task.status_update_state = Some(status.state);
                task.status_update_uuid = status.uuid.clone();
                push_status(task, &status);
                if !was_terminal && is_terminal(task.state) {
                    out.push(Action::Released {
                        agent_id: agent_id.clone(),
                        framework_id: framework_id.clone(),
                        resources: task.resources.clone(),
                    });
                }
            }
        }
        // Unknown tasks (launched by an earlier leader and ended before
        // their agent re-registered here) are forwarded all the same: the
        // framework decides, and its acknowledgement ends the agent's
        // retries.
        out.push(Action::ToFramework {
            framework_id,
            status,
        });
    }

    fn on_acknowledged(
        &mut self,
        agent_id: String,
        framework_id: String,
        task_id: String,
        uuid: Vec<u8>,
        out: &mut Vec<Action>,
    ) {
        let key = key_of(&framework_id, &task_id);
        let ends_task = self.live.get(&key).is_some_and(|t| {
            t.agent_id.value == agent_id
                && t.status_update_uuid.as_deref() == Some(uuid.as_slice())
                && t.status_update_state.is_some_and(is_terminal)
        });
        if ends_task {
            self.complete(&key);
        }
        out.push(Action::ToAgent {
            agent_id: agent_id.clone(),
            message: master_to_agent::Message::StatusUpdateAcknowledgement(
                StatusUpdateAcknowledgementMessage {
                    slave_id: AgentId { value: agent_id },
                    framework_id: FrameworkId {
                        value: framework_id,
                    },
                    task_id: TaskId { value: task_id },
                    uuid,
                },
            ),
        });
    }

    fn on_reregistered(
        &mut self,
        agent_id: String,
        tasks: Vec<Task>,
        frameworks: Vec<FrameworkInfo>,
        was_unreachable: bool,
        now_ns: TimeNs,
        out: &mut Vec<Action>,
    ) {
        for framework in frameworks {
            if let Some(id) = framework.id.clone() {
                self.frameworks.entry(id.value).or_insert(framework);
            }
        }
        let was_unreachable = self.unreachable_agents.remove(&agent_id) || was_unreachable;
        let reported: BTreeSet<TaskKey> = tasks
            .iter()
            .map(|t| key_of(&t.framework_id.value, &t.task_id.value))
            .collect();
        let missing: Vec<TaskKey> = self
            .by_agent
            .get(&agent_id)
            .map(|keys| keys.difference(&reported).cloned().collect())
            .unwrap_or_default();
        for key in missing {
            self.end_by_master(&key, MasterReason::MissingOnAgent, now_ns, out);
        }
        for mut task in tasks {
            // The agent's view wins: it runs the task.
            task.agent_id = AgentId {
                value: agent_id.clone(),
            };
            let key = key_of(&task.framework_id.value, &task.task_id.value);
            if was_unreachable && !is_terminal(task.state) {
                let framework = self.framework(&key.0);
                let status =
                    master_update(&task, &framework, MasterReason::AgentReregistered, now_ns);
                push_status(&mut task, &status);
                out.push(Action::ToFramework {
                    framework_id: key.0.clone(),
                    status,
                });
            }
            self.insert(key, task);
        }
    }

    fn on_departed(
        &mut self,
        agent_id: String,
        departure: Departure,
        now_ns: TimeNs,
        out: &mut Vec<Action>,
    ) {
        let keys: Vec<TaskKey> = self
            .by_agent
            .get(&agent_id)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default();
        match departure {
            Departure::Unreachable { since_ns } => {
                self.unreachable_agents.insert(agent_id);
                for key in keys {
                    self.change_by_master(
                        &key,
                        MasterReason::AgentUnreachable { since_ns },
                        now_ns,
                        out,
                    );
                }
            }
            Departure::Gone | Departure::Removed => {
                self.unreachable_agents.remove(&agent_id);
                let reason = if departure == Departure::Gone {
                    MasterReason::AgentGone
                } else {
                    MasterReason::AgentRemoved
                };
                for key in keys {
                    self.end_by_master(&key, reason, now_ns, out);
                }
            }
        }
    }

    fn on_framework_removed(&mut self, framework_id: &str, now_ns: TimeNs, out: &mut Vec<Action>) {
        let keys: Vec<TaskKey> = self
            .live
            .keys()
            .filter(|(f, _)| f == framework_id)
            .cloned()
            .collect();
        for key in keys {
            self.end_by_master(&key, MasterReason::FrameworkRemoved, now_ns, out);
        }
        self.frameworks.remove(framework_id);
    }

    // --- helpers ------------------------------------------------------------

    fn framework(&self, framework_id: &str) -> FrameworkInfo {
        self.frameworks
            .get(framework_id)
            .cloned()
            .unwrap_or_else(|| FrameworkInfo {
                id: Some(FrameworkId {
                    value: framework_id.to_string(),
                }),
                ..FrameworkInfo::default()
            })
    }

    /// The master changes a live, unfinished task's state and tells its
    /// framework; returns whether it did.
    fn change_by_master(
        &mut self,
        key: &TaskKey,
        reason: MasterReason,
        now_ns: TimeNs,
        out: &mut Vec<Action>,
    ) -> bool {
        let framework = self.framework(&key.0);
        let Some(task) = self.live.get_mut(key) else {
            return false;
        };
        if is_terminal(task.state) {
            return false;
        }
        let status = master_update(task, &framework, reason, now_ns);
        task.state = status.state;
        push_status(task, &status);
        out.push(Action::ToFramework {
            framework_id: key.0.clone(),
            status,
        });
        true
    }

    /// The master ends a task (telling its framework if it had not ended).
    fn end_by_master(
        &mut self,
        key: &TaskKey,
        reason: MasterReason,
        now_ns: TimeNs,
        out: &mut Vec<Action>,
    ) {
        self.change_by_master(key, reason, now_ns, out);
        self.complete(key);
    }

    fn insert(&mut self, key: TaskKey, task: Task) {
        let agent_id = task.agent_id.value.clone();
        if let Some(previous) = self.live.insert(key.clone(), task) {
            if previous.agent_id.value != agent_id {
                self.unindex(&previous.agent_id.value, &key);
            }
        }
        self.by_agent.entry(agent_id).or_default().insert(key);
    }

    fn unindex(&mut self, agent_id: &str, key: &TaskKey) {
        if let Some(keys) = self.by_agent.get_mut(agent_id) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_agent.remove(agent_id);
            }
        }
    }

    fn complete(&mut self, key: &TaskKey) {
        let Some(task) = self.live.remove(key) else {
            return;
        };
        self.unindex(&task.agent_id.value.clone(), key);
        let state = TaskState::try_from(task.state).unwrap_or(TaskState::TaskUnknown);
        *self.ended.entry(state).or_insert(0) += 1;
        if self.completed.len() == COMPLETED_TASKS_KEPT {
            self.completed.pop_front();
        }
        self.completed.push_back(task);
    }
}

fn framework_key(framework: &FrameworkInfo) -> &str {
    framework.id.as_ref().map_or("", |id| id.value.as_str())
}

/// A task as the master keeps it from its launch: TASK_STAGING.
fn task_record(
    framework: &FrameworkInfo,
    task: &TaskInfo,
    executor_id: Option<ExecutorId>,
) -> Task {
    Task {
        name: task.name.clone(),
        task_id: task.task_id.clone(),
        framework_id: framework.id.clone().unwrap_or_default(),
        executor_id,
        agent_id: task.agent_id.clone(),
        state: TaskState::TaskStaging as i32,
        resources: task.resources.clone(),
        labels: task.labels.clone(),
        kill_policy: task.kill_policy,
        user: framework_user(framework),
        ..Task::default()
    }
}

fn framework_user(framework: &FrameworkInfo) -> Option<String> {
    (!framework.user.is_empty()).then(|| framework.user.clone())
}

/// Appends `status` (without its data, as Mesos keeps them) to the task's
/// history, keeping the latest [`STATUSES_KEPT`].
fn push_status(task: &mut Task, status: &TaskStatus) {
    let mut kept = status.clone();
    kept.data = None;
    if task.statuses.len() >= STATUSES_KEPT {
        task.statuses.remove(0);
    }
    task.statuses.push(kept);
}

#[cfg(test)]
mod tests;
