//! The receiving side of the Raft transport.
//!
//! Every request passes, in order: the cluster secret / client certificate
//! ([`PeerAuth`]), the cluster id, the size bounds ([`RpcLimits`]), the
//! incarnation checks ([`super::admission`]); only then does openraft see
//! it. Nothing that fails a check can change this master's term or vote.

use std::sync::{Arc, Mutex};

use mesoraft_proto::raft::raft_server;
use mesoraft_proto::raft::RaftPayload;
use openraft::raft::AppendEntriesResponse;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::admission::{
    admit, get_json, put_json, Addressing, Receiver, Refusal, RefusalKind, RpcKind, CLAIM_HEADER,
    GOSSIP_HEADER,
};
use super::codec;
use super::limits::{RpcLimits, SnapshotReceipt};
use super::security::{PeerAuth, PeerCertificate};
use super::{ClusterIdentity, LeaderContact, CLUSTER_ID_HEADER};
use crate::identity::{IdentityHandle, Promise, Record};
use crate::{NodeId, Raft};

/// Feeds gRPC Raft RPCs into the local openraft instance.
///
/// openraft's own errors (e.g. a higher vote) are part of the JSON answer;
/// gRPC statuses are kept for transport-level refusals: authentication,
/// another cluster, identity, bounds, an undecodable payload.
#[derive(Clone)]
pub struct RaftGrpcService {
    raft: Raft,
    cluster: ClusterIdentity,
    contact: LeaderContact,
    auth: PeerAuth,
    limits: RpcLimits,
    identity: IdentityHandle,
    snapshot: Arc<Mutex<SnapshotReceipt>>,
}

impl RaftGrpcService {
    pub fn new(
        raft: Raft,
        cluster: ClusterIdentity,
        contact: LeaderContact,
        auth: PeerAuth,
        limits: RpcLimits,
        identity: IdentityHandle,
    ) -> Self {
        Self {
            raft,
            cluster,
            contact,
            auth,
            limits,
            identity,
            snapshot: Arc::default(),
        }
    }

    /// The tonic service, ready to be mounted in a router.
    pub fn into_server(self) -> raft_server::RaftServer<Self> {
        let max = self.limits.max_message_bytes;
        raft_server::RaftServer::new(self)
            // Snapshot chunks and full entries exceed tonic's 4 MiB default;
            // `crate::limits` derives the bound from them.
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
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

    fn refuse(&self, refusal: Refusal) -> Status {
        refusal.into_status(&self.identity.claim())
    }

    /// Authentication and cluster checks, before anything is decoded.
    fn authenticate(&self, req: &Request<RaftPayload>) -> Result<(), Status> {
        self.auth.admit(
            req.metadata(),
            req.extensions().get::<PeerCertificate>().copied(),
        )?;
        self.check_cluster(req)
    }

    /// The incarnation checks common to every RPC.
    fn admit(&self, md: &MetadataMap, rpc: RpcKind) -> Result<Addressing, Status> {
        let addressing = Addressing::read(md).map_err(|r| self.refuse(r))?;
        if let Ok(Some(gossip)) = get_json::<std::collections::BTreeMap<String, Record>>(
            md,
            GOSSIP_HEADER,
            self.limits.max_gossip_bytes,
        ) {
            self.identity.absorb(&gossip);
        }
        let (pristine, sender_bound_to) = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            let pristine = m.current_term == 0
                && m.last_log_index.is_none()
                && m.snapshot.is_none()
                && membership.nodes().next().is_none();
            let bound = membership
                .get_node(&addressing.from)
                .and_then(|n| n.incarnation.clone());
            (pristine, bound)
        };
        let standing = self.identity.standing();
        let forked = match &standing {
            crate::identity::Standing::Forked { reason } => Some(reason.as_str()),
            _ => None,
        };
        let sender_forked = self.identity.forked(&addressing.claim.incarnation);
        let receiver = Receiver {
            id: self.identity.local().node,
            incarnation: self.identity.incarnation(),
            pristine,
            forked,
            sender_bound_to: sender_bound_to.as_deref(),
            sender_forked: sender_forked.as_deref(),
        };
        if let Err(refusal) = admit(&addressing, &receiver, rpc) {
            if refusal.kind == RefusalKind::Superseded {
                if let Some(known) = &addressing.to_incarnation {
                    self.identity.set_superseded(known, addressing.from);
                }
            }
            tracing::debug!(from = addressing.from, refusal = refusal.kind.as_str(), %refusal,
                "refusing Raft RPC");
            return Err(self.refuse(refusal));
        }
        self.identity.confirm_member();
        Ok(addressing)
    }

