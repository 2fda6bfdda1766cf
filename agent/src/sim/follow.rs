//! One simulated agent following the leader, as `mesoraft agent` does:
//! masters tried in [`MasterList`] order, a named leader followed at once,
//! [`Backoff`] with full jitter before every other retry (the first one
//! after a lost leader included), pings answered and master messages read
//! by [`react`]. What it leaves out is the agent's disk: no checkpoint, no
//! executors; its tasks exist only in its re-registration.
//!
//! Each session holds a permit of the simulator's attempt limit
//! (`--connect-rate`) from its opening until the master registers the
//! agent or the session ends, so the simulator never has more than that
//! many connection attempts and registrations in flight.

use std::sync::Arc;
use std::time::Duration;

use mesoraft_proto::agent::agent_sessions_client::AgentSessionsClient;
use mesoraft_proto::agent::{agent_to_master, AgentToMaster};
use rand::SeedableRng;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::book::{Ending, ReportLine};
use super::tasks;
use super::{unix_ns, Shared};
use crate::backoff::Backoff;
use crate::driver::Reregistration;
use crate::masters::{MasterAddr, MasterList};
use crate::retry::{election_delay, Next, Retry};
use crate::session::link::{self, SessionEnd};
use crate::session::reaction::{react, register_again, Reaction};

/// How long a session waits for the master's first answer (the master
/// writes a first registration to the registry before it answers).
const FIRST_ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest message either side may send.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// How a simulated agent moves on after an attempt that neither
/// registered it nor was redirected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Reconnect {
    /// As `mesoraft agent` (`crate::retry`): the round's other masters are
    /// tried at once; the jittered, doubling backoff comes after losing
    /// the leader and after a round in which no master took the agent.
    #[default]
    Agent,
    /// The agent's former policy, for comparison: the backoff after every
    /// such attempt (a refused connection to the dead leader included).
    Backoff,
}

/// One simulated agent across its sessions.
struct SimAgent {
    index: usize,
    /// The id the masters gave it.
    id: Option<String>,
    /// Sessions opened since it was last registered.
    attempts: u32,
}

/// How one session went.
struct Session {
    end: SessionEnd,
    registered: bool,
}

/// Follows the leader until the agent is told to stop.
pub(super) async fn follow(index: usize, shared: Arc<Shared>) {
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut list = match MasterList::new(shared.masters.clone()) {
        Ok(list) => list,
        Err(e) => {
            shared.stopped(index, e.to_string());
            return;
        }
    };
    let mut backoff = Backoff::registration(shared.backoff_factor);
    let mut agent = SimAgent {
        index,
        id: None,
        attempts: 0,
    };
    let mut retry = Retry::default();
    loop {
        let addr = list.next(&mut rng);
        let mut session = session(&addr, &mut agent, &shared).await;
        if shared.reconnect == Reconnect::Agent {
            session.end = retry.read(&addr, session.end, session.registered);
        }
        if session.registered {
            backoff.reset();
            list.new_round();
        }
        let round_left = shared.reconnect == Reconnect::Agent && list.round_left();
        let next = match retry.after(&session.end, session.registered, round_left) {
            // The former policy knew no short wait after an election.
            Next::AfterElection if shared.reconnect == Reconnect::Backoff => Next::Backoff,
            next => next,
        };
        let ending = match &session.end {
            SessionEnd::Redirect(_) => Ending::Redirected,
            SessionEnd::NoLeader(_) => Ending::NoLeader,
            SessionEnd::Lost(_) => Ending::Lost,
            SessionEnd::Shutdown(_) | SessionEnd::Unauthorized(_) | SessionEnd::Fatal(_) => {
                Ending::Stopped
            }
        };
        shared.tally(|t| t.ended(ending, session.registered));
        match session.end {
            SessionEnd::Redirect(leader) => list.follow_leader(leader),
            SessionEnd::NoLeader(why) | SessionEnd::Lost(why) => {
                tracing::debug!(agent = index, master = %addr, why, "session ended");
            }
            SessionEnd::Shutdown(why) | SessionEnd::Unauthorized(why) | SessionEnd::Fatal(why) => {
                shared.stopped(index, why);
                return;
            }
        }
        match next {
            Next::Backoff => tokio::time::sleep(backoff.next_delay_with(&mut rng)).await,
            Next::AfterElection => tokio::time::sleep(election_delay(&mut rng)).await,
            Next::Now | Next::Stop => {}
        }
    }
}

fn envelope(message: agent_to_master::Message) -> AgentToMaster {
    AgentToMaster {
        message: Some(message),
    }
}

