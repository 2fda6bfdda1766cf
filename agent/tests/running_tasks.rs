//! The real `mesoraft agent` running tasks for a fake master written in
//! the test: command tasks through the built-in command executor, their
//! status updates delivered at least once (unacknowledged ones resent
//! with the same uuid, one update in flight per task), kills, and a
//! third-party executor speaking only the v1 executor HTTP API.

mod support;

use std::time::{Duration, Instant};

use mesoraft_proto::mesos::v1::task_status::Source;
use mesoraft_proto::mesos::v1::{CommandInfo, ExecutorId, ExecutorInfo, TaskInfo, TaskState};
use mesoraft_testkit::Gate;
use support::fake_master::{command_task, framework, FakeMaster, AGENT_ID};
use support::{free_port, start_agent, wait_for, SandboxReaper};

const LIMIT: Duration = Duration::from_secs(30);

struct Setup {
    reaper: SandboxReaper,
    agent: mesoraft_testkit::ProcessGroup,
    master: FakeMaster,
    work_dir: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

impl Setup {
    async fn new(auto_ack: bool) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let work_dir = tmp.path().join("work");
        let reaper = SandboxReaper::new(&work_dir);
        let master = FakeMaster::start(auto_ack).await;
        let agent = start_agent(master.addr, &work_dir, free_port());
        master.wait_registrations(1).await;
        Setup {
            reaper,
            agent,
            master,
            work_dir,
            _tmp: tmp,
        }
    }

    fn log(&self) -> String {
        self.agent.log().run_text()
    }

    /// The executors' sandboxes of framework `fw-1`.
    fn sandbox(&self, executor: &str) -> std::path::PathBuf {
        let runs = self
            .work_dir
            .join("slaves")
            .join(AGENT_ID)
            .join("frameworks/fw-1/executors")
            .join(executor)
            .join("runs");
        let run = std::fs::read_dir(&runs)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", runs.display(), self.log()))
            .next()
            .expect("a run")
            .unwrap();
        run.path()
    }
}

