//! What the agent's end-to-end tests share: the real `mesoraft` binary
//! (built on demand: it belongs to the root package, whose binaries
//! cargo does not build for this crate's tests), a guard that kills
//! every process a test started, executors and tasks included (they
//! leave the agent's process group on purpose), and deadline waits.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The `mesoraft` binary of this build profile, built once per test
/// binary if it is missing or older than this test.
pub fn mesoraft_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let test_exe = std::env::current_exe().expect("the test's own path");
        // <target>/<profile>/deps/<test>
        let profile_dir = test_exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("<target>");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root");
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let mut build = Command::new(cargo);
        // The variables cargo sets for this test would change the
        // fingerprints and rebuild everything: the build must see what a
        // plain `cargo build` sees.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if (name.starts_with("CARGO_") && name != "CARGO_HOME") || name == "OUT_DIR" {
                build.env_remove(name.as_ref());
            }
        }
        build
            .current_dir(workspace)
            .args(["build", "--bin", "mesoraft", "-p", "mesoraft"])
            .arg("--target-dir")
            .arg(target_dir);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cannot run cargo to build mesoraft");
        assert!(status.success(), "building the mesoraft binary failed");
        let binary = profile_dir.join("mesoraft");
        assert!(binary.exists(), "{} was not built", binary.display());
        binary
    })
}

pub use mesoraft_agent::testing::SandboxReaper;

/// Waits for `check` to give a value, failing the test after `limit`
/// with `what` (testkit's wait, for a plain closure).
pub async fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    mesoraft_testkit::wait_for(what, limit, || std::future::ready(check())).await
}

pub mod fake_master;

/// A `mesoraft agent` of the fake master at `master`, listening on
/// `127.0.0.1:port`, in its own process group (killed when dropped);
/// its output goes to `<work_dir>/../agent.log`.
pub fn start_agent(
    master: std::net::SocketAddr,
    work_dir: &Path,
    port: u16,
) -> mesoraft_testkit::process::ProcessGroup {
    let cmd = mesoraft_testkit::AgentCmd::new(
        [master.to_string()],
        format!("127.0.0.1:{port}"),
        work_dir,
    )
    .hostname("localhost")
    .resources("cpus:2;mem:1024;disk:1024;ports:[31000-31100]")
    .registration_backoff_factor(Duration::ZERO)
    .status_update_retry_interval_min(Duration::from_millis(500))
    .executor_shutdown_grace_period(Duration::from_secs(2));
    let mut command = Command::new(mesoraft_binary());
    command.args(cmd.args()).env("RUST_LOG", "info");
    let log = work_dir.parent().unwrap_or(work_dir).join("agent.log");
    mesoraft_testkit::process::ProcessGroup::spawn(command, &log, Some("--- agent start"))
        .expect("cannot start the agent")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    mesoraft_testkit::ports::free_listen_port(std::net::Ipv4Addr::LOCALHOST.into())
        .expect("a free port")
}

/// A fake master, a work dir and a port for one agent that a test
/// starts (and restarts) itself, and the reaper that ends its executors.
pub struct AgentSetup {
    pub reaper: SandboxReaper,
    pub master: fake_master::FakeMaster,
    pub work_dir: PathBuf,
    pub port: u16,
    _tmp: tempfile::TempDir,
}

impl AgentSetup {
    pub async fn new(auto_ack: bool) -> AgentSetup {
        let tmp = tempfile::tempdir().unwrap();
        let work_dir = tmp.path().join("work");
        AgentSetup {
            reaper: SandboxReaper::new(&work_dir),
            master: fake_master::FakeMaster::start(auto_ack).await,
            work_dir,
            port: free_port(),
            _tmp: tmp,
        }
    }

    /// Starts the agent (again) on the same work dir and port.
    pub fn agent(&self) -> mesoraft_testkit::ProcessGroup {
        start_agent(self.master.addr, &self.work_dir, self.port)
    }
}
