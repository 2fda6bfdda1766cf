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
//!
//! A batch is bounded in commands and in encoded bytes
//! ([`MAX_PROPOSAL_BYTES`]), so an entry always fits one AppendEntries
//! (see `crate::limits`). A command is checked before it is queued: one
//! that breaks a registry limit, or whose encoding alone is over
//! [`MAX_COMMAND_BYTES`], is refused there and never reaches Raft.

use std::fmt;
use std::io;
use std::sync::Arc;

use mesoraft_registry::{check_command, Command, CommandResult, Limit, RegistryError};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::limits::{MAX_COMMAND_BYTES, MAX_PROPOSAL_BYTES};
use crate::{ClientWriteError, ForwardToLeader, Raft, RaftError, RaftMetrics};
use openraft::ServerState;

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
    /// This master was not the leader when the batch was about to be
    /// proposed, so nothing was handed to Raft: certainly not applied. Says
    /// who the leader is, when known.
    #[error("this master is not the leader")]
    NotLeader(ForwardToLeader),
    /// Refused before it was proposed: the command breaks a registry limit
    /// or rule that does not depend on the registry's state, or encodes to
    /// more than `MAX_COMMAND_BYTES` (`LimitExceeded` with
    /// `Limit::Command`). Certainly not applied.
    #[error("{0}")]
    Refused(RegistryError),
    /// The command was handed to Raft (or the master is shutting down, or
    /// the reply was lost) and may or may not be committed. In particular
    /// openraft answers ForwardToLeader also after a newer leader truncated
    /// the entry, and with four or more voters a third leader holding a
    /// copy can still commit it: a client that took that for a failure and
    /// resent the command would apply it twice.
    #[error("{0}")]
    OutcomeUnknown(String),
}

/// What a failed `client_write` means for its commands. Any error after
/// the proposal was handed to Raft leaves the outcome unknown.
pub fn after_submission(e: &RaftError<ClientWriteError>) -> WriteError {
    WriteError::OutcomeUnknown(match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            format!(
            "leadership moved (to {}) while the write was in flight; it may still be committed \
             by a later leader: read before you retry",
            f.leader_id
                .map_or_else(|| "an unknown master".to_string(), |id| format!("master {id}"))
        )
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            format!("the write met a membership change ({e}); it may or may not take effect")
        }
        RaftError::Fatal(e) => {
            format!("this master's Raft core stopped ({e}); the write may or may not take effect")
        }
    })
}

/// Whether a batch may be handed to Raft: only while Raft says this node
/// leads. Otherwise the commands fail for certain, with the leader to try.
pub fn before_submission(m: &RaftMetrics) -> Result<(), WriteError> {
    if m.state == ServerState::Leader {
        return Ok(());
    }
    let forward = match m.current_leader {
        Some(id) => match m.membership_config.membership().get_node(&id) {
            Some(node) => ForwardToLeader::new(id, node.clone()),
            None => ForwardToLeader {
                leader_id: Some(id),
                leader_node: None,
            },
        },
        None => ForwardToLeader::empty(),
    };
    Err(WriteError::NotLeader(forward))
}

/// How much the proposer packs together.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    /// Most commands in one log entry; bounds the time the state machine
    /// holds its lock while applying it.
    pub max_commands: usize,
    /// Most encoded bytes of commands in one log entry (each command
    /// counts its JSON length plus one separator). At least
    /// `MAX_COMMAND_BYTES + 1`, so any accepted command fits alone.
    pub max_bytes: usize,
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
            max_bytes: MAX_PROPOSAL_BYTES,
            max_in_flight: 1,
        }
    }
}

struct Pending {
    command: Command,
    /// What the command adds to a proposal's budget.
    cost: usize,
    reply: oneshot::Sender<Result<CommandResult, WriteError>>,
}

/// The encoded length of `command` in a log entry (JSON, as the log store
/// and the transport write it), without building the encoding.
pub fn encoded_len(command: &Command) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, command) {
        Ok(()) => counter.0,
        // Commands always encode; if one ever did not, it could not be
        // logged either: count it as too large.
        Err(_) => usize::MAX,
    }
}

/// Checks a command before it is queued; returns its cost in a batch.
fn admit(command: &Command) -> Result<usize, RegistryError> {
    check_command(command)?;
    let len = encoded_len(command);
    Limit::Command.check(len)?;
    Ok(len + 1)
}