    /// Records what the request proves about its sender; refuses a sender
    /// the ledger shows to be a stale copy.
    fn witness(&self, addressing: &Addressing, witnessed: Promise) -> Result<(), Status> {
        self.identity
            .observe(&addressing.claim, witnessed)
            .map_err(|why| {
                self.refuse(Refusal {
                    kind: RefusalKind::SenderForked,
                    message: why,
                })
            })
    }

    fn reply<T: serde::Serialize>(&self, value: &T) -> Result<Response<RaftPayload>, Status> {
        let mut resp = codec::encode(value)
            .map(Response::new)
            .map_err(|e| Status::internal(format!("cannot encode Raft reply: {e}")))?;
        put_json(resp.metadata_mut(), CLAIM_HEADER, &self.identity.claim());
        Ok(resp)
    }
}

/// Runs what a leader's RPC asked for to its end, even when the leader
/// stops waiting. openraft drops an AppendEntries it sent after one
/// heartbeat interval, but the entries it carried still reach this node's
/// log (the Raft core takes them whatever becomes of the caller). Were the
/// leader's contact recorded only by an answer that is still awaited, a
/// follower slow to store large entries (a loaded machine, a slow disk)
/// would count itself unheard while it is being replicated to, campaign,
/// and depose a leader that reaches it every heartbeat.
async fn run_detached<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, Status> {
    tokio::spawn(work)
        .await
        .map_err(|e| Status::internal(format!("Raft request handler failed: {e}")))
}

fn bad_payload(e: serde_json::Error) -> Status {
    Status::invalid_argument(format!("undecodable Raft payload: {e}"))
}

fn over_limit(e: super::limits::LimitError) -> Status {
    Status::resource_exhausted(e.to_string())
}

/// A vote proves its holder saved it (openraft persists a vote before it
/// acts on it): a committed one as leader, any as candidate.
fn vote_term(vote: &crate::Vote) -> u64 {
    vote.leader_id().get_term()
}

#[tonic::async_trait]
impl raft_server::Raft for RaftGrpcService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.authenticate(&request)?;
        let req: openraft::raft::AppendEntriesRequest<crate::TypeConfig> =
            codec::decode(request.get_ref()).map_err(bad_payload)?;
        self.limits
            .check_append(req.entries.len())
            .map_err(over_limit)?;
        let addressing = self.admit(request.metadata(), RpcKind::Replication)?;
        let witnessed = if req.vote.is_committed() {
            Promise::new(vote_term(&req.vote), 0)
        } else {
            Promise::default()
        };
        self.witness(&addressing, witnessed)?;
        let (raft, contact) = (self.raft.clone(), self.contact.clone());
        let result = run_detached(async move {
            let result = raft.append_entries(req).await;
            if let Ok(resp) = &result {
                if !matches!(resp, AppendEntriesResponse::HigherVote(_)) {
                    contact.touch();
                }
            }
            result
        })
        .await?;
        self.reply(&result)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        self.authenticate(&request)?;
        let req: openraft::raft::VoteRequest<NodeId> =
            codec::decode(request.get_ref()).map_err(bad_payload)?;
        let addressing = self.admit(request.metadata(), RpcKind::Vote)?;
        self.witness(&addressing, Promise::new(vote_term(&req.vote), 0))?;
        let result = self.raft.vote(req).await;
        self.reply(&result)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.authenticate(&request)?;
        let (md, _, payload) = request.into_parts();
        let req = codec::decode_snapshot_chunk(payload).map_err(bad_payload)?;
        self.snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .accept(
                &self.limits,
                &req.meta.snapshot_id,
                req.offset,
                req.data.len(),
                req.done,
            )
            .map_err(over_limit)?;
        let addressing = self.admit(&md, RpcKind::Replication)?;
        let witnessed = if req.vote.is_committed() {
            Promise::new(vote_term(&req.vote), 0)
        } else {
            Promise::default()
        };
        self.witness(&addressing, witnessed)?;
        let (raft, contact) = (self.raft.clone(), self.contact.clone());
        let result = run_detached(async move {
            let result = raft.install_snapshot(req).await;
            if result.is_ok() {
                contact.touch();
            }
            result
        })
        .await?;
        self.reply(&result)
    }
}

#[cfg(test)]
mod tests {
    use super::run_detached;
    use std::time::Duration;

    #[tokio::test]
    async fn detached_work_finishes_after_its_caller_gives_up() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let call = run_detached(async move {
            let _ = go_rx.await;
            let _ = done_tx.send(());
        });
        // The caller gives up while the work is under way, as openraft
        // does when its heartbeat-long timeout ends.
        let gave_up = tokio::time::timeout(Duration::from_millis(1), call).await;
        assert!(gave_up.is_err(), "the work cannot have finished yet");
        go_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), done_rx)
            .await
            .expect("the work was abandoned with its caller")
            .unwrap();
    }
}
