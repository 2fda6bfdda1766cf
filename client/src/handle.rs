//! What a program holds: [`SchedulerHandle`] sends calls to the leader the
//! scheduler is subscribed to; [`Events`] is the stream of events.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use mesoraft_proto::mesos::v1::offer::Operation;
use mesoraft_proto::mesos::v1::scheduler::call::reconcile::Task as ReconcileTask;
use mesoraft_proto::mesos::v1::scheduler::Call;
use mesoraft_proto::mesos::v1::{
    AgentId, ExecutorId, ExecutorInfo, Filters, FrameworkId, FrameworkInfo, OfferId, TaskGroupInfo,
    TaskId, TaskInfo, TaskStatus,
};
use tokio::sync::{mpsc, watch};

use crate::calls;
use crate::driver::{lock, Control};
use crate::error::{CallError, StopReason};
use crate::event::SchedulerEvent;
use crate::tasks::TaskTable;
use crate::transport::{Session, Transport};

/// Sends calls; cheap to clone. Every call goes to the leader of the
/// current subscription with its `Mesos-Stream-Id` and FrameworkID.
#[derive(Clone)]
pub struct SchedulerHandle {
    pub(crate) transport: Arc<Transport>,
    pub(crate) session: watch::Receiver<Option<Session>>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    pub(crate) tasks: Arc<Mutex<TaskTable>>,
}

impl SchedulerHandle {
    /// Sends any call (its `framework_id` is filled in). The typed methods
    /// below are this with the call built for you.
    pub async fn call(&self, call: Call) -> Result<(), CallError> {
        if self.control.is_closed() {
            return Err(CallError::Stopped);
        }
        let session = self
            .session
            .borrow()
            .clone()
            .ok_or(CallError::NotSubscribed)?;
        let launched = calls::launched_tasks(&call);
        let result = self.transport.call(&session, call).await;
        match &result {
            // Launched, or maybe: reconciliation must ask about them.
            Ok(()) | Err(CallError::MaybeSent { .. }) => {
                let mut tasks = lock(&self.tasks);
                for (task, agent) in launched {
                    tasks.launched(&task, Some(agent));
                }
            }
            Err(CallError::NotLeader { master, detail }) => {
                let _ = self.control.send(Control::Reconnect {
                    reason: format!("a call found {master} no longer leading: {detail}"),
                    stream_id: session.stream_id.clone(),
                });
            }
            Err(_) => {}
        }
        result
    }

    /// The FrameworkID, once subscribed.
    pub fn framework_id(&self) -> Option<FrameworkId> {
        self.session
            .borrow()
            .as_ref()
            .map(|s| s.framework_id.clone())
    }

    /// The leader the scheduler is subscribed to (`host:port`), if any.
    pub fn leader(&self) -> Option<String> {
        self.session.borrow().as_ref().map(|s| s.master.clone())
    }

    /// Waits until subscribed; the FrameworkID. Errs once stopped.
    pub async fn subscribed(&self) -> Result<FrameworkId, CallError> {
        let mut rx = self.session.clone();
        loop {
            if let Some(s) = rx.borrow_and_update().as_ref() {
                return Ok(s.framework_id.clone());
            }
            rx.changed().await.map_err(|_| CallError::Stopped)?;
        }
    }

    pub async fn accept(
        &self,
        offer_ids: Vec<OfferId>,
        operations: Vec<Operation>,
        filters: Option<Filters>,
    ) -> Result<(), CallError> {
        self.call(calls::accept(offer_ids, operations, filters))
            .await
    }

    /// ACCEPT with one LAUNCH of `tasks`.
    pub async fn launch(
        &self,
        offer_ids: Vec<OfferId>,
        tasks: Vec<TaskInfo>,
        filters: Option<Filters>,
    ) -> Result<(), CallError> {
        self.accept(offer_ids, vec![calls::launch(tasks)], filters)
            .await
    }

    /// ACCEPT with one LAUNCH_GROUP.
    pub async fn launch_group(
        &self,
        offer_ids: Vec<OfferId>,
        executor: ExecutorInfo,
        group: TaskGroupInfo,
        filters: Option<Filters>,
    ) -> Result<(), CallError> {
        let op = calls::launch_group(executor, group);
        self.accept(offer_ids, vec![op], filters).await
    }

