//! `mesoraft executor`, the real binary, against a fake agent written
//! here: it subscribes over the v1 executor HTTP API, runs the task it is
//! given, reports its updates with fresh uuids, kills on KILL (SIGKILL
//! after the grace period when SIGTERM is ignored), resubscribes with its
//! unacknowledged updates, and exits once its terminal update is
//! acknowledged.

mod support;

use std::convert::Infallible;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use mesoraft_agent::recordio;
use mesoraft_proto::json::{from_json_slice, to_json_string};
use mesoraft_proto::mesos::v1::executor::{call, event, Call, Event};
use mesoraft_proto::mesos::v1::{
    AgentInfo, CommandInfo, DurationInfo, ExecutorId, ExecutorInfo, FrameworkInfo, KillPolicy,
    TaskId, TaskInfo, TaskState,
};
use mesoraft_testkit::Gate;
use support::{mesoraft_binary, wait_for, SandboxReaper};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(20);

/// A fake agent's executor API: records every call, streams the events
/// the test pushes to the latest subscription.
#[derive(Clone, Default)]
struct FakeAgent {
    calls: Arc<Mutex<Vec<Call>>>,
    events: Arc<Mutex<Option<mpsc::UnboundedSender<Event>>>>,
}

impl FakeAgent {
    async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/api/v1/executor", post(executor_api))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr.to_string()
    }

    fn calls_of(&self, kind: call::Type) -> Vec<Call> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.r#type() == kind)
            .cloned()
            .collect()
    }

    fn updates(&self) -> Vec<(TaskState, Vec<u8>, Option<String>)> {
        self.calls_of(call::Type::Update)
            .into_iter()
            .map(|c| {
                let status = c.update.unwrap().status;
                (
                    status.state(),
                    status.uuid.clone().unwrap_or_default(),
                    status.message,
                )
            })
            .collect()
    }

    fn push(&self, event: Event) {
        let events = self.events.lock().unwrap();
        events
            .as_ref()
            .expect("a subscription")
            .send(event)
            .expect("the subscription is open");
    }

    /// Ends the current subscription's stream, as an agent restart would.
    fn hang_up(&self) {
        self.events.lock().unwrap().take();
    }

    async fn wait_subscriptions(&self, n: usize) -> Call {
        wait_for("a SUBSCRIBE", LIMIT, || {
            let subscribes = self.calls_of(call::Type::Subscribe);
            (subscribes.len() >= n && self.events.lock().unwrap().is_some())
                .then(|| subscribes[n - 1].clone())
        })
        .await
    }

    async fn wait_update(&self, state: TaskState) -> Vec<u8> {
        wait_for(&format!("an update {state:?}"), LIMIT, || {
            self.updates()
                .into_iter()
                .find(|(s, _, _)| *s == state)
                .map(|(_, uuid, _)| uuid)
        })
        .await
    }

    fn ack(&self, task: &str, uuid: Vec<u8>) {
        self.push(Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: TaskId { value: task.into() },
                uuid,
            }),
            ..Default::default()
        });
    }
}

async fn executor_api(State(agent): State<FakeAgent>, body: Bytes) -> Response {
    let call: Call = match from_json_slice(&body) {
        Ok(call) => call,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let subscribe = call.r#type() == call::Type::Subscribe;
    agent.calls.lock().unwrap().push(call);
    if !subscribe {
        return StatusCode::ACCEPTED.into_response();
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    *agent.events.lock().unwrap() = Some(tx);
    let stream = async_stream(move |yield_| async move {
        while let Some(event) = rx.recv().await {
            yield_(recordio::encode(to_json_string(&event).as_bytes()));
        }
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(stream)
        .unwrap()
}

/// A body streaming what `produce` yields, ended when it returns.
fn async_stream<F, Fut>(produce: F) -> Body
where
    F: FnOnce(Box<dyn Fn(Vec<u8>) + Send + Sync>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<Result<Bytes, Infallible>>();
    let fut = produce(Box::new(move |bytes| {
        let _ = tx.send(Ok(Bytes::from(bytes)));
    }));
    tokio::spawn(fut);
    Body::from_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
}

fn subscribed() -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            executor_info: ExecutorInfo {
                executor_id: ExecutorId { value: "e1".into() },
                ..Default::default()
            },
            framework_info: FrameworkInfo {
                user: "root".into(),
                name: "test".into(),
                ..Default::default()
            },
            agent_info: AgentInfo {
                hostname: "localhost".into(),
                ..Default::default()
            },
            container_id: None,
        }),
        ..Default::default()
    }
}

