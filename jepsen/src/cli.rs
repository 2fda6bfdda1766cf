//! The `jepsen test` command line, parsed into a [`RunSpec`] plus how to
//! find the binaries. Lives in the library so that the round trip spec ->
//! command line -> spec is tested.

use std::path::PathBuf;

use clap::Args;

use crate::cluster::binaries;
use crate::net::{MethodWant, NetWant};
use crate::runner::TestOpts;
use crate::schedule::Timing;
use crate::spec::RunSpec;
use crate::{nemesis, workload};

#[derive(Args, Clone, Debug)]
pub struct TestArgs {
    /// register | multi-register | election | durability, a comma-separated
    /// list run together against one cluster, or all (default: register;
    /// with --all: all).
    #[arg(long)]
    pub workload: Option<String>,
    /// Comma-separated nemeses (see `jepsen list`); aliases: partitions,
    /// kills, process, all, none.
    #[arg(long, default_value = "partition,kill", value_delimiter = ',')]
    pub nemesis: Vec<String>,
    /// Seconds of workload (faults happen within it).
    #[arg(long, default_value_t = 60)]
    pub time_limit: u64,
    /// Seed of the fault schedule and the clients (random when omitted;
    /// printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Masters in the Raft group (3 or 5; default 3, with --all 5).
    #[arg(long)]
    pub masters: Option<usize>,
    /// `mesoraft agent` processes beside the masters (default 0; 3 with
    /// the agents workload).
    #[arg(long)]
    pub agents: Option<usize>,
    /// Every nemesis pairing (none, each alone, all together), one run
    /// each with the workloads composed; prints a workload x nemesis table.
    #[arg(long)]
    pub all: bool,
    /// Concurrent clients per workload.
    #[arg(long, default_value_t = 5)]
    pub concurrency: usize,
    /// Where run directories go (default <workspace>/jepsen/store).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Use the binaries in the release target dir without building them.
    #[arg(long)]
    pub no_build: bool,
    /// Directory holding `mesoraft` and `raftctl` (implies --no-build).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Run the harness against its built-in fake master.
    #[arg(long, hide = true)]
    pub fake: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub net: NetWant,
    #[arg(long, value_enum, default_value = "auto")]
    pub partition_method: MethodWant,
    /// Start masters with --debug-unsafe-stale-reads (broken on purpose:
    /// the register checkers must fail).
    #[arg(long)]
    pub debug_stale_reads: bool,
    /// Start masters with --debug-unsafe-skip-fsync (broken on purpose:
    /// the crash nemeses must make the durability checker fail).
    #[arg(long)]
    pub debug_skip_fsync: bool,
    /// Start masters with --debug-unsafe-forget-unreachable-tasks (broken
    /// on purpose: with agent faults the tasks checker must fail).
    #[arg(long)]
    pub debug_forget_unreachable_tasks: bool,
    /// Per-operation timeout of ordinary clients.
    #[arg(long, default_value_t = 1000)]
    pub op_timeout_ms: u64,
    /// Clients per workload with the long timeout below.
    #[arg(long, default_value_t = 1)]
    pub slow_clients: usize,
    /// Their per-operation timeout: longer than the longest fault and the
    /// masters' write timeout (5 s), so answers after a pause are seen.
    #[arg(long, default_value_t = 15_000)]
    pub slow_op_timeout_ms: u64,
    /// Fault durations are log-uniform in [min, max].
    #[arg(long, default_value_t = Timing::default().fault_min_ms)]
    pub fault_min_ms: u64,
    #[arg(long, default_value_t = Timing::default().fault_max_ms)]
    pub fault_max_ms: u64,
    /// Quiet time between faults, uniform in [min, max].
    #[arg(long, default_value_t = Timing::default().quiet_min_ms)]
    pub quiet_min_ms: u64,
    #[arg(long, default_value_t = Timing::default().quiet_max_ms)]
    pub quiet_max_ms: u64,
    /// Probability that the next fault starts while the current one is
    /// still in place (a network fault and a process fault together).
    #[arg(long, default_value_t = Timing::default().overlap)]
    pub overlap: f64,
    /// Time budget of the linearizability search.
    #[arg(long, default_value_t = 120)]
    pub check_budget_s: u64,
    /// Registers (roles) of the register workload.
    #[arg(long, default_value_t = 3)]
    pub keys: usize,
    #[arg(long, default_value_t = 0.5)]
    pub read_ratio: f64,
    /// Mean pause between a client's operations.
    #[arg(long, default_value_t = 20)]
    pub think_ms: u64,
    /// Masters' Raft heartbeat (default: the masters' own default).
    #[arg(long)]
    pub heartbeat_ms: Option<u64>,
    /// Masters' election timeout range (default: the masters' own).
    #[arg(long)]
    pub election_min_ms: Option<u64>,
    #[arg(long)]
    pub election_max_ms: Option<u64>,
    /// Masters' snapshot interval in log entries (default: theirs; with
    /// --all every other run uses 100 so snapshot installs happen under
    /// faults).
    #[arg(long)]
    pub snapshot_logs: Option<u64>,
    /// Keep node data directories of passing runs too.
    #[arg(long)]
    pub keep_data: bool,
}

