//! Master command-line flags and the Raft configuration derived from them.

use mesoraft_raft::openraft;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mesoraft_proto::units::{parse_duration, Fraction, Rate};
use mesoraft_raft::NodeId;

use crate::agents::policy::AgentPolicy;

/// `mesoraft master` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct MasterArgs {
    /// This master's id in the group (a small positive integer, unique).
    #[arg(long)]
    pub id: NodeId,

    /// Address to listen on (gRPC for peers and HTTP for everyone else).
    #[arg(long, default_value = "127.0.0.1:5050")]
    pub listen: String,

    /// Address the other masters, agents and clients use to reach this
    /// master. Defaults to --listen; required when listening on 0.0.0.0.
    #[arg(long)]
    pub advertise: Option<String>,

    /// The initial group, `ID=HOST:PORT` comma-separated, identical on every
    /// master of a new cluster, e.g. `1=a:5050,2=b:5050,3=c:5050`.
    #[arg(long, value_parser = parse_peers, conflicts_with = "join")]
    pub peers: Option<PeerMap>,

    /// Start as a new master that waits to be added to an existing group
    /// (`raftctl members add`); lists some of its masters.
    #[arg(long, value_delimiter = ',', conflicts_with = "peers")]
    pub join: Vec<String>,

    /// Directory for the Raft log, snapshots and node metadata.
    #[arg(long)]
    pub work_dir: PathBuf,

    /// Leader heartbeat period. The defaults of the three timing flags were
    /// chosen by measurement (ARCHITECTURE.md, "Timeouts").
    #[arg(long, default_value_t = 50)]
    pub heartbeat_interval_ms: u64,

    /// A failed campaign is retried after a random time in [min/2, min).
    #[arg(long, default_value_t = 150)]
    pub election_timeout_min_ms: u64,

    /// The followers' leader lease: a follower refuses to vote for another
    /// candidate until this long after it last heard the leader; one that
    /// hears no leader for this long (plus a few ms) campaigns.
    #[arg(long, default_value_t = 300)]
    pub election_timeout_max_ms: u64,

    /// Take a registry snapshot (and compact the log) every N entries.
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_logs: u64,

    /// How long a write may wait for commit before the client is told
    /// that its outcome is unknown (HTTP 504).
    #[arg(long, default_value_t = 5_000)]
    pub write_timeout_ms: u64,

    #[command(flatten)]
    pub security: crate::security::SecurityArgs,

    #[command(flatten)]
    pub agents: AgentArgs,

    #[command(flatten)]
    pub offers: OfferArgs,

    /// TESTING ONLY, UNSAFE: answer GET_WEIGHTS on every master from its
    /// local, possibly stale copy. Exists so the Jepsen checker can be
    /// shown to catch stale reads.
    #[arg(long, hide = true)]
    pub debug_unsafe_stale_reads: bool,
    /// TESTING ONLY, UNSAFE: acknowledge log writes without making them
    /// durable. Exists so the crash nemeses can be shown to catch it.
    #[arg(long, hide = true)]
    pub debug_unsafe_skip_fsync: bool,
    /// TESTING ONLY, UNSAFE: end the tasks of an agent marked unreachable
    /// as if the agent were gone, and take them back when it returns
    /// (tasks then come back after their end). Exists so the Jepsen tasks
    /// checker can be shown to catch a master that forgets unreachable
    /// tasks.
    #[arg(long, hide = true)]
    pub debug_unsafe_forget_unreachable_tasks: bool,
}

/// How the leader checks agents' health and treats the ones that do not
/// come back (SPEC 2 and 3). Durations in Mesos's form (`15secs`, `10mins`)
/// or short (`15s`); tests use seconds.
#[derive(clap::Args, Debug, Clone)]
pub struct AgentArgs {
    /// A ping round every this long; a ping not answered by the next
    /// round is a miss.
    #[arg(long, default_value = "15secs", value_parser = parse_duration)]
    pub agent_ping_timeout: Duration,

    /// Misses in a row after which an agent is marked unreachable.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_agent_ping_timeouts: u32,

    /// How long agents get to re-register after a leader change (and
    /// after their session breaks) before they are marked unreachable.
    #[arg(long, default_value = "10mins", value_parser = parse_duration)]
    pub agent_reregister_timeout: Duration,

    /// At most this many agents marked unreachable per period, e.g.
    /// `1/10mins` (default: no limit).
    #[arg(long)]
    pub agent_removal_rate_limit: Option<Rate>,