/// Collects one batch: `first`, then items from `next` while they fit in
/// `limits` (by count and by the sum of `cost`). Returns the batch and the
/// item that did not fit, which must start the next batch. Pure, so the
/// budget rules are tested without Raft.
fn fill_batch<T>(
    first: T,
    cost: impl Fn(&T) -> usize,
    limits: &BatchLimits,
    mut next: impl FnMut() -> Option<T>,
) -> (Vec<T>, Option<T>) {
    let mut used = cost(&first);
    let mut batch = vec![first];
    while batch.len() < limits.max_commands {
        let Some(item) = next() else { break };
        let item_cost = cost(&item);
        if used.saturating_add(item_cost) > limits.max_bytes {
            return (batch, Some(item));
        }
        used += item_cost;
        batch.push(item);
    }
    (batch, None)
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
            max_bytes: limits.max_bytes.max(MAX_COMMAND_BYTES + 1),
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
    /// the outcome is unknown. A command over a limit is refused at once
    /// (`WriteError::Refused`) and never proposed.
    pub async fn write(&self, command: Command) -> Result<CommandResult, WriteError> {
        let cost = admit(&command).map_err(WriteError::Refused)?;
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            command,
            cost,
            reply,
        };
        if self.tx.send(pending).await.is_err() {
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
    // A command that did not fit the previous batch; it leads the next.
    let mut carried: Option<Pending> = None;
    loop {
        // Take a slot before looking at the queue: while every slot is busy,
        // commands pile up and leave together.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let (batch, rest) = fill_batch(first, |p| p.cost, &limits, || rx.try_recv().ok());
        carried = rest;
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
    let ready = before_submission(&raft.metrics().borrow());
    if let Err(e) = ready {
        for reply in replies {
            let _ = reply.send(Err(e.clone()));
        }
        return;
    }
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
            tracing::info!(commands = count, error = %e, "proposal failed after submission: outcome unknown");
            let outcome = after_submission(&e);
            for reply in replies {
                let _ = reply.send(Err(outcome.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_failure_after_submission_leaves_the_outcome_unknown() {
        let forwarded: RaftError<ClientWriteError> =
            RaftError::APIError(ClientWriteError::ForwardToLeader(ForwardToLeader {
                leader_id: Some(2),
                leader_node: None,
            }));
        let e = after_submission(&forwarded);
        assert!(
            matches!(&e, WriteError::OutcomeUnknown(why) if why.contains("master 2")),
            "{e:?}"
        );
    }

    #[test]
    fn only_a_leader_hands_batches_to_raft() {
        let mut m = RaftMetrics::new_initial(1);
        m.state = ServerState::Follower;
        m.current_leader = Some(3);
        assert!(matches!(
            before_submission(&m),
            Err(WriteError::NotLeader(f)) if f.leader_id == Some(3)
        ));
        m.state = ServerState::Candidate;
        m.current_leader = None;
        assert!(matches!(
            before_submission(&m),
            Err(WriteError::NotLeader(f)) if f.leader_id.is_none()
        ));
        m.state = ServerState::Leader;
        assert!(before_submission(&m).is_ok());
    }
    use mesoraft_proto::mesos::v1::WeightInfo;
    use mesoraft_registry::{MAX_ROLE_LEN, MAX_WEIGHT_INFOS_PER_CALL};

    fn limits(max_commands: usize, max_bytes: usize) -> BatchLimits {
        BatchLimits {
            max_commands,
            max_bytes,
            max_in_flight: 1,
        }
    }

    /// Splits a queue of costs into batches the way the loop does.
    fn batches(costs: &[usize], limits: &BatchLimits) -> Vec<Vec<usize>> {
        let mut queue = costs.iter().copied();
        let mut carried = None;
        let mut out = Vec::new();
        while let Some(first) = carried.take().or_else(|| queue.next()) {
            let (batch, rest) = fill_batch(first, |c| *c, limits, || queue.next());
            out.push(batch);
            carried = rest;
        }
        out
    }

    #[test]
    fn a_batch_never_exceeds_the_byte_budget_or_the_count() {
        let l = limits(3, 10);
        assert_eq!(batches(&[4, 4, 4, 1], &l), vec![vec![4, 4], vec![4, 1]]);
        assert_eq!(
            batches(&[1, 1, 1, 1, 1], &l),
            vec![vec![1, 1, 1], vec![1, 1]]
        );
        assert_eq!(
            batches(&[10, 1, 9, 2], &l),
            vec![vec![10], vec![1, 9], vec![2]]
        );
        // Nothing is lost or reordered.
        let costs: Vec<usize> = (0..200).map(|i| 1 + (i * 7) % 10).collect();
        let split = batches(&costs, &l);
        assert_eq!(split.concat(), costs);
        for batch in split {
            assert!(
                batch.len() <= 3 && batch.iter().sum::<usize>() <= 10,
                "{batch:?}"
            );
        }
    }

    #[test]
    fn the_largest_commands_batch_within_the_default_budget() {
        let largest = Command::UpdateWeights {
            weights: (0..MAX_WEIGHT_INFOS_PER_CALL)
                .map(|i| WeightInfo {
                    weight: 1.5,
                    role: Some(format!("{i:04}{}", "r".repeat(MAX_ROLE_LEN - 4))),
                })
                .collect(),
        };
        let cost = admit(&largest).expect("the largest command is accepted");
        let l = BatchLimits::default();
        let split = batches(&vec![cost; 64], &l);
        assert!(split.len() > 1);
        for batch in split {
            assert!(batch.iter().sum::<usize>() <= MAX_PROPOSAL_BYTES);
        }
    }

    #[test]
    fn commands_over_a_limit_are_refused_before_raft() {
        let long_role = Command::UpdateWeights {
            weights: vec![WeightInfo {
                weight: 1.0,
                role: Some("r".repeat(MAX_ROLE_LEN + 1)),
            }],
        };
        assert!(matches!(
            admit(&long_role),
            Err(RegistryError::LimitExceeded {
                limit: Limit::RoleName,
                ..
            })
        ));
        // A command no registry limit covers, still too large to log.
        let huge = Command::InitCluster {
            cluster_id: "c".repeat(MAX_COMMAND_BYTES),
        };
        assert!(matches!(
            admit(&huge),
            Err(RegistryError::LimitExceeded {
                limit: Limit::Command,
                actual,
            }) if actual > MAX_COMMAND_BYTES
        ));
    }

    #[test]
    fn encoded_len_is_the_json_length() {
        let command = Command::InitCluster {
            cluster_id: "c\u{1}\"é".into(),
        };
        assert_eq!(
            encoded_len(&command),
            serde_json::to_vec(&command).unwrap().len()
        );
    }
}
