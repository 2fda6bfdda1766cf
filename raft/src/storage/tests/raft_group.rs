//! A real openraft group on this storage, with an in-process network:
//! automatic snapshots and purging, snapshot transfer to a new learner in
//! small chunks, and a restart that re-applies the committed log.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{Config, SnapshotPolicy};

use crate::MasterNode;

use super::util::*;
use crate::proposer::{BatchLimits, Proposal, Proposer};
use crate::storage::{open, RegistryHandle};
use crate::{NodeId, Raft, TypeConfig};

#[derive(Clone, Default)]
struct Router {
    nodes: Arc<Mutex<HashMap<NodeId, Raft>>>,
}

impl Router {
    fn get(&self, id: NodeId) -> Result<Raft, Unreachable> {
        self.nodes
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .ok_or_else(|| Unreachable::new(&std::io::Error::other(format!("node {id} is down"))))
    }
}

struct Conn {
    router: Router,
    target: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Conn;

    async fn new_client(&mut self, target: NodeId, _node: &MasterNode) -> Conn {
        Conn {
            router: self.clone(),
            target,
        }
    }
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, MasterNode, RaftError<NodeId, E>>>;

impl RaftNetwork<TypeConfig> for Conn {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let raft = self.router.get(self.target)?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let raft = self.router.get(self.target)?;
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let raft = self.router.get(self.target)?;
        raft.vote(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

fn config() -> Arc<Config> {
    let config = Config {
        cluster_name: "storage-test".into(),
        snapshot_policy: SnapshotPolicy::LogsSinceLast(20),
        max_in_snapshot_log_to_keep: 0,
        // Force a multi-chunk transfer through begin_receiving_snapshot.
        snapshot_max_chunk_size: 100,
        install_snapshot_timeout: 2000,
        ..Default::default()
    };
    Arc::new(config.validate().unwrap())
}

async fn start(router: &Router, id: NodeId, dir: &Path) -> (Raft, RegistryHandle) {
    // After `Raft::shutdown` returns, openraft's state machine worker may
    // still be dropping its half of the storage: wait for sled's lock.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (log, sm) = loop {
        match open(dir).await {
            Ok(stores) => break stores,
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("opening storage in {}: {e}", dir.display()),
        }
    };
    let handle = sm.registry_handle();
    let raft = Raft::new(id, config(), router.clone(), log, sm)
        .await
        .unwrap();
    router.nodes.lock().unwrap().insert(id, raft.clone());
    (raft, handle)
}

async fn stop(router: &Router, id: NodeId, raft: Raft) {
    router.nodes.lock().unwrap().remove(&id);
    raft.shutdown().await.unwrap();
}

fn registry_json(h: &RegistryHandle) -> String {
    h.read(|r| serde_json::to_string(r).unwrap())
}

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_transfer_and_restart() {
    let dir1 = tempfile::tempdir().unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let router = Router::default();

    let (raft1, reg1) = start(&router, 1, dir1.path()).await;
    raft1
        .initialize(BTreeMap::from([(1, MasterNode::unbound("n1"))]))
        .await
        .unwrap();
    raft1.wait(WAIT).current_leader(1, "leader").await.unwrap();
    for n in 0..50 {
        raft1
            .client_write(Proposal::single(command(n)))
            .await
            .unwrap();
    }
    let last = raft1.metrics().borrow().last_log_index.unwrap();
    raft1
        .wait(WAIT)
        .applied_index(Some(last), "applied")
        .await
        .unwrap();
    // Policy: a snapshot every 20 logs, nothing kept after it.
    let m = raft1
        .wait(WAIT)
        .metrics(|m| m.purged.is_some(), "purged")
        .await
        .unwrap();
    assert_eq!(reg1.last_applied().map(|l| l.index), Some(last));
    assert!(snapshot_files(dir1.path()).len() == 1, "one snapshot file");
    println!(
        "leader: last log {last}, snapshot {:?}, purged {:?}",
        m.snapshot, m.purged
    );

    // A new learner can only catch up via the snapshot.
    let (raft2, reg2) = start(&router, 2, dir2.path()).await;
    raft1
        .add_learner(2, MasterNode::unbound("n2"), true)
        .await
        .unwrap();
    raft2
        .wait(WAIT)
        .applied_index_at_least(Some(last), "learner caught up")
        .await
        .unwrap();
    assert_eq!(registry_json(&reg2), registry_json(&reg1));
    assert_eq!(
        snapshot_files(dir2.path()).len(),
        1,
        "installed snapshot stored"
    );

    // More writes after the snapshot, then restart both from disk.
    for n in 50..55 {
        raft1
            .client_write(Proposal::single(command(n)))
            .await
            .unwrap();
    }
    let last = raft1.metrics().borrow().last_log_index.unwrap();
    raft2
        .wait(WAIT)
        .applied_index_at_least(Some(last), "learner applied")
        .await
        .unwrap();
    let before = registry_json(&reg1);
    stop(&router, 2, raft2).await;
    stop(&router, 1, raft1).await;
    drop((reg1, reg2));

    let (raft1, reg1) = start(&router, 1, dir1.path()).await;
    let (raft2, reg2) = start(&router, 2, dir2.path()).await;
    // openraft re-applies the committed entries after the snapshot.
    raft1
        .wait(WAIT)
        .applied_index_at_least(Some(last), "re-applied")
        .await
        .unwrap();
    raft2
        .wait(WAIT)
        .applied_index_at_least(Some(last), "re-applied")
        .await
        .unwrap();
    assert_eq!(registry_json(&reg1), before);
    assert_eq!(registry_json(&reg2), before);
    stop(&router, 2, raft2).await;
    stop(&router, 1, raft1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_entries_and_keep_their_own_results() {
    use mesoraft_proto::mesos::v1::{AgentId, WeightInfo};
    use mesoraft_registry::{Command, RegistryError};

    let dir = tempfile::tempdir().unwrap();
    let router = Router::default();
    let (raft, reg) = start(&router, 1, dir.path()).await;
    raft.initialize(BTreeMap::from([(1, MasterNode::unbound("n1"))]))
        .await
        .unwrap();
    raft.wait(WAIT).current_leader(1, "leader").await.unwrap();
    let first_index = raft.metrics().borrow().last_log_index.unwrap();
    let proposer = Proposer::spawn(raft.clone(), BatchLimits::default());

    // Every fourth command is refused by the registry when applied (it
    // names an unknown agent); the others in the same entry must still
    // apply.
    const WRITES: usize = 200;
    let writes = (0..WRITES).map(|n| {
        let proposer = proposer.clone();
        tokio::spawn(async move {
            let command = if n % 4 == 3 {
                Command::MarkGone {
                    agent_id: AgentId {
                        value: format!("agent-{n}"),
                    },
                    time_ns: 0,
                }
            } else {
                Command::UpdateWeights {
                    weights: vec![WeightInfo {
                        role: Some(format!("role-{n}")),
                        weight: n as f64 + 1.0,
                    }],
                }
            };
            (n, proposer.write(command).await)
        })
    });
    for write in futures::future::join_all(writes).await {
        let (n, result) = write.unwrap();
        let result = result.expect("every write is answered");
        if n % 4 == 3 {
            assert!(
                matches!(result, Err(RegistryError::AgentUnknown { .. })),
                "write {n}: {result:?}"
            );
        } else {
            assert!(result.is_ok(), "write {n}: {result:?}");
        }
    }
    let entries = raft.metrics().borrow().last_log_index.unwrap() - first_index;
    println!("{WRITES} concurrent writes took {entries} log entries");
    assert!(
        (entries as usize) < WRITES,
        "concurrent writes were not batched ({entries} entries)"
    );
    let weights = reg.read(|r| r.weights().clone());
    assert_eq!(weights.len(), WRITES - WRITES / 4);
    assert_eq!(weights.get("role-0"), Some(&1.0));

    // A command over a registry limit is refused before it reaches Raft.
    let before = raft.metrics().borrow().last_log_index;
    let oversized = Command::UpdateWeights {
        weights: vec![WeightInfo {
            role: Some("r".repeat(mesoraft_registry::MAX_ROLE_LEN + 1)),
            weight: 1.0,
        }],
    };
    let refused = proposer.write(oversized).await;
    assert!(
        matches!(
            refused,
            Err(crate::proposer::WriteError::Refused(
                RegistryError::LimitExceeded { .. }
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(raft.metrics().borrow().last_log_index, before);
    stop(&router, 1, raft).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_a_non_leader_are_all_refused_as_not_leader() {
    use crate::proposer::WriteError;

    let dir = tempfile::tempdir().unwrap();
    let router = Router::default();
    // Never initialized: no leader anywhere.
    let (raft, reg) = start(&router, 1, dir.path()).await;
    let proposer = Proposer::spawn(raft.clone(), BatchLimits::default());
    let writes = (0..10).map(|n| {
        let proposer = proposer.clone();
        async move { proposer.write(command(n)).await }
    });
    for result in futures::future::join_all(writes).await {
        let refused_as_follower = matches!(&result, Err(WriteError::NotLeader(_)));
        assert!(refused_as_follower, "{result:?}");
    }
    assert!(reg.read(|r| r.cluster_id().is_none()), "nothing applied");
    stop(&router, 1, raft).await;
}
