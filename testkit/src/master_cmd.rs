//! `mesoraft master` command lines: the one place that spells the master's
//! flags. The master crate's contract test parses every combination this
//! builder produces with the master's own parser, so a renamed flag fails
//! there and not in a cluster run. `mesoraft agent` has its own builder,
//! [`crate::AgentCmd`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent_cmd::duration_text;

/// The subcommand of the `mesoraft` binary that runs a master.
pub const MASTER_SUBCOMMAND: &str = "master";

/// How a master finds its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Group {
    /// `--peers ID=HOST:PORT,...`: a member of the initial group. Kept as
    /// a list, not a map, so a command can also carry a malformed list
    /// (a repeated id) for the master to refuse.
    Peers(Vec<(u64, String)>),
    /// `--join HOST:PORT,...`: a new master waiting to be added.
    Join(Vec<String>),
}

/// PEM files of a master that serves TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// How the leader checks agents (`--agent-*` flags), for tests that need
/// seconds instead of Mesos's minutes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentHealth {
    pub ping_timeout: Duration,
    pub max_ping_timeouts: u32,
    pub reregister_timeout: Duration,
    /// `--agent-removal-rate-limit`, e.g. `1/10mins`.
    pub removal_rate_limit: Option<String>,
    /// `--recovery-agent-removal-limit`, e.g. `50%`.
    pub recovery_removal_limit: Option<String>,
}

/// A `mesoraft master` command line, built up flag by flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterCmd {
    id: u64,
    listen: String,
    work_dir: PathBuf,
    group: Option<Group>,
    cluster_secret_file: Option<PathBuf>,
    tls: Option<TlsFiles>,
    heartbeat_interval_ms: Option<u64>,
    election_timeout_min_ms: Option<u64>,
    election_timeout_max_ms: Option<u64>,
    snapshot_logs: Option<u64>,
    stale_reads: bool,
    skip_fsync: bool,
    forget_unreachable_tasks: bool,
    agent_health: Option<AgentHealth>,
    extra: Vec<String>,
}

impl MasterCmd {
    /// Master `id` listening on (and advertising) `listen`, keeping its
    /// state in `work_dir`. Without [`MasterCmd::peers`] or
    /// [`MasterCmd::join`] the master refuses to start.
    pub fn new(id: u64, listen: impl Into<String>, work_dir: impl AsRef<Path>) -> Self {
        Self {
            id,
            listen: listen.into(),
            work_dir: work_dir.as_ref().to_path_buf(),
            group: None,
            cluster_secret_file: None,
            tls: None,
            heartbeat_interval_ms: None,
            election_timeout_min_ms: None,
            election_timeout_max_ms: None,
            snapshot_logs: None,
            stale_reads: false,
            skip_fsync: false,
            forget_unreachable_tasks: false,
            agent_health: None,
            extra: Vec::new(),
        }
    }

    /// A member of the initial group `peers` (id, address).
    pub fn peers<A: Into<String>>(mut self, peers: impl IntoIterator<Item = (u64, A)>) -> Self {
        let peers = peers.into_iter().map(|(id, a)| (id, a.into())).collect();
        self.group = Some(Group::Peers(peers));
        self
    }

    /// A new master that waits to be added; `addrs` are some of the
    /// group's masters.
    pub fn join<A: Into<String>>(mut self, addrs: impl IntoIterator<Item = A>) -> Self {
        self.group = Some(Group::Join(addrs.into_iter().map(Into::into).collect()));
        self
    }

