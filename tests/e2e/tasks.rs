//! Tasks end to end on a real master group and real agents: launched
//! through the leader's internal launch path, run by the built-in command
//! executor, their status updates acknowledged through the master, and
//! their state across partitions, failovers, agent restarts and
//! MARK_AGENT_GONE (SPEC 3, 4, 5, 7).

use crate::support;

use std::time::Duration;

use support::agents::*;
use support::tasks::*;
use support::*;

const ELECTION: Duration = Duration::from_secs(20);
const LIMIT: Duration = Duration::from_secs(30);

fn cluster() -> Cluster {
    Cluster::start_with(3, |m| m.agent_health(fast_health()))
}

async fn registered_agent(c: &Cluster, name: &str) -> (AgentProc, String) {
    let mut agent = AgentProc::new(c, name);
    agent.spawn();
    let (id, _) = agent.wait_registered(1, LIMIT).await;
    c.wait_agents("the agent active on the leader", LIMIT, |s| {
        s.active.contains(&id)
    })
    .await;
    (agent, id)
}

/// A fresh group with a leader and one registered agent ("a").
async fn group_with_agent() -> (Cluster, AgentProc, String) {
    let c = cluster();
    c.wait_leader(ELECTION).await;
    let (agent, agent_id) = registered_agent(&c, "a").await;
    (c, agent, agent_id)
}

/// The task once it completed on the leader.
async fn wait_completed(c: &Cluster, task: &str) -> TaskSeen {
    let seen = c
        .wait_tasks(&format!("{task} completed"), LIMIT, |s| {
            s.completed.iter().any(|t| t.id == task)
        })
        .await;
    seen.find(task).unwrap().clone()
}

fn state_of(seen: &TasksSeen, task: &str) -> Option<String> {
    seen.find(task).map(|t| t.state.clone())
}

