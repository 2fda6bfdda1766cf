//! One session with one master: open the stream, say hello (register or
//! re-register with what the agent runs), then answer the master until
//! the stream ends, the master falls silent for longer than the ping
//! budget, or it orders a shutdown. Once registered, the runtime sends
//! its status updates and executor messages through the same stream and
//! gets the master's task messages. How the session ended decides where
//! the agent goes next.

use std::time::Duration;

use mesoraft_proto::agent::agent_sessions_client::AgentSessionsClient;
use mesoraft_proto::agent::{agent_to_master, AgentToMaster, MasterToAgent};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use super::access::MasterAccess;
use super::reaction::{hello, react, register_again, Reaction};
use super::AgentState;
use crate::driver::Input;
use crate::masters::MasterAddr;

/// The metadata key a master names the leader under when it refuses.
pub const LEADER_METADATA: &str = "mesoraft-leader";
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the agent waits for the first answer of a master that took
/// the stream (it writes the admission to the registry first).
const FIRST_ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a master that took the connection may take to answer the
/// session call. The leader answers at once (the registration itself
/// comes later, after [`FIRST_ANSWER_TIMEOUT`] at most).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// HTTP/2 keepalive: finds a dead connection even between pings.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// Messages to the master waiting to be sent (status updates beyond it
/// wait for their retry).
const OUTBOUND_QUEUE: usize = 1024;

/// How a session ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEnd {
    /// The master does not lead; the leader is there.
    Redirect(MasterAddr),
    /// The master does not lead and names no leader (or is not ready).
    NoLeader(String),
    /// Unreachable, the stream broke or ended, or the master fell silent.
    Lost(String),
    /// The master ordered the agent to stop.
    Shutdown(String),
    /// The master refused the agent's credentials: retrying cannot help.
    Unauthorized(String),
    /// The agent could not record its identity on disk.
    Fatal(String),
}

/// An open stream with a master: what the agent sends and what it hears.
pub struct OpenSession {
    pub outbound: mpsc::Sender<AgentToMaster>,
    pub inbound: tonic::Streaming<MasterToAgent>,
}

/// Connects to `addr` and opens the session stream with `first` as its
/// first message. A master that accepts the connection but does not
/// answer the call within `answer_timeout` (a stopped process: the kernel
/// still completes its handshakes) is given up: left to HTTP/2 keepalive,
/// the agent would wait about twice [`KEEPALIVE`] there before trying the
/// next master.
pub async fn open(
    addr: &MasterAddr,
    access: &MasterAccess,
    first: agent_to_master::Message,
    answer_timeout: Duration,
) -> Result<OpenSession, SessionEnd> {
    let endpoint = access
        .endpoint(addr)
        .map_err(SessionEnd::Lost)?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE)
        .tcp_nodelay(true);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| SessionEnd::Lost(format!("cannot connect to {addr}: {e}")))?;
    let mut client = AgentSessionsClient::new(channel)
        .max_decoding_message_size(16 * 1024 * 1024)
        .max_encoding_message_size(16 * 1024 * 1024);

    let (outbound, outbound_rx) = mpsc::channel::<AgentToMaster>(OUTBOUND_QUEUE);
    // Queued before the call: the master reads the hello first.
    if outbound.try_send(envelope(first)).is_err() {
        return Err(SessionEnd::Lost("the outbound queue is closed".into()));
    }
    let mut request = tonic::Request::new(ReceiverStream::new(outbound_rx));
    if let Some(value) = access.auth_header.as_deref().and_then(|h| h.parse().ok()) {
        request
            .metadata_mut()
            .insert(mesoraft_proto::auth::AUTH_HEADER, value);
    }
    match tokio::time::timeout(answer_timeout, client.session(request)).await {
        Err(_) => Err(SessionEnd::Lost(format!(
            "the master at {addr} took the connection but did not answer within \
             {answer_timeout:?} (stopped or overloaded); trying another master"
        ))),
        Ok(Err(status)) => Err(refusal(addr, &status)),
        Ok(Ok(response)) => Ok(OpenSession {
            outbound,
            inbound: response.into_inner(),
        }),
    }
}