/// The run these flags describe (the seed is drawn when not given).
pub fn spec_from(args: &TestArgs) -> anyhow::Result<RunSpec> {
    let masters = args.masters.unwrap_or(if args.all { 5 } else { 3 });
    if !(1..=9).contains(&masters) {
        anyhow::bail!("--masters must be between 1 and 9 (3 or 5 are the interesting ones)");
    }
    if args.fault_min_ms == 0 || args.fault_min_ms > args.fault_max_ms {
        anyhow::bail!("--fault-min-ms must be positive and at most --fault-max-ms");
    }
    if args.quiet_min_ms > args.quiet_max_ms {
        anyhow::bail!("--quiet-min-ms must be at most --quiet-max-ms");
    }
    let default_workload = if args.all { "all" } else { "register" };
    let workload = args.workload.as_deref().unwrap_or(default_workload);
    // Validates the names before any cluster starts.
    let names = workload::names(workload)?;
    let wants_agents = names.iter().any(|n| n == "agents" || n == "tasks");
    let agents = args.agents.unwrap_or(if wants_agents { 3 } else { 0 });
    if agents > crate::net::MAX_AGENTS {
        anyhow::bail!("--agents must be at most {}", crate::net::MAX_AGENTS);
    }
    if wants_agents && agents == 0 {
        anyhow::bail!("the agents and tasks workloads need --agents 1 or more");
    }
    Ok(RunSpec {
        workload: workload.to_string(),
        nemeses: nemesis::expand(&args.nemesis)?,
        time_limit_s: args.time_limit,
        seed: args.seed.unwrap_or_else(rand::random),
        masters,
        agents,
        concurrency: args.concurrency.max(1),
        net: args.net,
        partition_method: args.partition_method,
        stale_reads: args.debug_stale_reads,
        skip_fsync: args.debug_skip_fsync,
        forget_unreachable_tasks: args.debug_forget_unreachable_tasks,
        op_timeout_ms: args.op_timeout_ms.max(1),
        slow_clients: args.slow_clients,
        slow_op_timeout_ms: args.slow_op_timeout_ms.max(1),
        timing: Timing {
            fault_min_ms: args.fault_min_ms,
            fault_max_ms: args.fault_max_ms,
            quiet_min_ms: args.quiet_min_ms,
            quiet_max_ms: args.quiet_max_ms,
            overlap: args.overlap.clamp(0.0, 1.0),
        },
        check_budget_s: args.check_budget_s,
        keys: args.keys.max(1),
        read_ratio: args.read_ratio.clamp(0.0, 1.0),
        think_ms: args.think_ms,
        heartbeat_ms: args.heartbeat_ms,
        election_min_ms: args.election_min_ms,
        election_max_ms: args.election_max_ms,
        snapshot_logs: args.snapshot_logs,
    })
}

