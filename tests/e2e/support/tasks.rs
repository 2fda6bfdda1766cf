//! Test support: tasks launched through the leader's internal launch path
//! (`POST /master/internal/launch`, with the cluster secret) and the
//! leader's task view (operator GET_TASKS).

use std::time::Duration;

use serde_json::{json, Value};

use super::Cluster;

/// A framework in Mesos JSON: checkpointing (its tasks survive an agent
/// restart), partition-aware or not.
pub fn framework(id: &str, partition_aware: bool) -> Value {
    let capabilities = if partition_aware {
        json!([{"type": "PARTITION_AWARE"}])
    } else {
        json!([])
    };
    json!({
        "user": "root",
        "name": "tests",
        "id": {"value": id},
        "checkpoint": true,
        "capabilities": capabilities,
    })
}

/// A command task on `agent_id` in Mesos JSON.
pub fn command_task(task_id: &str, agent_id: &str, command: &str) -> Value {
    json!({
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}
        ],
        "command": {"shell": true, "value": command},
    })
}

/// A default executor (type DEFAULT) for task groups, in Mesos JSON.
pub fn default_executor(executor_id: &str) -> Value {
    json!({
        "type": "DEFAULT",
        "executor_id": {"value": executor_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}
        ],
    })
}

/// The internal launch path's body for a task group.
pub fn group_launch(framework: &Value, executor: &Value, tasks: &[Value]) -> Value {
    json!({
        "framework": framework,
        "executor": executor,
        "task_group": {"tasks": tasks},
    })
}

/// One task as GET_TASKS shows it.
#[derive(Clone, Debug)]
pub struct TaskSeen {
    pub id: String,
    pub agent_id: String,
    pub state: String,
    /// (state, reason) of each status the master kept, oldest first.
    pub statuses: Vec<(String, Option<String>)>,
}

/// The leader's GET_TASKS.
#[derive(Clone, Debug, Default)]
pub struct TasksSeen {
    pub tasks: Vec<TaskSeen>,
    pub unreachable: Vec<TaskSeen>,
    pub completed: Vec<TaskSeen>,
}

fn tasks_of(list: &Value) -> Vec<TaskSeen> {
    list.as_array()
        .map(|tasks| {
            tasks
                .iter()
                .map(|t| TaskSeen {
                    id: t["task_id"]["value"].as_str().unwrap_or_default().into(),
                    agent_id: t["agent_id"]["value"].as_str().unwrap_or_default().into(),
                    state: t["state"].as_str().unwrap_or_default().into(),
                    statuses: t["statuses"]
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .map(|s| {
                                    (
                                        s["state"].as_str().unwrap_or_default().to_string(),
                                        s["reason"].as_str().map(str::to_string),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl TasksSeen {
    pub fn parse(body: &Value) -> Option<Self> {
        let t = body.get("get_tasks")?;
        Some(TasksSeen {
            tasks: tasks_of(&t["tasks"]),
            unreachable: tasks_of(&t["unreachable_tasks"]),
            completed: tasks_of(&t["completed_tasks"]),
        })
    }

    /// The task with `id` among the live, unreachable and completed ones.
    pub fn find(&self, id: &str) -> Option<&TaskSeen> {
        self.tasks
            .iter()
            .chain(&self.unreachable)
            .chain(&self.completed)
            .find(|t| t.id == id)
    }
}

impl Cluster {
    fn auth_header(&self) -> String {
        let secret = mesoraft_proto::auth::read_secret_file(&self.secret_file)
            .expect("the cluster secret is readable");
        mesoraft_proto::auth::header_value(&mesoraft_proto::auth::token_of(&secret))
    }

    /// POSTs `body` to the internal `path` of every running master until
    /// one (the leader) answers other than 307/503; that answer's code and
    /// text. None if none did.
    pub async fn internal(&self, path: &str, body: &Value) -> Option<(u16, String)> {
        for addr in self.running_addrs() {
            let Ok(resp) = self
                .http
                .post(self.url(&addr, path))
                .header(mesoraft_proto::auth::AUTH_HEADER, self.auth_header())
                .json(body)
                .send()
                .await
            else {
                continue;
            };
            let code = resp.status().as_u16();
            if code == 307 || code == 503 {
                continue;
            }
            return Some((code, resp.text().await.unwrap_or_default()));
        }
        None
    }

    /// Launches `task` for `framework` through the leader, retrying while
    /// no master takes it (a failover, the sessions opening) until `limit`.
    pub async fn launch(&self, framework: &Value, task: &Value, limit: Duration) {
        let body = json!({"framework": framework, "task": task});
        self.launch_body(&body, limit).await;
    }

    /// POSTs a launch `body` (a task or a task group) through the leader,
    /// retrying while no master takes it, until `limit`; it must be
    /// accepted.
    pub async fn launch_body(&self, body: &Value, limit: Duration) {
        let (code, text) = super::wait_for("a master to take the launch", limit, || async {
            self.internal("/master/internal/launch", body).await
        })
        .await;
        assert_eq!(code, 202, "launch refused: {text}");
    }

    /// GET_TASKS through any running master (following redirects).
    pub async fn tasks_seen(&self) -> Option<TasksSeen> {
        for addr in self.running_addrs() {
            let Ok((200, body)) = self
                .operator_follow(&addr, &json!({"type": "GET_TASKS"}))
                .await
            else {
                continue;
            };
            let value: Value = serde_json::from_str(&body).ok()?;
            return TasksSeen::parse(&value);
        }
        None
    }

    /// Waits until the leader's task view satisfies `check`.
    pub async fn wait_tasks(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&TasksSeen) -> bool,
    ) -> TasksSeen {
        super::wait_for(what, limit, || async {
            self.tasks_seen().await.filter(|seen| check(seen))
        })
        .await
    }
}
