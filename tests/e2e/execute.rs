//! `mesoraft execute` against a real master group and a real agent: the
//! scheduler library subscribes through any master of the list, launches
//! the command, streams its output from the agent's sandbox and exits
//! with its status.

use crate::support;

use std::process::Stdio;
use std::time::Duration;

use support::agents::*;
use support::*;

const ELECTION: Duration = Duration::from_secs(20);
const LIMIT: Duration = Duration::from_secs(30);

async fn group_with_agent() -> (Cluster, AgentProc) {
    let (c, agent, _, _) = support::agents::group_with_agent(ELECTION, LIMIT).await;
    (c, agent)
}

/// Runs `mesoraft execute` with `command`; returns (exit code, stdout,
/// stderr). Killed if it outlives the limit.
async fn execute(c: &Cluster, name: &str, command: &str) -> (Option<i32>, String, String) {
    let child = tokio::process::Command::new(MESORAFT)
        .arg("execute")
        .arg("--masters")
        .arg(c.all_addrs().join(","))
        .arg("--name")
        .arg(name)
        .arg("--command")
        .arg(command)
        .arg("--cluster-secret-file")
        .arg(&c.secret_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mesoraft execute starts");
    let output = tokio::time::timeout(LIMIT * 2, child.wait_with_output())
        .await
        .expect("mesoraft execute ends within its limit")
        .expect("mesoraft execute output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_runs_a_command_streams_its_output_and_exits_with_its_status() {
    let (c, _agent) = group_with_agent().await;
    let (code, stdout, stderr) = execute(&c, "hello", "echo hello from the sandbox").await;
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("hello from the sandbox"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("TASK_RUNNING"), "{stderr}");
    assert!(stderr.contains("TASK_FINISHED"), "{stderr}");
    let (code, stdout, stderr) = execute(&c, "fails", "exit 3").await;
    assert_eq!(code, Some(3), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("TASK_FAILED"), "{stderr}");
}
