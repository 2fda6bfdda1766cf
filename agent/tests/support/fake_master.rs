//! A fake leading master for the agent's end-to-end tests: a tonic
//! `AgentSessions` server that registers the agent (under a fixed id, or
//! the id it re-registers with), records every message it sends, and lets
//! the test send it task messages and acknowledgements.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesoraft_proto::agent::agent_sessions_server::{AgentSessions, AgentSessionsServer};
use mesoraft_proto::agent::{
    agent_to_master, master_to_agent, AgentToMaster, KillTaskMessage, MasterSlaveConnection,
    MasterToAgent, ReregisterSlaveMessage, RunTaskGroupMessage, RunTaskMessage,
    ShutdownFrameworkMessage, SlaveRegisteredMessage, SlaveReregisteredMessage, StatusUpdate,
    StatusUpdateAcknowledgementMessage,
};
use mesoraft_proto::mesos::v1::executor_info::Type as ExecutorType;
use mesoraft_proto::mesos::v1::{
    AgentId, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskGroupInfo,
    TaskId, TaskInfo, TaskState,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::wait_for;

pub const AGENT_ID: &str = "fake-S1";
const LIMIT: Duration = Duration::from_secs(30);

/// A status update as the fake master received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub update: StatusUpdate,
    /// The session it came on (0 = the first).
    pub session: usize,
}

