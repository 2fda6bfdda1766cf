//! The sending side of the Raft transport.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
use tonic::transport::{Channel, Endpoint};

use super::codec;
use super::{ClusterIdentity, CLUSTER_ID_HEADER};
use crate::limits::GRPC_MAX_MESSAGE_BYTES;
use crate::{BasicNode, NodeId, TypeConfig};

/// Creates openraft's per-peer clients, sharing one lazily connected
/// channel per peer address across replication streams and terms.
#[derive(Clone)]
pub struct GrpcNetworkFactory {
    local_id: NodeId,
    cluster: ClusterIdentity,
    connect_timeout: Duration,
    retry_interval: Duration,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl GrpcNetworkFactory {
    /// `connect_timeout` bounds how long a send to a silently partitioned
    /// peer can hang before it counts as unreachable. `retry_interval` is
    /// how often an unreachable peer is tried again (use the heartbeat
    /// interval): openraft's default of 500 ms lets a restarted master's
    /// election timer fire before the leader contacts it.
    pub fn new(
        local_id: NodeId,
        cluster: ClusterIdentity,
        connect_timeout: Duration,
        retry_interval: Duration,
    ) -> Self {
        Self {
            local_id,
            cluster,
            connect_timeout,
            retry_interval,
            channels: Arc::default(),
        }
    }

    fn channel(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = channels.get(addr) {
            return Ok(ch.clone());
        }
        let ch = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            // Detects peers that vanished without closing the connection
            // (pulled cable, paused process), so the next RPC reconnects
            // instead of waiting on a dead socket.
            .http2_keep_alive_interval(Duration::from_secs(1))
            .keep_alive_timeout(Duration::from_secs(3))
            .keep_alive_while_idle(true)
            .connect_lazy();
        channels.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetworkFactory {
    type Network = GrpcPeer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> GrpcPeer {
        let client = match self.channel(&node.addr) {
            Ok(ch) => Ok(RaftClient::new(ch)
                .max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES)
                .max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES)),
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
            local_id: self.local_id,
            target,
            node: node.clone(),
            cluster: self.cluster.clone(),
            retry_interval: self.retry_interval,
            client,
        }
    }
}

/// One peer as seen by one replication stream (or one election).
pub struct GrpcPeer {
    local_id: NodeId,
    target: NodeId,
    node: BasicNode,
    cluster: ClusterIdentity,
    retry_interval: Duration,
    client: Result<RaftClient<Channel>, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl GrpcPeer {
    /// Sends one RPC and decodes openraft's `Result` from the reply.
    async fn call<T, E, F, Fut>(
        &mut self,
        action: RPCTypes,
        payload: RaftPayload,
        option: &RPCOption,
        send: F,
    ) -> RpcResult<T, E>
    where
        T: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
        F: FnOnce(RaftClient<Channel>, tonic::Request<RaftPayload>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<RaftPayload>, tonic::Status>>,
    {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(msg) => {
                return Err(RPCError::Unreachable(Unreachable::new(&TransportError(
                    msg.clone(),
                ))))
            }
        };
        let mut request = tonic::Request::new(payload);
        if let Some(id) = self.cluster.get() {
            if let Ok(v) = id.parse() {
                request.metadata_mut().insert(CLUSTER_ID_HEADER, v);
            }
        }
        let ttl = option.hard_ttl();
        let reply = match tokio::time::timeout(ttl, send(client, request)).await {
            Err(_) => {
                return Err(RPCError::Timeout(Timeout {
                    action,
                    id: self.local_id,
                    target: self.target,
                    timeout: ttl,
                }))
            }
            Ok(Err(status)) => return Err(self.status_error(status)),
            Ok(Ok(reply)) => reply.into_inner(),
        };
        let decoded: Result<T, RaftError<NodeId, E>> = codec::decode(&reply).map_err(|e| {
            RPCError::Network(NetworkError::new(&TransportError(format!(
                "undecodable reply from master {}: {e}",
                self.target
            ))))
        })?;
        decoded.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }

    fn status_error<E: std::error::Error>(
        &self,
        status: tonic::Status,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        let err = TransportError(format!(
            "master {} at {}: {:?}: {}",
            self.target,
            self.node.addr,
            status.code(),
            status.message()
        ));
        match status.code() {
            // Connection refused / reset, or a peer of another cluster:
            // back off rather than hammer it.
            tonic::Code::Unavailable | tonic::Code::FailedPrecondition => {
                RPCError::Unreachable(Unreachable::new(&err))
            }
            _ => RPCError::Network(NetworkError::new(&err)),
        }
    }
}

fn encode_failure<E: std::error::Error>(
    e: serde_json::Error,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::Network(NetworkError::new(&TransportError(format!(
        "cannot encode Raft request: {e}"
    ))))
}

impl RaftNetwork<TypeConfig> for GrpcPeer {
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.retry_interval))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let payload = codec::encode(&rpc).map_err(encode_failure)?;
        self.call(
            RPCTypes::AppendEntries,
            payload,
            &option,
            |mut c, r| async move { c.append_entries(r).await },
        )
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let payload = codec::encode_snapshot_chunk(rpc).map_err(encode_failure)?;
        self.call(
            RPCTypes::InstallSnapshot,
            payload,
            &option,
            |mut c, r| async move { c.install_snapshot(r).await },
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let payload = codec::encode(&rpc).map_err(encode_failure)?;
        self.call(RPCTypes::Vote, payload, &option, |mut c, r| async move {
            c.vote(r).await
        })
        .await
    }
}