/// Runs one session with the master at `addr`.
pub async fn run(addr: &MasterAddr, access: &MasterAccess, agent: &mut AgentState) -> SessionEnd {
    let running = agent.handle.reregistration().await;
    let OpenSession {
        outbound,
        mut inbound,
    } = match open(addr, access, hello(&agent.info, running), ANSWER_TIMEOUT).await {
        Ok(session) => session,
        Err(end) => return end,
    };

    let mut silence_limit = FIRST_ANSWER_TIMEOUT;
    loop {
        let next = tokio::time::timeout(silence_limit, inbound.message()).await;
        let message = match next {
            Err(_) => {
                return SessionEnd::Lost(format!(
                    "no word from the master at {addr} for {silence_limit:?}"
                ))
            }
            Ok(Err(status)) => return refusal(addr, &status),
            Ok(Ok(None)) => {
                return SessionEnd::Lost(format!("the master at {addr} ended the session"))
            }
            Ok(Ok(Some(envelope))) => match envelope.message {
                Some(message) => message,
                None => continue,
            },
        };
        match react(message) {
            Reaction::Reply(messages) => {
                for message in messages {
                    if outbound.send(envelope(message)).await.is_err() {
                        return SessionEnd::Lost("the stream to the master closed".into());
                    }
                }
            }
            Reaction::RegisterAgain => {
                let running = agent.handle.reregistration().await;
                for message in register_again(&agent.info, running) {
                    if outbound.send(envelope(message)).await.is_err() {
                        return SessionEnd::Lost("the stream to the master closed".into());
                    }
                }
            }
            Reaction::Forward(message) => agent.handle.send(Input::Master(message)),
            Reaction::Registered {
                agent_id,
                total_ping_timeout,
            } => {
                if let Err(e) = agent.registered(agent_id, addr) {
                    return SessionEnd::Fatal(e);
                }
                // Status updates (paused while the agent had no master)
                // go to this master from now on.
                agent.handle.send(Input::MasterConnected {
                    outbound: outbound.clone(),
                    agent: Box::new(agent.info.clone()),
                });
                // Silence past the master's whole ping budget means it is
                // gone or cut off; a little slack covers scheduling.
                silence_limit = total_ping_timeout
                    .map(|t| t + t / 5)
                    .unwrap_or(FIRST_ANSWER_TIMEOUT);
            }
            Reaction::Shutdown(why) => return SessionEnd::Shutdown(why),
            Reaction::Ignore(why) => tracing::debug!(why, "message from the master ignored"),
        }
    }
}

fn envelope(message: agent_to_master::Message) -> AgentToMaster {
    AgentToMaster {
        message: Some(message),
    }
}

/// What a gRPC status from a master means for the agent. Decided by the
/// status code and metadata, never by the message text.
pub(crate) fn refusal(addr: &MasterAddr, status: &tonic::Status) -> SessionEnd {
    match status.code() {
        Code::FailedPrecondition => {
            let leader = status
                .metadata()
                .get(LEADER_METADATA)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<MasterAddr>().ok());
            match leader {
                Some(leader) => SessionEnd::Redirect(leader),
                None => SessionEnd::NoLeader(status.message().to_string()),
            }
        }
        Code::Unavailable => SessionEnd::NoLeader(format!("{addr}: {}", status.message())),
        Code::Unauthenticated | Code::PermissionDenied => {
            SessionEnd::Unauthorized(format!("{addr}: {}", status.message()))
        }
        _ => SessionEnd::Lost(format!("{addr}: {}", status.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A "master" whose kernel completes TCP handshakes while the process
    /// answers nothing, like a SIGSTOPped one.
    async fn stopped_master() -> (tokio::net::TcpListener, MasterAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string().parse().unwrap();
        (listener, addr)
    }

    #[tokio::test]
    async fn a_master_that_takes_the_connection_but_never_answers_is_given_up_soon() {
        let (listener, addr) = stopped_master().await;
        // Accepted and held, never read: what a stopped process offers.
        let held = tokio::spawn(async move {
            let mut sockets = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                sockets.push(socket);
            }
        });
        let access = MasterAccess::default();
        let hello = agent_to_master::Message::Pong(Default::default());
        let answer_timeout = Duration::from_millis(300);
        let started = Instant::now();
        let end = tokio::time::timeout(
            Duration::from_secs(5),
            open(&addr, &access, hello, answer_timeout),
        )
        .await
        .expect("still waiting for a stopped master after 5 s (HTTP/2 keepalive alone)");
        assert!(matches!(end, Err(SessionEnd::Lost(_))), "{:?}", end.err());
        assert!(started.elapsed() >= answer_timeout);
        held.abort();
    }

    #[test]
    fn a_refusal_is_read_from_its_code_and_metadata() {
        let addr: MasterAddr = "m1:5050".parse().unwrap();
        let mut redirect = tonic::Status::failed_precondition("anything");
        redirect
            .metadata_mut()
            .insert(LEADER_METADATA, "m2:5050".parse().unwrap());
        assert_eq!(
            refusal(&addr, &redirect),
            SessionEnd::Redirect("m2:5050".parse().unwrap())
        );
        let mut garbage = tonic::Status::failed_precondition("x");
        garbage
            .metadata_mut()
            .insert(LEADER_METADATA, "not an address".parse().unwrap());
        assert!(matches!(refusal(&addr, &garbage), SessionEnd::NoLeader(_)));
        assert!(matches!(
            refusal(&addr, &tonic::Status::unavailable("x")),
            SessionEnd::NoLeader(_)
        ));
        assert!(matches!(
            refusal(&addr, &tonic::Status::unauthenticated("x")),
            SessionEnd::Unauthorized(_)
        ));
        assert!(matches!(
            refusal(&addr, &tonic::Status::internal("x")),
            SessionEnd::Lost(_)
        ));
    }
}
