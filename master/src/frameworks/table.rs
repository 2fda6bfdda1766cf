//! The table of one leader term: its frameworks, the streams bound to
//! them, the writes in flight; built from the registry and driven through
//! [`FrameworkTable::step`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use mesoraft_proto::mesos::v1::FrameworkInfo;
use mesoraft_registry::{FrameworkRecord, TimeNs};

use super::info::{failover_timeout, generated_id, sequence_of};
use super::views::CompletedFramework;
use super::{Action, Event, FrameworkPolicy, Now, RequestId, StreamId, WriteId};

/// The registry's frameworks when the term began.
#[derive(Clone, Debug, Default)]
pub struct RegistryFrameworks {
    pub cluster_id: String,
    pub frameworks: Vec<FrameworkRecord>,
    /// Completed framework ids and when they completed.
    pub completed: BTreeMap<String, TimeNs>,
}

/// A running failover timer: disconnected since `since_ns`; removed at
/// `deadline` (`None`: a timeout too long to ever expire here).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Failover {
    pub since_ns: TimeNs,
    pub deadline: Option<Instant>,
}

/// Where a framework is, from this leader's point of view.
#[derive(Clone, Debug, PartialEq)]
pub enum Presence {
    /// Not subscribed in this term: from the registry (timer re-armed), or
    /// learned from agents only (no registry record, no timer).
    Recovered { failover: Option<Failover> },
    /// A stream waits for a registry write before SUBSCRIBED.
    Subscribing { stream: StreamId },
    Connected {
        stream: StreamId,
        next_heartbeat: Instant,
    },
    /// Its stream ended; the failover timer runs.
    Disconnected { failover: Failover },
    /// CompleteFramework is being written; `stream` is closed after it.
    Removing { stream: Option<StreamId> },
}

/// What this leader knows the registry holds for a framework.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per framework, mostly `Known`
pub(super) enum Stored {
    /// No record (learned from agents, or not added yet).
    Absent,
    Known {
        info: FrameworkInfo,
        disconnected_ns: Option<TimeNs>,
    },
    /// A record with unknown values (an update may have applied).
    Unknown,
}

#[derive(Clone, Debug)]
pub struct FrameworkEntry {
    /// The info this leader accepted last (its `id` is always set).
    pub info: FrameworkInfo,
    pub presence: Presence,
    /// When the registry added it, if known.
    pub registered_ns: Option<TimeNs>,
    /// When it last subscribed again to this leader (a framework failover,
    /// or its return after a master failover).
    pub reregistered_ns: Option<TimeNs>,
    pub(super) stored: Stored,
    /// An AddFramework may have applied: "already exists" means it did.
    pub(super) add_in_doubt: bool,
    pub(super) write: Option<WriteId>,
    /// A failed write is tried again from then on.
    pub(super) retry_at: Option<Instant>,
    /// UPDATE_FRAMEWORK calls answered once the registry holds the info.
    pub(super) update_requests: Vec<RequestId>,
    /// TEARDOWN calls answered once the framework is completed.
    pub(super) removal_requests: Vec<RequestId>,
    /// Learned from agents' tasks rather than from the registry.
    pub(super) from_agents: bool,
}

impl FrameworkEntry {
    pub(super) fn new(info: FrameworkInfo, presence: Presence, stored: Stored) -> Self {
        Self {
            info,
            presence,
            registered_ns: None,
            reregistered_ns: None,
            stored,
            add_in_doubt: false,
            write: None,
            retry_at: None,
            update_requests: Vec::new(),
            removal_requests: Vec::new(),
            from_agents: false,
        }
    }

    /// Known only from agents' tasks, with no registry record: no
    /// scheduler ever subscribed it (the internal launch path's
    /// frameworks), so none will take its updates.
    pub fn learned_only(&self) -> bool {
        self.from_agents && self.stored == Stored::Absent
    }

    /// The stream it is bound to, subscribed or not yet.
    pub fn stream(&self) -> Option<StreamId> {
        match self.presence {
            Presence::Subscribing { stream } | Presence::Connected { stream, .. } => Some(stream),
            Presence::Removing { stream } => stream,
            Presence::Recovered { .. } | Presence::Disconnected { .. } => None,
        }
    }
}

/// A registry command in flight and what its outcome means.
#[derive(Clone, Debug)]
pub(super) struct Pending {
    pub framework_id: String,
    pub kind: PendingKind,
}

#[derive(Clone, Debug)]
pub(super) enum PendingKind {
    Add {
        info: FrameworkInfo,
        time_ns: TimeNs,
    },
    Update {
        info: FrameworkInfo,
        disconnected_ns: Option<TimeNs>,
    },
    Complete,
}

pub struct FrameworkTable {
    pub(super) policy: FrameworkPolicy,
    pub(super) cluster_id: String,
    pub(super) frameworks: BTreeMap<String, FrameworkEntry>,
    pub(super) streams: HashMap<StreamId, String>,
    pub(super) pending: HashMap<WriteId, Pending>,
    pub(super) next_write: WriteId,
    /// The next sequence number this leader hands out (see `reserve_id`).
    pub(super) next_sequence: u64,
    /// Every completed id, for refusing them for ever.
    pub(super) completed_ids: HashSet<String>,
    /// The latest completed frameworks, oldest first, for the views.
    pub(super) completed: VecDeque<CompletedFramework>,
}