impl Received {
    pub fn task(&self) -> &str {
        &self.update.status.task_id.value
    }
    pub fn state(&self) -> TaskState {
        self.update.status.state()
    }
    pub fn uuid(&self) -> Vec<u8> {
        self.update.uuid.clone().unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    sessions: usize,
    registrations: Vec<agent_to_master::Message>,
    updates: Vec<Received>,
    outbound: Option<mpsc::Sender<Result<MasterToAgent, Status>>>,
    auto_ack: bool,
}

#[derive(Clone)]
pub struct FakeMaster {
    state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
}

struct Service {
    state: Arc<Mutex<State>>,
}

#[tonic::async_trait]
impl AgentSessions for Service {
    type SessionStream = ReceiverStream<Result<MasterToAgent, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<AgentToMaster>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let mut inbound = request.into_inner();
        let (outbound, responses) = mpsc::channel(256);
        let session = {
            let mut state = self.state.lock().unwrap();
            state.sessions += 1;
            state.outbound = Some(outbound.clone());
            state.sessions - 1
        };
        let state = self.state.clone();
        tokio::spawn(async move {
            while let Ok(Some(envelope)) = inbound.message().await {
                let Some(message) = envelope.message else {
                    continue;
                };
                let answer = {
                    let mut state = state.lock().unwrap();
                    handle(&mut state, session, message)
                };
                for reply in answer {
                    if outbound.send(Ok(reply)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(responses)))
    }
}

fn connection() -> Option<MasterSlaveConnection> {
    Some(MasterSlaveConnection {
        total_ping_timeout_seconds: Some(300.0),
    })
}

fn envelope(message: master_to_agent::Message) -> MasterToAgent {
    MasterToAgent {
        message: Some(message),
    }
}

fn handle(
    state: &mut State,
    session: usize,
    message: agent_to_master::Message,
) -> Vec<MasterToAgent> {
    use agent_to_master::Message as M;
    match message {
        M::RegisterSlave(_) => {
            state.registrations.push(message);
            vec![envelope(master_to_agent::Message::SlaveRegistered(
                SlaveRegisteredMessage {
                    slave_id: AgentId {
                        value: AGENT_ID.into(),
                    },
                    connection: connection(),
                },
            ))]
        }
        M::ReregisterSlave(ref m) => {
            let id = m.slave.id.clone().unwrap_or(AgentId {
                value: AGENT_ID.into(),
            });
            state.registrations.push(message);
            vec![envelope(master_to_agent::Message::SlaveReregistered(
                SlaveReregisteredMessage {
                    slave_id: id,
                    connection: connection(),
                },
            ))]
        }
        M::StatusUpdate(m) => {
            let update = m.update;
            state.updates.push(Received {
                at: Instant::now(),
                update: update.clone(),
                session,
            });
            if state.auto_ack {
                vec![envelope(ack_message(&update))]
            } else {
                Vec::new()
            }
        }
        M::Pong(_) | M::ExecutorToFramework(_) | M::UnregisterSlave(_) => Vec::new(),
    }
}

fn ack_message(update: &StatusUpdate) -> master_to_agent::Message {
    master_to_agent::Message::StatusUpdateAcknowledgement(StatusUpdateAcknowledgementMessage {
        slave_id: AgentId {
            value: AGENT_ID.into(),
        },
        framework_id: update.framework_id.clone(),
        task_id: update.status.task_id.clone(),
        uuid: update.uuid.clone().unwrap_or_default(),
    })
}

impl FakeMaster {
    /// Serves on a free loopback port; acknowledges updates at once when
    /// `auto_ack`.
    pub async fn start(auto_ack: bool) -> FakeMaster {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, auto_ack)
    }

    /// Serves on `addr` (a restarted master on the same address).
    pub async fn start_at(addr: SocketAddr, auto_ack: bool) -> FakeMaster {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        Self::serve(listener, auto_ack)
    }

    fn serve(listener: tokio::net::TcpListener, auto_ack: bool) -> FakeMaster {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            auto_ack,
            ..Default::default()
        }));
        let service = Service {
            state: state.clone(),
        };
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(AgentSessionsServer::new(service))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
        });
        FakeMaster { state, addr }
    }

    pub fn set_auto_ack(&self, on: bool) {
        self.state.lock().unwrap().auto_ack = on;
    }

    pub fn updates(&self) -> Vec<Received> {
        self.state.lock().unwrap().updates.clone()
    }

    pub fn updates_of(&self, task: &str) -> Vec<Received> {
        self.updates()
            .into_iter()
            .filter(|u| u.task() == task)
            .collect()
    }

    pub fn registrations(&self) -> Vec<agent_to_master::Message> {
        self.state.lock().unwrap().registrations.clone()
    }

    pub fn last_reregistration(&self) -> Option<ReregisterSlaveMessage> {
        self.registrations()
            .into_iter()
            .rev()
            .find_map(|m| match m {
                agent_to_master::Message::ReregisterSlave(m) => Some(m),
                _ => None,
            })
    }

    pub async fn wait_registrations(&self, n: usize) {
        wait_for(&format!("{n} registrations"), LIMIT, || {
            (self.registrations().len() >= n).then_some(())
        })
        .await;
    }

    /// The first update of `task` in `state`.
    pub async fn wait_update(&self, task: &str, state: TaskState) -> Received {
        wait_for(&format!("{state:?} of {task}"), LIMIT, || {
            self.updates_of(task)
                .into_iter()
                .find(|u| u.state() == state)
        })
        .await
    }

    pub fn send(&self, message: master_to_agent::Message) {
        let outbound = self.state.lock().unwrap().outbound.clone();
        let outbound = outbound.expect("an agent session");
        outbound
            .try_send(Ok(envelope(message)))
            .expect("the session is open");
    }

    pub fn ack(&self, update: &Received) {
        self.send(ack_message(&update.update));
    }

    pub fn run_task(&self, framework: &FrameworkInfo, task: TaskInfo) {
        self.send(master_to_agent::Message::RunTask(RunTaskMessage {
            framework_id: framework.id.clone(),
            framework: framework.clone(),
            task,
        }));
    }

    /// A task group for the default executor `executor_id`.
    pub fn run_task_group(
        &self,
        framework: &FrameworkInfo,
        executor_id: &str,
        tasks: Vec<TaskInfo>,
    ) {
        self.send(master_to_agent::Message::RunTaskGroup(
            RunTaskGroupMessage {
                framework: framework.clone(),
                executor: ExecutorInfo {
                    r#type: Some(ExecutorType::Default as i32),
                    executor_id: ExecutorId {
                        value: executor_id.into(),
                    },
                    framework_id: framework.id.clone(),
                    ..Default::default()
                },
                task_group: TaskGroupInfo { tasks },
            },
        ));
    }

    pub fn kill_task(&self, task: &str) {
        self.send(master_to_agent::Message::KillTask(KillTaskMessage {
            framework_id: FrameworkId {
                value: "fw-1".into(),
            },
            task_id: TaskId { value: task.into() },
            kill_policy: None,
        }));
    }

    pub fn shutdown_framework(&self) {
        self.send(master_to_agent::Message::ShutdownFramework(
            ShutdownFrameworkMessage {
                framework_id: FrameworkId {
                    value: "fw-1".into(),
                },
            },
        ));
    }
}

/// The test framework (id `fw-1`).
pub fn framework(checkpoint: bool) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        id: Some(FrameworkId {
            value: "fw-1".into(),
        }),
        checkpoint: Some(checkpoint),
        ..Default::default()
    }
}

/// A command task.
pub fn command_task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: AgentId {
            value: AGENT_ID.into(),
        },
        resources: Vec::new(),
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}