    /// The share of the agents admitted when a failover began that may be
    /// marked unreachable when the re-register timeout fires (`100%`,
    /// `50%`, `0.5`); above it none are, because it means the masters are
    /// cut off, not that the agents died.
    #[arg(long, default_value = "100%")]
    pub recovery_agent_removal_limit: Fraction,
}

impl AgentArgs {
    pub fn policy(&self) -> AgentPolicy {
        AgentPolicy {
            ping_timeout: self.agent_ping_timeout,
            max_ping_timeouts: self.max_agent_ping_timeouts,
            reregister_timeout: self.agent_reregister_timeout,
            removal_rate: self.agent_removal_rate_limit,
            recovery_removal_limit: self.recovery_agent_removal_limit.value(),
        }
    }
}

/// Allocation and offers (SPEC 9) and the framework streams (SPEC 8).
#[derive(clap::Args, Debug, Clone)]
pub struct OfferArgs {
    /// A batch allocation every this long (events such as an agent
    /// joining or resources coming back also start one at once).
    #[arg(long, default_value = "1secs", value_parser = parse_duration)]
    pub allocation_interval: Duration,

    /// Rescind offers a framework has held this long (default: never).
    #[arg(long, value_parser = parse_duration)]
    pub offer_timeout: Option<Duration>,

    /// HEARTBEAT period on every scheduler stream.
    #[arg(long, default_value = "15secs", value_parser = parse_duration)]
    pub framework_heartbeat_interval: Duration,
}

impl OfferArgs {
    pub fn allocator_config(&self) -> crate::allocator::AllocatorConfig {
        crate::allocator::AllocatorConfig {
            allocation_interval: self.allocation_interval,
            agent_order_seed: rand::random(),
            ..crate::allocator::AllocatorConfig::default()
        }
    }

    pub fn framework_policy(&self) -> crate::frameworks::FrameworkPolicy {
        crate::frameworks::FrameworkPolicy {
            heartbeat_interval: self.framework_heartbeat_interval,
            ..crate::frameworks::FrameworkPolicy::default()
        }
    }
}

/// `ID -> HOST:PORT`, ordered by id.
pub type PeerMap = BTreeMap<NodeId, String>;

pub fn parse_peers(text: &str) -> Result<PeerMap, String> {
    let mut peers = PeerMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .ok_or_else(|| format!("peer {item:?} is not ID=HOST:PORT"))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| format!("peer id {id:?} is not a positive integer"))?;
        if id == 0 {
            return Err("peer id 0 is reserved; number masters from 1".into());
        }
        let addr = addr.trim();
        validate_addr(addr)?;
        if peers.insert(id, addr.to_string()).is_some() {
            return Err(format!("peer id {id} is listed twice"));
        }
    }
    if peers.is_empty() {
        return Err("--peers lists no master".into());
    }
    Ok(peers)
}