async fn wait_running(c: &Cluster, task: &str) -> TasksSeen {
    c.wait_tasks(&format!("{task} running"), LIMIT, |s| {
        s.tasks
            .iter()
            .any(|t| t.id == task && t.state == "TASK_RUNNING")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_group_runs_in_the_default_executor_and_both_tasks_finish() {
    let c = cluster();
    c.wait_leader(ELECTION).await;
    let (_agent, agent_id) = registered_agent(&c, "a").await;
    let fw = framework("fw-1", false);
    let gate = mesoraft_testkit::Gate::new(c.dir.path(), "release-g1");
    let tasks = [
        command_task("g1", &agent_id, &gate.wait_command()),
        command_task("g2", &agent_id, "true"),
    ];
    // A group needs an executor of type DEFAULT: refused whole otherwise.
    let mut custom = default_executor("pod");
    custom["type"] = "CUSTOM".into();
    let (code, text) = c
        .internal(
            "/master/internal/launch",
            &group_launch(&fw, &custom, &tasks),
        )
        .await
        .unwrap();
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("DEFAULT"), "{text}");

    c.launch_body(&group_launch(&fw, &default_executor("pod"), &tasks), LIMIT)
        .await;
    wait_running(&c, "g1").await;
    gate.open(LIMIT).await;
    let seen = c
        .wait_tasks("both tasks of the group finished", LIMIT, |s| {
            ["g1", "g2"]
                .iter()
                .all(|id| state_of(s, id).as_deref() == Some("TASK_FINISHED"))
        })
        .await;
    for id in ["g1", "g2"] {
        let task = seen.find(id).unwrap();
        let states: Vec<&str> = task.statuses.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            states,
            ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
            "{task:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_to_their_end_and_every_update_reaches_the_leader() {
    let (c, _agent, agent_id) = group_with_agent().await;
    let fw = framework("fw-1", false);
    c.launch(&fw, &command_task("ok", &agent_id, "true"), LIMIT)
        .await;
    c.launch(&fw, &command_task("bad", &agent_id, "exit 3"), LIMIT)
        .await;
    let seen = c
        .wait_tasks("both tasks completed", LIMIT, |s| {
            s.completed
                .iter()
                .filter(|t| t.id == "ok" || t.id == "bad")
                .count()
                == 2
        })
        .await;
    let ok = seen.completed.iter().find(|t| t.id == "ok").unwrap();
    assert_eq!(ok.state, "TASK_FINISHED", "{ok:?}");
    let states: Vec<&str> = ok.statuses.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        states,
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
        "every update of the stream, in order, once each"
    );
    let bad = seen.completed.iter().find(|t| t.id == "bad").unwrap();
    assert_eq!(bad.state, "TASK_FAILED", "{bad:?}");

    // A live duplicate id is refused; a launch on an unknown agent too.
    c.launch(&fw, &command_task("long", &agent_id, "sleep 600"), LIMIT)
        .await;
    let body =
        serde_json::json!({"framework": fw, "task": command_task("long", &agent_id, "true")});
    let (code, text) = c.internal("/master/internal/launch", &body).await.unwrap();
    assert_eq!(code, 409, "{text}");
    let body =
        serde_json::json!({"framework": fw, "task": command_task("x", "no-such-agent", "true")});
    let (code, text) = c.internal("/master/internal/launch", &body).await.unwrap();
    assert_eq!(code, 409, "{text}");
    assert!(text.contains("no-such-agent"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_on_a_cut_off_agent_is_unreachable_then_running_again_as_reregistered() {
    let (c, mut agent, agent_id) = group_with_agent().await;
    let fw = framework("fw-pa", true);
    c.launch(&fw, &command_task("t", &agent_id, "sleep 600"), LIMIT)
        .await;
    wait_running(&c, "t").await;

    agent.pause();
    let seen = c
        .wait_tasks("the task unreachable", LIMIT, |s| {
            s.unreachable.iter().any(|t| t.id == "t")
        })
        .await;
    let t = seen.find("t").unwrap();
    assert_eq!(t.state, "TASK_UNREACHABLE", "{t:?}");
    assert_eq!(
        t.statuses.last().unwrap(),
        &(
            "TASK_UNREACHABLE".to_string(),
            Some("REASON_AGENT_REMOVED".to_string())
        )
    );

    agent.resume();
    let seen = c
        .wait_tasks("the task running again", LIMIT, |s| {
            s.tasks.iter().any(|t| {
                t.id == "t"
                    && t.statuses.last().and_then(|(_, r)| r.as_deref())
                        == Some("REASON_AGENT_REREGISTERED")
            })
        })
        .await;
    let t = seen.find("t").unwrap();
    assert_eq!(t.state, "TASK_RUNNING", "{t:?}");
    assert_eq!(t.statuses.last().unwrap().0, "TASK_RUNNING");
    assert_eq!(t.agent_id, agent_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_learns_running_tasks_from_reregistrations_and_can_kill_them() {
    let mut c = cluster();
    let leader = c.wait_leader(ELECTION).await;
    let (_agent, agent_id) = registered_agent(&c, "a").await;
    let fw = framework("fw-1", false);
    c.launch(&fw, &command_task("t", &agent_id, "sleep 600"), LIMIT)
        .await;
    wait_running(&c, "t").await;

    c.kill9(leader);
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|m| *m != leader).collect();
    c.wait_leader_among(&others, ELECTION).await;
    wait_running(&c, "t").await;

    let kill = serde_json::json!({"framework_id": {"value": "fw-1"}, "task_id": {"value": "t"}});
    let (code, text) = wait_for("a master to take the kill", LIMIT, || async {
        c.internal("/master/internal/kill", &kill).await
    })
    .await;
    assert_eq!(code, 202, "{text}");
    let seen = c
        .wait_tasks("the task killed", LIMIT, |s| {
            state_of(s, "t").as_deref() == Some("TASK_KILLED")
        })
        .await;
    assert!(seen.completed.iter().any(|t| t.id == "t"), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_outlives_an_agent_restart_and_its_end_is_delivered() {
    let (c, mut agent, agent_id) = group_with_agent().await;
    let fw = framework("fw-1", false);
    let gate = mesoraft_testkit::Gate::new(c.dir.path(), "release-task");
    c.launch(
        &fw,
        &command_task("t", &agent_id, &gate.wait_command()),
        LIMIT,
    )
    .await;
    wait_running(&c, "t").await;

    agent.kill9();
    // The task ends while its agent is down: the update waits for the
    // agent's return, then reaches the leader.
    gate.open(LIMIT).await;
    agent.spawn();
    let (again, _) = agent.wait_registered(1, LIMIT).await;
    assert_eq!(again, agent_id, "the restarted agent keeps its id");
    let t = wait_completed(&c, "t").await;
    assert_eq!(t.state, "TASK_FINISHED", "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_an_agent_gone_ends_its_tasks_gone_by_operator() {
    let (c, mut agent, agent_id) = group_with_agent().await;
    let fw = framework("fw-pa", true);
    c.launch(&fw, &command_task("t", &agent_id, "sleep 600"), LIMIT)
        .await;
    wait_running(&c, "t").await;

    assert_eq!(c.mark_agent_gone(&agent_id).await, Some(200));
    let t = wait_completed(&c, "t").await;
    assert_eq!(t.state, "TASK_GONE_BY_OPERATOR", "{t:?}");
    assert_eq!(
        t.statuses.last().unwrap().1.as_deref(),
        Some("REASON_AGENT_REMOVED_BY_OPERATOR")
    );
    assert!(
        agent.wait_exit(LIMIT).await.is_some(),
        "the agent shuts down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_over_its_memory_is_killed_and_failed_with_the_memory_limitation() {
    let (c, _agent, agent_id) = group_with_agent().await;
    let fw = framework("fw-1", false);
    // 32 MB for the task (plus the executor's own 32 MB); it takes 256 MB
    // and holds them.
    let hog = "exec python3 -c 'import time; b = bytearray(256 * 1024 * 1024); time.sleep(600)'";
    c.launch(&fw, &command_task("hog", &agent_id, hog), LIMIT)
        .await;
    let t = wait_completed(&c, "hog").await;
    assert_eq!(t.state, "TASK_FAILED", "{t:?}");
    assert_eq!(
        t.statuses.last().unwrap().1.as_deref(),
        Some("REASON_CONTAINER_LIMITATION_MEMORY"),
        "{t:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_s_sandbox_and_the_agent_s_figures_are_served_by_the_agent() {
    let (c, agent, agent_id) = group_with_agent().await;
    let fw = framework("fw-1", false);
    c.launch(
        &fw,
        &command_task("echo", &agent_id, "echo hello-from-task"),
        LIMIT,
    )
    .await;
    wait_completed(&c, "echo").await;

    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("http://{}{path}", agent.addr);
        async move {
            let resp = http.get(url).send().await.expect("the agent answers");
            let code = resp.status().as_u16();
            (code, resp.text().await.unwrap_or_default())
        }
    };
    let sandbox = "/frameworks/fw-1/executors/echo/runs/latest";
    let (code, listing) = get(format!("/files/browse?path={sandbox}")).await;
    assert_eq!(code, 200, "{listing}");
    let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let names: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["path"].as_str()?.rsplit('/').next())
        .collect();
    assert!(
        names.contains(&"stdout") && names.contains(&"stderr"),
        "{names:?}"
    );
    let (code, read) = get(format!("/files/read?path={sandbox}/stdout&offset=0")).await;
    assert_eq!(code, 200, "{read}");
    let read: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert!(
        read["data"].as_str().unwrap().contains("hello-from-task"),
        "{read}"
    );
    let (code, _) = get("/files/read?path=/etc/passwd&offset=0".into()).await;
    assert_eq!(code, 404, "only sandboxes are served");

    let (code, snapshot) = get("/metrics/snapshot".into()).await;
    assert_eq!(code, 200);
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(snapshot["slave/registered"], 1.0, "{snapshot}");
    assert!(
        snapshot["slave/tasks_finished"].as_f64().unwrap() >= 1.0,
        "{snapshot}"
    );
    let (code, text) = get("/metrics".into()).await;
    assert_eq!(code, 200);
    assert!(text.contains("mesoraft_slave_tasks_finished 1"), "{text}");
}
