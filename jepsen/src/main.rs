//! `jepsen`: run mesoraft clusters under faults and check what clients saw.
//!
//! Exit code: 0 when every checker of every run passed, 1 when a checker
//! failed or could not decide, 2 when the harness itself failed.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jepsen::checker::Validity;
use jepsen::cluster::binaries;
use jepsen::net::{MethodWant, NetWant};
use jepsen::runner::{run_test, TestOpts};
use jepsen::schedule::Timing;
use jepsen::workload::WorkloadOpts;
use jepsen::{cleanup, history, nemesis, workload};

#[derive(Parser)]
#[command(
    name = "jepsen",
    about = "Jepsen-style tests of mesoraft masters under faults"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a test (or, with --all, every nemesis pairing with all workloads).
    Test(TestArgs),
    /// Re-run the checkers on a stored run directory.
    Check {
        /// A run directory (containing history.jsonl and results.json).
        dir: PathBuf,
        /// Workload whose checkers to run (default: from results.json).
        #[arg(long)]
        workload: Option<String>,
        #[arg(long, default_value_t = 120)]
        check_budget_s: u64,
        /// Also rewrite results.json (verdicts) and report.html.
        #[arg(long)]
        rewrite: bool,
    },
    /// Print a stored `test --all` table again, rebuilt from each run's
    /// current results.json (e.g. after `check --rewrite`).
    Table {
        /// `<store>/matrix/<name>.json`
        matrix: PathBuf,
    },
    /// Performance figures: failover time, idle stability, throughput
    /// (optionally next to etcd).
    Bench(jepsen::bench::BenchArgs),
    /// Remove leftovers (namespaces, bridges, processes) of crashed runs.
    Cleanup,
    /// List workloads and nemeses.
    List,
    /// A fake master for testing the harness itself.
    #[command(hide = true)]
    FakeMaster(jepsen::fake::FakeArgs),
}

