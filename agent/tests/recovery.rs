//! Agent restarts with real processes (SPEC section 7): executors of
//! checkpointing frameworks outlive the agent and subscribe again,
//! unacknowledged updates are replayed under their uuids, the tasks of
//! executors that died meanwhile are reported lost, `--recover=cleanup`
//! kills what was left, frameworks without checkpointing do not survive;
//! and the executor API refuses bad calls with 400s.

mod support;

use std::time::Duration;

use mesoraft_proto::mesos::v1::task_status::{Reason, Source};
use mesoraft_proto::mesos::v1::TaskState;
use mesoraft_testkit::Gate;
use support::fake_master::{command_task, framework, Received};
use support::{mesoraft_binary, wait_for, AgentSetup};

const LIMIT: Duration = Duration::from_secs(30);

impl AgentSetup {
    /// The one executor running, (pid, session).
    async fn executor(&self) -> (i32, i32) {
        wait_for("an executor", LIMIT, || {
            let executors = self.reaper.executors();
            (executors.len() == 1).then(|| executors[0])
        })
        .await
    }

    async fn no_executors(&self) {
        wait_for("every executor to exit", LIMIT, || {
            self.reaper.executors().is_empty().then_some(())
        })
        .await;
    }
}

/// Every state of a task reported under one uuid: copies are retries.
fn one_uuid_per_state(updates: &[Received]) {
    for update in updates {
        assert!(
            updates
                .iter()
                .filter(|u| u.state() == update.state())
                .all(|u| u.uuid() == update.uuid()),
            "a state reported under two uuids: {updates:#?}"
        );
    }
}

#[tokio::test]
async fn updates_are_delivered_after_an_agent_restart_and_copies_are_only_retries() {
    let s = AgentSetup::new(false).await;
    let agent = s.agent();
    s.master.wait_registrations(1).await;
    let gate = Gate::new(s.work_dir.parent().unwrap(), "gate");
    s.master
        .run_task(&framework(true), command_task("t1", &gate.wait_command()));
    let starting = s.master.wait_update("t1", TaskState::TaskStarting).await;
    s.master.ack(&starting);
    let running = s.master.wait_update("t1", TaskState::TaskRunning).await;
    assert_eq!(running.session, 0);

    // The agent dies with RUNNING unacknowledged; the task ends meanwhile.
    agent.kill9();
    gate.open(LIMIT).await;
    let (_, session) = s.executor().await;
    wait_for("the task to end", LIMIT, || {
        (mesoraft_agent::procfs::session_members(session).len() == 1).then_some(())
    })
    .await;

    let agent = s.agent();
    s.master.wait_registrations(2).await;
    let reregistration = s.master.last_reregistration().expect("a re-registration");
    assert_eq!(reregistration.tasks.len(), 1);
    assert_eq!(reregistration.tasks[0].task_id.value, "t1");
    assert_eq!(
        reregistration.frameworks[0].id.as_ref().unwrap().value,
        "fw-1"
    );

    // RUNNING is replayed from the checkpoint under its uuid.
    let replayed = wait_for("RUNNING replayed", LIMIT, || {
        s.master
            .updates_of("t1")
            .into_iter()
            .find(|u| u.session >= 1 && u.state() == TaskState::TaskRunning)
    })
    .await;
    assert_eq!(replayed.uuid(), running.uuid());
    s.master.ack(&replayed);
    // FINISHED, made while the agent was away, comes with the executor's
    // new subscription.
    let finished = s.master.wait_update("t1", TaskState::TaskFinished).await;
    assert!(finished.session >= 1);
    s.master.ack(&finished);
    one_uuid_per_state(&s.master.updates_of("t1"));
    s.no_executors().await;
    drop(agent);
}

