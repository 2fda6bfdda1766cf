//! Where sessions, scheduler calls and operator calls find the current
//! term's driver: one [`Hub`] per master, attached while it leads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use mesoraft_proto::agent::agent_to_master;
use mesoraft_proto::mesos::v1::master::Event as OperatorEvent;
use mesoraft_proto::mesos::v1::scheduler::Event as SchedulerEvent;
use mesoraft_proto::mesos::v1::{FrameworkInfo, MasterInfo};
use tokio::sync::{mpsc, oneshot};

use super::{AgentsView, Outbound};
use crate::agents::table::{AgentCounts, MarkGoneAnswer, SessionId};
use crate::framework_views::{ClusterView, FrameworksView};
use crate::frameworks::StreamId;
use crate::metrics::LeaderCounts;
use crate::scheduler::SchedulerCall;
use crate::tasks::launch::{KillError, Launch, LaunchError};
use crate::tasks::TasksView;

/// What reaches the driver. (Moved, never copied: the size of the
/// message variant costs nothing.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Input {
    Opened {
        session: SessionId,
        outbound: mpsc::Sender<Outbound>,
        peer_ip: Option<std::net::IpAddr>,
    },
    Message {
        session: SessionId,
        message: agent_to_master::Message,
    },
    Closed {
        session: SessionId,
    },
    MarkGone {
        agent_id: String,
        reply: oneshot::Sender<MarkGoneAnswer>,
    },
    View {
        reply: oneshot::Sender<AgentsView>,
    },
    Frameworks {
        reply: oneshot::Sender<FrameworksView>,
    },
    Cluster {
        reply: oneshot::Sender<ClusterView>,
    },
    OperatorSubscribe {
        events: mpsc::Sender<OperatorEvent>,
        reply: oneshot::Sender<()>,
    },
    Launch {
        launch: Box<Launch>,
        reply: oneshot::Sender<Result<(), LaunchError>>,
    },
    Kill {
        framework_id: String,
        task_id: String,
        reply: oneshot::Sender<Result<(), KillError>>,
    },
    Tasks {
        reply: oneshot::Sender<TasksView>,
    },
    Subscribe {
        subscription: Box<Subscription>,
        reply: oneshot::Sender<OpenedStream>,
    },
    Call {
        framework_id: String,
        stream_id: String,
        call: Box<SchedulerCall>,
        reply: oneshot::Sender<Result<(), CallRefusal>>,
    },
    StreamEnded {
        stream: StreamId,
    },
}

/// A SUBSCRIBE: the framework, and where its events go.
pub struct Subscription {
    /// From [`Hub::new_stream_id`].
    pub stream: StreamId,
    pub info: FrameworkInfo,
    pub suppressed_roles: Vec<String>,
    /// This master, for SUBSCRIBED.
    pub master_info: MasterInfo,
    pub events: mpsc::Sender<SchedulerEvent>,
}

/// The stream a SUBSCRIBE opened; its events follow on the channel.
#[derive(Clone, Debug)]
pub struct OpenedStream {
    pub stream: StreamId,
    /// `Mesos-Stream-Id`: every later call of the framework carries it.
    pub stream_id: String,
}

/// Why a scheduler call (other than SUBSCRIBE) is not taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallRefusal {
    /// 403: no subscribed stream for this framework on this leader.
    #[error("Framework {0} is not subscribed with this master; SUBSCRIBE first")]
    NotSubscribed(String),
    /// 400: the call's `Mesos-Stream-Id` is not the framework's stream.
    #[error("The stream ID included in this request didn't match the stream ID currently associated with framework ID {0}")]
    WrongStream(String),
    /// 400: the call itself is wrong.
    #[error("{0}")]
    Invalid(String),
}

/// Why the hub cannot take a session or a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAttached;

/// See the module doc.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<Option<(u64, mpsc::Sender<Input>)>>,
    next_session: AtomicU64,
    next_stream: AtomicU64,
    /// The counts of the last step, for status and metrics (None while
    /// not leading).
    counts: Mutex<Option<LeaderCounts>>,
}