/// Checks HOST:PORT syntax (not reachability).
pub fn validate_addr(addr: &str) -> Result<(), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("address {addr:?} is not HOST:PORT"))?;
    if host.is_empty() {
        return Err(format!("address {addr:?} has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("address {addr:?} has no valid port")),
    }
}

impl MasterArgs {
    /// The address peers must use for this node, checked for sanity.
    pub fn advertised_addr(&self) -> Result<String, String> {
        let addr = self
            .advertise
            .clone()
            .unwrap_or_else(|| self.listen.clone());
        validate_addr(&addr)?;
        let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or("");
        if host == "0.0.0.0" || host == "[::]" {
            return Err(format!(
                "--listen {addr} is a wildcard; give --advertise HOST:PORT that peers can reach"
            ));
        }
        Ok(addr)
    }

    /// Flag-level consistency checks, run before anything touches disk.
    pub fn validate(&self) -> Result<(), String> {
        if self.id == 0 {
            return Err("--id 0 is reserved; number masters from 1".into());
        }
        let advertised = self.advertised_addr()?;
        match (&self.peers, self.join.is_empty()) {
            (None, true) => {
                return Err(
                    "give --peers ID=HOST:PORT,... for a new or existing group, \
                            or --join HOST:PORT,... to wait to be added to one"
                        .into(),
                )
            }
            (Some(peers), _) => match peers.get(&self.id) {
                None => {
                    return Err(format!(
                        "--peers does not list this master's --id {}; every master of the \
                         initial group must appear in --peers",
                        self.id
                    ))
                }
                Some(addr) if *addr != advertised => {
                    return Err(format!(
                        "--peers says master {} is at {addr} but this master advertises \
                         {advertised}; make them equal (see --advertise)",
                        self.id
                    ))
                }
                Some(_) => {}
            },
            (None, false) => {
                for addr in &self.join {
                    validate_addr(addr)?;
                }
            }
        }
        let (hb, min, max) = (
            self.heartbeat_interval_ms,
            self.election_timeout_min_ms,
            self.election_timeout_max_ms,
        );
        if hb == 0 || min <= hb || max <= min {
            return Err(format!(
                "timeouts must satisfy 0 < heartbeat ({hb} ms) < election min ({min} ms) < \
                 election max ({max} ms)"
            ));
        }
        if self.snapshot_logs == 0 {
            return Err("--snapshot-logs must be at least 1".into());
        }
        Ok(())
    }

    /// When the election driver campaigns.
    pub fn election_timing(&self) -> mesoraft_raft::election::ElectionTiming {
        mesoraft_raft::election::ElectionTiming::from_flags(
            self.heartbeat_interval_ms,
            self.election_timeout_min_ms,
            self.election_timeout_max_ms,
        )
    }

    pub fn raft_config(&self) -> Result<openraft::Config, String> {
        let config = openraft::Config {
            cluster_name: "mesoraft".into(),
            heartbeat_interval: self.heartbeat_interval_ms,
            election_timeout_min: self.election_timeout_min_ms,
            election_timeout_max: self.election_timeout_max_ms,
            // 0.9 applies this per snapshot chunk; a registry of 100k agents
            // is tens of MB, so use big chunks with a generous timeout. The
            // chunk size is one the transport's message limit allows.
            install_snapshot_timeout: 10_000,
            snapshot_max_chunk_size: mesoraft_raft::limits::SNAPSHOT_CHUNK_BYTES as u64,
            // Off for good: elections are started by the election driver
            // (`mesoraft_raft::election`), which campaigns right after the
            // voters' lease instead of lease + a random timeout, and not
            // before the start-up checks are done (`bootstrap::quiet_start`).
            enable_elect: false,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_logs),
            // Keep a snapshot interval's worth of entries so a briefly lagging
            // follower catches up from the log, not by a snapshot transfer.
            max_in_snapshot_log_to_keep: self.snapshot_logs,
            ..Default::default()
        };
        config
            .validate()
            .map_err(|e| format!("invalid Raft timeouts: {e}"))
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_peer_lists() {
        let p = parse_peers("1=a:5050, 2=b:5050,3=10.0.0.3:5051").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[&3], "10.0.0.3:5051");
        for bad in [
            "",
            "1=a",
            "x=a:1",
            "0=a:1",
            "1=a:1,1=b:1",
            "1=:5",
            "1=a:0",
            "1a:5",
        ] {
            assert!(parse_peers(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn agent_flags_take_mesos_forms_and_default_to_mesos_values() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            agents: AgentArgs,
        }
        let parse = |args: &[&str]| {
            <Cli as clap::Parser>::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
                .map(|c| c.agents.policy())
        };
        assert_eq!(parse(&[]).unwrap(), AgentPolicy::default());
        let policy = parse(&[
            "--agent-ping-timeout=1secs",
            "--max-agent-ping-timeouts=3",
            "--agent-reregister-timeout=4s",
            "--agent-removal-rate-limit=1/10mins",
            "--recovery-agent-removal-limit=50%",
        ])
        .unwrap();
        assert_eq!(policy.ping_timeout, Duration::from_secs(1));
        assert_eq!(policy.max_ping_timeouts, 3);
        assert_eq!(policy.reregister_timeout, Duration::from_secs(4));
        assert_eq!(policy.removal_rate.unwrap().per, Duration::from_secs(600));
        assert_eq!(policy.recovery_removal_limit, 0.5);
        for bad in [
            "--agent-ping-timeout=fast",
            "--max-agent-ping-timeouts=0",
            "--agent-removal-rate-limit=10mins",
            "--recovery-agent-removal-limit=150%",
        ] {
            let err = parse(&[bad]).map(|_| ()).expect_err(bad).to_string();
            let flag = bad.split('=').next().unwrap();
            assert!(err.contains(flag), "{bad}: {err}");
        }
    }

    #[test]
    fn the_raft_core_starts_with_elections_off() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            master: MasterArgs,
        }
        let args = <Cli as clap::Parser>::parse_from([
            "master",
            "--id=1",
            "--peers=1=127.0.0.1:5050",
            "--work-dir=/tmp/m1",
        ])
        .master;
        let config = args.raft_config().unwrap();
        assert!(!config.enable_elect);
        assert!(config.enable_heartbeat);
    }
}
