//! Starting a master: storage, Raft, the refusals that protect a group from
//! a wrong work dir (with `crate::survey` asking the peers), then the
//! server and the background tasks, first-time initialization among them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use mesoraft_raft::identity::{begin_run, IdentityHandle, Ledger};
use mesoraft_raft::network::{
    ClusterIdentity, GrpcNetworkFactory, LeaderContact, PeerAuth, PeerTransport, QuorumClock,
    RaftGrpcService, RpcLimits,
};
use mesoraft_raft::proposer::{BatchLimits, Proposer};
use mesoraft_raft::runtime::RaftRuntime;
use mesoraft_raft::Raft;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::MasterArgs;
use crate::fatal::FatalStop;
use crate::removal::{find_removal, OwnView};
use crate::security::Security;
use crate::survey::{
    check_peers_cluster, initialize_when_possible, probe_peers, recheck_removal, Prober,
};
use crate::workdir::{check_node_meta, record_cluster_id, META_FILE};
use crate::Master;

/// A started master and its background tasks.
pub struct MasterHandle {
    pub master: Arc<Master>,
    shutdown: CancellationToken,
    /// Set when the master stopped by itself because it cannot go on.
    fatal: FatalStop,
    server: JoinHandle<std::io::Result<()>>,
    tasks: Vec<JoinHandle<()>>,
    /// Carries the Raft core; dropped last.
    raft_runtime: RaftRuntime,
}

impl MasterHandle {
    /// A token that stops this master when cancelled (e.g. on a fatal
    /// startup check that runs in the background).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops leader tasks first (so nothing acts as leader during
    /// shutdown), then the server, then Raft. An error if the master had
    /// stopped by itself (see [`MasterHandle::stopped`]): the reason, for
    /// `mesoraft master` to exit with.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        let served = self.server.await;
        if let Err(e) = self.master.raft.shutdown().await {
            tracing::warn!(error = %e, "Raft core did not shut down cleanly");
        }
        drop(self.raft_runtime);
        if let Some(reason) = self.fatal.reason() {
            bail!("{reason}");
        }
        match served {
            Ok(r) => r.context("HTTP/gRPC server failed"),
            Err(e) => Err(anyhow::anyhow!("server task panicked: {e}")),
        }
    }

    /// Resolves when the master stops by itself: its Raft core stopped, or
    /// it learnt that it was removed from the group.
    pub async fn stopped(&self) {
        self.shutdown.cancelled().await
    }
}

async fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))
}

