//! The gRPC `AgentSessions` service: one bidirectional stream per agent.
//! A master that does not lead refuses the stream at once, naming the
//! leader in the `mesoraft-leader` metadata when it knows it; the leader
//! hands the stream to the current term's table (`crate::driver`) and relays
//! messages both ways until either side ends it.

use std::pin::Pin;
use std::sync::Arc;

use mesoraft_proto::agent::agent_sessions_server::{AgentSessions, AgentSessionsServer};
use mesoraft_proto::agent::{AgentToMaster, MasterToAgent};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::{Input, Outbound};
use crate::leader::NotLeader;
use crate::Master;

/// The metadata key naming the leader in a refusal.
pub const LEADER_METADATA: &str = "mesoraft-leader";

/// The largest message an agent may send: a re-registration carries every
/// task and executor it runs.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

pub struct AgentService {
    master: Arc<Master>,
}

impl AgentService {
    pub fn new(master: Arc<Master>) -> Self {
        Self { master }
    }

    pub fn into_server(self) -> AgentSessionsServer<Self> {
        AgentSessionsServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

/// The gRPC status for a master that cannot take agent sessions now.
pub fn refusal(not_leader: &NotLeader) -> Status {
    match not_leader {
        NotLeader::At(address) => {
            let mut status = Status::failed_precondition(format!(
                "not the leading master; the leader is {address}"
            ));
            if let Ok(value) = address.parse() {
                status.metadata_mut().insert(LEADER_METADATA, value);
            }
            status
        }
        other => Status::unavailable(format!("no leading master here now: {other}")),
    }
}

#[tonic::async_trait]
impl AgentSessions for AgentService {
    type SessionStream = Pin<Box<dyn Stream<Item = Result<MasterToAgent, Status>> + Send>>;

    async fn session(
        &self,
        request: Request<Streaming<AgentToMaster>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let headers = request.metadata().clone().into_headers();
        // Where the agent connects from: the address frameworks reach its
        // HTTP endpoints at (Mesos's agent PID), given in offers.
        let peer_ip = request.remote_addr().map(|a| a.ip());
        if !self.master.security.authorizes(&headers) {
            return Err(Status::unauthenticated(
                "missing or wrong cluster secret token; start the agent with the cluster's \
                 --cluster-secret-file",
            ));
        }
        self.master.require_leader().map_err(|n| refusal(&n))?;
        let hub = &self.master.hub;
        let inputs = hub
            .sender()
            .map_err(|_| Status::unavailable("the leader is still starting its agent sessions"))?;
        let session = hub.new_session_id();
        let (outbound, responses) = mpsc::channel(super::OUTBOUND_QUEUE);
        inputs
            .send(Input::Opened {
                session,
                outbound,
                peer_ip,
            })
            .await
            .map_err(|_| Status::unavailable("leadership ended"))?;
        let mut inbound = request.into_inner();
        let peer_inputs = inputs.clone();
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(AgentToMaster {
                        message: Some(message),
                    })) => {
                        if peer_inputs
                            .send(Input::Message { session, message })
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                    // An empty envelope (a newer agent's message this
                    // master does not know): ignored.
                    Ok(Some(AgentToMaster { message: None })) => {}
                    Ok(None) => break,
                    Err(status) => {
                        tracing::debug!(session, error = %status, "agent stream ended with an error");
                        break;
                    }
                }
            }
            let _ = peer_inputs.send(Input::Closed { session }).await;
        });
        let responses = ReceiverStream::new(responses).map(|message: Outbound| Ok(*message));
        Ok(Response::new(Box::pin(responses)))
    }
}
