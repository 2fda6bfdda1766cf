//! `jepsen`: run mesoraft clusters under faults and check what clients saw.
//!
//! Exit code: 0 when every checker of every run passed, 1 when a checker
//! failed or could not decide, 2 when the harness itself failed.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use jepsen::cli::TestArgs;
use jepsen::results::Verdict;
use jepsen::runner::recheck::recheck;
use jepsen::runner::{run_test, write_results};
use jepsen::{cleanup, nemesis, workload};

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
    /// Serve a lose-unsynced FUSE mount (SIGUSR1 drops unsynced data,
    /// SIGTERM unmounts), for manual experiments.
    #[command(hide = true)]
    Lazyfs(jepsen::lazyfs::ServeArgs),
}

async fn test(args: TestArgs) -> anyhow::Result<Verdict> {
    let base = jepsen::cli::opts_from(&args)?;
    if args.all {
        return jepsen::matrix::run_all(&base).await;
    }
    Ok(run_test(&base).await?.verdict())
}

/// 0 pass; 1 a violation, undecided or untested; 2 the harness failed.
fn exit_code(v: Verdict) -> i32 {
    match v {
        Verdict::Pass => 0,
        Verdict::Fail | Verdict::Unknown | Verdict::Untested => 1,
        Verdict::Error => 2,
    }
}

/// Re-runs the checkers of a stored run (see `runner::recheck`) and
/// prints them; with `rewrite`, replaces its results.json and report.html.
fn check(
    dir: PathBuf,
    workload: Option<String>,
    budget: u64,
    rewrite: bool,
) -> anyhow::Result<Verdict> {
    let (results, history) = recheck(&dir, workload, Duration::from_secs(budget))?;
    for c in results.all_checkers() {
        println!("{}", serde_json::to_string_pretty(c)?);
    }
    println!("verdict: {}", results.verdict);
    for r in &results.reasons {
        println!("  {r}");
    }
    if rewrite {
        write_results(&dir, &results, &history)?;
        eprintln!(
            "jepsen: rewrote {} and report.html",
            dir.join("results.json").display()
        );
    }
    Ok(results.verdict)
}

/// Benchmarks and tools answer yes or no.
fn pass_if(ok: bool) -> Verdict {
    if ok {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
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
    let result: anyhow::Result<Verdict> = rt.block_on(async move {
        match cli.command {
            Cmd::Test(args) => {
                cleanup::install_process_handlers();
                test(args).await
            }
            Cmd::Bench(args) => {
                cleanup::install_process_handlers();
                jepsen::bench::run(args).await.map(pass_if)
            }
            Cmd::Check {
                dir,
                workload,
                check_budget_s,
                rewrite,
            } => check(dir, workload, check_budget_s, rewrite),
            Cmd::Table { matrix } => {
                print!("{}", jepsen::matrix::rebuild(&matrix)?);
                Ok(Verdict::Pass)
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
                Ok(Verdict::Pass)
            }
            Cmd::List => {
                println!(
                    "workloads: {}, {} (needs --agents)",
                    workload::ALL.join(", "),
                    workload::EXTRA.join(", ")
                );
                println!("nemeses:");
                for n in nemesis::ALL.iter().chain(nemesis::AGENT_NEMESES) {
                    println!("  {n:<18} {}", nemesis::describe(n));
                }
                println!("aliases: partitions, kills, process, crashes, agent-faults, all, none");
                Ok(Verdict::Pass)
            }
            Cmd::FakeMaster(args) => jepsen::fake::run(args).await.map(|_| Verdict::Pass),
            Cmd::Lazyfs(args) => jepsen::lazyfs::serve(args).await.map(|_| Verdict::Pass),
        }
    });
    let code = match result {
        Ok(v) => exit_code(v),
        Err(e) => {
            eprintln!("jepsen: error: {e:#}");
            2
        }
    };
    cleanup::emergency_cleanup();
    std::process::exit(code);
}