/// One session with the master at `addr`.
async fn session(addr: &MasterAddr, agent: &mut SimAgent, shared: &Shared) -> Session {
    let lost = |why: String| Session {
        end: SessionEnd::Lost(why),
        registered: false,
    };
    // The semaphore is never closed; without a permit the attempt would
    // merely be unbounded.
    let mut permit = shared.attempt_slots.acquire().await.ok();
    shared.tally(|t| t.attempt());
    agent.attempts += 1;
    let started_ns = unix_ns();
    let channel = match shared.pool.channel(addr, agent.index) {
        Ok(channel) => channel,
        Err(e) => return lost(e.to_string()),
    };
    let mut client = AgentSessionsClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let mut info = shared.fleet.info(agent.index, agent.id.as_deref());
    let again = agent.id.is_some();
    let (outbound, outbound_rx) = mpsc::channel::<AgentToMaster>(16);
    // Queued before the call: the master reads the hello first.
    if outbound
        .try_send(envelope(shared.fleet.hello(agent.index, &info)))
        .is_err()
    {
        return lost("the outbound queue is closed".into());
    }
    let mut request = tonic::Request::new(ReceiverStream::new(outbound_rx));
    if let Some(value) = &shared.auth_header {
        request
            .metadata_mut()
            .insert(mesoraft_proto::auth::AUTH_HEADER, value.clone());
    }
    let mut inbound =
        match tokio::time::timeout(FIRST_ANSWER_TIMEOUT, client.session(request)).await {
            Err(_) => return lost(format!("no answer from {addr} in {FIRST_ANSWER_TIMEOUT:?}")),
            Ok(Err(status)) => {
                return Session {
                    end: refusal(addr, &status),
                    registered: false,
                }
            }
            Ok(Ok(response)) => response.into_inner(),
        };
    let mut registered = false;
    let mut silence_limit = FIRST_ANSWER_TIMEOUT;
    let end = loop {
        let message = match tokio::time::timeout(silence_limit, inbound.message()).await {
            Err(_) => {
                break SessionEnd::Lost(format!(
                    "no word from the master at {addr} for {silence_limit:?}"
                ))
            }
            Ok(Err(status)) => break refusal(addr, &status),
            Ok(Ok(None)) => {
                break SessionEnd::Lost(format!("the master at {addr} ended the session"))
            }
            Ok(Ok(Some(envelope))) => match envelope.message {
                Some(message) => message,
                None => continue,
            },
        };
        let replies = match react(message) {
            Reaction::Reply(messages) => messages,
            // The master does not count the agent (a one-way partition
            // healed): answer, then re-register with the tasks it runs.
            Reaction::RegisterAgain => register_again(&info, Reregistration::default())
                .into_iter()
                .map(|message| match message {
                    agent_to_master::Message::ReregisterSlave(_) => {
                        shared.fleet.hello(agent.index, &info)
                    }
                    other => other,
                })
                .collect(),
            Reaction::Registered {
                agent_id,
                total_ping_timeout,
            } => {
                permit.take();
                let at_ns = unix_ns();
                if agent.id.as_deref() != Some(agent_id.value.as_str()) {
                    agent.id = Some(agent_id.value.clone());
                    info = shared.fleet.info(agent.index, agent.id.as_deref());
                }
                if !registered {
                    shared.tally(|t| t.registered(again));
                }
                shared.report(ReportLine::Registered {
                    at_ns,
                    agent: shared.fleet.name(agent.index),
                    agent_id: agent_id.value,
                    master: addr.to_string(),
                    again,
                    attempt_started_ns: started_ns,
                    attempts: agent.attempts,
                });
                agent.attempts = 0;
                registered = true;
                silence_limit = total_ping_timeout
                    .map(|t| t + t / 5)
                    .unwrap_or(FIRST_ANSWER_TIMEOUT);
                Vec::new()
            }
            Reaction::Shutdown(why) => break SessionEnd::Shutdown(why),
            // Task messages are answered as `--tasks` says, from the
            // id the master gave; acknowledgements need no answer.
            Reaction::Forward(message) => match agent.id.as_deref() {
                Some(agent_id) => task_updates(shared, agent_id, &message),
                None => Vec::new(),
            },
            Reaction::Ignore(_) => Vec::new(),
        };
        for message in replies {
            if outbound.send(envelope(message)).await.is_err() {
                return Session {
                    end: SessionEnd::Lost("the stream to the master closed".into()),
                    registered,
                };
            }
        }
    };
    Session { end, registered }
}

/// The status updates `message` calls for, stamped now.
fn task_updates(
    shared: &Shared,
    agent_id: &str,
    message: &mesoraft_proto::agent::master_to_agent::Message,
) -> Vec<agent_to_master::Message> {
    let planned = tasks::answer(shared.task_mode, message);
    if planned.is_empty() {
        return Vec::new();
    }
    shared.tally(|t| t.updates_sent += planned.len() as u64);
    let now = unix_ns() as f64 / 1e9;
    planned
        .into_iter()
        .map(|p| tasks::update_message(p, agent_id, uuid::Uuid::new_v4().as_bytes().to_vec(), now))
        .collect()
}

/// What a gRPC status means: the agent's reading of a refusal, except
/// that a status made here from a local error (the connection was refused
/// or broke) carries that error as its source and means the master was
/// not reached.
fn refusal(addr: &MasterAddr, status: &tonic::Status) -> SessionEnd {
    if std::error::Error::source(status).is_some() {
        return SessionEnd::Lost(format!("{addr}: {}", status.message()));
    }
    link::refusal(addr, status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::link::LEADER_METADATA;

    #[test]
    fn a_master_answer_is_read_from_its_code_and_metadata_and_a_local_error_is_lost() {
        let addr: MasterAddr = "m1:5050".parse().unwrap();
        let mut redirect = tonic::Status::failed_precondition("not the leader");
        redirect
            .metadata_mut()
            .insert(LEADER_METADATA, "m2:5050".parse().unwrap());
        assert_eq!(
            refusal(&addr, &redirect),
            SessionEnd::Redirect("m2:5050".parse().unwrap())
        );
        assert!(matches!(
            refusal(&addr, &tonic::Status::failed_precondition("x")),
            SessionEnd::NoLeader(_)
        ));
        assert!(matches!(
            refusal(&addr, &tonic::Status::unavailable("starting")),
            SessionEnd::NoLeader(_)
        ));
        assert!(matches!(
            refusal(&addr, &tonic::Status::unauthenticated("x")),
            SessionEnd::Unauthorized(_)
        ));
        // A refused connection: tonic makes an UNAVAILABLE status from the
        // local error, which is no master's answer.
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let local = tonic::Status::from_error(Box::new(io));
        assert!(
            matches!(refusal(&addr, &local), SessionEnd::Lost(_)),
            "{local:?}"
        );
    }
}
