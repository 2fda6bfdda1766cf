//! The one edge of the agent views: the leader's view of its agents, read
//! after a quorum confirmed the leadership (as every operator read is).

use crate::driver::AgentsView;
use crate::leader::NotLeader;
use crate::Master;

/// Why the agents cannot be shown now.
#[derive(Clone, Debug, PartialEq)]
pub enum ViewUnavailable {
    /// Another master leads, or none does (yet).
    NotLeader(NotLeader),
    /// This master leads but its agent sessions are not open (the term
    /// just began, or is ending).
    SessionsNotOpen,
}

impl From<NotLeader> for ViewUnavailable {
    fn from(n: NotLeader) -> Self {
        ViewUnavailable::NotLeader(n)
    }
}

impl std::fmt::Display for ViewUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ViewUnavailable::NotLeader(n) => n.fmt(f),
            ViewUnavailable::SessionsNotOpen => f.write_str(
                "this master leads but its agent sessions are not open yet (or are closing); \
                 retry shortly",
            ),
        }
    }
}

/// The agents as this master, confirmed leader, sees them.
pub async fn leader_view(master: &Master) -> Result<AgentsView, ViewUnavailable> {
    master.require_leader()?;
    master.confirm_leadership().await?;
    master
        .hub
        .view()
        .await
        .map_err(|_| ViewUnavailable::SessionsNotOpen)
}

/// The tasks as this master, confirmed leader, knows them.
pub async fn leader_tasks(master: &Master) -> Result<crate::tasks::TasksView, ViewUnavailable> {
    master.require_leader()?;
    master.confirm_leadership().await?;
    master
        .hub
        .tasks()
        .await
        .map_err(|_| ViewUnavailable::SessionsNotOpen)
}

/// Agents, frameworks and tasks as this master, confirmed leader, knows
/// them (one step of its driver).
pub async fn leader_cluster(
    master: &Master,
) -> Result<crate::framework_views::ClusterView, ViewUnavailable> {
    master.require_leader()?;
    master.confirm_leadership().await?;
    master
        .hub
        .cluster()
        .await
        .map_err(|_| ViewUnavailable::SessionsNotOpen)
}

/// The frameworks as this master, confirmed leader, knows them.
pub async fn leader_frameworks(
    master: &Master,
) -> Result<crate::framework_views::FrameworksView, ViewUnavailable> {
    master.require_leader()?;
    master.confirm_leadership().await?;
    master
        .hub
        .frameworks()
        .await
        .map_err(|_| ViewUnavailable::SessionsNotOpen)
}

/// This master's own part of `/master/state`.
pub fn master_part(master: &Master) -> super::v0::MasterPart {
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    let version = crate::version_json();
    let text = |key: &str| version[key].as_str().unwrap_or("unknown").to_string();
    super::v0::MasterPart {
        version: text("version"),
        build_date: text("build_date"),
        git_sha: text("git_sha"),
        start_time: secs(master.started_at),
        elected_time: master.leadership.elected_at().map(secs),
        info: master.master_info(),
        cluster_id: master.cluster.get().map(str::to_string),
    }
}
