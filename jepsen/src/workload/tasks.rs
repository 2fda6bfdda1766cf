//! Tasks workload: frameworks built on the client library launch short
//! and long tasks on the run's agents (`--agents N`) and kill long ones
//! while the nemeses fault masters and agents. Half the frameworks are
//! partition-aware. Every task writes a marker into its sandbox.
//!
//! After the final heal the workload stops launching, kills every task
//! whose end it has not heard (and asks the master about it) until each
//! is settled, then runs the final explicit reconciliation of every task
//! without a final state, and collects the markers from the agents' work
//! dirs. `checker::tasks` judges the history (`tasks_record`).

mod framework;
pub mod markers;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::Value;

use mesoraft_testkit::poll_every;

use super::{ProcessNumber, Workload, WorkloadCtx, WorkloadOpts, FINAL_PROCESS};
use crate::checker::tasks::{TaskRules, TasksChecker};
use crate::checker::Checker;
use crate::history::{HistoryValue, OpType};
use crate::tasks_record::{Markers, TASK_FINAL_RECONCILE, TASK_MARKERS};
use framework::Framework;

/// The file each run of a task writes into its sandbox.
pub const MARKER_FILE: &str = "jepsen-task-marker";
/// Frameworks; the even-numbered ones are partition-aware.
const FRAMEWORKS: usize = 2;
/// How long after the heal every task must be settled.
const SETTLE_WITHIN: Duration = Duration::from_secs(90);
/// How long the final reconciliation may take to be answered.
const FINAL_RECONCILE_WITHIN: Duration = Duration::from_secs(20);
/// KILL and RECONCILE are sent again this often while unanswered.
const RESEND_EVERY: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(200);

/// The bounds the checker allows.
pub fn rules() -> TaskRules {
    TaskRules {
        // The agent's first status update retry comes after about 10 s;
        // an update already resent when its acknowledgement was answered
        // arrives well within this.
        ack_slack_ms: 2_000,
    }
}

