//! Group commit for registry commands.
//!
//! openraft 0.9 appends every client write as its own log entry and waits
//! for that entry's fsync before it looks at the next write, so a leader
//! tops out at one write per fsync (about 2,000 per second on a VM disk).
//! The proposer packs the commands that arrive while earlier proposals are
//! still in flight into one [`Proposal`]: one entry, one fsync per master
//! and one replication round for the whole batch. A lone writer finds a
//! free slot and gets its own entry at once, so batching adds no latency
//! when there is no load.

use std::fmt;
use std::sync::Arc;

use mesoraft_registry::{Command, CommandResult};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::{ClientWriteError, Raft, RaftError};

/// The payload of one Raft log entry: registry commands applied in order,
/// each with its own result. Commands in one proposal are unrelated client
/// requests; one failing does not affect the others.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub commands: Vec<Command>,
}

impl Proposal {
    pub fn single(command: Command) -> Self {
        Proposal {
            commands: vec![command],
        }
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proposal of {} command(s)", self.commands.len())
    }
}

/// Why a proposed command has no result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// Raft refused or lost the proposal; the variant says which (not the
    /// leader, membership conflict, core stopped). Boxed: it is large and
    /// every waiter of a batch gets a copy.
    #[error(transparent)]
    Raft(Box<RaftError<ClientWriteError>>),
    /// The master is shutting down or the reply was lost: the command may
    /// or may not have been committed.
    #[error("{0}")]
    OutcomeUnknown(String),
}

/// How much the proposer packs together.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    /// Most commands in one log entry; bounds the entry's size and the time
    /// the state machine holds its lock while applying it.
    pub max_commands: usize,
    /// Proposals submitted to Raft and not yet answered; while all are
    /// busy, new commands wait and form the next batch. One is best with
    /// openraft 0.9, whose core waits for each entry's fsync before taking
    /// the next: measured with `jepsen bench throughput --writers 1,8,64`,
    /// 1 in flight gave 441 / 1872 / 10357 writes/s, 2 gave 449 / - / 8961,
    /// 4 gave 457 / 1409 / 7643.
    pub max_in_flight: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_commands: 256,
            max_in_flight: 1,
        }
    }
}

struct Pending {
    command: Command,
    reply: oneshot::Sender<Result<CommandResult, WriteError>>,
}

/// Handle to the batching task. Cheap to clone; the task ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<Pending>,
}

impl Proposer {
    /// Starts the batching task on the current tokio runtime.
    pub fn spawn(raft: Raft, limits: BatchLimits) -> Self {
        let limits = BatchLimits {
            max_commands: limits.max_commands.max(1),
            max_in_flight: limits.max_in_flight.max(1),
        };
        // Room for a burst of every connection's request; beyond that
        // `write` waits, which pushes back on the HTTP handlers.
        let (tx, rx) = mpsc::channel(limits.max_commands * 16);
        tokio::spawn(batch_loop(raft, rx, limits));
        Proposer { tx }
    }

    /// Proposes `command` and waits until it is applied (or refused). Not
    /// bounded in time: callers wrap it in their own timeout, after which
    /// the outcome is unknown.
    pub async fn write(&self, command: Command) -> Result<CommandResult, WriteError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Pending { command, reply }).await.is_err() {
            return Err(WriteError::OutcomeUnknown(
                "the master is shutting down and takes no more writes".into(),
            ));
        }
        answer.await.unwrap_or_else(|_| {
            Err(WriteError::OutcomeUnknown(
                "the proposal was dropped before an answer (master shutting down); \
                 the write may or may not take effect"
                    .into(),
            ))
        })
    }
}

async fn batch_loop(raft: Raft, mut rx: mpsc::Receiver<Pending>, limits: BatchLimits) {
    let slots = Arc::new(Semaphore::new(limits.max_in_flight));
    loop {
        // Take a slot before looking at the queue: while every slot is busy,
        // commands pile up and leave together.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < limits.max_commands {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            propose(&raft, batch).await;
            drop(slot);
        });
    }
}

async fn propose(raft: &Raft, batch: Vec<Pending>) {
    let (commands, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.command, p.reply)).unzip();
    let count = commands.len();
    tracing::trace!(commands = count, "proposing");
    match raft.client_write(Proposal { commands }).await {
        Ok(resp) if resp.data.len() == count => {
            for (reply, result) in replies.into_iter().zip(resp.data) {
                let _ = reply.send(Ok(result));
            }
        }
        Ok(resp) => {
            // The state machine answers every command of a proposal; a
            // mismatch means a bug, and nobody can tell which result is whose.
            tracing::error!(
                commands = count,
                results = resp.data.len(),
                log_index = resp.log_id.index,
                "proposal applied with a result count that does not match its commands"
            );
            for reply in replies {
                let _ = reply.send(Err(WriteError::OutcomeUnknown(format!(
                    "the write was committed at log index {} but its result was lost",
                    resp.log_id.index
                ))));
            }
        }
        Err(e) => {
            let e = Box::new(e);
            for reply in replies {
                let _ = reply.send(Err(WriteError::Raft(e.clone())));
            }
        }
    }
}
