//! What `execute` does with offers and updates, and its exit status.
//! Pure: the run loop carries the decisions out.

use std::collections::{BTreeMap, VecDeque};

use mesoraft_proto::mesos::v1::{
    task_status, Offer, OfferId, Resource, TaskInfo, TaskState, TaskStatus,
};

use crate::calls::command_task;
use crate::resources::take;
use crate::tasks::is_terminal;

/// Filters for offers declined while tasks still wait: short, so a
/// larger offer from the same agent comes back soon.
pub const REFUSE_WHILE_WAITING: f64 = 5.0;
/// Once every task is launched: long (offers are suppressed too).
pub const REFUSE_WHEN_DONE: f64 = 3600.0;

/// One decision about an offer.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Launch {
        offer_id: OfferId,
        tasks: Vec<TaskInfo>,
        /// Where the agent's HTTP endpoints are (`host:port`).
        agent: String,
    },
    Decline {
        offer_ids: Vec<OfferId>,
        refuse_seconds: f64,
    },
}

/// The tasks of one `execute`, from waiting to their terminal state.
#[derive(Debug)]
pub struct Plan {
    command: String,
    resources: Vec<Resource>,
    /// Ids of tasks not launched yet, in instance order.
    waiting: VecDeque<String>,
    /// Every task id, in instance order, with its terminal status.
    ends: BTreeMap<usize, (String, Option<TaskStatus>)>,
}

impl Plan {
    pub fn new(task_ids: Vec<String>, command: String, resources: Vec<Resource>) -> Self {
        Plan {
            command,
            resources,
            waiting: task_ids.iter().cloned().collect(),
            ends: task_ids
                .into_iter()
                .map(|id| (id, None))
                .enumerate()
                .collect(),
        }
    }

    /// Launches as many waiting tasks as the offers hold; declines the rest.
    pub fn on_offers(&mut self, offers: &[Offer]) -> Vec<Decision> {
        let mut decisions = Vec::new();
        let mut declined = Vec::new();
        for offer in offers {
            let mut available = offer.resources.clone();
            let mut tasks = Vec::new();
            while let Some(id) = self.waiting.front() {
                let Some(resources) = take(&mut available, &self.resources) else {
                    break;
                };
                tasks.push(command_task(id, &offer.agent_id, resources, &self.command));
                self.waiting.pop_front();
            }
            if tasks.is_empty() {
                declined.push(offer.id.clone());
            } else {
                decisions.push(Decision::Launch {
                    offer_id: offer.id.clone(),
                    tasks,
                    agent: agent_address(offer),
                });
            }
        }
        if !declined.is_empty() {
            decisions.push(Decision::Decline {
                offer_ids: declined,
                refuse_seconds: if self.waiting.is_empty() {
                    REFUSE_WHEN_DONE
                } else {
                    REFUSE_WHILE_WAITING
                },
            });
        }
        decisions
    }

    /// A launch the master certainly did not take: the tasks wait again.
    pub fn relaunch(&mut self, tasks: &[TaskInfo]) {
        for t in tasks.iter().rev() {
            self.waiting.push_front(t.task_id.value.clone());
        }
    }