#[derive(Default)]
pub struct TasksWorkload {
    frameworks: Mutex<Vec<Arc<Framework>>>,
    loops: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl TasksWorkload {
    pub fn new(_opts: &WorkloadOpts) -> Self {
        Self::default()
    }

    fn frameworks(&self) -> Vec<Arc<Framework>> {
        self.frameworks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Connects the frameworks and starts their event loops.
    fn start(&self, ctx: &WorkloadCtx) -> anyhow::Result<()> {
        let masters = ctx.cluster.addrs();
        for index in 0..FRAMEWORKS {
            let process = ProcessNumber::new(ctx.process_base, index, 2 * FRAMEWORKS);
            let (fw, events) = Framework::connect(index, index % 2 == 0, masters.clone(), process)?;
            let fw = Arc::new(fw);
            let (loop_fw, loop_ctx) = (fw.clone(), ctx.clone());
            let handle = tokio::spawn(async move { loop_fw.run_events(&loop_ctx, events).await });
            self.loops
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(handle);
            self.frameworks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(fw);
        }
        Ok(())
    }

    /// Kills and asks about every task whose end is not heard, until all
    /// are settled or [`SETTLE_WITHIN`] passed: a round of KILL and
    /// RECONCILE, then a wait for the answers until the next round.
    async fn settle(&self, ctx: &WorkloadCtx, frameworks: &[Arc<Framework>]) {
        let mut kills = ProcessNumber::new(ctx.process_base + FINAL_PROCESS, 1, 2);
        let deadline = Instant::now() + SETTLE_WITHIN;
        let all_settled = || async {
            frameworks
                .iter()
                .all(|f| f.unsettled().is_empty())
                .then_some(())
        };
        while Instant::now() < deadline {
            if all_settled().await.is_some() {
                return;
            }
            for fw in frameworks {
                let tasks = fw.unsettled();
                for (task, _) in &tasks {
                    fw.kill(ctx, &mut kills, task).await;
                }
                if !tasks.is_empty() {
                    let _ = fw.reconcile(&tasks).await;
                }
            }
            let round_end = deadline.min(Instant::now() + RESEND_EVERY);
            if poll_every(round_end, POLL, all_settled).await.is_some() {
                return;
            }
        }
        tracing::warn!("tasks workload: tasks still unsettled after the settle phase");
    }

    /// The final explicit reconciliation of every task without a final
    /// state; `ok` once each was answered.
    async fn final_reconcile(&self, ctx: &WorkloadCtx, frameworks: &[Arc<Framework>]) {
        let process = ctx.process(FINAL_PROCESS);
        let pending = ctx
            .recorder
            .invoke(process, TASK_FINAL_RECONCILE, None, Value::Null);
        let since = Instant::now();
        let asked: Vec<Vec<(String, String)>> = frameworks.iter().map(|f| f.unended()).collect();
        let deadline = since + FINAL_RECONCILE_WITHIN;
        let unanswered = || {
            frameworks
                .iter()
                .zip(&asked)
                .map(|(f, tasks)| {
                    tasks
                        .iter()
                        .filter(|(id, _)| !f.heard_since(id, since))
                        .count()
                })
                .sum::<usize>()
        };
        while unanswered() > 0 && Instant::now() < deadline {
            for (fw, tasks) in frameworks.iter().zip(&asked) {
                if !tasks.is_empty() {
                    let _ = fw.reconcile(tasks).await;
                }
            }
            let round_end = deadline.min(Instant::now() + RESEND_EVERY);
            let answered = || async { (unanswered() == 0).then_some(()) };
            if poll_every(round_end, POLL, answered).await.is_some() {
                break;
            }
        }
        let unanswered = unanswered();
        let (kind, error) = if unanswered == 0 {
            (OpType::Ok, None)
        } else {
            (
                OpType::Info,
                Some(format!(
                    "{unanswered} tasks unanswered by the final reconciliation"
                )),
            )
        };
        let asked_count: usize = asked.iter().map(Vec::len).sum();
        ctx.recorder.complete(
            pending,
            kind,
            serde_json::json!({ "asked": asked_count }),
            None,
            error,
        );
    }

    /// Stops the schedulers (their frameworks stay registered) and waits
    /// for their event loops.
    async fn stop(&self) {
        for fw in self.frameworks() {
            fw.handle.stop();
        }
        let loops: Vec<_> = self
            .loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for handle in loops {
            if tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .is_err()
            {
                tracing::warn!("a framework's event loop did not stop");
            }
        }
    }

    /// Records the markers of every agent's work dir.
    fn record_markers(&self, ctx: &WorkloadCtx) {
        let pending = ctx.recorder.invoke(
            ctx.process(FINAL_PROCESS + 2),
            TASK_MARKERS,
            None,
            Value::Null,
        );
        let mut all = Markers::default();
        for index in ctx.cluster.agents.ids() {
            if let Some(spec) = ctx.cluster.agents.spec(index) {
                all.markers.extend(markers::collect(index, &spec.work_dir));
            }
        }
        ctx.recorder
            .complete(pending, OpType::Ok, all.to_value(), None, None);
    }
}

impl Workload for TasksWorkload {
    fn name(&self) -> &str {
        "tasks"
    }

    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if ctx.cluster.agents.ids().is_empty() {
                anyhow::bail!("the tasks workload needs agents (--agents N)");
            }
            self.start(ctx)?;
            let frameworks = self.frameworks();
            let killers = frameworks.iter().enumerate().map(|(i, fw)| {
                let process = ProcessNumber::new(ctx.process_base, FRAMEWORKS + i, 2 * FRAMEWORKS);
                fw.run_killer(ctx, process, ctx.end)
            });
            futures::future::join_all(killers).await;
            Ok(())
        })
    }

    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let frameworks = self.frameworks();
            for fw in &frameworks {
                fw.stop_launching();
            }
            self.settle(ctx, &frameworks).await;
            self.final_reconcile(ctx, &frameworks).await;
            self.stop().await;
            self.record_markers(ctx);
            Ok(())
        })
    }

    fn checkers(&self, _check_budget: Duration) -> Vec<Box<dyn Checker>> {
        vec![Box::new(TasksChecker { rules: rules() })]
    }
}
