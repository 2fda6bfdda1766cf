//! What determines a run: workloads, faults, timing, seeds, cluster and
//! client settings. Stored in `results.json`, and rendered as the command
//! line that repeats the run with the same schedule ([`RunSpec::cli_args`];
//! `cli::spec_from` parses it back, and a test checks the round trip).

use serde::{Deserialize, Serialize};

use crate::net::{MethodWant, NetWant};
use crate::schedule::Timing;
use crate::workload::WorkloadOpts;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// One workload, a comma-separated list run together, or `all`.
    pub workload: String,
    pub nemeses: Vec<String>,
    pub time_limit_s: u64,
    /// Seeds the fault schedule and every client.
    pub seed: u64,
    pub masters: usize,
    /// `mesoraft agent` processes beside the masters (0: none).
    #[serde(default)]
    pub agents: usize,
    /// Clients per workload.
    pub concurrency: usize,
    pub net: NetWant,
    pub partition_method: MethodWant,
    /// Masters started with the deliberately broken stale-reads setting.
    pub stale_reads: bool,
    /// Masters that acknowledge log writes without making them durable.
    #[serde(default)]
    pub skip_fsync: bool,
    /// Masters that end an unreachable agent's tasks as if it were gone.
    #[serde(default)]
    pub forget_unreachable_tasks: bool,
    /// Per-operation timeout of ordinary clients.
    pub op_timeout_ms: u64,
    /// Clients per workload that wait much longer for an answer (longer
    /// than any pause and than the masters' own write timeout), so that
    /// requests queued in a paused master and answered after it resumes,
    /// and the masters' 504 answers, show up in the history.
    pub slow_clients: usize,
    pub slow_op_timeout_ms: u64,
    pub timing: Timing,
    pub check_budget_s: u64,
    pub keys: usize,
    pub read_ratio: f64,
    pub think_ms: u64,
    /// Masters' Raft timing; None keeps the masters' own defaults.
    pub heartbeat_ms: Option<u64>,
    pub election_min_ms: Option<u64>,
    pub election_max_ms: Option<u64>,
    pub snapshot_logs: Option<u64>,
}

impl Default for RunSpec {
    fn default() -> Self {
        let workload = WorkloadOpts::default();
        RunSpec {
            workload: "register".into(),
            nemeses: Vec::new(),
            time_limit_s: 60,
            seed: 0,
            masters: 3,
            agents: 0,
            concurrency: 5,
            net: NetWant::Auto,
            partition_method: MethodWant::Auto,
            stale_reads: false,
            skip_fsync: false,
            forget_unreachable_tasks: false,
            op_timeout_ms: 1000,
            slow_clients: 1,
            slow_op_timeout_ms: 15_000,
            timing: Timing::default(),
            check_budget_s: 120,
            keys: workload.keys,
            read_ratio: workload.read_ratio,
            think_ms: workload.think.as_millis() as u64,
            heartbeat_ms: None,
            election_min_ms: None,
            election_max_ms: None,
            snapshot_logs: None,
        }
    }
}

fn value_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

impl RunSpec {
    pub fn workload_opts(&self) -> WorkloadOpts {
        WorkloadOpts {
            keys: self.keys,
            read_ratio: self.read_ratio,
            think: std::time::Duration::from_millis(self.think_ms),
        }
    }

    /// The `jepsen test` flags that give exactly this spec.
    pub fn cli_args(&self) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        let mut flag = |name: &str, value: String| {
            args.push(format!("--{name}"));
            args.push(value);
        };
        flag("workload", self.workload.clone());
        flag(
            "nemesis",
            if self.nemeses.is_empty() {
                "none".into()
            } else {
                self.nemeses.join(",")
            },
        );
        flag("time-limit", self.time_limit_s.to_string());
        flag("seed", self.seed.to_string());
        flag("masters", self.masters.to_string());
        flag("agents", self.agents.to_string());
        flag("concurrency", self.concurrency.to_string());
        flag("net", value_name(&self.net));
        flag("partition-method", value_name(&self.partition_method));
        flag("op-timeout-ms", self.op_timeout_ms.to_string());
        flag("slow-clients", self.slow_clients.to_string());
        flag("slow-op-timeout-ms", self.slow_op_timeout_ms.to_string());
        flag("fault-min-ms", self.timing.fault_min_ms.to_string());
        flag("fault-max-ms", self.timing.fault_max_ms.to_string());
        flag("quiet-min-ms", self.timing.quiet_min_ms.to_string());
        flag("quiet-max-ms", self.timing.quiet_max_ms.to_string());
        flag("overlap", self.timing.overlap.to_string());
        flag("check-budget-s", self.check_budget_s.to_string());
        flag("keys", self.keys.to_string());
        flag("read-ratio", self.read_ratio.to_string());
        flag("think-ms", self.think_ms.to_string());
        for (name, value) in [
            ("heartbeat-ms", self.heartbeat_ms),
            ("election-min-ms", self.election_min_ms),
            ("election-max-ms", self.election_max_ms),
            ("snapshot-logs", self.snapshot_logs),
        ] {
            if let Some(v) = value {
                flag(name, v.to_string());
            }
        }
        if self.stale_reads {
            args.push("--debug-stale-reads".into());
        }
        if self.skip_fsync {
            args.push("--debug-skip-fsync".into());
        }
        if self.forget_unreachable_tasks {
            args.push("--debug-forget-unreachable-tasks".into());
        }
        args
    }

    /// The command line that repeats this run's schedule.
    pub fn reproduce(&self) -> String {
        format!(
            "cargo run --release -p jepsen -- test {}",
            self.cli_args().join(" ")
        )
    }
}
