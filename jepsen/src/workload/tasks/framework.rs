//! One framework of the tasks workload: a scheduler of the client library
//! (`mesoraft-client`, as any Rust framework would use it) that launches
//! tasks on the offers it gets, acknowledges updates itself so that every
//! acknowledgement is recorded, and kills each long task after 1-4 s. Every
//! launch, kill, status and acknowledgement goes into the history
//! (`tasks_record`), in the order this framework saw them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use mesoraft_client::calls::{command_task, refuse_for};
use mesoraft_client::resources::{parse_resources, take};
use mesoraft_client::{
    framework_info, CallError, Config, Events, SchedulerEvent, SchedulerHandle, Timeouts,
};
use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::framework_info::Capability as CapabilityMsg;
use mesoraft_proto::mesos::v1::{AgentId, Offer, TaskId, TaskStatus};
use mesoraft_testkit::poll_every;
use rand::Rng;
use serde_json::Value;

use super::MARKER_FILE;
use crate::history::{HistoryValue, OpType, Process};
use crate::tasks_record::{
    is_final, AckAsk, Delivered, FrameworkNote, LaunchAsk, StatusSource, TaskRef, TASK_ACK,
    TASK_FRAMEWORK, TASK_KILL, TASK_LAUNCH, TASK_STATUS,
};
use crate::workload::{ProcessNumber, WorkloadCtx};

/// Tasks a framework keeps launched and not ended at most.
const MAX_LIVE: usize = 6;
/// What each task asks for (the run's agents offer `cpus:1;mem:256`).
const TASK_RESOURCES: &str = "cpus:0.1;mem:16";
/// How long a long task sleeps unless killed: past any default run, yet
/// bounded, as an agent killed by the harness leaves its executors behind.
const LONG_TASK_SECS: u64 = 90;
/// How often the killer looks for a long task due to be killed.
const KILL_POLL: Duration = Duration::from_millis(100);
/// Offers declined while the framework has enough tasks come back soon.
const DECLINE_SECONDS: f64 = 0.5;

/// How the master answered a launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchAnswer {
    Taken,
    Refused,
    Unknown,
}

/// What this framework knows of one of its tasks.
#[derive(Clone, Debug)]
pub struct TaskEntry {
    pub agent_id: String,
    /// A long task is killed once it has run this long; a short one ends
    /// by itself.
    pub kill_after: Option<Duration>,
    pub answer: LaunchAnswer,
    /// The last state it was told, and when.
    pub last: Option<(String, Instant)>,
    pub ended: bool,
    pub kill_asked: bool,
}

impl TaskEntry {
    /// Whether the framework has heard all it will: a final state, or
    /// TASK_LOST / TASK_UNKNOWN (the master does not know it, or a
    /// framework that is not partition-aware is told no more).
    pub fn settled(&self) -> bool {
        self.ended
            || self.answer == LaunchAnswer::Refused
            || self
                .last
                .as_ref()
                .is_some_and(|(s, _)| s == "TASK_LOST" || s == "TASK_UNKNOWN")
    }
}

pub struct Framework {
    pub index: usize,
    pub partition_aware: bool,
    pub handle: SchedulerHandle,
    id: OnceLock<String>,
    tasks: Mutex<BTreeMap<String, TaskEntry>>,
    next_task: Mutex<u64>,
    launching: AtomicBool,
    /// The history process of the event loop (statuses, launches, acks).
    process: Mutex<ProcessNumber>,
}

/// The framework's info: checkpointing (its tasks outlive an agent
/// restart), a failover timeout longer than any run, partition-aware or
/// not.
fn info(index: usize, partition_aware: bool) -> mesoraft_proto::mesos::v1::FrameworkInfo {
    let mut info = framework_info(
        &format!("jepsen-tasks-{index}"),
        &mesoraft_client::current_user(),
    );
    info.checkpoint = Some(true);
    info.failover_timeout = Some(3600.0);
    if partition_aware {
        info.capabilities = vec![CapabilityMsg {
            r#type: Some(Capability::PartitionAware as i32),
        }];
    }
    info
}

/// The outcome of a call, as the history records it.
fn call_kind(result: &Result<(), CallError>) -> (OpType, Option<String>) {
    match result {
        Ok(()) => (OpType::Ok, None),
        Err(e) if e.certainly_not_acted_on() => (OpType::Fail, Some(e.to_string())),
        Err(e) => (OpType::Info, Some(e.to_string())),
    }
}

impl Framework {
    /// Connects framework `index` to `masters`; its events come from the
    /// returned stream, to be handed to [`Framework::run_events`].
    pub fn connect(
        index: usize,
        partition_aware: bool,
        masters: Vec<String>,
        process: ProcessNumber,
    ) -> anyhow::Result<(Framework, Events)> {
        let mut config = Config::new(masters, info(index, partition_aware));
        // Acknowledgements are sent (and recorded) by the framework.
        config.auto_acknowledge = false;
        config.timeouts = Timeouts {
            connect: Duration::from_millis(500),
            request: Duration::from_secs(3),
            subscribed: Duration::from_secs(3),
        };
        config.backoff_cap = Duration::from_secs(2);
        let (handle, events) = mesoraft_client::Scheduler::connect(config)?;
        Ok((
            Framework {
                index,
                partition_aware,
                handle,
                id: OnceLock::new(),
                tasks: Mutex::new(BTreeMap::new()),
                next_task: Mutex::new(0),
                launching: AtomicBool::new(true),
                process: Mutex::new(process),
            },
            events,
        ))
    }

