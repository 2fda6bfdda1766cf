//! Task groups on the real `mesoraft agent` for a fake master: the agent
//! starts the built-in default executor for the group's executor (type
//! DEFAULT), which runs every task in its own sandbox under
//! `tasks/<task_id>/`, kills the rest of a group when one task fails, and
//! outlives an agent restart like the command executor.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use mesoraft_proto::mesos::v1::task_status::Source;
use mesoraft_proto::mesos::v1::TaskState;
use mesoraft_testkit::Gate;
use support::fake_master::{command_task, framework, AGENT_ID};
use support::{wait_for, AgentSetup};

const LIMIT: Duration = Duration::from_secs(30);

impl AgentSetup {
    /// The sandbox of task `task` of executor `executor` (its one run).
    fn task_sandbox(&self, executor: &str, task: &str) -> PathBuf {
        let runs = self
            .work_dir
            .join("slaves")
            .join(AGENT_ID)
            .join("frameworks/fw-1/executors")
            .join(executor)
            .join("runs");
        let run = std::fs::read_dir(&runs)
            .unwrap_or_else(|e| panic!("{}: {e}", runs.display()))
            .next()
            .expect("a run")
            .unwrap();
        run.path().join("tasks").join(task)
    }

    async fn no_executors(&self) {
        wait_for("every executor to exit", LIMIT, || {
            self.reaper.executors().is_empty().then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_two_task_group_runs_in_the_default_executor_to_task_finished() {
    let s = AgentSetup::new(true).await;
    let agent = s.agent();
    s.master.wait_registrations(1).await;
    let gate_a = Gate::new(s.work_dir.parent().unwrap(), "gate-a");
    let gate_b = Gate::new(s.work_dir.parent().unwrap(), "gate-b");
    s.master.run_task_group(
        &framework(false),
        "pod",
        vec![
            command_task(
                "a",
                &format!("echo \"a in $MESOS_SANDBOX\"; {}", gate_a.wait_command()),
            ),
            command_task("b", &format!("echo b >&2; {}", gate_b.wait_command())),
        ],
    );
    for task in ["a", "b"] {
        s.master.wait_update(task, TaskState::TaskRunning).await;
    }
    gate_a.open(LIMIT).await;
    gate_b.open(LIMIT).await;
    for task in ["a", "b"] {
        for state in [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished,
        ] {
            let update = s.master.wait_update(task, state).await;
            assert_eq!(update.update.status.source(), Source::Executor);
            assert_eq!(
                update.update.executor_id.as_ref().unwrap().value,
                "pod",
                "{task} runs in the group's executor"
            );
        }
    }
    // Each task in its own sandbox, with its own output files.
    let a = s.task_sandbox("pod", "a");
    let stdout = std::fs::read_to_string(a.join("stdout")).unwrap();
    assert_eq!(stdout, format!("a in {}\n", a.display()));
    let b = s.task_sandbox("pod", "b");
    assert_eq!(std::fs::read_to_string(b.join("stderr")).unwrap(), "b\n");
    // Every terminal update acknowledged: the executor exits.
    s.no_executors().await;
    drop(agent);
}

#[tokio::test]
async fn a_failing_task_gets_the_rest_of_its_group_killed() {
    let s = AgentSetup::new(true).await;
    let agent = s.agent();
    s.master.wait_registrations(1).await;
    let gate = Gate::new(s.work_dir.parent().unwrap(), "fail");
    s.master.run_task_group(
        &framework(false),
        "pod",
        vec![
            command_task("worker", "sleep 60"),
            command_task("broken", &format!("{}; exit 3", gate.wait_command())),
        ],
    );
    // Both run before one fails.
    s.master.wait_update("worker", TaskState::TaskRunning).await;
    s.master.wait_update("broken", TaskState::TaskRunning).await;
    gate.open(LIMIT).await;
    let failed = s.master.wait_update("broken", TaskState::TaskFailed).await;
    assert_eq!(
        failed.update.status.message.as_deref(),
        Some("Command exited with status 3")
    );
    let killed = s.master.wait_update("worker", TaskState::TaskKilled).await;
    assert_eq!(killed.update.status.source(), Source::Executor);
    s.no_executors().await;

    // A kill of one task of a running group takes the group along too.
    s.master.run_task_group(
        &framework(false),
        "pod2",
        vec![command_task("x", "sleep 60"), command_task("y", "sleep 60")],
    );
    s.master.wait_update("x", TaskState::TaskRunning).await;
    s.master.wait_update("y", TaskState::TaskRunning).await;
    s.master.kill_task("x");
    s.master.wait_update("x", TaskState::TaskKilled).await;
    s.master.wait_update("y", TaskState::TaskKilled).await;
    s.no_executors().await;
    drop(agent);
}

#[tokio::test]
async fn the_default_executor_of_a_checkpointing_framework_outlives_an_agent_restart() {
    let s = AgentSetup::new(true).await;
    let agent = s.agent();
    s.master.wait_registrations(1).await;
    let gate_a = Gate::new(s.work_dir.parent().unwrap(), "gate-a");
    let gate_b = Gate::new(s.work_dir.parent().unwrap(), "gate-b");
    s.master.run_task_group(
        &framework(true),
        "pod",
        vec![
            command_task("a", &gate_a.wait_command()),
            command_task("b", &gate_b.wait_command()),
        ],
    );
    s.master.wait_update("a", TaskState::TaskRunning).await;
    s.master.wait_update("b", TaskState::TaskRunning).await;

    agent.kill9();
    let agent = s.agent();
    s.master.wait_registrations(2).await;
    let reregistration = s.master.last_reregistration().expect("a re-registration");
    let mut tasks: Vec<String> = reregistration
        .tasks
        .iter()
        .map(|t| t.task_id.value.clone())
        .collect();
    tasks.sort();
    assert_eq!(tasks, ["a", "b"]);
    assert_eq!(reregistration.executor_infos.len(), 1);
    assert_eq!(reregistration.executor_infos[0].executor_id.value, "pod");

    // The executor subscribed again; its tasks finish under the new agent.
    gate_a.open(LIMIT).await;
    gate_b.open(LIMIT).await;
    for task in ["a", "b"] {
        let finished = s.master.wait_update(task, TaskState::TaskFinished).await;
        assert!(finished.session >= 1, "{task} ended after the restart");
    }
    s.no_executors().await;
    drop(agent);
}