    /// Whether every task was launched.
    pub fn all_launched(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Records a status; true if it ended a task of this plan. TASK_UNKNOWN
    /// (the masters' answer to reconciling a task they never heard of, say
    /// after a launch whose answer was lost) ends it too: it never ran.
    pub fn on_update(&mut self, status: &TaskStatus) -> bool {
        if !is_terminal(status.state()) && status.state() != TaskState::TaskUnknown {
            return false;
        }
        let entry = self
            .ends
            .values_mut()
            .find(|(id, end)| *id == status.task_id.value && end.is_none());
        match entry {
            Some((_, end)) => {
                *end = Some(status.clone());
                true
            }
            None => false,
        }
    }

    pub fn all_ended(&self) -> bool {
        self.ends.values().all(|(_, end)| end.is_some())
    }

    /// The exit status: the first task (in instance order) that did not
    /// finish gives it; 0 when all finished.
    pub fn exit_code(&self) -> i32 {
        self.ends
            .values()
            .filter_map(|(_, end)| end.as_ref())
            .map(exit_code_of)
            .find(|code| *code != 0)
            .unwrap_or(0)
    }
}

/// Where an offer's agent serves HTTP: the offer's `url` when the master
/// gives one, else its hostname on Mesos's default agent port.
pub fn agent_address(offer: &Offer) -> String {
    let Some(url) = &offer.url else {
        return format!("{}:5051", offer.hostname);
    };
    let address = &url.address;
    let host = address
        .ip
        .clone()
        .or_else(|| address.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| offer.hostname.clone());
    format!("{host}:{}", address.port)
}

/// A terminal status as an exit code: FINISHED 0; FAILED the command's
/// code from the executor's message ("Command exited with status 3"),
/// else 1; anything else 1.
pub fn exit_code_of(status: &TaskStatus) -> i32 {
    match status.state() {
        TaskState::TaskFinished => 0,
        TaskState::TaskFailed => status
            .message
            .as_deref()
            .and_then(exit_status_in)
            .filter(|code| *code != 0)
            .unwrap_or(1),
        _ => 1,
    }
}

fn exit_status_in(message: &str) -> Option<i32> {
    let rest = &message[message.find("exited with status ")? + "exited with status ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// One line for an update: task id, state, reason, message.
pub fn update_line(status: &TaskStatus) -> String {
    let mut line = format!(
        "task {}: {}",
        status.task_id.value,
        status.state().as_str_name()
    );
    if let Some(reason) = status
        .reason
        .and_then(|r| task_status::Reason::try_from(r).ok())
    {
        line.push_str(&format!(" ({})", reason.as_str_name()));
    }
    if let Some(message) = status.message.as_deref().filter(|m| !m.is_empty()) {
        line.push_str(&format!(": {message}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::parse_resources;
    use mesoraft_proto::mesos::v1::{Address, AgentId, FrameworkId, TaskId, Url};

    fn offer(id: &str, resources: &str) -> Offer {
        Offer {
            id: OfferId { value: id.into() },
            framework_id: FrameworkId { value: "f".into() },
            agent_id: AgentId {
                value: format!("agent-{id}"),
            },
            hostname: "node1".into(),
            resources: parse_resources(resources).unwrap(),
            ..Default::default()
        }
    }

    fn status(id: &str, state: TaskState, message: Option<&str>) -> TaskStatus {
        let mut s = TaskStatus {
            task_id: TaskId { value: id.into() },
            message: message.map(str::to_string),
            ..Default::default()
        };
        s.set_state(state);
        s
    }

    fn plan(n: usize) -> Plan {
        let ids = (0..n).map(|i| format!("t{i}")).collect();
        Plan::new(
            ids,
            "echo hi".into(),
            parse_resources("cpus:0.5;mem:32").unwrap(),
        )
    }

    #[test]
    fn offers_are_packed_and_the_rest_declined() {
        let mut p = plan(3);
        let d = p.on_offers(&[
            offer("small", "cpus:0.1;mem:512"),
            offer("big", "cpus:1;mem:512"),
        ]);
        let Decision::Launch {
            offer_id,
            tasks,
            agent,
        } = &d[0]
        else {
            panic!("{d:?}")
        };
        assert_eq!(
            (offer_id.value.as_str(), tasks.len(), agent.as_str()),
            ("big", 2, "node1:5051")
        );
        let command = tasks[0].command.as_ref().unwrap();
        assert_eq!(
            (command.shell, command.value.as_deref()),
            (Some(true), Some("echo hi"))
        );
        assert_eq!(tasks[1].agent_id.value, "agent-big");
        assert_eq!(
            d[1],
            Decision::Decline {
                offer_ids: vec![OfferId {
                    value: "small".into()
                }],
                refuse_seconds: REFUSE_WHILE_WAITING
            }
        );
        assert!(!p.all_launched());
        p.relaunch(tasks);
        let d = p.on_offers(&[offer("o3", "cpus:2;mem:512")]);
        let Decision::Launch { tasks, .. } = &d[0] else {
            panic!("{d:?}")
        };
        let ids: Vec<_> = tasks.iter().map(|t| t.task_id.value.as_str()).collect();
        assert_eq!(ids, ["t0", "t1", "t2"], "relaunched tasks keep their order");
        assert!(p.all_launched());
        let d = p.on_offers(&[offer("o4", "cpus:2;mem:512")]);
        assert!(
            matches!(&d[0], Decision::Decline { refuse_seconds, .. } if *refuse_seconds == REFUSE_WHEN_DONE)
        );
    }

    #[test]
    fn the_exit_code_is_the_first_task_that_did_not_finish() {
        let mut p = plan(3);
        assert!(!p.on_update(&status("t0", TaskState::TaskRunning, None)));
        assert!(p.on_update(&status("t0", TaskState::TaskFinished, None)));
        assert!(
            !p.on_update(&status("t0", TaskState::TaskFinished, None)),
            "duplicates are ignored"
        );
        p.on_update(&status("t2", TaskState::TaskKilled, None));
        p.on_update(&status(
            "t1",
            TaskState::TaskFailed,
            Some("Command exited with status 3"),
        ));
        assert!(p.all_ended());
        assert_eq!(p.exit_code(), 3);
        let failed = |m| exit_code_of(&status("t", TaskState::TaskFailed, m));
        assert_eq!(failed(Some("Command terminated with signal Killed")), 1);
        assert_eq!(failed(None), 1);
        assert_eq!(exit_code_of(&status("t", TaskState::TaskLost, None)), 1);
        let mut p = plan(1);
        assert!(!p.on_update(&status("t0", TaskState::TaskUnreachable, None)));
        assert!(p.on_update(&status("t0", TaskState::TaskUnknown, None)));
        assert_eq!(p.exit_code(), 1);
    }

    #[test]
    fn update_lines_and_agent_addresses() {
        let mut s = status(
            "t0",
            TaskState::TaskFailed,
            Some("Command exited with status 3"),
        );
        s.reason = Some(task_status::Reason::CommandExecutorFailed as i32);
        assert_eq!(
            update_line(&s),
            "task t0: TASK_FAILED (REASON_COMMAND_EXECUTOR_FAILED): Command exited with status 3"
        );
        let mut o = offer("o", "cpus:1");
        o.url = Some(Url {
            scheme: "http".into(),
            address: Address {
                hostname: Some("n1".into()),
                ip: Some("10.0.0.9".into()),
                port: 5052,
            },
            ..Default::default()
        });
        assert_eq!(agent_address(&o), "10.0.0.9:5052");
    }
}
