//! The sending side of the Raft transport.
//!
//! Every request names the incarnation the local membership binds the
//! target to and carries this master's claim (and, now and then, its
//! witness ledger); every answer must come from that very incarnation and
//! from a run the ledger does not show to be a stale copy, or it is not
//! counted: openraft sees an unreachable peer instead.

// openraft's `RPCError` is the error type its network trait requires; the
// helpers here return it too.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesoraft_proto::raft::raft_client::RaftClient;
use mesoraft_proto::raft::RaftPayload;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::admission::{
    get_json, put_json, put_text, Addressing, RefusalKind, CLAIM_HEADER, GOSSIP_HEADER,
    REFUSAL_HEADER,
};
use super::codec;
use super::lease::QuorumClock;
use super::limits::RpcLimits;
use super::security::{ClusterSecret, AUTH_HEADER};
use super::{ClusterIdentity, CLUSTER_ID_HEADER};
use crate::identity::{short, Claim, IdentityHandle, PeerReport, Promise};
use crate::{MasterNode, NodeId, TypeConfig};

/// How often the witness ledger rides along on a stream of requests to one
/// peer (votes always carry it).
const GOSSIP_EVERY: Duration = Duration::from_millis(200);
/// Retry interval towards a peer whose incarnation is refused.
const IDENTITY_RETRY: Duration = Duration::from_secs(1);

/// How this master reaches its peers.
#[derive(Clone)]
pub struct PeerTransport {
    pub cluster: ClusterIdentity,
    pub identity: IdentityHandle,
    pub secret: Option<ClusterSecret>,
    /// TLS towards peers (their port serves TLS).
    pub tls: Option<ClientTlsConfig>,
    pub limits: RpcLimits,
    /// Bounds how long a send to a silently partitioned peer can hang
    /// before it counts as unreachable.
    pub connect_timeout: Duration,
    /// How often an unreachable peer is tried again (use the heartbeat
    /// interval): openraft's default of 500 ms lets a restarted master's
    /// election timer fire before the leader contacts it.
    pub retry_interval: Duration,
    /// Records which AppendEntries each peer accepted, and when they left.
    pub quorum_clock: QuorumClock,
    /// Records vote refusals for a newer log (see `election`).
    pub newer_logs: crate::last_seen::NewerLogSeen,
}

/// Creates openraft's per-peer clients, sharing one lazily connected
/// channel per peer address across replication streams and terms.
#[derive(Clone)]
pub struct GrpcNetworkFactory {
    transport: Arc<PeerTransport>,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl GrpcNetworkFactory {
    pub fn new(transport: PeerTransport) -> Self {
        Self {
            transport: Arc::new(transport),
            channels: Arc::default(),
        }
    }

    fn channel(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = channels.get(addr) {
            return Ok(ch.clone());
        }
        let t = &self.transport;
        let scheme = if t.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))?
            .connect_timeout(t.connect_timeout)
            .tcp_nodelay(true)
            // Detects peers that vanished without closing the connection
            // (pulled cable, paused process), so the next RPC reconnects
            // instead of waiting on a dead socket.
            .http2_keep_alive_interval(Duration::from_secs(1))
            .keep_alive_timeout(Duration::from_secs(3))
            .keep_alive_while_idle(true);
        if let Some(tls) = &t.tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        let ch = endpoint.connect_lazy();
        channels.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetworkFactory {
    type Network = GrpcPeer;

    async fn new_client(&mut self, target: NodeId, node: &MasterNode) -> GrpcPeer {
        let max = self.transport.limits.max_message_bytes;
        let client = match self.channel(&node.addr) {
            Ok(ch) => Ok(RaftClient::new(ch)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max)),
            Err(e) => {
                tracing::error!(target_node = target, addr = %node.addr, error = %e,
                    "invalid peer address in the Raft membership");
                Err(format!(
                    "invalid address {:?} for master {target}: {e}",
                    node.addr
                ))
            }
        };
        GrpcPeer {
            target,
            node: node.clone(),
            transport: self.transport.clone(),
            client,
            last_gossip: None,
        }
    }
}

/// One peer as seen by one replication stream (or one election).
pub struct GrpcPeer {
    target: NodeId,
    node: MasterNode,
    transport: Arc<PeerTransport>,
    client: Result<RaftClient<Channel>, String>,
    last_gossip: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

type RpcError<E> = RPCError<NodeId, MasterNode, RaftError<NodeId, E>>;
type RpcResult<T, E = openraft::error::Infallible> = Result<T, RpcError<E>>;

fn unreachable<E: std::error::Error>(msg: String) -> RpcError<E> {
    RPCError::Unreachable(Unreachable::new(&TransportError(msg)))
}

/// A decoded answer and the claim of the master that gave it.
struct Answer<T, E> {
    result: Result<T, RaftError<NodeId, E>>,
    claim: Claim,
}

impl GrpcPeer {
    fn identity(&self) -> &IdentityHandle {
        &self.transport.identity
    }