#[tokio::test]
async fn the_task_of_an_executor_that_died_during_the_restart_is_lost() {
    let s = AgentSetup::new(true).await;
    let agent = s.agent();
    s.master.wait_registrations(1).await;
    s.master
        .run_task(&framework(true), command_task("t1", "sleep 60"));
    s.master.wait_update("t1", TaskState::TaskRunning).await;
    agent.kill9();
    s.reaper.kill_all();
    s.no_executors().await;

    let _agent = s.agent();
    let lost = s.master.wait_update("t1", TaskState::TaskLost).await;
    assert_eq!(lost.update.status.source(), Source::Agent);
    assert_eq!(
        lost.update.status.reason(),
        Reason::ExecutorReregistrationTimeout
    );
    assert!(lost.session >= 1);
}

#[tokio::test]
async fn recover_cleanup_kills_the_executors_left_running_and_forgets_the_agent() {
    let s = AgentSetup::new(true).await;
    let agent = s.agent();
    s.master.wait_registrations(1).await;
    s.master
        .run_task(&framework(true), command_task("t1", "sleep 60"));
    s.master.wait_update("t1", TaskState::TaskRunning).await;
    agent.kill9();
    let (_, session) = s.executor().await;

    let cmd = mesoraft_testkit::AgentCmd::new(
        [s.master.addr.to_string()],
        format!("127.0.0.1:{}", s.port),
        &s.work_dir,
    )
    .hostname("localhost")
    .resources("cpus:2;mem:1024;disk:1024;ports:[31000-31100]")
    .recover(mesoraft_testkit::agent_cmd::Recover::Cleanup);
    let (code, output) =
        mesoraft_testkit::run_bounded(&mesoraft_binary().display().to_string(), &cmd.args(), LIMIT);
    assert_eq!(code, Some(0), "{output}");
    wait_for("the executor's session to end", LIMIT, || {
        mesoraft_agent::procfs::session_members(session)
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(!s.work_dir.join("meta/agents/latest").exists());
}

#[tokio::test]
async fn an_executor_of_a_framework_without_checkpointing_does_not_outlive_the_agent() {
    let s = AgentSetup::new(true).await;
    let agent = s.agent();
    s.master.wait_registrations(1).await;
    s.master
        .run_task(&framework(false), command_task("t1", "sleep 60"));
    s.master.wait_update("t1", TaskState::TaskRunning).await;
    let (_, session) = s.executor().await;
    agent.kill9();
    // It shuts itself down (and its task) once it loses the agent.
    wait_for("the executor's session to end", LIMIT, || {
        mesoraft_agent::procfs::session_members(session)
            .is_empty()
            .then_some(())
    })
    .await;
    let _agent = s.agent();
    s.master.wait_registrations(2).await;
    let reregistration = s.master.last_reregistration().expect("a re-registration");
    assert!(reregistration.tasks.is_empty());
}

#[tokio::test]
async fn the_executor_api_answers_bad_calls_with_the_reason() {
    let s = AgentSetup::new(true).await;
    let _agent = s.agent();
    s.master.wait_registrations(1).await;
    let url = format!("http://127.0.0.1:{}/api/v1/executor", s.port);
    let http = reqwest::Client::new();
    let post = |content_type: Option<&'static str>, body: &'static str| {
        let mut request = http.post(&url).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let cases = [
        (
            Some("application/json"),
            "{not json",
            400,
            "Failed to parse",
        ),
        (None, "{}", 400, "Content-Type"),
        (Some("text/plain"), "{}", 415, "Expecting 'Content-Type'"),
        (
            Some("application/json"),
            r#"{"type": "SUBSCRIBE", "framework_id": {"value": "nope"},
                "executor_id": {"value": "e"}, "subscribe": {}}"#,
            400,
            "Framework cannot be found",
        ),
        (
            Some("application/json"),
            r#"{"type": "UPDATE", "framework_id": {"value": "f"},
                "executor_id": {"value": "e"},
                "update": {"status": {"task_id": {"value": "t"}, "state": "TASK_RUNNING"}}}"#,
            400,
            "Expecting 'uuid'",
        ),
        (
            Some("application/x-protobuf"),
            "\u{7f}\u{7f}",
            400,
            "Failed to parse",
        ),
    ];
    for (content_type, body, status, message) in cases {
        let response = post(content_type, body).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let text = response.text().await.unwrap();
        assert!(text.contains(message), "{body}: {text}");
    }
    let get = http.get(&url).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
}
