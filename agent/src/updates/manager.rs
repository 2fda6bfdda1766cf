//! Status updates, at least once (SPEC section 5), decided without I/O:
//! Mesos's task status update manager (`task_status_update_manager.cpp`).
//!
//! - One stream per task; only its head is in flight to the master.
//! - An update is recorded (checkpointing frameworks: [`UpdateAction::Record`],
//!   which the edge makes durable before anything after it) before it is
//!   forwarded; updates already received or acknowledged are dropped as
//!   duplicates (the executor is still acknowledged).
//! - The head is resent until acknowledged, first after
//!   `--status-update-retry-interval-min`, the interval doubling up to
//!   ten minutes.
//! - An acknowledgement must match the head's uuid: a duplicate or
//!   unexpected one is refused and changes nothing. It is recorded, then
//!   the next update goes; the acknowledgement of a terminal update
//!   closes the stream.
//! - While the agent has no master ([`UpdateManager::pause`]) nothing is
//!   sent; [`UpdateManager::resume`] sends every head again at once.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use mesoraft_proto::agent::StatusUpdate;

use crate::keys::RunKey;
use crate::task_state::is_terminal;

/// Mesos's `STATUS_UPDATE_RETRY_INTERVAL_MAX`.
pub const RETRY_INTERVAL_MAX: Duration = Duration::from_secs(600);

/// One task's stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamKey {
    pub framework_id: String,
    pub task_id: String,
}

impl StreamKey {
    pub fn of(update: &StatusUpdate) -> Self {
        StreamKey {
            framework_id: update.framework_id.value.clone(),
            task_id: update.status.task_id.value.clone(),
        }
    }
}

