//! Agents workload: the run's agents (`--agents N`) are watched from both
//! sides while the nemeses fault agents and masters. Every master is asked
//! GET_AGENTS (following redirects to the leader, which answers) every
//! [`VIEW_EVERY`], with the answering master's `/raft/status` right before
//! and after (its term, counted only when both agree, and its gone
//! count); every agent process is asked its own `GET /state`; agent
//! processes that exit by themselves are recorded. `checker::agents`
//! judges what was recorded. No operator op marks an agent gone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Workload, WorkloadCtx, WorkloadOpts, POLLER_PROCESS};
use crate::agents_record::{
    parse_get_agents, AgentExit, AgentState, LeaderView, SelfView, AGENTS_VIEW, AGENT_EXIT,
    AGENT_STATE,
};
use crate::checker::agents::{AgentRules, AgentsChecker};
use crate::checker::Checker;
use crate::client::Outcome;
use crate::cluster::agents::health;
use crate::history::{HistoryValue, OpType};

/// How often each master is asked for the leader's view.
pub const VIEW_EVERY: Duration = Duration::from_millis(250);
/// How often each agent is asked its own view.
const SELF_EVERY: Duration = Duration::from_millis(250);
const CALL_TIMEOUT: Duration = Duration::from_millis(1000);
/// Process numbers: view pollers at `POLLER_PROCESS + master`, agent
/// pollers and exit records after them.
const SELF_PROCESS: u64 = 1_000;
const EXIT_PROCESS: u64 = 2_000;

/// The bounds the checker allows, from the masters' agent health flags
/// (`cluster::agents::health`) and the agents' own timing.
pub fn rules() -> AgentRules {
    let h = health();
    AgentRules {
        reregister_timeout_ms: h.reregister_timeout.as_millis() as u64,
        // The agent's silence watchdog (the master's ping budget plus a
        // fifth: 3.6 s), its first registration backoff (0.2 s) and a poll.
        slack_ms: 4_000,
        detection_ms: 1_000,
        poll_slack_ms: 2_000,
        // A 10 s cut can leave an agent in a backoff of up to 12.8 s.
        final_within_ms: 30_000,
    }
}

pub struct AgentsWorkload {
    http: reqwest::Client,
}