    pub fn cluster_secret_file(mut self, path: impl AsRef<Path>) -> Self {
        self.cluster_secret_file = Some(path.as_ref().to_path_buf());
        self
    }

    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }

    /// `None` leaves the flag out, so the master's default applies (the
    /// same for the other timing setters).
    pub fn heartbeat_interval_ms(mut self, ms: impl Into<Option<u64>>) -> Self {
        self.heartbeat_interval_ms = ms.into();
        self
    }

    pub fn election_timeout_min_ms(mut self, ms: impl Into<Option<u64>>) -> Self {
        self.election_timeout_min_ms = ms.into();
        self
    }

    pub fn election_timeout_max_ms(mut self, ms: impl Into<Option<u64>>) -> Self {
        self.election_timeout_max_ms = ms.into();
        self
    }

    pub fn snapshot_logs(mut self, entries: impl Into<Option<u64>>) -> Self {
        self.snapshot_logs = entries.into();
        self
    }

    /// The deliberately broken setting: followers serve stale reads.
    pub fn stale_reads(mut self, on: bool) -> Self {
        self.stale_reads = on;
        self
    }

    /// The deliberately broken setting: log writes acknowledged unsynced.
    pub fn skip_fsync(mut self, on: bool) -> Self {
        self.skip_fsync = on;
        self
    }

    /// The deliberately broken setting: the tasks of an agent marked
    /// unreachable are ended as if it were gone.
    pub fn forget_unreachable_tasks(mut self, on: bool) -> Self {
        self.forget_unreachable_tasks = on;
        self
    }

    /// Flags this builder has no setter for, appended as given.
    pub fn extra<S: Into<String>>(mut self, flags: impl IntoIterator<Item = S>) -> Self {
        self.extra.extend(flags.into_iter().map(Into::into));
        self
    }

    /// The agent health flags.
    pub fn agent_health(mut self, health: impl Into<Option<AgentHealth>>) -> Self {
        self.agent_health = health.into();
        self
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn listen(&self) -> &str {
        &self.listen
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    pub fn group(&self) -> Option<&Group> {
        self.group.as_ref()
    }

    /// The whole argument vector after the program name, beginning with
    /// the `master` subcommand.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![MASTER_SUBCOMMAND.to_string()];
        args.extend(self.flags());
        args
    }

    /// The flags alone, for a program that takes the master's flags under
    /// another subcommand (the Jepsen harness's fake master).
    pub fn flags(&self) -> Vec<String> {
        let mut args = vec![
            "--id".to_string(),
            self.id.to_string(),
            "--listen".into(),
            self.listen.clone(),
            "--work-dir".into(),
            path_text(&self.work_dir),
        ];
        match &self.group {
            Some(Group::Peers(peers)) => {
                let list: Vec<String> = peers.iter().map(|(id, a)| format!("{id}={a}")).collect();
                args.extend(["--peers".into(), list.join(",")]);
            }
            Some(Group::Join(addrs)) => args.extend(["--join".into(), addrs.join(",")]),
            None => {}
        }
        if let Some(path) = &self.cluster_secret_file {
            args.extend(["--cluster-secret-file".into(), path_text(path)]);
        }
        if let Some(tls) = &self.tls {
            args.extend(["--tls-cert".into(), path_text(&tls.cert)]);
            args.extend(["--tls-key".into(), path_text(&tls.key)]);
            args.extend(["--tls-ca".into(), path_text(&tls.ca)]);
        }
        for (flag, value) in [
            ("--heartbeat-interval-ms", self.heartbeat_interval_ms),
            ("--election-timeout-min-ms", self.election_timeout_min_ms),
            ("--election-timeout-max-ms", self.election_timeout_max_ms),
            ("--snapshot-logs", self.snapshot_logs),
        ] {
            if let Some(v) = value {
                args.extend([flag.to_string(), v.to_string()]);
            }
        }
        if let Some(h) = &self.agent_health {
            args.extend(["--agent-ping-timeout".into(), duration_text(h.ping_timeout)]);
            args.extend([
                "--max-agent-ping-timeouts".into(),
                h.max_ping_timeouts.to_string(),
            ]);
            args.extend([
                "--agent-reregister-timeout".into(),
                duration_text(h.reregister_timeout),
            ]);
            if let Some(rate) = &h.removal_rate_limit {
                args.extend(["--agent-removal-rate-limit".into(), rate.clone()]);
            }
            if let Some(limit) = &h.recovery_removal_limit {
                args.extend(["--recovery-agent-removal-limit".into(), limit.clone()]);
            }
        }
        if self.stale_reads {
            args.push("--debug-unsafe-stale-reads".into());
        }
        if self.skip_fsync {
            args.push("--debug-unsafe-skip-fsync".into());
        }
        if self.forget_unreachable_tasks {
            args.push("--debug-unsafe-forget-unreachable-tasks".into());
        }
        args.extend(self.extra.iter().cloned());
        args
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_command_names_id_address_and_work_dir_only() {
        let cmd = MasterCmd::new(2, "127.0.0.1:7002", "/tmp/m2");
        assert_eq!(
            cmd.args(),
            [
                "master",
                "--id",
                "2",
                "--listen",
                "127.0.0.1:7002",
                "--work-dir",
                "/tmp/m2"
            ]
        );
    }

    #[test]
    fn peers_and_join_lists_are_comma_separated() {
        let base = MasterCmd::new(1, "a:1", "/w");
        let peers = base.clone().peers([(1, "a:1"), (2, "b:2")]).flags();
        assert!(peers.windows(2).any(|w| w == ["--peers", "1=a:1,2=b:2"]));
        let join = base.peers([(1, "a:1")]).join(["a:1", "b:2"]).flags();
        assert!(join.windows(2).any(|w| w == ["--join", "a:1,b:2"]));
        assert!(
            !join.contains(&"--peers".to_string()),
            "join replaces peers"
        );
    }

    #[test]
    fn unset_options_leave_their_flags_out() {
        let cmd = MasterCmd::new(1, "a:1", "/w")
            .heartbeat_interval_ms(40)
            .heartbeat_interval_ms(None)
            .snapshot_logs(20)
            .stale_reads(true)
            .extra(["--write-timeout-ms", "900"]);
        let flags = cmd.flags();
        assert!(!flags.contains(&"--heartbeat-interval-ms".to_string()));
        assert!(flags.windows(2).any(|w| w == ["--snapshot-logs", "20"]));
        assert!(flags.contains(&"--debug-unsafe-stale-reads".to_string()));
        assert!(!flags.contains(&"--debug-unsafe-skip-fsync".to_string()));
        assert_eq!(flags[flags.len() - 2..], ["--write-timeout-ms", "900"]);
    }
}