fn launch(task: &str, command: &str, grace: Option<Duration>) -> Event {
    Event {
        r#type: Some(event::Type::Launch as i32),
        launch: Some(event::Launch {
            task: TaskInfo {
                name: task.into(),
                task_id: TaskId { value: task.into() },
                command: Some(CommandInfo {
                    value: Some(command.into()),
                    ..Default::default()
                }),
                kill_policy: grace.map(|g| KillPolicy {
                    grace_period: Some(DurationInfo {
                        nanoseconds: g.as_nanos() as i64,
                    }),
                }),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

/// Starts `mesoraft executor` in its own session, as an agent would.
fn start_executor(endpoint: &str, sandbox: &Path, checkpoint: bool) -> std::process::Child {
    let mut cmd = std::process::Command::new(mesoraft_binary());
    cmd.arg("executor")
        .env("MESOS_AGENT_ENDPOINT", endpoint)
        .env("MESOS_FRAMEWORK_ID", "f1")
        .env("MESOS_EXECUTOR_ID", "e1")
        .env("MESOS_DIRECTORY", sandbox)
        .env("MESOS_CHECKPOINT", if checkpoint { "1" } else { "0" })
        .env("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs")
        .current_dir(sandbox)
        .stdout(std::fs::File::create(sandbox.join("executor.log")).unwrap())
        .stderr(std::fs::File::create(sandbox.join("executor.err")).unwrap());
    if checkpoint {
        cmd.env("MESOS_RECOVERY_TIMEOUT", "10secs")
            .env("MESOS_SUBSCRIPTION_BACKOFF_MAX", "200ms");
    }
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().expect("cannot start mesoraft executor")
}

async fn wait_exit(child: &mut std::process::Child) -> i32 {
    wait_for("the executor to exit", LIMIT, || {
        child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1))
    })
    .await
}

fn sandbox() -> (tempfile::TempDir, SandboxReaper) {
    let dir = tempfile::tempdir().unwrap();
    let reaper = SandboxReaper::new(dir.path());
    (dir, reaper)
}

#[tokio::test]
async fn the_command_executor_runs_a_task_and_exits_once_its_terminal_update_is_acknowledged() {
    let (dir, _reaper) = sandbox();
    let agent = FakeAgent::default();
    let endpoint = agent.serve().await;
    let mut executor = start_executor(&endpoint, dir.path(), false);

    let first = agent.wait_subscriptions(1).await;
    assert_eq!(first.framework_id.value, "f1");
    assert_eq!(first.executor_id.value, "e1");
    agent.push(subscribed());
    let gate = Gate::new(dir.path(), "gate");
    agent.push(launch(
        "t1",
        &format!("echo hi; {}", gate.wait_command()),
        None,
    ));
    agent.wait_update(TaskState::TaskRunning).await;
    gate.open(LIMIT).await;

    let finished = agent.wait_update(TaskState::TaskFinished).await;
    let updates = agent.updates();
    let states: Vec<_> = updates.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(
        states,
        [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ]
    );
    let mut uuids: Vec<_> = updates.iter().map(|(_, u, _)| u.clone()).collect();
    assert!(uuids.iter().all(|u| u.len() == 16));
    uuids.dedup();
    assert_eq!(uuids.len(), 3, "each update has its own uuid");
    assert_eq!(
        updates[2].2.as_deref(),
        Some("Command exited with status 0")
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("stdout")).unwrap(),
        "hi\n"
    );

    // Still waiting for the acknowledgement of the terminal update.
    assert!(executor.try_wait().unwrap().is_none());
    agent.ack("t1", finished);
    assert_eq!(wait_exit(&mut executor).await, 0);
}

#[tokio::test]
async fn a_kill_escalates_to_sigkill_after_the_grace_period_and_reports_task_killed() {
    let (dir, _reaper) = sandbox();
    let agent = FakeAgent::default();
    let endpoint = agent.serve().await;
    let mut executor = start_executor(&endpoint, dir.path(), false);
    agent.wait_subscriptions(1).await;
    agent.push(subscribed());
    // SIGTERM is ignored by the shell and the sleep it starts.
    agent.push(launch(
        "t1",
        "trap '' TERM; echo ready; sleep 60",
        Some(Duration::from_millis(500)),
    ));
    agent.wait_update(TaskState::TaskRunning).await;
    wait_for("the task to start", LIMIT, || {
        (std::fs::read_to_string(dir.path().join("stdout")).unwrap_or_default() == "ready\n")
            .then_some(())
    })
    .await;
    agent.push(Event {
        r#type: Some(event::Type::Kill as i32),
        kill: Some(event::Kill {
            task_id: TaskId { value: "t1".into() },
            kill_policy: None,
        }),
        ..Default::default()
    });
    let killed = agent.wait_update(TaskState::TaskKilled).await;
    let (_, _, message) = agent
        .updates()
        .into_iter()
        .find(|(s, _, _)| *s == TaskState::TaskKilled)
        .unwrap();
    assert_eq!(
        message.as_deref(),
        Some("Command terminated with signal Killed")
    );
    agent.ack("t1", killed);
    assert_eq!(wait_exit(&mut executor).await, 0);
}

#[tokio::test]
async fn a_checkpointing_executor_resubscribes_with_its_unacknowledged_updates() {
    let (dir, _reaper) = sandbox();
    let agent = FakeAgent::default();
    let endpoint = agent.serve().await;
    let mut executor = start_executor(&endpoint, dir.path(), true);
    agent.wait_subscriptions(1).await;
    agent.push(subscribed());
    let gate = Gate::new(dir.path(), "gate");
    agent.push(launch("t1", &gate.wait_command(), None));
    let starting = agent.wait_update(TaskState::TaskStarting).await;
    agent.wait_update(TaskState::TaskRunning).await;
    agent.ack("t1", starting.clone());

    // The agent goes away; the task finishes meanwhile.
    agent.hang_up();
    gate.open(LIMIT).await;
    let again = agent.wait_subscriptions(2).await;
    let subscribe = again.subscribe.unwrap();
    assert!(
        subscribe.unacknowledged_tasks.is_empty(),
        "the task was acknowledged once, so the agent knows it"
    );
    let pending: Vec<_> = subscribe
        .unacknowledged_updates
        .iter()
        .map(|u| u.status.uuid.clone().unwrap())
        .collect();
    assert!(!pending.contains(&starting));
    assert!(!pending.is_empty());
    agent.push(subscribed());
    for uuid in pending {
        agent.ack("t1", uuid);
    }
    let finished = agent.wait_update_or_pending(TaskState::TaskFinished).await;
    if let Some(uuid) = finished {
        agent.ack("t1", uuid);
    }
    assert_eq!(wait_exit(&mut executor).await, 0);
}

impl FakeAgent {
    /// The uuid of the `state` update if it came as an UPDATE call; `None`
    /// if it came inside the last SUBSCRIBE (already acknowledged there).
    async fn wait_update_or_pending(&self, state: TaskState) -> Option<Vec<u8>> {
        wait_for(&format!("{state:?} sent"), LIMIT, || {
            if let Some((_, uuid, _)) = self.updates().into_iter().find(|(s, _, _)| *s == state) {
                return Some(Some(uuid));
            }
            let subscribes = self.calls_of(call::Type::Subscribe);
            let in_subscribe = subscribes
                .last()?
                .subscribe
                .as_ref()?
                .unacknowledged_updates
                .iter()
                .any(|u| u.status.state() == state);
            in_subscribe.then_some(None)
        })
        .await
    }
}