    pub fn stop_launching(&self) {
        self.launching.store(false, Ordering::SeqCst);
    }

    /// The framework id, once subscribed.
    pub fn id(&self) -> Option<&str> {
        self.id.get().map(String::as_str)
    }

    pub fn tasks(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TaskEntry>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn process(&self) -> Process {
        self.process.lock().unwrap_or_else(|e| e.into_inner()).get()
    }

    fn after(&self, kind: OpType) {
        self.process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .after(kind);
    }

    fn task_ref(&self, task_id: &str) -> TaskRef {
        TaskRef {
            framework: self.id().unwrap_or_default().to_string(),
            task_id: task_id.to_string(),
        }
    }

    /// Handles events until the scheduler stops.
    pub async fn run_events(&self, ctx: &WorkloadCtx, mut events: Events) {
        while let Some(event) = events.recv().await {
            match event {
                SchedulerEvent::Subscribed {
                    framework_id,
                    master,
                    ..
                } => {
                    let _ = self.id.set(framework_id.value);
                    self.note(ctx, "subscribed", master);
                }
                SchedulerEvent::Disconnected { reason } => self.note(ctx, "disconnected", reason),
                SchedulerEvent::Offers(offers) => {
                    for offer in offers {
                        self.on_offer(ctx, offer).await;
                    }
                }
                SchedulerEvent::Update(status) => self.on_update(ctx, status).await,
                SchedulerEvent::Stopped(why) => {
                    self.note(ctx, "stopped", why.to_string());
                    break;
                }
                _ => {}
            }
        }
    }

    /// Records what happened to the subscription.
    fn note(&self, ctx: &WorkloadCtx, event: &str, detail: String) {
        let note = FrameworkNote {
            framework_index: self.index,
            framework: self.id().map(str::to_string),
            event: event.to_string(),
            detail,
        };
        let pending = ctx
            .recorder
            .invoke(self.process(), TASK_FRAMEWORK, None, Value::Null);
        ctx.recorder
            .complete(pending, OpType::Ok, note.to_value(), None, None);
    }

    fn live(&self) -> usize {
        self.tasks().values().filter(|t| !t.settled()).count()
    }

    async fn decline(&self, offer: Offer) {
        let _ = self
            .handle
            .decline(vec![offer.id], Some(refuse_for(DECLINE_SECONDS)))
            .await;
    }

    /// Launches one task on `offer` while the framework wants more.
    async fn on_offer(&self, ctx: &WorkloadCtx, offer: Offer) {
        let Some(framework_id) = self.id().map(str::to_string) else {
            return self.decline(offer).await;
        };
        if !self.launching.load(Ordering::SeqCst) || self.live() >= MAX_LIVE {
            return self.decline(offer).await;
        }
        let wanted = parse_resources(TASK_RESOURCES).unwrap_or_default();
        let mut available = offer.resources.clone();
        let Some(resources) = take(&mut available, &wanted) else {
            return self.decline(offer).await;
        };
        let (kill_after, secs) = {
            let mut rng = rand::thread_rng();
            if rng.gen_bool(0.4) {
                let run_for = Duration::from_millis(rng.gen_range(1_000..4_000));
                (Some(run_for), LONG_TASK_SECS as f64)
            } else {
                (None, rng.gen_range(0.2..1.5))
            }
        };
        let long = kill_after.is_some();
        let task_id = {
            let mut next = self.next_task.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            format!(
                "f{}-{}-{}",
                self.index,
                *next,
                if long { "long" } else { "short" }
            )
        };
        // The marker names the task: the sandbox of every run shows it.
        let command = format!(
            "printf '%s %s\\n' '{framework_id}' '{task_id}' > {MARKER_FILE}; exec sleep {secs:.2}"
        );
        let task = command_task(&task_id, &offer.agent_id, resources, &command);
        let ask = LaunchAsk {
            task: self.task_ref(&task_id),
            partition_aware: self.partition_aware,
            agent_id: offer.agent_id.value.clone(),
        };
        let pending = ctx
            .recorder
            .invoke(self.process(), TASK_LAUNCH, None, ask.to_value());
        let result = self
            .handle
            .launch(vec![offer.id], vec![task], Some(refuse_for(0.0)))
            .await;
        let (kind, error) = call_kind(&result);
        ctx.recorder
            .complete(pending, kind, Value::Null, self.handle.leader(), error);
        self.after(kind);
        let answer = match kind {
            OpType::Ok => LaunchAnswer::Taken,
            OpType::Fail => LaunchAnswer::Refused,
            _ => LaunchAnswer::Unknown,
        };
        self.tasks().insert(
            task_id,
            TaskEntry {
                agent_id: offer.agent_id.value,
                kill_after,
                answer,
                last: None,
                ended: false,
                kill_asked: false,
            },
        );
    }

    /// Records a status, then acknowledges it when it asks for that.
    async fn on_update(&self, ctx: &WorkloadCtx, status: TaskStatus) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let uuid = status.uuid.as_ref().filter(|u| !u.is_empty());
        let state = status.state().as_str_name().to_string();
        let delivered = Delivered {
            task: self.task_ref(&status.task_id.value),
            state: state.clone(),
            uuid: uuid.map(|u| b64.encode(u)),
            agent_id: status.agent_id.as_ref().map(|a| a.value.clone()),
            reason: status
                .reason
                .map(|_| status.reason().as_str_name().to_string()),
            source: if uuid.is_some() {
                StatusSource::Update
            } else {
                StatusSource::Reconcile
            },
        };
        let pending = ctx
            .recorder
            .invoke(self.process(), TASK_STATUS, None, Value::Null);
        ctx.recorder
            .complete(pending, OpType::Ok, delivered.to_value(), None, None);
        if let Some(entry) = self.tasks().get_mut(&status.task_id.value) {
            entry.ended |= is_final(&state);
            entry.last = Some((state, Instant::now()));
        }
        let Some(uuid) = delivered.uuid.clone() else {
            return;
        };
        let ask = AckAsk {
            task: delivered.task,
            uuid,
        };
        let pending = ctx
            .recorder
            .invoke(self.process(), TASK_ACK, None, ask.to_value());
        let result = self.handle.acknowledge_status(&status).await.map(|_| ());
        let (kind, error) = call_kind(&result);
        ctx.recorder
            .complete(pending, kind, Value::Null, self.handle.leader(), error);
        self.after(kind);
    }