/// A line of a stream's log.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Update(Box<StatusUpdate>),
    Ack(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateAction {
    /// Append to the stream's log and make it durable, before the
    /// actions after it.
    Record {
        run: RunKey,
        stream: StreamKey,
        record: Record,
    },
    /// Send to the master.
    Forward(Box<StatusUpdate>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("the status update has no uuid")]
    MissingUuid,
    #[error("the stream of task {task_id} is {} but the update is {}", checkpoint_text(*expected), checkpoint_text(*actual))]
    CheckpointMismatch {
        task_id: String,
        expected: bool,
        actual: bool,
    },
}

fn checkpoint_text(checkpointed: bool) -> &'static str {
    if checkpointed {
        "checkpointed"
    } else {
        "not checkpointed"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("no status update stream for task {task_id} of framework {framework_id}")]
    UnknownStream {
        framework_id: String,
        task_id: String,
    },
    #[error("duplicate acknowledgement")]
    Duplicate,
    #[error("unexpected acknowledgement: it is not for the update in flight")]
    Unexpected,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledged {
    /// The update it acknowledged.
    pub update: StatusUpdate,
    /// Its stream ended with it (a terminal update): the task is done.
    pub stream_closed: bool,
    pub actions: Vec<UpdateAction>,
}

#[derive(Debug, Clone)]
struct Stream {
    run: Option<RunKey>,
    pending: VecDeque<StatusUpdate>,
    received: HashSet<Vec<u8>>,
    acknowledged: HashSet<Vec<u8>>,
    terminated: bool,
    retry: Option<Retry>,
}

#[derive(Debug, Clone, Copy)]
struct Retry {
    due: Instant,
    interval: Duration,
}

/// Every task's stream.
#[derive(Debug)]
pub struct UpdateManager {
    streams: BTreeMap<StreamKey, Stream>,
    paused: bool,
    retry_min: Duration,
}

impl UpdateManager {
    /// Paused: nothing is sent before the agent registers.
    pub fn new(retry_min: Duration) -> Self {
        UpdateManager {
            streams: BTreeMap::new(),
            paused: true,
            retry_min: retry_min.max(Duration::from_millis(1)),
        }
    }

    /// Takes a new update; `checkpoint_run` is where its stream is
    /// recorded (`None`: in memory only).
    pub fn update(
        &mut self,
        update: StatusUpdate,
        checkpoint_run: Option<RunKey>,
        now: Instant,
    ) -> Result<Vec<UpdateAction>, UpdateError> {
        let uuid = update.uuid.clone().ok_or(UpdateError::MissingUuid)?;
        let key = StreamKey::of(&update);
        let stream = self.streams.entry(key.clone()).or_insert_with(|| Stream {
            run: checkpoint_run.clone(),
            pending: VecDeque::new(),
            received: HashSet::new(),
            acknowledged: HashSet::new(),
            terminated: false,
            retry: None,
        });
        if stream.run.is_some() != checkpoint_run.is_some() {
            return Err(UpdateError::CheckpointMismatch {
                task_id: key.task_id,
                expected: stream.run.is_some(),
                actual: checkpoint_run.is_some(),
            });
        }
        if stream.acknowledged.contains(&uuid) || stream.received.contains(&uuid) {
            tracing::warn!(task_id = %key.task_id, "duplicate status update ignored");
            return Ok(Vec::new());
        }
        let mut actions = Vec::new();
        if let Some(run) = &stream.run {
            actions.push(UpdateAction::Record {
                run: run.clone(),
                stream: key,
                record: Record::Update(Box::new(update.clone())),
            });
        }
        stream.received.insert(uuid);
        stream.pending.push_back(update);
        if !self.paused && stream.pending.len() == 1 {
            actions.extend(send_head(stream, self.retry_min, now));
        }
        Ok(actions)
    }

    /// The master acknowledged `uuid` of the task's stream.
    pub fn acknowledge(
        &mut self,
        framework_id: &str,
        task_id: &str,
        uuid: &[u8],
        now: Instant,
    ) -> Result<Acknowledged, AckError> {
        let key = StreamKey {
            framework_id: framework_id.to_string(),
            task_id: task_id.to_string(),
        };
        let stream = self
            .streams
            .get_mut(&key)
            .ok_or_else(|| AckError::UnknownStream {
                framework_id: framework_id.to_string(),
                task_id: task_id.to_string(),
            })?;
        if stream.acknowledged.contains(uuid) {
            return Err(AckError::Duplicate);
        }
        let head = stream.pending.front().ok_or(AckError::Unexpected)?;
        if head.uuid.as_deref() != Some(uuid) {
            return Err(AckError::Unexpected);
        }
        let mut actions = Vec::new();
        if let Some(run) = &stream.run {
            actions.push(UpdateAction::Record {
                run: run.clone(),
                stream: key.clone(),
                record: Record::Ack(uuid.to_vec()),
            });
        }
        let update = stream.pending.pop_front().ok_or(AckError::Unexpected)?;
        stream.acknowledged.insert(uuid.to_vec());
        stream.retry = None;
        if is_terminal(update.status.state()) {
            stream.terminated = true;
        }
        if stream.terminated {
            if !stream.pending.is_empty() {
                tracing::warn!(
                    task_id,
                    "terminal update acknowledged with updates still pending"
                );
            }
            self.streams.remove(&key);
            return Ok(Acknowledged {
                update,
                stream_closed: true,
                actions,
            });
        }
        if !self.paused && !stream.pending.is_empty() {
            actions.extend(send_head(stream, self.retry_min, now));
        }
        Ok(Acknowledged {
            update,
            stream_closed: false,
            actions,
        })
    }

    /// Resends every head whose retry is due, with the interval doubled.
    pub fn tick(&mut self, now: Instant) -> Vec<UpdateAction> {
        if self.paused {
            return Vec::new();
        }
        let mut actions = Vec::new();
        for stream in self.streams.values_mut() {
            let Some(retry) = stream.retry else { continue };
            if retry.due > now {
                continue;
            }
            let interval = (retry.interval * 2).min(RETRY_INTERVAL_MAX);
            actions.extend(send_head(stream, interval, now));
        }
        actions
    }

    /// When the next resend is due.
    pub fn next_due(&self) -> Option<Instant> {
        if self.paused {
            return None;
        }
        self.streams
            .values()
            .filter_map(|s| s.retry.map(|r| r.due))
            .min()
    }

    /// No master: stop sending.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// (Re-)registered: every head goes again, now.
    pub fn resume(&mut self, now: Instant) -> Vec<UpdateAction> {
        self.paused = false;
        let retry_min = self.retry_min;
        self.streams
            .values_mut()
            .flat_map(|stream| send_head(stream, retry_min, now))
            .collect()
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Forgets a framework's streams (it shut down: nobody acknowledges).
    pub fn drop_framework(&mut self, framework_id: &str) -> Vec<StreamKey> {
        let keys: Vec<StreamKey> = self
            .streams
            .keys()
            .filter(|k| k.framework_id == framework_id)
            .cloned()
            .collect();
        for key in &keys {
            self.streams.remove(key);
        }
        keys
    }

    /// Rebuilds a checkpointed stream from its log after a restart: the
    /// updates and acknowledgements in the order they were recorded. An
    /// ended stream (terminal update acknowledged) is not kept.
    pub fn replay(&mut self, run: RunKey, records: Vec<Record>) {
        let mut stream = Stream {
            run: Some(run),
            pending: VecDeque::new(),
            received: HashSet::new(),
            acknowledged: HashSet::new(),
            terminated: false,
            retry: None,
        };
        let mut key = None;
        for record in records {
            match record {
                Record::Update(update) => {
                    let Some(uuid) = update.uuid.clone() else {
                        continue;
                    };
                    key.get_or_insert_with(|| StreamKey::of(&update));
                    if stream.received.insert(uuid) {
                        stream.pending.push_back(*update);
                    }
                }
                Record::Ack(uuid) => {
                    let Some(head) = stream.pending.front() else {
                        continue;
                    };
                    if head.uuid.as_deref() != Some(uuid.as_slice()) {
                        continue;
                    }
                    let terminal = is_terminal(head.status.state());
                    stream.pending.pop_front();
                    stream.acknowledged.insert(uuid);
                    stream.terminated |= terminal;
                }
            }
        }
        if let Some(key) = key {
            if !stream.terminated {
                self.streams.insert(key, stream);
            }
        }
    }

    /// The updates not acknowledged yet, per stream (for tests and
    /// the agent's state).
    pub fn pending(&self, framework_id: &str, task_id: &str) -> Vec<StatusUpdate> {
        self.streams
            .get(&StreamKey {
                framework_id: framework_id.to_string(),
                task_id: task_id.to_string(),
            })
            .map(|s| s.pending.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the task has a stream (an update not acknowledged, or
    /// acknowledged but not terminal).
    pub fn has_stream(&self, framework_id: &str, task_id: &str) -> bool {
        self.streams.contains_key(&StreamKey {
            framework_id: framework_id.to_string(),
            task_id: task_id.to_string(),
        })
    }
}

/// Sends the head of `stream` and sets its resend after `interval`.
fn send_head(stream: &mut Stream, interval: Duration, now: Instant) -> Option<UpdateAction> {
    let head = stream.pending.front()?;
    stream.retry = Some(Retry {
        due: now + interval,
        interval,
    });
    Some(UpdateAction::Forward(Box::new(head.clone())))
}

#[cfg(test)]
mod tests;
