//! The mesoraft master.
//!
//! * [`config`]: flags and the Raft configuration.
//! * [`bootstrap`]: opening storage, rejoining from disk, the refusals
//!   that protect a group from a wrong work dir; [`workdir`]: the work
//!   dir's own record; [`survey`]: what the peers say at start-up, and
//!   first-time group initialization.
//! * [`leader`]: turns Raft leadership into the leader-only task set, and
//!   the gate leader-only requests pass (domain answers, no HTTP).
//! * [`fatal`]: stops the master (non-zero exit) when its Raft core
//!   stopped; [`removal`]: refuses to run a master the group removed.
//! * [`http`]: HTTP endpoints; [`server`] serves them and the peers' gRPC
//!   on one port.
//! * [`members`]: membership changes of the master group (add, replace,
//!   remove), as the leader runs them.
//! * [`status`]: the local view of the group (`/raft/status`, metrics).
//! * [`identity`]: keeping this master's incarnation and witness ledger,
//!   binding pristine masters to unbound slots (leader), reacting to a
//!   refusal by the group.
//! * [`security`]: the cluster secret and TLS of the port.
//! * [`driver`]: the leader-term task that owns the agent, task and
//!   framework tables, the allocator and the outstanding offers, and
//!   carries out their actions; [`driver::Hub`] is where requests find it.
//! * [`agents`]: agent sessions on the leader (pure table, gRPC service);
//!   [`agent_views`]: what the operator endpoints show of them
//!   (GET_AGENTS, `/master/slaves`, `/master/state`, the agent metrics).
//! * [`framework_views`]: what the operator endpoints show of frameworks
//!   and tasks (GET_FRAMEWORKS, GET_STATE, `/master/frameworks`,
//!   `/master/tasks`).
//! * [`tasks`]: the leader's task table, launch validation and
//!   reconciliation answers (pure).
//! * [`allocator`]: hierarchical DRF offers, pure (events and the time
//!   in, allocations out); [`frameworks`]: the framework lifecycle of a
//!   leader term (pure); [`scheduler`]: the scheduler API's calls,
//!   events, offer book and ACCEPT planning (pure).

pub mod agent_views;
pub mod agents;
pub mod allocator;
pub mod bootstrap;
pub mod config;
pub mod driver;
pub mod fatal;
pub mod framework_views;
pub mod frameworks;
pub mod http;
pub mod identity;
pub mod leader;
pub mod members;
pub mod metrics;
pub mod removal;
pub mod replace;
pub mod scheduler;
pub mod security;
pub mod server;
pub mod status;
pub mod survey;
pub mod tasks;
pub mod workdir;

use std::sync::Arc;
use std::time::SystemTime;

use mesoraft_proto::mesos::v1::{Address, MasterInfo};
use mesoraft_raft::identity::IdentityHandle;
use mesoraft_raft::network::{ClusterIdentity, LeaderContact};
use mesoraft_raft::proposer::Proposer;
use mesoraft_raft::storage::RegistryHandle;
use mesoraft_raft::{NodeId, Raft};
use serde_json::json;

pub use bootstrap::{run_master, MasterHandle};
pub use config::MasterArgs;

/// One running master: shared by the HTTP handlers and background tasks.
pub struct Master {
    pub(crate) id: NodeId,
    /// The address peers and clients use for this master.
    pub(crate) address: String,
    pub(crate) args: MasterArgs,
    pub(crate) raft: Raft,
    /// Every registry write goes through here, so concurrent writes share
    /// log entries (see `mesoraft_raft::proposer`).
    pub(crate) proposer: Proposer,
    pub(crate) registry: RegistryHandle,
    pub(crate) cluster: ClusterIdentity,
    pub(crate) contact: LeaderContact,
    /// Whether this master may campaign (see `mesoraft_raft::election`).
    pub(crate) elections: mesoraft_raft::election::ElectionSwitch,
    pub(crate) leadership: leader::Leadership,
    pub(crate) started_at: SystemTime,
    /// This master's incarnation, its ledger and standing (shared with the
    /// Raft transport).
    pub(crate) identity: IdentityHandle,
    /// The port's cluster secret and TLS.
    pub(crate) security: security::Security,
    /// When a quorum last accepted this master's AppendEntries: the leader
    /// lease (see [`leader::effective_leader_term`]).
    pub(crate) quorum_clock: mesoraft_raft::network::QuorumClock,
    /// Where agent sessions find the current term's session table.
    pub(crate) hub: Arc<driver::Hub>,
    /// What runs for each term this master leads.
    pub(crate) term_services: Vec<leader::TermService>,
}

impl Master {
    /// Copies the registry's cluster id into the transport's identity, so
    /// Raft RPCs carry it and RPCs from other clusters are refused.
    pub fn sync_cluster_identity(&self) {
        if self.cluster.get().is_some() {
            return;
        }
        if let Some(id) = self.registry.read(|r| r.cluster_id().map(str::to_string)) {
            if !self.cluster.set(&id) {
                tracing::error!(cluster_id = %id, "registry cluster id differs from the one in use");
                return;
            }
            if let Err(e) = workdir::record_cluster_id(&self.args.work_dir, self.id, &id) {
                tracing::error!(cluster_id = %id, error = %e,
                    "cannot record the cluster id in the work dir; the start-up check against \
                     other clusters will rely on the Raft state only");
            }
        }
    }

    /// Mesos's `MasterInfo` of this master.
    pub fn master_info(&self) -> MasterInfo {
        let (host, port) = self
            .address
            .rsplit_once(':')
            .map(|(h, p)| (h.to_string(), p.parse::<u32>().unwrap_or(0)))
            .unwrap_or_default();
        // Mesos puts the IPv4 address in `ip` as the in-memory value of
        // `in_addr.s_addr` (network byte order read as a host integer).
        let ip = host
            .parse::<std::net::Ipv4Addr>()
            .map(|a| u32::from_le_bytes(a.octets()))
            .unwrap_or(0);
        let cluster = self.cluster.get().unwrap_or("uninitialized");
        MasterInfo {
            id: format!("{cluster}-M{}", self.id),
            ip,
            port,
            hostname: Some(host.clone()),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            address: Some(Address {
                hostname: Some(host.clone()),
                ip: Some(host),
                port: i32::try_from(port).unwrap_or(0),
            }),
            ..MasterInfo::default()
        }
    }

    /// [`Self::master_info`] as operator API JSON.
    pub fn master_info_json(&self) -> serde_json::Value {
        mesoraft_proto::json::to_json(&self.master_info())
    }

    pub fn get_master_json(&self) -> serde_json::Value {
        let secs = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        };
        let mut v = json!({
            "master_info": self.master_info_json(),
            "start_time": secs(self.started_at),
        });
        if let Some(t) = self.leadership.elected_at() {
            v["elected_time"] = json!(secs(t));
        }
        v
    }
}

/// `GET /version` body.
pub fn version_json() -> serde_json::Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "build_date": option_env!("MESORAFT_BUILD_DATE").unwrap_or("unknown"),
        "git_sha": option_env!("MESORAFT_GIT_SHA").unwrap_or("unknown"),
    })
}