    /// Sends KILL for `task_id`, recorded on `process`.
    pub async fn kill(&self, ctx: &WorkloadCtx, process: &mut ProcessNumber, task_id: &str) {
        let agent_id = {
            let mut tasks = self.tasks();
            let Some(entry) = tasks.get_mut(task_id) else {
                return;
            };
            entry.kill_asked = true;
            entry.agent_id.clone()
        };
        let pending = ctx.recorder.invoke(
            process.get(),
            TASK_KILL,
            None,
            self.task_ref(task_id).to_value(),
        );
        let result = self
            .handle
            .kill(
                TaskId {
                    value: task_id.to_string(),
                },
                Some(AgentId { value: agent_id }),
            )
            .await;
        let (kind, error) = call_kind(&result);
        ctx.recorder
            .complete(pending, kind, Value::Null, self.handle.leader(), error);
        process.after(kind);
    }

    /// Kills each long task once it has been running for its
    /// `kill_after`, until `until`.
    pub async fn run_killer(&self, ctx: &WorkloadCtx, mut process: ProcessNumber, until: Instant) {
        let due = || async { self.due_for_kill() };
        while let Some(task) = poll_every(until, KILL_POLL, due).await {
            self.kill(ctx, &mut process, &task).await;
        }
    }

    /// A long task that has been running for its `kill_after`.
    fn due_for_kill(&self) -> Option<String> {
        self.tasks()
            .iter()
            .find(|(_, t)| {
                !t.kill_asked
                    && !t.settled()
                    && t.last.as_ref().is_some_and(|(state, since)| {
                        state == "TASK_RUNNING"
                            && t.kill_after.is_some_and(|after| since.elapsed() >= after)
                    })
            })
            .map(|(id, _)| id.clone())
    }

    /// The tasks whose end is still to be heard (launches not refused),
    /// with their agents.
    pub fn unsettled(&self) -> Vec<(String, String)> {
        self.tasks()
            .iter()
            .filter(|(_, t)| !t.settled())
            .map(|(id, t)| (id.clone(), t.agent_id.clone()))
            .collect()
    }

    /// The tasks without a final state (launches not refused): what the
    /// final reconciliation asks about.
    pub fn unended(&self) -> Vec<(String, String)> {
        self.tasks()
            .iter()
            .filter(|(_, t)| !t.ended && t.answer != LaunchAnswer::Refused)
            .map(|(id, t)| (id.clone(), t.agent_id.clone()))
            .collect()
    }

    /// Explicit RECONCILE of `tasks` (id, agent id); not recorded: the
    /// answers are.
    pub async fn reconcile(&self, tasks: &[(String, String)]) -> Result<(), CallError> {
        let tasks = tasks
            .iter()
            .map(|(task, agent)| {
                (
                    TaskId {
                        value: task.clone(),
                    },
                    Some(AgentId {
                        value: agent.clone(),
                    }),
                )
            })
            .collect();
        self.handle.reconcile(tasks).await
    }

    /// Whether `task_id` was told a state after `since`.
    pub fn heard_since(&self, task_id: &str, since: Instant) -> bool {
        self.tasks()
            .get(task_id)
            .and_then(|t| t.last.as_ref())
            .is_some_and(|(_, at)| *at >= since)
    }
}