impl Hub {
    pub(crate) fn sender(&self) -> Result<mpsc::Sender<Input>, NotAttached> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.as_ref().map(|(_, tx)| tx.clone()).ok_or(NotAttached)
    }

    pub(crate) fn new_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A scheduler stream number no term of this master used before (a
    /// stream of an ended term that closes late must not close another).
    pub fn new_stream_id(&self) -> StreamId {
        self.next_stream.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The agent counts of the last step, for status.
    pub fn counts(&self) -> Option<AgentCounts> {
        self.leader_counts().map(|c| c.agents)
    }

    /// The figures of the last step, for metrics.
    pub fn leader_counts(&self) -> Option<LeaderCounts> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn attach(&self, term: u64, tx: mpsc::Sender<Input>) {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = Some((term, tx));
    }

    pub(super) fn detach(&self, term: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.as_ref().is_some_and(|(t, _)| *t == term) {
            *inner = None;
            *self.counts.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    pub(super) fn publish(&self, counts: LeaderCounts) {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner()) = Some(counts);
    }

    /// Sends the input `make` builds around a reply channel and waits for
    /// the answer: every call into the term's driver goes this way.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Input,
    ) -> Result<T, NotAttached> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(make(reply))
            .await
            .map_err(|_| NotAttached)?;
        answer.await.map_err(|_| NotAttached)
    }

    /// MARK_AGENT_GONE through the table (every agent command of a term
    /// comes from it).
    pub async fn mark_gone(&self, agent_id: String) -> Result<MarkGoneAnswer, NotAttached> {
        self.ask(|reply| Input::MarkGone { agent_id, reply }).await
    }

    /// Sends a task or a task group to its agent (the internal launch
    /// path, without offers).
    pub async fn launch(&self, launch: Launch) -> Result<Result<(), LaunchError>, NotAttached> {
        self.ask(|reply| Input::Launch {
            launch: Box::new(launch),
            reply,
        })
        .await
    }

    pub async fn kill(
        &self,
        framework_id: String,
        task_id: String,
    ) -> Result<Result<(), KillError>, NotAttached> {
        self.ask(|reply| Input::Kill {
            framework_id,
            task_id,
            reply,
        })
        .await
    }

    pub async fn tasks(&self) -> Result<TasksView, NotAttached> {
        self.ask(|reply| Input::Tasks { reply }).await
    }

    pub async fn view(&self) -> Result<AgentsView, NotAttached> {
        self.ask(|reply| Input::View { reply }).await
    }

    pub async fn frameworks(&self) -> Result<FrameworksView, NotAttached> {
        self.ask(|reply| Input::Frameworks { reply }).await
    }

    /// Opens an operator event stream: SUBSCRIBED, then every change,
    /// follow on `events` until the term ends or the reader falls behind.
    pub async fn operator_subscribe(
        &self,
        events: mpsc::Sender<OperatorEvent>,
    ) -> Result<(), NotAttached> {
        self.ask(|reply| Input::OperatorSubscribe { events, reply })
            .await
    }

    /// Agents, frameworks and tasks as one step of the driver sees them.
    pub async fn cluster(&self) -> Result<ClusterView, NotAttached> {
        self.ask(|reply| Input::Cluster { reply }).await
    }

    /// Opens a scheduler stream for a SUBSCRIBE; SUBSCRIBED (or ERROR)
    /// follows on `subscription.events`.
    pub async fn subscribe(&self, subscription: Subscription) -> Result<OpenedStream, NotAttached> {
        self.ask(|reply| Input::Subscribe {
            subscription: Box::new(subscription),
            reply,
        })
        .await
    }

    /// Any other scheduler call of a subscribed framework.
    pub async fn call(
        &self,
        framework_id: String,
        stream_id: String,
        call: SchedulerCall,
    ) -> Result<Result<(), CallRefusal>, NotAttached> {
        self.ask(|reply| Input::Call {
            framework_id,
            stream_id,
            call: Box::new(call),
            reply,
        })
        .await
    }

    /// A scheduler stream's reader went away (the framework closed the
    /// connection). Never waits: called from a drop.
    pub fn stream_ended(&self, stream: StreamId) {
        if let Ok(sender) = self.sender() {
            if sender.try_send(Input::StreamEnded { stream }).is_err() {
                // The queue is full: hand it to a task rather than lose it.
                tokio::spawn(async move {
                    let _ = sender.send(Input::StreamEnded { stream }).await;
                });
            }
        }
    }
}
