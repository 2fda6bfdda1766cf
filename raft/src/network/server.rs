//! The receiving side of the Raft transport.

use mesoraft_proto::raft::raft_server;
use mesoraft_proto::raft::RaftPayload;
use tonic::{Request, Response, Status};

use super::codec;
use super::{ClusterIdentity, LeaderContact, CLUSTER_ID_HEADER};
use crate::limits::GRPC_MAX_MESSAGE_BYTES;
use crate::Raft;

/// Feeds gRPC Raft RPCs into the local openraft instance.
///
/// openraft's own errors (e.g. a higher vote) are part of the JSON answer;
/// gRPC statuses are kept for transport-level refusals: a request from a
/// different cluster, or an undecodable payload.
#[derive(Clone)]
pub struct RaftGrpcService {
    raft: Raft,
    cluster: ClusterIdentity,
    contact: LeaderContact,
}

impl RaftGrpcService {
    pub fn new(raft: Raft, cluster: ClusterIdentity, contact: LeaderContact) -> Self {
        Self {
            raft,
            cluster,
            contact,
        }
    }

    /// The tonic service, ready to be mounted in a router.
    pub fn into_server(self) -> raft_server::RaftServer<Self> {
        raft_server::RaftServer::new(self)
            // Snapshot chunks and full entries exceed tonic's 4 MiB default;
            // `crate::limits` derives the bound from them.
            .max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES)
            .max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES)
    }

    fn check_cluster(&self, req: &Request<RaftPayload>) -> Result<(), Status> {
        let theirs = req
            .metadata()
            .get(CLUSTER_ID_HEADER)
            .and_then(|v| v.to_str().ok());
        if self.cluster.conflicts_with(theirs) {
            tracing::error!(
                their_cluster = theirs.unwrap_or(""),
                our_cluster = self.cluster.get().unwrap_or(""),
                "refusing Raft RPC from a master of another cluster; check --peers/--join addresses"
            );
            return Err(Status::failed_precondition(format!(
                "this master belongs to cluster {}, the sender to cluster {}",
                self.cluster.get().unwrap_or("?"),
                theirs.unwrap_or("?")
            )));
        }
        Ok(())
    }
}

fn bad_payload(e: serde_json::Error) -> Status {
    Status::invalid_argument(format!("undecodable Raft payload: {e}"))
}

fn encode_reply<T: serde::Serialize>(value: &T) -> Result<Response<RaftPayload>, Status> {
    codec::encode(value)
        .map(Response::new)
        .map_err(|e| Status::internal(format!("cannot encode Raft reply: {e}")))
}

#[tonic::async_trait]
impl raft_server::Raft for RaftGrpcService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.check_cluster(&request)?;
        let req = codec::decode(request.get_ref()).map_err(bad_payload)?;
        let result = self.raft.append_entries(req).await;
        if let Ok(resp) = &result {
            if !matches!(resp, openraft::raft::AppendEntriesResponse::HigherVote(_)) {
                self.contact.touch();
            }
        }
        encode_reply(&result)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        self.check_cluster(&request)?;
        let req = codec::decode(request.get_ref()).map_err(bad_payload)?;
        let result = self.raft.vote(req).await;
        encode_reply(&result)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.check_cluster(&request)?;
        let req = codec::decode_snapshot_chunk(request.into_inner()).map_err(bad_payload)?;
        let result = self.raft.install_snapshot(req).await;
        if result.is_ok() {
            self.contact.touch();
        }
        encode_reply(&result)
    }
}
