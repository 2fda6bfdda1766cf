//! Finding and following the leading master: try the masters of the list
//! (shuffled each round, a jittered backoff after losing the leader and
//! after a round in which no master took the agent: `retry`), go straight
//! to a leader a master names, keep one session with the leader, and move
//! on by itself when that leader dies, is cut off or steps down.
//!
//! - [`reaction`]: what each master message means (pure).
//! - [`link`]: one session with one master (the stream and its watchdog).

pub mod access;
pub mod link;
pub mod reaction;

use std::sync::{Arc, Mutex};

use mesoraft_proto::mesos::v1::{AgentId, AgentInfo};
use rand::SeedableRng;

use crate::backoff::Backoff;
use crate::checkpoint::{save_agent, WorkDir};
use crate::driver::{AgentHandle, Input};
use crate::masters::{MasterAddr, MasterList};
use crate::retry::{election_delay, Next, Retry};
pub use access::{AccessError, MasterAccess};
use link::SessionEnd;

/// What the agent's HTTP endpoints show of its sessions.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SessionStatus {
    pub agent_id: Option<String>,
    /// The master the agent is registered with now.
    pub master: Option<String>,
    pub registered: bool,
    /// Registrations (first or again) since the agent started.
    pub registrations: u64,
}

/// The agent's identity across sessions.
pub struct AgentState {
    /// The agent's info; its id once a master gave one.
    pub info: AgentInfo,
    work_dir: WorkDir,
    status: Arc<Mutex<SessionStatus>>,
    registered_in_session: bool,
    /// The runtime (executors, tasks, status updates).
    pub handle: AgentHandle,
}

impl AgentState {
    pub fn new(info: AgentInfo, work_dir: WorkDir, handle: AgentHandle) -> Self {
        let status = SessionStatus {
            agent_id: info.id.as_ref().map(|id| id.value.clone()),
            ..Default::default()
        };
        Self {
            info,
            work_dir,
            status: Arc::new(Mutex::new(status)),
            registered_in_session: false,
            handle,
        }
    }

    pub fn status(&self) -> Arc<Mutex<SessionStatus>> {
        self.status.clone()
    }

    /// The master (re-)registered the agent: record the id before acting
    /// on it, so a restart re-registers under the same id.
    fn registered(&mut self, agent_id: AgentId, master: &MasterAddr) -> Result<(), String> {
        let first = self.info.id.is_none();
        if self.info.id.as_ref() != Some(&agent_id) {
            if !first {
                tracing::warn!(old = ?self.info.id, new = %agent_id.value, "the master gave this agent another id");
            }
            self.info.id = Some(agent_id.clone());
        }
        save_agent(&self.work_dir, &self.info).map_err(|e| e.to_string())?;
        self.registered_in_session = true;
        tracing::info!(
            agent_id = %agent_id.value,
            master = %master,
            first_registration = first,
            "registered with the leading master"
        );
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.agent_id = Some(agent_id.value);
        status.master = Some(master.to_string());
        status.registered = true;
        status.registrations += 1;
        Ok(())
    }

    fn session_ended(&mut self) {
        // No master: status updates wait.
        self.handle.send(Input::MasterLost);
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.master = None;
        status.registered = false;
    }
}

/// Why following stopped for good.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowEnd {
    /// The master ordered a shutdown, saying why.
    Shutdown(String),
    /// Credentials refused; the operator must fix the secret.
    Unauthorized(String),
    /// The agent's own state could not be recorded.
    Fatal(String),
}

/// Follows the leader until told to shut down (or a fatal problem).
pub async fn follow_leader(
    masters: Vec<MasterAddr>,
    backoff_factor: std::time::Duration,
    access: MasterAccess,
    agent: &mut AgentState,
) -> FollowEnd {
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut list = match MasterList::new(masters) {
        Ok(list) => list,
        Err(e) => return FollowEnd::Fatal(e.to_string()),
    };
    let mut backoff = Backoff::registration(backoff_factor);
    let mut retry = Retry::default();
    loop {
        let addr = list.next(&mut rng);
        agent.registered_in_session = false;
        let end = link::run(&addr, &access, agent).await;
        agent.session_ended();
        let registered = agent.registered_in_session;
        let end = retry.read(&addr, end, registered);
        if registered {
            backoff.reset();
            list.new_round();
        }
        let next = retry.after(&end, registered, list.round_left());
        match end {
            SessionEnd::Redirect(leader) => {
                tracing::info!(master = %addr, leader = %leader, "not the leader; following its answer");
                list.follow_leader(leader);
            }
            SessionEnd::NoLeader(why) => {
                tracing::info!(master = %addr, why, "no leader there now");
            }
            SessionEnd::Lost(why) => {
                tracing::warn!(master = %addr, why, "session with the master lost")
            }
            SessionEnd::Shutdown(why) => return FollowEnd::Shutdown(why),
            SessionEnd::Unauthorized(why) => return FollowEnd::Unauthorized(why),
            SessionEnd::Fatal(why) => return FollowEnd::Fatal(why),
        }
        match next {
            Next::Backoff => tokio::time::sleep(backoff.next_delay_with(&mut rng)).await,
            Next::AfterElection => tokio::time::sleep(election_delay(&mut rng)).await,
            Next::Now | Next::Stop => {}
        }
    }
}