    fn build_request(
        &mut self,
        payload: RaftPayload,
        always_gossip: bool,
    ) -> tonic::Request<RaftPayload> {
        let t = &self.transport;
        let mut request = tonic::Request::new(payload);
        let md = request.metadata_mut();
        if let Some(id) = t.cluster.get() {
            put_text(md, CLUSTER_ID_HEADER, id);
        }
        if let Some(secret) = &t.secret {
            put_text(md, AUTH_HEADER, &secret.header_value());
        }
        Addressing {
            from: t.identity.local().node,
            to: self.target,
            to_incarnation: self.node.incarnation.clone(),
            claim: t.identity.claim(),
        }
        .write(md);
        let due = self
            .last_gossip
            .is_none_or(|at| at.elapsed() >= GOSSIP_EVERY);
        if always_gossip || due {
            let gossip = t.identity.gossip();
            if !gossip.is_empty() {
                put_json(md, GOSSIP_HEADER, &gossip);
            }
            self.last_gossip = Some(Instant::now());
        }
        request
    }

    /// Sends one RPC and decodes openraft's `Result` from the reply.
    async fn call<T, E, F, Fut>(
        &mut self,
        action: RPCTypes,
        payload: RaftPayload,
        option: &RPCOption,
        send: F,
    ) -> RpcResult<Answer<T, E>, E>
    where
        T: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
        F: FnOnce(RaftClient<Channel>, tonic::Request<RaftPayload>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<RaftPayload>, tonic::Status>>,
    {
        if let crate::identity::Standing::Forked { reason } = self.identity().standing() {
            return Err(unreachable(format!(
                "this master takes no part in the group: {reason}"
            )));
        }
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(msg) => return Err(unreachable(msg.clone())),
        };
        let request = self.build_request(payload, action == RPCTypes::Vote);
        let ttl = option.hard_ttl();
        let reply = match tokio::time::timeout(ttl, send(client, request)).await {
            Err(_) => {
                return Err(RPCError::Timeout(Timeout {
                    action,
                    id: self.identity().local().node,
                    target: self.target,
                    timeout: ttl,
                }))
            }
            Ok(Err(status)) => return Err(self.status_error(status)),
            Ok(Ok(reply)) => reply,
        };
        let claim = self.answering_claim(reply.metadata())?;
        let decoded: Result<T, RaftError<NodeId, E>> =
            codec::decode(reply.get_ref()).map_err(|e| {
                RPCError::Network(NetworkError::new(&TransportError(format!(
                    "undecodable reply from master {}: {e}",
                    self.target
                ))))
            })?;
        Ok(Answer {
            result: decoded,
            claim,
        })
    }

    /// The answer must come from the incarnation the membership names.
    fn answering_claim<E: std::error::Error>(
        &self,
        md: &tonic::metadata::MetadataMap,
    ) -> Result<Claim, RpcError<E>> {
        let claim: Option<Claim> = get_json(md, CLAIM_HEADER, 4096).ok().flatten();
        let problem = match (&claim, &self.node.incarnation) {
            (None, _) => Some("answered without an identity claim".to_string()),
            (Some(_), None) => Some("answered for a slot that is not bound yet".to_string()),
            (Some(c), Some(expected)) if c.incarnation != *expected || c.node != self.target => {
                Some(format!(
                    "answered as incarnation {} of master {}, not incarnation {} of master {}",
                    short(&c.incarnation),
                    c.node,
                    short(expected),
                    self.target
                ))
            }
            _ => None,
        };
        match (claim, problem) {
            (Some(c), None) => Ok(c),
            (_, Some(p)) => {
                self.note(None, Some(p.clone()));
                Err(unreachable(format!(
                    "master {} at {}: {p}; its answer is not counted",
                    self.target, self.node.addr
                )))
            }
            (None, None) => Err(unreachable("no claim".into())),
        }
    }

    /// Counts an answer only if the ledger has nothing against its sender.
    fn witness<T, E: std::error::Error>(
        &self,
        answer: Answer<T, E>,
        witnessed: impl FnOnce(&Result<T, RaftError<NodeId, E>>) -> Promise,
    ) -> RpcResult<T, E> {
        let promise = witnessed(&answer.result);
        if let Err(why) = self.identity().observe(&answer.claim, promise) {
            self.note(Some(answer.claim.incarnation.clone()), Some(why.clone()));
            return Err(unreachable(format!(
                "master {}: {why}; its answer is not counted",
                self.target
            )));
        }
        self.note(Some(answer.claim.incarnation.clone()), None);
        answer.result.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }

    /// Keeps the peer's latest report; logs when it changes.
    fn note(&self, incarnation: Option<String>, problem: Option<String>) {
        let report = PeerReport {
            incarnation,
            problem,
        };
        let problem = report.problem.clone();
        let previous = self.identity().report(self.target, report);
        let was = previous.and_then(|r| r.problem);
        if was == problem {
            return;
        }
        match &problem {
            Some(p) => tracing::warn!(target_node = self.target, addr = %self.node.addr,
                problem = %p, "peer's Raft answers are not counted"),
            None => {
                tracing::info!(
                    target_node = self.target,
                    "peer's Raft answers are counted again"
                )
            }
        }
    }