/// The spec plus binaries, store and the other per-invocation settings.
pub fn opts_from(args: &TestArgs) -> anyhow::Result<TestOpts> {
    let spec = spec_from(args)?;
    let binaries = if args.fake {
        binaries::fake(&std::env::current_exe()?)
    } else {
        binaries::real(
            args.bin_dir.as_deref(),
            args.no_build || args.bin_dir.is_some(),
        )?
    };
    let mut o = TestOpts::from_spec(spec, binaries);
    if let Some(s) = &args.store {
        o.store = s.clone();
    }
    o.keep_data = args.keep_data;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use std::time::Duration;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: TestArgs,
    }

    fn parse(args: &[String]) -> RunSpec {
        let argv = std::iter::once("jepsen-test".to_string()).chain(args.iter().cloned());
        spec_from(&Wrapper::try_parse_from(argv).expect("parses").args).expect("valid")
    }

    #[test]
    fn reproduce_gives_back_the_same_spec_and_schedule() {
        let spec = RunSpec {
            workload: "register,durability".into(),
            nemeses: vec!["partition-ring".into(), "pause".into()],
            time_limit_s: 123,
            seed: 0xdead_beef_1234,
            masters: 5,
            agents: 4,
            concurrency: 7,
            net: NetWant::Loopback,
            partition_method: MethodWant::Routes,
            stale_reads: true,
            skip_fsync: true,
            forget_unreachable_tasks: true,
            op_timeout_ms: 777,
            slow_clients: 2,
            slow_op_timeout_ms: 12_345,
            timing: Timing {
                fault_min_ms: 150,
                fault_max_ms: 7000,
                quiet_min_ms: 900,
                quiet_max_ms: 2100,
                overlap: 0.37,
            },
            check_budget_s: 33,
            keys: 4,
            read_ratio: 0.3,
            think_ms: 7,
            heartbeat_ms: Some(40),
            election_min_ms: Some(170),
            election_max_ms: Some(350),
            snapshot_logs: Some(100),
        };
        let back = parse(&spec.cli_args());
        assert_eq!(back, spec);
        let limit = Duration::from_secs(spec.time_limit_s);
        assert_eq!(
            crate::schedule::generate(back.seed, &back.nemeses, limit, &back.timing),
            crate::schedule::generate(spec.seed, &spec.nemeses, limit, &spec.timing)
        );
        assert!(spec
            .reproduce()
            .starts_with("cargo run --release -p jepsen -- test "));

        // Defaults survive the trip too (no optional flags set).
        let plain = RunSpec {
            seed: 5,
            ..RunSpec::default()
        };
        assert_eq!(parse(&plain.cli_args()), plain);
    }

    #[test]
    fn all_defaults_to_five_masters_and_every_workload() {
        let w = Wrapper::try_parse_from(["jepsen-test", "--all", "--seed", "1"]).unwrap();
        let spec = spec_from(&w.args).unwrap();
        assert_eq!(spec.masters, 5);
        assert_eq!(spec.workload, "all");
        let w = Wrapper::try_parse_from(["jepsen-test", "--fault-min-ms", "0"]).unwrap();
        assert!(spec_from(&w.args).is_err());
        assert_eq!(spec.agents, 0, "all has no agents");
        let w = Wrapper::try_parse_from(["jepsen-test", "--workload", "agents"]).unwrap();
        assert_eq!(spec_from(&w.args).unwrap().agents, 3);
        let w = Wrapper::try_parse_from(["jepsen-test", "--workload", "agents", "--agents", "0"])
            .unwrap();
        assert!(spec_from(&w.args).is_err());
    }
}
