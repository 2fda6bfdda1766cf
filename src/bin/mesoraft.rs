//! `mesoraft`: the master, the agent, a local test cluster, and
//! `execute` (a command run as tasks through the scheduler library).

use std::time::Duration;

use clap::{Parser, Subcommand};
use mesoraft_master::MasterArgs;
use mesoraft_testkit::local::LocalOptions;

/// `mesoraft local`'s flags.
#[derive(clap::Args, Debug, Clone)]
struct LocalArgs {
    /// Number of masters (3 or 5).
    #[arg(long, default_value_t = 3)]
    masters: u64,

    /// First port; masters use consecutive ports. 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    base_port: u16,

    /// Where masters and agents keep their work dirs and logs (default: a
    /// fresh temporary directory, removed on exit).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,

    /// Number of agents (small resources each) following the masters.
    #[arg(long, default_value_t = 2)]
    agents: u64,
}

#[derive(Parser)]
#[command(
    name = "mesoraft",
    version,
    about = "A Mesos-model cluster manager whose masters replicate with Raft"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a master (one member of the Raft group).
    Master(Box<MasterArgs>),
    /// Run an agent: offer this machine's resources to the masters.
    Agent(Box<mesoraft_agent::AgentArgs>),
    /// Run a local group of masters and agents on loopback until Ctrl-C.
    Local(LocalArgs),
    /// Run a shell command as tasks on the cluster (like mesos-execute):
    /// print their state changes, stream their output, exit with their
    /// status.
    Execute(Box<mesoraft_client::execute::ExecuteArgs>),
    /// Simulate many agents in one process (for benchmarks).
    #[command(name = "agent-sim", hide = true)]
    AgentSim(Box<mesoraft_agent::sim::SimArgs>),
    /// Run the built-in command executor (started by an agent, configured
    /// by Mesos's executor environment: MESOS_AGENT_ENDPOINT, ...).
    Executor,
    /// Run the built-in default executor, which runs task groups (started
    /// by an agent for an ExecutorInfo of type DEFAULT, configured like
    /// the command executor).
    DefaultExecutor,
}

/// Logs to stderr; RUST_LOG overrides the default filter. `quiet`: only
/// warnings by default (a command whose stderr is its report, `execute`).
fn init_logging(quiet: bool) {
    let default = if quiet {
        "warn"
    } else {
        "info,openraft=warn,sled=warn,h2=warn,tower=warn,hyper=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Cmd::Execute(_)));
    let result = match cli.command {
        Cmd::Master(args) => run_master(*args).await,
        Cmd::Agent(args) => run_agent(*args).await,
        Cmd::Local(args) => run_local(args).await,
        Cmd::Execute(args) => return run_execute(*args).await,
        Cmd::AgentSim(args) => run_agent_sim(*args).await,
        Cmd::Executor => {
            return exit_with(
                mesoraft_agent::command_executor::run_from_env().await,
                "executor",
            )
        }
        Cmd::DefaultExecutor => {
            return exit_with(
                mesoraft_agent::default_executor::run_from_env().await,
                "default-executor",
            )
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message chain, not a backtrace: these are operator errors.
            eprintln!("mesoraft: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_master(args: MasterArgs) -> anyhow::Result<()> {
    let handle = mesoraft_master::run_master(args).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; shutting down"),
        _ = term.recv() => tracing::info!("terminated; shutting down"),
        _ = handle.stopped() => tracing::warn!("master stopped by itself"),
    }
    handle.shutdown().await
}

async fn run_agent(args: mesoraft_agent::AgentArgs) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
            _ = term.recv() => tracing::info!("terminated; stopping"),
        }
    };
    match mesoraft_agent::run::run_until(args, stop).await? {
        mesoraft_agent::AgentExit::Stopped => Ok(()),
        mesoraft_agent::AgentExit::ShutDownByMaster(why) => {
            // Said on stderr as well as in the log: this is why the agent
            // is gone, and what the operator looks for.
            eprintln!("mesoraft agent: shut down by the master: {why}");
            Ok(())
        }
        mesoraft_agent::AgentExit::CleanedUp => {
            eprintln!(
                "mesoraft agent: --recover=cleanup done; the next start registers a new agent"
            );
            Ok(())
        }
    }
}

async fn run_agent_sim(args: mesoraft_agent::sim::SimArgs) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    let tally = mesoraft_agent::sim::run(args, stop).await?;
    eprintln!("mesoraft agent-sim: stopped: {tally:?}");
    Ok(())
}

/// `mesoraft execute`: the tasks' exit status, or 2 when the scheduler
/// could not run them (no leader, refused, removed).
async fn run_execute(args: mesoraft_client::execute::ExecuteArgs) -> std::process::ExitCode {
    match mesoraft_client::execute::run(args).await {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("mesoraft execute: error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// The end of `mesoraft executor` / `mesoraft default-executor`: the
/// executor's exit code.
fn exit_with(
    result: Result<i32, mesoraft_agent::http_executor::ExecutorError>,
    name: &str,
) -> std::process::ExitCode {
    match result {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("mesoraft {name}: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `mesoraft local`: the group, then `raftctl status` of it, so the first
/// thing shown is how the group looks and how to look again.
async fn run_local(args: LocalArgs) -> anyhow::Result<()> {
    let options = LocalOptions {
        exe: std::env::current_exe()?,
        masters: args.masters,
        base_port: args.base_port,
        dir: args.dir,
        agents: args.agents,
    };
    let group = mesoraft_testkit::local::start(options).await?;
    println!(
        "mesoraft local: {} masters, work dirs and logs in {}",
        group.addresses.len(),
        group.dir.display()
    );
    for (id, addr) in (1..).zip(&group.addresses) {
        println!("  master {id} at http://{addr}");
    }
    println!("leader: {}", group.leader);
    for agent in &group.agents {
        println!(
            "  {} at http://{} registered as {}",
            agent.name, agent.address, agent.agent_id
        );
    }
    println!();
    let status = mesoraft_ctl::Args {
        masters: group.addresses.clone(),
        timeout: Duration::from_secs(1),
        output: mesoraft_ctl::Output::Table,
        security: mesoraft_ctl::security::SecurityArgs {
            cluster_secret_file: Some(group.secret_file.clone()),
            ..Default::default()
        },
        command: mesoraft_ctl::Command::Status(mesoraft_ctl::StatusArgs {
            watch: None,
            max_lag: 100,
        }),
    };
    if let Err(e) = mesoraft_ctl::run(status).await {
        println!("(status unavailable: {e})");
    }
    println!(
        "\nraftctl --masters {} --cluster-secret-file {} status    # again, any time",
        group.addresses.join(","),
        group.secret_file.display()
    );
    println!(
        "mesoraft execute --masters {} --cluster-secret-file {} --name hello --command 'echo hello'    # run a task",
        group.addresses.join(","),
        group.secret_file.display()
    );
    println!("Ctrl-C stops the group.");
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
        println!("\nstopping...");
    };
    Ok(group.run_until(ctrl_c).await?)
}