    fn status_error<E: std::error::Error>(&self, status: tonic::Status) -> RpcError<E> {
        let kind = status
            .metadata()
            .get(REFUSAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(RefusalKind::parse);
        let claim: Option<Claim> = get_json(status.metadata(), CLAIM_HEADER, 4096)
            .ok()
            .flatten();
        let msg = status.message().to_string();
        match kind {
            Some(RefusalKind::Unbound) => {
                if let Some(c) = claim.as_ref().filter(|c| c.node == self.target) {
                    self.identity().offer(self.target, c.incarnation.clone());
                }
                self.note(claim.map(|c| c.incarnation), Some(msg.clone()));
            }
            Some(RefusalKind::SenderForked) => self.identity().set_forked(msg.clone()),
            Some(_) => self.note(claim.map(|c| c.incarnation), Some(msg.clone())),
            None => {}
        }
        let err = TransportError(format!(
            "master {} at {}: {:?}: {msg}",
            self.target,
            self.node.addr,
            status.code(),
        ));
        match status.code() {
            // Connection refused / reset, a peer of another cluster, an
            // identity or authentication refusal: back off rather than
            // hammer it.
            tonic::Code::Unavailable
            | tonic::Code::FailedPrecondition
            | tonic::Code::Unauthenticated
            | tonic::Code::PermissionDenied => RPCError::Unreachable(Unreachable::new(&err)),
            _ => RPCError::Network(NetworkError::new(&err)),
        }
    }
}

fn encode_failure<E: std::error::Error>(e: serde_json::Error) -> RpcError<E> {
    RPCError::Network(NetworkError::new(&TransportError(format!(
        "cannot encode Raft request: {e}"
    ))))
}

fn term_of(vote: &crate::Vote) -> u64 {
    vote.leader_id().get_term()
}

impl RaftNetwork<TypeConfig> for GrpcPeer {
    /// A peer that refuses on identity grounds stays refused until an
    /// operator acts: retry it slowly rather than every heartbeat.
    fn backoff(&self) -> Backoff {
        let refused = self
            .identity()
            .reports()
            .get(&self.target)
            .is_some_and(|r| r.problem.is_some());
        let every = if refused {
            IDENTITY_RETRY.max(self.transport.retry_interval)
        } else {
            self.transport.retry_interval
        };
        Backoff::new(std::iter::repeat(every))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let term = term_of(&rpc.vote);
        let sent_up_to = rpc
            .entries
            .last()
            .map(|e| e.log_id.index)
            .or(rpc.prev_log_id.map(|l| l.index))
            .unwrap_or(0);
        // Stamped before anything leaves: the follower accepts it later,
        // so its vote lease runs past this instant plus the lease.
        let sent = Instant::now();
        let payload = codec::encode(&rpc).map_err(encode_failure)?;
        let answer = self
            .call(
                RPCTypes::AppendEntries,
                payload,
                &option,
                |mut c, r| async move { c.append_entries(r).await },
            )
            .await?;
        // A follower answers only after the entries and the vote are on
        // its disk: that is what it now vouches for.
        let result = self.witness(answer, |r| match r {
            Ok(AppendEntriesResponse::Success) => Promise::new(term, sent_up_to),
            Ok(AppendEntriesResponse::PartialSuccess(m)) => {
                Promise::new(term, m.map(|l| l.index).unwrap_or(0))
            }
            Ok(AppendEntriesResponse::Conflict) => Promise::new(term, 0),
            _ => Promise::default(),
        });
        // Every answer but HigherVote means the follower took this leader's
        // vote and restarted its lease (a log conflict included).
        if let Ok(resp) = &result {
            if !matches!(resp, AppendEntriesResponse::HigherVote(_)) {
                self.transport
                    .quorum_clock
                    .accepted(term, self.target, sent);
            }
        }
        result
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let payload = codec::encode_snapshot_chunk(rpc).map_err(encode_failure)?;
        let answer = self
            .call(
                RPCTypes::InstallSnapshot,
                payload,
                &option,
                |mut c, r| async move { c.install_snapshot(r).await },
            )
            .await?;
        // openraft answers a chunk without saying what it made durable:
        // nothing is recorded as promised.
        self.witness(answer, |_| Promise::default())
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let term = term_of(&rpc.vote);
        let payload = codec::encode(&rpc).map_err(encode_failure)?;
        let answer: Answer<VoteResponse<NodeId>, _> = self
            .call(RPCTypes::Vote, payload, &option, |mut c, r| async move {
                c.vote(r).await
            })
            .await?;
        let resp = self.witness(answer, |r| match r {
            Ok(resp) if resp.vote_granted => Promise::new(term, 0),
            _ => Promise::default(),
        })?;
        if !resp.vote_granted && resp.last_log_id > rpc.last_log_id {
            self.transport.newer_logs.touch();
        }
        Ok(resp)
    }
}