impl AgentsWorkload {
    pub fn new(_opts: &WorkloadOpts) -> Self {
        Self {
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_millis(500))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The raw `/raft/status` of `addr`: (is leader, term, gone count).
    async fn leader_term(&self, addr: &str) -> Option<(bool, u64, Option<u64>)> {
        let url = mesoraft_testkit::status::status_url("http", addr, false);
        let status = mesoraft_testkit::status::probe_json(&self.http, &url, CALL_TIMEOUT)
            .await
            .ok()?;
        let leader = status.get("role").and_then(Value::as_str) == Some("leader");
        let term = status.get("term").and_then(Value::as_u64)?;
        let gone = status
            .get("agents")
            .and_then(|a| a.get("gone"))
            .and_then(Value::as_u64);
        Some((leader, term, gone))
    }

    /// One poll of the leader's view through master `id`; the listed
    /// agents when it succeeded.
    async fn poll_view(&self, ctx: &WorkloadCtx, id: u64) -> Option<LeaderView> {
        let process = ctx.process(POLLER_PROCESS + id);
        let asked = ctx.cluster.addr(id).to_string();
        let pending = ctx
            .recorder
            .invoke(process, AGENTS_VIEW, None, json!({"asked": id}));
        let body = json!({"type": "GET_AGENTS"});
        let (outcome, reached) = ctx.client.operator(&asked, &body, false).await;
        let answer = match outcome {
            Outcome::Ok(v) => v,
            Outcome::Fail(e) | Outcome::Info(e) => {
                ctx.recorder
                    .complete(pending, OpType::Fail, Value::Null, Some(reached), Some(e));
                return None;
            }
        };
        let Some(agents) = parse_get_agents(&answer) else {
            ctx.recorder.complete(
                pending,
                OpType::Fail,
                Value::Null,
                Some(reached),
                Some("not a GET_AGENTS answer".into()),
            );
            return None;
        };
        let leader = ctx
            .cluster
            .nodes
            .iter()
            .find(|n| n.addr == reached)
            .map(|n| n.id);
        // The term is the one the answering master led both just before
        // (when it was the one asked) and just after the call.
        let before = if reached == asked {
            self.leader_term(&asked).await
        } else {
            None
        };
        let after = self.leader_term(&reached).await;
        let term = match (before, after) {
            (Some((true, t0, _)), Some((true, t1, _))) if t0 == t1 => Some(t1),
            (None, Some((true, t1, _))) if reached != asked => Some(t1),
            _ => None,
        };
        let view = LeaderView {
            asked: id,
            leader,
            term,
            agents,
            gone: after.and_then(|(_, _, gone)| gone),
        };
        ctx.recorder
            .complete(pending, OpType::Ok, view.to_value(), Some(reached), None);
        Some(view)
    }

    /// One poll of agent `index`'s own `/state`.
    async fn poll_self(&self, ctx: &WorkloadCtx, index: u64) -> Option<SelfView> {
        let spec = ctx.cluster.agents.spec(index)?.clone();
        let process = ctx.process(POLLER_PROCESS + SELF_PROCESS + index);
        let pending = ctx.recorder.invoke(
            process,
            AGENT_STATE,
            Some(&format!("a{index}")),
            Value::Null,
        );
        let answer = async {
            let resp = self
                .http
                .get(format!("http://{}/state", spec.addr))
                .timeout(CALL_TIMEOUT)
                .send()
                .await
                .map_err(|e| mesoraft_testkit::error_text(&e))?;
            resp.json::<Value>()
                .await
                .map_err(|e| mesoraft_testkit::error_text(&e))
        }
        .await;
        let parsed = answer.and_then(|doc| {
            Ok(SelfView {
                agent: index,
                id: doc.get("id").and_then(Value::as_str).map(Into::into),
                registered: doc
                    .get("registered")
                    .and_then(Value::as_bool)
                    .ok_or("no `registered` in /state")?,
                master: doc.get("master").and_then(Value::as_str).map(Into::into),
                registrations: doc
                    .get("registrations")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                hostname: doc
                    .get("hostname")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                port: doc.get("port").and_then(Value::as_i64).unwrap_or(0),
            })
        });
        match parsed {
            Ok(view) => {
                ctx.recorder
                    .complete(pending, OpType::Ok, view.to_value(), Some(spec.addr), None);
                Some(view)
            }
            Err(e) => {
                ctx.recorder
                    .complete(pending, OpType::Fail, Value::Null, Some(spec.addr), Some(e));
                None
            }
        }
    }

    /// Records agent processes that ended by themselves.
    fn record_exits(&self, ctx: &WorkloadCtx) {
        for (agent, status) in ctx.cluster.agents.take_exits() {
            let process = ctx.process(POLLER_PROCESS + EXIT_PROCESS + agent);
            let pending =
                ctx.recorder
                    .invoke(process, AGENT_EXIT, Some(&format!("a{agent}")), Value::Null);
            let exit = AgentExit { agent, status };
            ctx.recorder
                .complete(pending, OpType::Ok, exit.to_value(), None, None);
        }
    }

    async fn view_poller(&self, ctx: &WorkloadCtx, id: u64, until: Instant) {
        while Instant::now() < until {
            self.poll_view(ctx, id).await;
            tokio::time::sleep(VIEW_EVERY).await;
        }
    }

    async fn self_poller(&self, ctx: &WorkloadCtx, index: u64, until: Instant) {
        while Instant::now() < until {
            self.poll_self(ctx, index).await;
            tokio::time::sleep(SELF_EVERY).await;
        }
    }

    async fn exit_watcher(&self, ctx: &WorkloadCtx, until: Instant) {
        while Instant::now() < until {
            self.record_exits(ctx);
            tokio::time::sleep(SELF_EVERY).await;
        }
        self.record_exits(ctx);
    }

    /// Polls everything until `until`.
    async fn watch(&self, ctx: &WorkloadCtx, until: Instant) {
        let views = ctx
            .cluster
            .ids()
            .into_iter()
            .map(|id| self.view_poller(ctx, id, until));
        let selfs = ctx
            .cluster
            .agents
            .ids()
            .into_iter()
            .map(|i| self.self_poller(ctx, i, until));
        futures::future::join3(
            futures::future::join_all(views),
            futures::future::join_all(selfs),
            self.exit_watcher(ctx, until),
        )
        .await;
    }

    /// One round of every poll; whether a leader listed every agent (by
    /// the ids the agents report) registered.
    async fn all_registered(&self, ctx: &WorkloadCtx) -> bool {
        let mut ids: BTreeMap<u64, Option<String>> = BTreeMap::new();
        for index in ctx.cluster.agents.ids() {
            let own = self.poll_self(ctx, index).await;
            ids.insert(index, own.and_then(|v| v.id));
        }
        self.record_exits(ctx);
        let mut registered = false;
        for id in ctx.cluster.ids() {
            if let Some(view) = self.poll_view(ctx, id).await {
                registered |= ids.values().all(|own| {
                    own.as_deref()
                        .is_some_and(|own| view.state_of(own) == Some(AgentState::Registered))
                });
            }
        }
        registered
    }
}

impl Workload for AgentsWorkload {
    fn name(&self) -> &str {
        "agents"
    }

    fn run<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if ctx.cluster.agents.ids().is_empty() {
                anyhow::bail!("the agents workload needs agents (--agents N)");
            }
            self.watch(ctx, ctx.end).await;
            Ok(())
        })
    }

    fn finish<'a>(&'a self, ctx: &'a WorkloadCtx) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // Every agent must come back after the final heal: poll until a
            // leader lists them all registered, or past the checker's
            // bound (so that it can judge), then a little more.
            let healed = Instant::now();
            let bound = Duration::from_millis(rules().final_within_ms + 2_000);
            while healed.elapsed() < bound {
                if self.all_registered(ctx).await {
                    break;
                }
                tokio::time::sleep(VIEW_EVERY).await;
            }
            self.watch(ctx, Instant::now() + VIEW_EVERY * 4).await;
            Ok(())
        })
    }

    fn checkers(&self, _check_budget: Duration) -> Vec<Box<dyn Checker>> {
        vec![Box::new(AgentsChecker { rules: rules() })]
    }
}
