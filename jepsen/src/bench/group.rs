//! A mesoraft master group for the bench, on the harness's own cluster and
//! network code; everything is killed and removed when it is dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use mesoraft_testkit::master_cmd::AgentHealth;

use super::system::{poll_agreement, Acked, Agreed, System};
use crate::cleanup::Slot;
use crate::client::{self, ApiClient, Outcome, RaftStatus};
use crate::cluster::{log_tail, Binaries, Cluster, ClusterConfig, NodeSpec};
use crate::net::{MethodWant, Net, NetWant};

/// How to start the masters.
#[derive(Clone, Debug)]
pub struct GroupOpts {
    pub masters: usize,
    pub binaries: Binaries,
    /// None: the master's own default.
    pub heartbeat_ms: Option<u64>,
    pub election_min_ms: Option<u64>,
    pub election_max_ms: Option<u64>,
    pub net: NetWant,
    pub keep_data: bool,
    /// The masters' agent health flags (None: their defaults).
    pub agent_health: Option<AgentHealth>,
    /// The masters' `--snapshot-logs` (None: their default).
    pub snapshot_logs: Option<u64>,
}

pub struct MesoGroup {
    pub cluster: Arc<Cluster>,
    net: Arc<Net>,
    dir: PathBuf,
    keep_data: bool,
}

impl MesoGroup {
    /// Starts every master; logs go to `dir/nI.log`, data to `dir/data/nI`.
    pub fn start(opts: &GroupOpts, dir: &Path) -> anyhow::Result<MesoGroup> {
        std::fs::create_dir_all(dir)?;
        let ids: Vec<u64> = (1..=opts.masters as u64).collect();
        let slot = Slot::acquire()?;
        let net = Net::setup(slot.clone(), &ids, &[], opts.net, MethodWant::Auto)?;
        let nodes = NodeSpec::all_on(&net, &ids, &dir.join("data"), dir);
        let cfg = ClusterConfig {
            binaries: opts.binaries.clone(),
            heartbeat_ms: opts.heartbeat_ms,
            election_min_ms: opts.election_min_ms,
            election_max_ms: opts.election_max_ms,
            snapshot_logs: opts.snapshot_logs,
            stale_reads: false,
            skip_fsync: false,
            forget_unreachable_tasks: false,
            lazyfs: false,
            env: vec![],
            agent_health: opts.agent_health.clone(),
        };
        let group = MesoGroup {
            cluster: Arc::new(Cluster::new(cfg, nodes, slot)?),
            net,
            dir: dir.to_path_buf(),
            keep_data: opts.keep_data,
        };
        group.cluster.start_all()?;
        Ok(group)
    }

    pub fn network(&self) -> String {
        self.net.describe()
    }

    fn id_of(&self, addr: &str) -> Option<u64> {
        self.cluster
            .nodes
            .iter()
            .find(|n| n.addr == addr)
            .map(|n| n.id)
    }

    /// Fails at once (with the end of its log) if a master died.
    pub fn check_running(&self) -> anyhow::Result<()> {
        let running = self.cluster.running();
        if let Some(dead) = self
            .cluster
            .ids()
            .into_iter()
            .find(|id| !running.contains(id))
        {
            let log = &self.cluster.node(dead).log;
            bail!(
                "master {dead} is not running; end of {}:\n{}",
                log.display(),
                log_tail(log, 8)
            );
        }
        Ok(())
    }
}

impl Drop for MesoGroup {
    fn drop(&mut self) {
        self.cluster.resume_all();
        self.cluster.kill_all();
        self.net.teardown();
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(self.dir.join("data"));
        }
    }
}

/// A distinct, valid weight (finite, > 0, exact in binary) per `seq`.
pub fn weight(seq: u64) -> f64 {
    1.0 + (seq % (1 << 40)) as f64 / 1024.0
}

/// Judges one round of statuses: every master answers, one of them is a
/// ready leader (role leader, cluster id committed), every master names it,
/// and `caught_up` (if given) has applied what the leader has committed.
pub fn agreement(
    statuses: &[(u64, Result<RaftStatus, String>)],
    caught_up: Option<u64>,
) -> Result<Agreed, String> {
    let mut ok = Vec::new();
    for (id, s) in statuses {
        match s {
            Ok(s) => ok.push((*id, s)),
            Err(e) => return Err(format!("master {id} does not answer: {e}")),
        }
    }
    let leaders: Vec<&(u64, &RaftStatus)> = ok.iter().filter(|(_, s)| s.is_leader()).collect();
    let (leader, ls) = match leaders.as_slice() {
        [one] => **one,
        [] => return Err("no master reports itself leader".into()),
        many => {
            let ids: Vec<u64> = many.iter().map(|(id, _)| *id).collect();
            return Err(format!("masters {ids:?} all report themselves leader"));
        }
    };
    if ls.cluster_id.is_none() {
        return Err(format!("leader {leader} has no cluster id yet"));
    }
    if let Some((id, s)) = ok.iter().find(|(_, s)| s.leader_id != Some(leader)) {
        return Err(format!(
            "master {id} names leader {:?}, not {leader}",
            s.leader_id
        ));
    }
    if let Some(r) = caught_up {
        let applied = ok
            .iter()
            .find(|(id, _)| *id == r)
            .and_then(|(_, s)| s.applied_index);
        if applied.unwrap_or(0) < ls.committed_index.unwrap_or(0) {
            return Err(format!(
                "master {r} has applied {applied:?}, leader committed {:?}",
                ls.committed_index
            ));
        }
    }
    Ok(Agreed {
        leader,
        term: ls.term,
    })
}