#[tokio::test]
async fn a_command_task_reports_starting_running_finished_and_unacknowledged_updates_are_resent() {
    let s = Setup::new(false).await;
    let gate = Gate::new(s.work_dir.parent().unwrap(), "gate");
    let command = format!("echo hi; {}", gate.wait_command());
    s.master
        .run_task(&framework(false), command_task("t1", &command));

    let starting = s.master.wait_update("t1", TaskState::TaskStarting).await;
    s.master.ack(&starting);
    let running = s.master.wait_update("t1", TaskState::TaskRunning).await;
    gate.open(LIMIT).await;
    // Not acknowledged: resent with the same uuid, and nothing after it
    // goes while it is in flight.
    let resent = wait_for("RUNNING resent", LIMIT, || {
        let copies: Vec<_> = s
            .master
            .updates_of("t1")
            .into_iter()
            .filter(|u| u.state() == TaskState::TaskRunning)
            .collect();
        (copies.len() >= 2).then(|| copies[1].clone())
    })
    .await;
    assert_eq!(resent.uuid(), running.uuid());
    assert!(s
        .master
        .updates_of("t1")
        .iter()
        .all(|u| u.state() != TaskState::TaskFinished));
    let acked_at = Instant::now();
    s.master.ack(&running);
    let finished = s.master.wait_update("t1", TaskState::TaskFinished).await;
    assert!(finished.at >= acked_at, "FINISHED waited for RUNNING's ack");
    assert_eq!(
        finished.update.status.message.as_deref(),
        Some("Command exited with status 0")
    );
    assert_eq!(finished.update.status.source(), Source::Executor);
    assert_eq!(finished.update.slave_id.as_ref().unwrap().value, AGENT_ID);
    assert_eq!(
        finished.update.latest_state,
        Some(TaskState::TaskFinished as i32)
    );
    s.master.ack(&finished);

    // Each state once, under one uuid; every uuid 16 bytes.
    let updates = s.master.updates_of("t1");
    for update in &updates {
        assert_eq!(update.uuid().len(), 16);
        let same_state: Vec<_> = updates
            .iter()
            .filter(|u| u.state() == update.state())
            .collect();
        assert!(
            same_state.iter().all(|u| u.uuid() == update.uuid()),
            "{updates:?}"
        );
    }
    let stdout = std::fs::read_to_string(s.sandbox("t1").join("stdout")).unwrap();
    assert_eq!(stdout, "hi\n");

    // Once its terminal update is acknowledged the executor exits.
    wait_for("the executor to exit", LIMIT, || {
        s.reaper.executors().is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_killed_task_reports_task_killed() {
    let s = Setup::new(true).await;
    s.master
        .run_task(&framework(false), command_task("t1", "sleep 60"));
    s.master.wait_update("t1", TaskState::TaskRunning).await;
    // A kill of a task the agent does not have answers TASK_LOST.
    s.master.kill_task("t9");
    let lost = s.master.wait_update("t9", TaskState::TaskLost).await;
    assert_eq!(lost.update.status.source(), Source::Agent);

    s.master.kill_task("t1");
    let killed = s.master.wait_update("t1", TaskState::TaskKilled).await;
    assert_eq!(
        killed.update.status.message.as_deref(),
        Some("Command terminated with signal Terminated")
    );
    wait_for("the executor to exit", LIMIT, || {
        s.reaper.executors().is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_executor_that_dies_fails_its_task_with_executor_terminated() {
    let s = Setup::new(true).await;
    s.master
        .run_task(&framework(false), command_task("t1", "sleep 60"));
    s.master.wait_update("t1", TaskState::TaskRunning).await;
    let executors = s.reaper.executors();
    assert_eq!(executors.len(), 1, "one executor");
    unsafe {
        libc::kill(executors[0].0, libc::SIGKILL);
    }
    let failed = s.master.wait_update("t1", TaskState::TaskFailed).await;
    assert_eq!(failed.update.status.source(), Source::Agent);
    assert_eq!(
        failed.update.status.reason(),
        mesoraft_proto::mesos::v1::task_status::Reason::ExecutorTerminated
    );
    // The task the executor started died with its container.
    wait_for("the container to be empty", LIMIT, || {
        mesoraft_agent::procfs::session_members(executors[0].1)
            .is_empty()
            .then_some(())
    })
    .await;
}

/// A framework's own executor, in Python, using only the v1 executor
/// HTTP API: subscribe, run the task it is given (it just reports it),
/// wait for the agent's acknowledgements, exit.
const PYTHON_EXECUTOR: &str = r#"
import base64, http.client, json, os, sys, uuid

host, port = os.environ["MESOS_AGENT_ENDPOINT"].rsplit(":", 1)
fid = {"value": os.environ["MESOS_FRAMEWORK_ID"]}
eid = {"value": os.environ["MESOS_EXECUTOR_ID"]}
assert os.getcwd() == os.environ["MESOS_DIRECTORY"], "runs in its sandbox"
headers = {"Content-Type": "application/json", "Accept": "application/json"}

def call(body):
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/api/v1/executor", json.dumps(body), headers)
    response = conn.getresponse()
    assert response.status == 202, (response.status, response.read())
    response.read()
    conn.close()

def update(task_id, state):
    token = base64.b64encode(uuid.uuid4().bytes).decode()
    call({"type": "UPDATE", "framework_id": fid, "executor_id": eid,
          "update": {"status": {"task_id": task_id, "state": state,
                                "source": "SOURCE_EXECUTOR", "uuid": token,
                                "message": "from the python executor"}}})
    return token

stream = http.client.HTTPConnection(host, int(port), timeout=60)
stream.request("POST", "/api/v1/executor", json.dumps(
    {"type": "SUBSCRIBE", "framework_id": fid, "executor_id": eid,
     "subscribe": {}}), headers)
events = stream.getresponse()
assert events.status == 200, events.status
pending = set()
while True:
    length = int(events.readline())
    event = json.loads(events.read(length))
    kind = event.get("type")
    print("event", kind, flush=True)
    if kind == "LAUNCH":
        task_id = event["launch"]["task"]["task_id"]
        pending.add(update(task_id, "TASK_RUNNING"))
        pending.add(update(task_id, "TASK_FINISHED"))
    elif kind == "ACKNOWLEDGED":
        pending.discard(event["acknowledged"]["uuid"])
        if not pending:
            print("done", flush=True)
            sys.exit(0)
    elif kind == "SHUTDOWN":
        sys.exit(0)
"#;

#[tokio::test]
async fn a_third_party_executor_using_only_the_http_api_runs_a_task() {
    let s = Setup::new(true).await;
    let script = s.work_dir.parent().unwrap().join("executor.py");
    std::fs::write(&script, PYTHON_EXECUTOR).unwrap();
    let task = TaskInfo {
        executor: Some(ExecutorInfo {
            executor_id: ExecutorId {
                value: "py-executor".into(),
            },
            command: Some(CommandInfo {
                value: Some(format!("exec /usr/bin/python3 {}", script.display())),
                ..Default::default()
            }),
            ..Default::default()
        }),
        command: None,
        ..command_task("t1", "")
    };
    s.master.run_task(&framework(false), task);
    let running = s.master.wait_update("t1", TaskState::TaskRunning).await;
    assert_eq!(
        running.update.status.message.as_deref(),
        Some("from the python executor")
    );
    assert_eq!(
        running.update.status.executor_id.as_ref().unwrap().value,
        "py-executor"
    );
    s.master.wait_update("t1", TaskState::TaskFinished).await;
    let sandbox = s.sandbox("py-executor");
    wait_for("the python executor to finish", LIMIT, || {
        let out = std::fs::read_to_string(sandbox.join("stdout")).unwrap_or_default();
        out.contains("done").then_some(())
    })
    .await;
    let out = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(out.contains("event SUBSCRIBED\nevent LAUNCH\n"), "{out}");
    let err = std::fs::read_to_string(sandbox.join("stderr")).unwrap_or_default();
    assert!(!err.contains("Traceback"), "{err}");
}