#[derive(Args, Clone)]
struct TestArgs {
    /// register | election | durability, a comma-separated list run
    /// together against one cluster, or all (default: register; with
    /// --all: all).
    #[arg(long)]
    workload: Option<String>,
    /// Comma-separated nemeses (see `jepsen list`); aliases: partitions,
    /// kills, process, all, none.
    #[arg(long, default_value = "partition,kill", value_delimiter = ',')]
    nemesis: Vec<String>,
    /// Seconds of workload (faults happen within it).
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Seed of the fault schedule and the clients (random when omitted;
    /// printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Masters in the Raft group (3 or 5).
    #[arg(long, default_value_t = 3)]
    masters: usize,
    /// Every nemesis pairing (none, each alone, all together), one run
    /// each with the workloads composed; prints a workload x nemesis table.
    #[arg(long)]
    all: bool,
    /// Concurrent clients.
    #[arg(long, default_value_t = 5)]
    concurrency: usize,
    /// Where run directories go (default <workspace>/jepsen/store).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Use the binaries in the release target dir without building them.
    #[arg(long)]
    no_build: bool,
    /// Directory holding `mesoraft` and `raftctl` (implies --no-build).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Run the harness against its built-in fake master.
    #[arg(long, hide = true)]
    fake: bool,
    #[arg(long, value_enum, default_value = "auto")]
    net: NetWant,
    #[arg(long, value_enum, default_value = "auto")]
    partition_method: MethodWant,
    /// Start masters with --debug-unsafe-stale-reads (broken on purpose:
    /// the register checker must fail).
    #[arg(long)]
    debug_stale_reads: bool,
    /// Per-operation client timeout.
    #[arg(long, default_value_t = 1000)]
    op_timeout_ms: u64,
    #[arg(long, default_value_t = 5.0)]
    fault_min_s: f64,
    #[arg(long, default_value_t = 10.0)]
    fault_max_s: f64,
    #[arg(long, default_value_t = 3.0)]
    quiet_min_s: f64,
    #[arg(long, default_value_t = 5.0)]
    quiet_max_s: f64,
    /// Time budget of the linearizability search.
    #[arg(long, default_value_t = 120)]
    check_budget_s: u64,
    /// Registers (roles) of the register workload.
    #[arg(long, default_value_t = 3)]
    keys: usize,
    #[arg(long, default_value_t = 0.5)]
    read_ratio: f64,
    /// Mean pause between a client's operations.
    #[arg(long, default_value_t = 20)]
    think_ms: u64,
    /// Masters' Raft heartbeat (default: the masters' own default).
    #[arg(long)]
    heartbeat_ms: Option<u64>,
    /// Masters' election timeout range (default: the masters' own).
    #[arg(long)]
    election_min_ms: Option<u64>,
    #[arg(long)]
    election_max_ms: Option<u64>,
    #[arg(long)]
    snapshot_logs: Option<u64>,
    /// Keep node data directories of passing runs too.
    #[arg(long)]
    keep_data: bool,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn opts_from(args: &TestArgs) -> anyhow::Result<TestOpts> {
    if !(1..=9).contains(&args.masters) {
        anyhow::bail!("--masters must be between 1 and 9 (3 or 5 are the interesting ones)");
    }
    let bins = if args.fake {
        binaries::fake(&std::env::current_exe()?)
    } else {
        binaries::real(
            args.bin_dir.as_deref(),
            args.no_build || args.bin_dir.is_some(),
        )?
    };
    let default_workload = if args.all { "all" } else { "register" };
    let workload = args.workload.as_deref().unwrap_or(default_workload);
    // Validates the names before any cluster starts.
    workload::names(workload)?;
    let mut o = TestOpts::new(workload, &[], bins);
    o.nemeses = nemesis::expand(&args.nemesis)?;
    o.time_limit = Duration::from_secs(args.time_limit);
    o.seed = args.seed.unwrap_or_else(rand::random);
    o.masters = args.masters;
    o.concurrency = args.concurrency.max(1);
    if let Some(s) = &args.store {
        o.store = s.clone();
    }
    o.net = args.net;
    o.partition_method = args.partition_method;
    o.stale_reads = args.debug_stale_reads;
    o.op_timeout = Duration::from_millis(args.op_timeout_ms);
    o.timing = Timing {
        fault_min: secs(args.fault_min_s),
        fault_max: secs(args.fault_max_s),
        quiet_min: secs(args.quiet_min_s),
        quiet_max: secs(args.quiet_max_s),
    };
    o.check_budget = Duration::from_secs(args.check_budget_s);
    o.workload_opts = WorkloadOpts {
        keys: args.keys,
        read_ratio: args.read_ratio.clamp(0.0, 1.0),
        think: Duration::from_millis(args.think_ms),
    };
    o.heartbeat_ms = args.heartbeat_ms;
    o.election_min_ms = args.election_min_ms;
    o.election_max_ms = args.election_max_ms;
    o.snapshot_logs = args.snapshot_logs;
    o.keep_data = args.keep_data;
    Ok(o)
}

async fn test(args: TestArgs) -> anyhow::Result<bool> {
    let base = opts_from(&args)?;
    if args.all {
        return jepsen::matrix::run_all(&base).await;
    }
    Ok(run_test(&base).await?.valid.is_pass())
}

fn check(
    dir: PathBuf,
    workload: Option<String>,
    budget: u64,
    rewrite: bool,
) -> anyhow::Result<bool> {
    let history = history::read_jsonl(&dir.join("history.jsonl"))?;
    let results_path = dir.join("results.json");
    let mut results: serde_json::Value = match std::fs::read(&results_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(_) => serde_json::json!({}),
    };
    let name = workload
        .or_else(|| results["workload"].as_str().map(str::to_string))
        .unwrap_or_else(|| "register".to_string());
    let parts = workload::by_name(&name, &WorkloadOpts::default())?
        .checkers_by_part(Duration::from_secs(budget));
    let mut all = Validity::True;
    let mut per_workload = Vec::new();
    for (name, checkers) in parts {
        let mut own = Vec::new();
        for c in checkers {
            let r = c.check(&history);
            println!("{}", serde_json::to_string_pretty(&r)?);
            all = all.and(r.valid);
            own.push(r);
        }
        per_workload.push((name, own));
    }
    if rewrite {
        let verdicts: Vec<_> = per_workload.iter().flat_map(|(_, r)| r.iter()).collect();
        results["checkers"] = serde_json::to_value(&verdicts)?;
        results["valid"] = all.to_json();
        // Statistics too, so runs stored by an older harness get today's
        // definitions.
        results["stats"] = jepsen::report::stats(&history);
        results["workloads"] = jepsen::runner::workload_summaries(&history, &per_workload);
        let concurrency = results["concurrency"].as_u64().unwrap_or(5);
        std::fs::write(&results_path, serde_json::to_string_pretty(&results)?)?;
        std::fs::write(
            dir.join("report.html"),
            jepsen::report::html::render(&results, &history, concurrency),
        )?;
        eprintln!("jepsen: rewrote {} and report.html", results_path.display());
    }
    Ok(all.is_pass())
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result: anyhow::Result<bool> = rt.block_on(async move {
        match cli.command {
            Cmd::Test(args) => {
                cleanup::install_process_handlers();
                test(args).await
            }
            Cmd::Bench(args) => {
                cleanup::install_process_handlers();
                jepsen::bench::run(args).await
            }
            Cmd::Check {
                dir,
                workload,
                check_budget_s,
                rewrite,
            } => check(dir, workload, check_budget_s, rewrite),
            Cmd::Table { matrix } => {
                print!("{}", jepsen::matrix::rebuild(&matrix)?);
                Ok(true)
            }
            Cmd::Cleanup => {
                // Only slots nobody holds: taking one kills the processes its
                // last holder left; then its network objects go.
                let mut held = Vec::new();
                while let Ok(s) = cleanup::Slot::acquire() {
                    jepsen::net::remove_slot_objects(s.index);
                    held.push(s);
                }
                eprintln!("jepsen: cleaned {} free slots", held.len());
                Ok(true)
            }
            Cmd::List => {
                println!("workloads: {}", workload::ALL.join(", "));
                println!("nemeses:");
                for n in nemesis::ALL {
                    println!("  {n:<18} {}", nemesis::describe(n));
                }
                println!("aliases: partitions, kills, process, all, none");
                Ok(true)
            }
            Cmd::FakeMaster(args) => jepsen::fake::run(args).await.map(|_| true),
        }
    });
    let code = match result {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("jepsen: error: {e:#}");
            2
        }
    };
    cleanup::emergency_cleanup();
    std::process::exit(code);
}