impl System for MesoGroup {
    fn label(&self) -> String {
        "mesoraft".into()
    }

    fn ids(&self) -> Vec<u64> {
        self.cluster.ids()
    }

    async fn wait_agreed(
        &self,
        caught_up: Option<u64>,
        timeout: Duration,
    ) -> anyhow::Result<Agreed> {
        let deadline = Instant::now() + timeout;
        self.cluster
            .wait_healthy(&self.cluster.ids(), timeout)
            .await?;
        poll_agreement(
            deadline,
            &format!("masters do not agree on a ready leader after {timeout:?}"),
            || async { agreement(&self.cluster.statuses().await, caught_up) },
            || self.check_running(),
        )
        .await
    }

    fn kill(&self, id: u64) -> bool {
        self.cluster.kill(id)
    }

    fn restart(&self, id: u64) -> anyhow::Result<()> {
        self.cluster.start(id)
    }

    fn pids(&self) -> Vec<i32> {
        self.cluster
            .pids()
            .into_iter()
            .map(|(_, pid)| pid)
            .collect()
    }

    async fn term_of(&self, id: u64) -> Option<u64> {
        self.cluster.status(id).await.ok().map(|s| s.term)
    }

    async fn max_term(&self) -> Option<u64> {
        self.cluster
            .statuses()
            .await
            .into_iter()
            .filter_map(|(_, s)| s.ok().map(|s| s.term))
            .max()
    }

    async fn write(
        &self,
        http: &reqwest::Client,
        to: u64,
        allowed: &[u64],
        key: &str,
        seq: u64,
        timeout: Duration,
    ) -> Result<Acked, String> {
        let allowed = allowed
            .iter()
            .map(|id| self.cluster.addr(*id).to_string())
            .collect();
        let api = ApiClient::with_http(http.clone(), allowed, timeout);
        let body = client::update_weights(&[(key.to_string(), weight(seq))]);
        let (outcome, node) = api.operator(self.cluster.addr(to), &body, true).await;
        match outcome {
            Outcome::Ok(_) => Ok(Acked {
                node: self.id_of(&node).unwrap_or(to),
                term: None,
            }),
            Outcome::Fail(e) | Outcome::Info(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(id: u64, role: &str, leader: Option<u64>, term: u64) -> RaftStatus {
        RaftStatus {
            id,
            role: role.into(),
            leader_id: leader,
            term,
            cluster_id: Some("c".into()),
            committed_index: Some(10),
            applied_index: Some(10),
            ..Default::default()
        }
    }

    #[test]
    fn agreement_needs_one_named_ready_leader() {
        let mut round = vec![
            (1, Ok(st(1, "follower", Some(2), 3))),
            (2, Ok(st(2, "leader", Some(2), 3))),
            (3, Ok(st(3, "follower", Some(2), 3))),
        ];
        let a = agreement(&round, None).unwrap();
        assert_eq!((a.leader, a.term), (2, 3));
        round[2].1 = Ok(st(3, "follower", None, 3));
        assert!(agreement(&round, None).unwrap_err().contains("master 3"));
        round[2].1 = Err("refused".into());
        assert!(agreement(&round, None).is_err());
        round[2].1 = Ok(st(3, "follower", Some(2), 3));
        if let Ok(s) = &mut round[1].1 {
            s.cluster_id = None;
        }
        assert!(agreement(&round, None)
            .unwrap_err()
            .contains("no cluster id"));
    }

    #[test]
    fn agreement_waits_for_the_restarted_master_to_catch_up() {
        let mut round = vec![
            (1, Ok(st(1, "follower", Some(2), 3))),
            (2, Ok(st(2, "leader", Some(2), 3))),
        ];
        if let Ok(s) = &mut round[0].1 {
            s.applied_index = Some(9);
        }
        assert!(agreement(&round, None).is_ok());
        assert!(agreement(&round, Some(1)).is_err());
        assert!(agreement(&round, Some(2)).is_ok());
    }

    #[test]
    fn weights_are_distinct_and_valid() {
        let w: Vec<f64> = (0..2000).map(weight).collect();
        assert!(w.iter().all(|x| x.is_finite() && *x > 0.0));
        assert!(w.windows(2).all(|p| p[0] < p[1]));
    }
}
