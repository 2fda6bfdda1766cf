//! Real executor processes: started in their own session in the sandbox,
//! their exit reported, everything they started killed with them.

use super::*;
use crate::executors::model::ExecutorKey;
use mesoraft_proto::mesos::v1::{CommandInfo, ExecutorId, ExecutorInfo, FrameworkInfo};

fn containerizer(work_dir: &Path) -> (Containerizer, mpsc::UnboundedReceiver<ContainerExit>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let settings = LaunchSettings {
        work_dir: work_dir.to_path_buf(),
        agent_endpoint: "127.0.0.1:1".into(),
        exe: "/nonexistent/mesoraft".into(),
        recovery_timeout: Duration::from_secs(60),
        subscription_backoff_max: Duration::from_secs(1),
    };
    // A directory that is no cgroup hierarchy: limits are not enforced.
    (
        Containerizer::new(settings, &work_dir.join("no-cgroups"), tx),
        rx,
    )
}

fn spec(command: &str) -> LaunchSpec {
    LaunchSpec {
        run: RunKey {
            executor: ExecutorKey {
                framework_id: "f1".into(),
                executor_id: "e1".into(),
            },
            container_id: "c1".into(),
        },
        executor: ExecutorInfo {
            executor_id: ExecutorId { value: "e1".into() },
            command: Some(CommandInfo {
                value: Some(command.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        framework: FrameworkInfo {
            user: "root".into(),
            name: "fw".into(),
            ..Default::default()
        },
        command_executor: false,
        limits: Limits::default(),
        shutdown_grace_period: Duration::from_secs(1),
    }
}

async fn next_exit(rx: &mut mpsc::UnboundedReceiver<ContainerExit>) -> ContainerExit {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("an exit within the deadline")
        .expect("the channel is open")
}

/// Waits for every process of `session` to be gone (a SIGKILL takes
/// effect a moment after it is sent).
async fn session_ends(session: i32) {
    mesoraft_testkit::wait_for(
        &format!("every process of session {session} to end"),
        Duration::from_secs(10),
        || std::future::ready(procfs::session_members(session).is_empty().then_some(())),
    )
    .await;
}

#[tokio::test]
async fn an_executor_runs_in_its_sandbox_and_session_and_its_exit_takes_its_children() {
    let work = tempfile::tempdir().unwrap();
    let (mut c, mut exits) = containerizer(work.path());
    assert!(!c.enforces_limits());
    // The executor leaves a background child behind and exits once the
    // test has looked at it.
    let gate = mesoraft_testkit::Gate::new(work.path(), "gate");
    let command = format!(
        "sleep 30 & echo \"$MESOS_EXECUTOR_ID $(pwd)\"; {}",
        gate.wait_command()
    );
    let launched = c.launch(&spec(&command), "c-S1").unwrap();
    let session = procfs::stat(launched.pid).unwrap().session;
    assert_eq!(session, launched.pid, "the executor leads its own session");
    gate.open(Duration::from_secs(10)).await;
    let exit = next_exit(&mut exits).await;
    assert_eq!(exit.run.container_id, "c1");
    assert_eq!(exit.limitation, None);
    // The orphaned sleep was killed with the container.
    session_ends(session).await;
    let stdout = std::fs::read_to_string(launched.sandbox.join("stdout")).unwrap();
    let sandbox = launched.sandbox.canonicalize().unwrap();
    assert_eq!(stdout, format!("e1 {}\n", sandbox.display()));
    assert!(launched
        .sandbox
        .ends_with("slaves/c-S1/frameworks/f1/executors/e1/runs/c1"));
    c.forget(&exit.run);
}

#[tokio::test]
async fn destroy_kills_the_executor_and_everything_it_started() {
    let work = tempfile::tempdir().unwrap();
    let (mut c, mut exits) = containerizer(work.path());
    let launched = c.launch(&spec("sleep 30 & sleep 30"), "c-S1").unwrap();
    assert!(procfs::is_running(launched.pid, launched.start_time));
    c.destroy(&spec("").run);
    next_exit(&mut exits).await;
    session_ends(launched.pid).await;
}

#[tokio::test]
async fn a_reattached_executor_is_watched_and_a_dead_one_reported_at_once() {
    let work = tempfile::tempdir().unwrap();
    let (mut c, mut exits) = containerizer(work.path());
    // Started as if by an earlier agent: its own session.
    let mut earlier = std::process::Command::new("/bin/sh");
    earlier.args(["-c", "sleep 30"]);
    unsafe {
        earlier.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = earlier.spawn().unwrap();
    let pid = child.id() as i32;
    let start_time = procfs::stat(pid).map(|s| s.start_time);
    let run = spec("").run;
    assert!(c.reattach(run.clone(), pid, start_time));
    c.destroy(&run);
    let exit = next_exit(&mut exits).await;
    assert_eq!(exit.run, run);
    let _ = child.wait();

    // A pid that no longer runs (or runs another process) is dead.
    let (mut c, mut exits) = containerizer(work.path());
    assert!(!c.reattach(run.clone(), pid, start_time.map(|t| t + 1)));
    assert_eq!(next_exit(&mut exits).await.run, run);
}

#[tokio::test]
async fn a_launch_that_cannot_start_is_an_error() {
    let work = tempfile::tempdir().unwrap();
    let (mut c, _exits) = containerizer(work.path());
    let mut missing = spec("");
    let command = missing.executor.command.as_mut().unwrap();
    command.shell = Some(false);
    command.value = Some("/nonexistent/executor".into());
    let err = c.launch(&missing, "c-S1").unwrap_err();
    assert!(err.contains("/nonexistent/executor"), "{err}");
}
