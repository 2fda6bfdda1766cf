//! `mesoraft execute`'s loop against a fake master and a fake agent:
//! it launches the command on the offer, prints and acknowledges the
//! updates, reads the task's output from the agent's sandbox, tears the
//! framework down and exits with the command's status.

mod fake;

use std::sync::{Arc, Mutex};

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use fake::{subscribed, update, wait_for, FakeMaster, Mode};
use mesoraft_client::execute::{self, ExecuteArgs};
use mesoraft_proto::mesos::v1::scheduler::call::Type;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ExecuteArgs,
}

/// An agent serving `/files/read`: "hello\n" at offset 0, then nothing.
/// Records the paths asked for.
async fn fake_agent() -> (String, Arc<Mutex<Vec<String>>>) {
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = paths.clone();
    let app = Router::new().route(
        "/files/read",
        get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let seen = seen.clone();
                async move {
                    let path = q.get("path").cloned().unwrap_or_default();
                    seen.lock().unwrap().push(path.clone());
                    let first = q.get("offset").map(String::as_str) == Some("0");
                    let data = if first && path.ends_with("/stdout") {
                        "hello\n"
                    } else {
                        ""
                    };
                    Json(serde_json::json!({"data": data, "offset": 0}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, paths)
}

fn offer_at(agent: &str) -> String {
    let (ip, port) = agent.rsplit_once(':').unwrap();
    format!(
        r#"{{"type":"OFFERS","offers":{{"offers":[{{"id":{{"value":"o1"}},"framework_id":{{"value":"f1"}},"agent_id":{{"value":"a1"}},"hostname":"h","url":{{"scheme":"http","address":{{"ip":"{ip}","port":{port}}}}},"resources":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":1}}}},{{"name":"mem","type":"SCALAR","scalar":{{"value":128}}}}]}}]}}}}"#
    )
}

#[tokio::test]
async fn execute_runs_the_command_and_exits_with_its_status() {
    let master = FakeMaster::start(Mode::Lead).await;
    let (agent, paths) = fake_agent().await;
    let cli = Cli::try_parse_from([
        "execute",
        "--masters",
        &master.addr,
        "--name",
        "hello",
        "--command",
        "echo hello; exit 3",
        "--resources",
        "cpus:0.5;mem:64",
    ])
    .unwrap();
    let run = tokio::spawn(execute::run(cli.args));

    master.wait_calls(Type::Subscribe, 1).await;
    master.send(&subscribed("f1", 15.0));
    master.send(&offer_at(&agent));
    let accept = master.wait_calls(Type::Accept, 1).await;
    let task = &accept[0].call.accept.as_ref().unwrap().operations[0]
        .launch
        .as_ref()
        .unwrap()
        .task_infos[0];
    assert_eq!(task.task_id.value, "hello");
    let command = task.command.as_ref().unwrap();
    assert_eq!(
        (command.shell, command.value.as_deref()),
        (Some(true), Some("echo hello; exit 3"))
    );
    let cpus = task.resources.iter().find(|r| r.name == "cpus").unwrap();
    assert_eq!(cpus.scalar.as_ref().unwrap().value, 0.5);
    // Every task launched: offers are suppressed.
    master.wait_calls(Type::Suppress, 1).await;

    master.send(&update("hello", "a1", "TASK_RUNNING", Some("AQ==")));
    wait_for("the task's stdout to be read", || {
        paths
            .lock()
            .unwrap()
            .iter()
            .any(|p| p == "/frameworks/f1/executors/hello/runs/latest/stdout")
            .then_some(())
    })
    .await;
    let failed = update("hello", "a1", "TASK_FAILED", Some("Ag=="));
    let failed = failed.replace(
        r#""state""#,
        r#""message":"Command exited with status 3","state""#,
    );
    master.send(&failed);

    let code = tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .expect("execute ends once its task ended")
        .unwrap()
        .unwrap();
    assert_eq!(code, 3);
    // Acknowledgements go out in the background: waited for, not counted.
    master.wait_calls(Type::Acknowledge, 2).await;
    assert_eq!(master.calls_of(Type::Teardown).len(), 1);
}