impl FrameworkTable {
    /// The table of a new term: every registered framework recovered, its
    /// failover timer re-armed from the registry.
    pub fn recover(policy: FrameworkPolicy, registry: RegistryFrameworks, now: Now) -> Self {
        let mut table = Self {
            cluster_id: registry.cluster_id,
            frameworks: BTreeMap::new(),
            streams: HashMap::new(),
            pending: HashMap::new(),
            next_write: 1,
            next_sequence: 0,
            completed_ids: registry.completed.keys().cloned().collect(),
            completed: VecDeque::new(),
            policy,
        };
        let mut completed: Vec<(&String, &TimeNs)> = registry.completed.iter().collect();
        completed.sort_by_key(|(id, time)| (**time, (*id).clone()));
        for (id, time) in completed {
            table.note_id(id);
            table.note_completed(id.clone(), None, *time);
        }
        for record in registry.frameworks {
            let Some(id) = record.info.id.as_ref().map(|id| id.value.clone()) else {
                continue;
            };
            table.note_id(&id);
            let failover = recovered_failover(&table.policy, &record, now);
            let stored = Stored::Known {
                info: record.info.clone(),
                disconnected_ns: record.disconnected_ns,
            };
            let presence = Presence::Recovered {
                failover: Some(failover),
            };
            let mut entry = FrameworkEntry::new(record.info, presence, stored);
            entry.registered_ns = Some(record.registered_ns);
            table.frameworks.insert(id, entry);
        }
        table
    }

    pub fn policy(&self) -> &FrameworkPolicy {
        &self.policy
    }

    pub fn frameworks(&self) -> &BTreeMap<String, FrameworkEntry> {
        &self.frameworks
    }

    /// The framework a stream belongs to (subscribed or not yet).
    pub fn framework_of_stream(&self, stream: StreamId) -> Option<&str> {
        self.streams.get(&stream).map(String::as_str)
    }

    pub fn is_completed(&self, framework_id: &str) -> bool {
        self.completed_ids.contains(framework_id)
    }

    /// The one entry point: what `event` at `now` requires.
    pub fn step(&mut self, event: Event, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Subscribe { stream, info } => self.on_subscribe(stream, info, now, &mut out),
            Event::StreamClosed { stream } => self.on_stream_closed(stream, now, &mut out),
            Event::Teardown {
                framework_id,
                request,
            } => self.on_teardown(framework_id, request, now, &mut out),
            Event::UpdateFramework {
                framework_id,
                info,
                request,
            } => self.on_update(framework_id, info, request, now, &mut out),
            Event::Learned { info } => self.on_learned(info),
            Event::Written { write, outcome } => self.on_written(write, outcome, now, &mut out),
            Event::Tick => self.on_tick(now, &mut out),
        }
        out
    }

    /// A fresh id for a new framework, chosen here rather than by the
    /// registry so that a retried AddFramework carries the same id (see
    /// `writes.rs`). It continues the registry's own sequence: every id
    /// the registry ever added is in this table (known or completed) when
    /// the term starts, and every AddFramework of the term comes from
    /// here, so the sequence never hands out an id in use.
    pub(super) fn reserve_id(&mut self) -> Option<String> {
        while self.next_sequence < u64::MAX {
            let id = generated_id(&self.cluster_id, self.next_sequence);
            self.next_sequence += 1;
            if !self.frameworks.contains_key(&id) && !self.completed_ids.contains(&id) {
                return Some(id);
            }
        }
        None
    }

    /// Moves the sequence past `id` if it has the generated form.
    pub(super) fn note_id(&mut self, id: &str) {
        if let Some(n) = sequence_of(id, &self.cluster_id) {
            if n >= self.next_sequence {
                self.next_sequence = n.saturating_add(1);
            }
        }
    }

    pub(super) fn note_completed(
        &mut self,
        framework_id: String,
        info: Option<FrameworkInfo>,
        completed_ns: TimeNs,
    ) {
        self.completed_ids.insert(framework_id.clone());
        self.completed.push_back(CompletedFramework {
            framework_id,
            info,
            completed_ns,
        });
        while self.completed.len() > self.policy.completed_capacity {
            self.completed.pop_front();
        }
    }

    /// A failover timer starting `now` for a framework asking `info`.
    pub(super) fn failover_from_now(info: &FrameworkInfo, now: Now) -> Failover {
        let timeout = failover_timeout(info).unwrap_or(Duration::ZERO);
        Failover {
            since_ns: now.unix_ns,
            deadline: now.instant.checked_add(timeout),
        }
    }
}

/// The timer of a framework the registry had when the term began.
fn recovered_failover(policy: &FrameworkPolicy, record: &FrameworkRecord, now: Now) -> Failover {
    let timeout = failover_timeout(&record.info).unwrap_or(Duration::ZERO);
    match record.disconnected_ns {
        Some(since_ns) => {
            let elapsed = u64::try_from(now.unix_ns.saturating_sub(since_ns)).unwrap_or(0);
            let left = timeout.saturating_sub(Duration::from_nanos(elapsed));
            Failover {
                since_ns,
                deadline: now.instant.checked_add(left),
            }
        }
        // Connected when the previous leader died: from now, with the grace.
        None => Failover {
            since_ns: now.unix_ns,
            deadline: now.instant.checked_add(timeout.max(policy.recovery_grace)),
        },
    }
}