/// Starts a master and returns once it serves; initialization (if this is
/// a new group) continues in the background.
pub async fn run_master(args: MasterArgs) -> anyhow::Result<MasterHandle> {
    args.validate().map_err(anyhow::Error::msg)?;
    let address = args.advertised_addr().map_err(anyhow::Error::msg)?;
    let config = Arc::new(args.raft_config().map_err(anyhow::Error::msg)?);
    let security = args.security.load_master()?;
    warn_if_unprotected(&args, &security);

    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("cannot create work dir {}", args.work_dir.display()))?;
    let recorded_cluster = check_node_meta(&args.work_dir, args.id)?;
    // A taken port is found before the storage is opened: a master that
    // cannot serve must not start a Raft core that goes on (snapshots, log
    // purges) while the process exits. It is bound for good only when the
    // master serves, so that meanwhile peers are refused, not left waiting
    // in the accept queue.
    drop(bind(&args.listen).await?);

    let durability = mesoraft_raft::storage::Durability {
        unsafe_skip_fsync: args.debug_unsafe_skip_fsync,
    };
    if durability.unsafe_skip_fsync {
        tracing::warn!(
            node_id = args.id,
            "--debug-unsafe-skip-fsync: acknowledged writes are NOT durable; for tests only"
        );
    }
    let (mut log_store, state_machine) =
        mesoraft_raft::storage::open_with(&args.work_dir.join("raft"), durability)
            .await
            .with_context(|| format!("cannot open Raft storage in {}", args.work_dir.display()))?;
    let registry = state_machine.registry_handle();
    let records = log_store.clone();
    let local = begin_run(&records, args.id, state_machine.snapshot_meta().is_some())
        .await
        .with_context(|| format!("work dir {}", args.work_dir.display()))?;
    let ledger: Ledger = records
        .read_record(crate::identity::LEDGER_RECORD)
        .context("cannot read the witness ledger")?
        .unwrap_or_default();
    tracing::info!(node_id = args.id, incarnation = %local.incarnation, run = local.run,
        pristine = local.pristine, "identity");
    let identity = IdentityHandle::new(local, ledger);

    let cluster = ClusterIdentity::default();
    if let Some(id) = &recorded_cluster {
        cluster.set(id);
    }
    let limits = RpcLimits::default();
    let quorum_clock = QuorumClock::default();
    let newer_logs = mesoraft_raft::election::NewerLogSeen::default();
    let network = GrpcNetworkFactory::new(PeerTransport {
        cluster: cluster.clone(),
        identity: identity.clone(),
        secret: security.secret.clone(),
        tls: security.tls.as_ref().and_then(|t| t.peer_channel.clone()),
        limits,
        connect_timeout: Duration::from_millis(args.election_timeout_min_ms.max(200)),
        retry_interval: Duration::from_millis(args.heartbeat_interval_ms),
        quorum_clock: quorum_clock.clone(),
        newer_logs: newer_logs.clone(),
    });
    // Never resume leading the old term: its log may lack entries it sent
    // (storage::restart).
    if let Some(term) = mesoraft_raft::storage::give_up_leadership(&mut log_store, args.id)
        .await
        .context("cannot update the stored vote")?
    {
        tracing::info!(
            node_id = args.id,
            term,
            "was leader before the restart; starts as a follower"
        );
    }
    // openraft spawns its core, replication and state-machine tasks where
    // it is created: on the Raft runtime (see `mesoraft_raft::runtime`).
    let raft_runtime = RaftRuntime::start(&format!("raft-{}", args.id))?;
    let raft = raft_runtime
        .run(Raft::new(
            args.id,
            config,
            network,
            log_store,
            state_machine,
        ))
        .await?
        .context("cannot start the Raft core")?;

    // Raft::new re-applied the committed log, so the registry now knows
    // the cluster id even if no snapshot recorded it yet.
    if let Some(id) = registry.read(|r| r.cluster_id().map(str::to_string)) {
        if !cluster.set(&id) {
            let _ = raft.shutdown().await;
            bail!(
                "work dir {} records cluster {} but its Raft state belongs to cluster {id}; \
                 the work dir is inconsistent: restore it or remove it and re-add this master",
                args.work_dir.display(),
                recorded_cluster.unwrap_or_default()
            );
        }
        if recorded_cluster.is_none() {
            record_cluster_id(&args.work_dir, args.id, &id).with_context(|| {
                format!("cannot update {}", args.work_dir.join(META_FILE).display())
            })?;
        }
    }
    let Some((membership, membership_log_index)) = crate::status::stored_membership(&raft).await
    else {
        bail!("the Raft core stopped during start-up; see the log above");
    };
    if !membership.is_empty() && !membership.nodes.contains_key(&args.id) {
        let _ = raft.shutdown().await;
        bail!(
            "master {} is not a member of the group stored in {} (members: {:?}); it was \
             removed or the work dir is another master's. Start it with --join and add it with \
             `raftctl members add`, after removing the work dir",
            args.id,
            args.work_dir.display(),
            membership.nodes
        );
    }

    // A master with a membership asks its peers how the group looks to
    // them: another cluster, or a group that removed it, means it must not
    // run. (Elections stay off meanwhile, see `quiet_start`.)
    let peers = if membership.is_empty() {
        Vec::new()
    } else {
        probe_peers(&Prober::new(&security), &args, &membership).await
    };
    if let Err(e) = check_peers_cluster(&args, &cluster, &peers) {
        let _ = raft.shutdown().await;
        return Err(e);
    }
    let own = OwnView {
        id: args.id,
        membership_log_index,
        cluster_id: cluster.get(),
        members: membership.nodes.clone(),
    };
    if let Some(removal) = find_removal(&own, &peers) {
        let _ = raft.shutdown().await;
        bail!("{}", removal.message(args.id, &address, &args.work_dir));
    }

    let listener = match bind(&args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            let _ = raft.shutdown().await;
            return Err(e);
        }
    };
    let contact = LeaderContact::default();
    let auth = PeerAuth {
        secret: security.secret.clone(),
        require_client_cert: security.tls.as_ref().is_some_and(|t| t.mutual),
    };
    let hub = Arc::new(crate::driver::Hub::default());
    let driver = crate::driver::DriverConfig {
        agents: args.agents.policy(),
        frameworks: args.offers.framework_policy(),
        allocator: args.offers.allocator_config(),
        offer_timeout: args.offers.offer_timeout,
        forget_unreachable_tasks: args.debug_unsafe_forget_unreachable_tasks,
    };
    let master = Arc::new(Master {
        id: args.id,
        address,
        args: args.clone(),
        raft: raft.clone(),
        proposer: Proposer::spawn(raft.clone(), BatchLimits::default()),
        registry,
        cluster: cluster.clone(),
        contact: contact.clone(),
        elections: Default::default(),
        leadership: Default::default(),
        started_at: SystemTime::now(),
        identity: identity.clone(),
        security,
        quorum_clock,
        hub: hub.clone(),
        term_services: vec![crate::driver::term_service(driver, hub)],
    });
    let shutdown = CancellationToken::new();
    let fatal = FatalStop::default();
    let grpc = RaftGrpcService::new(raft, cluster, contact, auth, limits, identity);
    let server = tokio::spawn(crate::server::serve(
        listener,
        master.clone(),
        grpc,
        shutdown.clone(),
    ));
    let mut tasks = vec![
        tokio::spawn(crate::leader::watch_leadership(
            master.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(crate::fatal::watch_core(
            master.clone(),
            shutdown.clone(),
            fatal.clone(),
        )),
        tokio::spawn(quiet_start(master.clone(), shutdown.clone())),
        // The election timer stays on this runtime, with the server that
        // takes the leader's AppendEntries: were it punctual while they
        // wait in a busy queue, a follower would campaign against a live
        // leader.
        tokio::spawn(mesoraft_raft::election::run(
            master.raft.clone(),
            master.id,
            master.contact.clone(),
            newer_logs,
            master.elections.clone(),
            master.args.election_timing(),
            shutdown.clone().cancelled_owned(),
        )),
    ];
    tasks.extend(crate::identity::spawn_tasks(
        master.clone(),
        records,
        shutdown.clone(),
    ));

    tracing::info!(node_id = master.id, address = %master.address, initialized = !membership.is_empty(),
        "master serving");
    if membership.is_empty() {
        tasks.push(tokio::spawn(initialize_when_possible(
            master.clone(),
            shutdown.clone(),
        )));
    } else {
        tasks.push(tokio::spawn(recheck_removal(
            master.clone(),
            shutdown.clone(),
            fatal.clone(),
        )));
    }
    Ok(MasterHandle {
        master,
        shutdown,
        fatal,
        server,
        tasks,
        raft_runtime,
    })
}

/// Says loudly what an unprotected port allows.
fn warn_if_unprotected(args: &MasterArgs, security: &Security) {
    if security.secret.is_none() {
        tracing::warn!(
            node_id = args.id,
            "no --cluster-secret-file: Raft RPCs and membership changes are accepted from anyone \
             who can reach {}; anyone there can depose the leader or disrupt the group. Give \
             every master and raftctl the same secret file in production",
            args.listen
        );
    }
    if security.tls.is_none() {
        tracing::warn!(
            node_id = args.id,
            "no --tls-cert: the port speaks plain text; the cluster secret token and all data \
             travel unencrypted"
        );
    }
}

/// A restarted master does not know when it last heard the leader, so it
/// would campaign as soon as the election driver looks, deposing a healthy
/// leader that simply had not reached it yet (Raft without pre-vote).
/// openraft's own election timer is off for good (`MasterArgs::raft_config`)
/// and the driver (`mesoraft_raft::election`) starts with its switch off, so
/// nothing campaigns during the start-up checks; the switch goes on once a
/// leader makes contact or a few election timeouts pass with none. (A new
/// group's initializer campaigns through `initialize`, which needs neither.)
async fn quiet_start(master: Arc<Master>, shutdown: CancellationToken) {
    let patience = Duration::from_millis(3 * master.args.election_timeout_max_ms);
    tokio::select! {
        _ = master.contact.wait_first_contact() => {}
        _ = tokio::time::sleep(patience) => {}
        _ = shutdown.cancelled() => {}
    }
    master.elections.allow();
    tracing::info!(
        node_id = master.id,
        heard_leader = master.contact.millis_since().is_some(),
        "elections enabled"
    );
}