    pub async fn decline(
        &self,
        offer_ids: Vec<OfferId>,
        filters: Option<Filters>,
    ) -> Result<(), CallError> {
        self.call(calls::decline(offer_ids, filters)).await
    }

    /// Empty `roles`: all of the framework's.
    pub async fn revive(&self, roles: Vec<String>) -> Result<(), CallError> {
        self.call(calls::revive(roles)).await
    }

    /// Empty `roles`: all of the framework's.
    pub async fn suppress(&self, roles: Vec<String>) -> Result<(), CallError> {
        self.call(calls::suppress(roles)).await
    }

    pub async fn kill(&self, task_id: TaskId, agent_id: Option<AgentId>) -> Result<(), CallError> {
        self.call(calls::kill(task_id, agent_id)).await
    }

    pub async fn shutdown(
        &self,
        executor_id: ExecutorId,
        agent_id: AgentId,
    ) -> Result<(), CallError> {
        self.call(calls::shutdown(executor_id, agent_id)).await
    }

    pub async fn acknowledge(
        &self,
        agent_id: AgentId,
        task_id: TaskId,
        uuid: Vec<u8>,
    ) -> Result<(), CallError> {
        self.call(calls::acknowledge(agent_id, task_id, uuid)).await
    }

    /// Acknowledges `status` if it needs it (for programs that turned
    /// automatic acknowledgements off); Ok(false) if it needs none.
    pub async fn acknowledge_status(&self, status: &TaskStatus) -> Result<bool, CallError> {
        match calls::acknowledgement_of(status) {
            Some(call) => self.call(call).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// RECONCILE `tasks` (task, agent hint); empty: implicit. The
    /// scheduler reconciles by itself after every subscription; this is
    /// for more.
    pub async fn reconcile(&self, tasks: Vec<(TaskId, Option<AgentId>)>) -> Result<(), CallError> {
        let tasks = tasks
            .into_iter()
            .map(|(task_id, agent_id)| ReconcileTask { task_id, agent_id })
            .collect();
        self.call(calls::reconcile(tasks)).await
    }

    pub async fn message(
        &self,
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    ) -> Result<(), CallError> {
        self.call(calls::message(agent_id, executor_id, data)).await
    }

    pub async fn update_framework(
        &self,
        info: FrameworkInfo,
        suppressed_roles: Vec<String>,
    ) -> Result<(), CallError> {
        self.call(calls::update_framework(info, suppressed_roles))
            .await
    }

    /// Removes the framework (its tasks are killed) and stops the
    /// scheduler once the master accepted it.
    pub async fn teardown(&self) -> Result<(), CallError> {
        self.call(calls::teardown()).await?;
        let _ = self.control.send(Control::Stop(StopReason::TornDown));
        Ok(())
    }

    /// Stops the scheduler without removing the framework: its tasks keep
    /// running until its `failover_timeout` passes, and a new process may
    /// subscribe with its FrameworkID meanwhile.
    pub fn stop(&self) {
        let _ = self.control.send(Control::Stop(StopReason::Stopped));
    }

    /// Adds a task to what reconciliation asks about (one launched by an
    /// earlier process, say).
    pub fn track_task(&self, task_id: TaskId, agent_id: Option<AgentId>) {
        lock(&self.tasks).launched(&task_id, agent_id);
    }

    /// Stops reconciling `task_id`.
    pub fn forget_task(&self, task_id: &TaskId) {
        lock(&self.tasks).forget(task_id);
    }
}

/// The scheduler's events, in order; the last is
/// [`SchedulerEvent::Stopped`]. Also a [`futures::Stream`]. Dropping it
/// stops the scheduler.
pub struct Events {
    pub(crate) rx: mpsc::Receiver<SchedulerEvent>,
}

impl Events {
    /// The next event; None after the last.
    pub async fn recv(&mut self) -> Option<SchedulerEvent> {
        self.rx.recv().await
    }
}

impl futures::Stream for Events {
    type Item = SchedulerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SchedulerEvent>> {
        self.rx.poll_recv(cx)
    }
}
