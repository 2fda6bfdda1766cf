//! Agents end to end: real `mesoraft agent` processes following a real
//! master group through failovers, partitions (SIGSTOP), restarts and the
//! operator's MARK_AGENT_GONE (SPEC 2, 3 and 7).

use crate::support;

use std::time::Duration;

use support::agents::*;
use support::*;

const ELECTION: Duration = Duration::from_secs(20);
/// Registration, re-registration, or a health-check verdict: well within.
const AGENT_LIMIT: Duration = Duration::from_secs(30);

fn cluster() -> Cluster {
    Cluster::start_with(3, |m| m.agent_health(fast_health()))
}

/// A started agent of `c` once it registered, and its id.
async fn registered_agent(c: &Cluster, name: &str) -> (AgentProc, String) {
    let mut agent = AgentProc::new(c, name);
    agent.spawn();
    let (id, _) = agent.wait_registered(1, AGENT_LIMIT).await;
    (agent, id)
}

fn leader_addr(c: &Cluster, id: u64) -> String {
    c.addr(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_follows_the_leader_through_a_failover_and_keeps_its_id() {
    let mut c = cluster();
    let leader = c.wait_leader(ELECTION).await;
    let mut agent = AgentProc::new(&c, "a");
    agent.spawn();
    let (id, master) = agent.wait_registered(1, AGENT_LIMIT).await;
    assert_eq!(
        master,
        leader_addr(&c, leader),
        "registered with the leader"
    );
    c.wait_agents("the agent active on the leader", AGENT_LIMIT, |s| {
        s.active.contains(&id)
    })
    .await;

    c.kill9(leader);
    let new_leader = c
        .wait_leader_among(
            &[1, 2, 3]
                .into_iter()
                .filter(|m| *m != leader)
                .collect::<Vec<_>>(),
            ELECTION,
        )
        .await;
    let (again, master) = agent.wait_registered(2, AGENT_LIMIT).await;
    assert_eq!(again, id, "the agent keeps its id through the failover");
    assert_eq!(master, leader_addr(&c, new_leader));
    let seen = c
        .wait_agents("the agent active on the new leader", AGENT_LIMIT, |s| {
            s.active.contains(&id)
        })
        .await;
    assert!(seen.recovered.is_empty(), "{seen:?}");
    assert!(seen.unreachable.is_empty(), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_away_past_the_reregister_timeout_is_unreachable_then_admitted_again() {
    let mut c = cluster();
    let leader = c.wait_leader(ELECTION).await;
    let mut stays = AgentProc::new(&c, "stays");
    let mut away = AgentProc::new(&c, "away");
    stays.spawn();
    away.spawn();
    let (stays_id, _) = stays.wait_registered(1, AGENT_LIMIT).await;
    let (away_id, _) = away.wait_registered(1, AGENT_LIMIT).await;

    away.kill9();
    c.kill9(leader);
    let seen = c
        .wait_agents(
            "the absent agent recovered on the new leader",
            AGENT_LIMIT,
            |s| s.active.contains(&stays_id) && s.recovered.contains(&away_id),
        )
        .await;
    assert!(!seen.unreachable.contains(&away_id));
    c.wait_agents("the absent agent marked unreachable", AGENT_LIMIT, |s| {
        s.unreachable.contains(&away_id) && s.recovered.is_empty()
    })
    .await;

    // It comes back: MarkReachable, same id.
    away.spawn();
    let (back_id, _) = away.wait_registered(1, AGENT_LIMIT).await;
    assert_eq!(back_id, away_id);
    c.wait_agents("the returned agent active again", AGENT_LIMIT, |s| {
        s.active.contains(&away_id) && !s.unreachable.contains(&away_id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_agent_misses_its_pings_becomes_unreachable_and_returns_when_resumed() {
    let c = cluster();
    c.wait_leader(ELECTION).await;
    let (mut agent, id) = registered_agent(&c, "a").await;

    agent.pause();
    c.wait_agents("the paused agent unreachable", AGENT_LIMIT, |s| {
        s.unreachable.contains(&id) && !s.active.contains(&id)
    })
    .await;
    agent.resume();
    let (back, _) = agent.wait_registered(2, AGENT_LIMIT).await;
    assert_eq!(back, id);
    c.wait_agents("the resumed agent active again", AGENT_LIMIT, |s| {
        s.active.contains(&id) && !s.unreachable.contains(&id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_marked_gone_is_shut_down_and_may_only_return_as_a_new_agent() {
    let c = cluster();
    c.wait_leader(ELECTION).await;
    let (mut agent, id) = registered_agent(&c, "a").await;

    assert_eq!(c.mark_agent_gone(&id).await, Some(200));
    let exit = agent
        .wait_exit(AGENT_LIMIT)
        .await
        .expect("the agent exits when marked gone");
    let log = agent.log_text();
    assert!(
        log.contains("Agent has been marked gone"),
        "exit {exit}, log:\n{log}"
    );
    // Gone twice is fine; an id never seen is not found.
    assert_eq!(c.mark_agent_gone(&id).await, Some(200));
    assert_eq!(c.mark_agent_gone("no-such-agent-S9").await, Some(404));

    agent.spawn();
    let (new_id, _) = agent.wait_registered(1, AGENT_LIMIT).await;
    assert_ne!(new_id, id, "a gone agent comes back only under a new id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_keeps_its_id_under_additive_growth_and_is_refused_under_equal() {
    let c = cluster();
    c.wait_leader(ELECTION).await;
    let (mut agent, id) = registered_agent(&c, "a").await;
    agent.kill9();

    // More cpus under the default policy (equal): refused at start-up.
    let grown = "cpus:4;mem:1024;disk:2048;ports:[31000-31099]";
    agent.cmd = agent.cmd.clone().resources(grown);
    agent.spawn();
    let exit = agent
        .wait_exit(AGENT_LIMIT)
        .await
        .expect("a changed agent under --reconfiguration-policy=equal refuses to start");
    assert!(!exit.success());
    let log = agent.log_text();
    assert!(log.contains("Incompatible agent info detected"), "{log}");
    assert!(log.contains("additive"), "the remedy is named:\n{log}");

    // The same change under additive: same id, the new info wins.
    agent.cmd = agent
        .cmd
        .clone()
        .reconfiguration_policy(ReconfigurationPolicy::Additive);
    agent.spawn();
    let (again, _) = agent.wait_registered(1, AGENT_LIMIT).await;
    assert_eq!(again, id);
    let seen = c
        .wait_agents("the grown agent active", AGENT_LIMIT, |s| {
            s.active.contains(&id)
        })
        .await;
    let cpus = seen.info_of(&id).and_then(|info| {
        info["resources"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == "cpus")
            .and_then(|r| r["scalar"]["value"].as_f64())
    });
    assert_eq!(cpus, Some(4.0), "{:?}", seen.info_of(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_agent_is_away_during_a_failover_the_removal_limit_marks_none() {
    let mut c = Cluster::start_with(3, |m| {
        m.agent_health(AgentHealth {
            recovery_removal_limit: Some("50%".into()),
            ..fast_health()
        })
    });
    let leader = c.wait_leader(ELECTION).await;
    let mut a = AgentProc::new(&c, "a");
    let mut b = AgentProc::new(&c, "b");
    a.spawn();
    b.spawn();
    let (a_id, _) = a.wait_registered(1, AGENT_LIMIT).await;
    let (b_id, _) = b.wait_registered(1, AGENT_LIMIT).await;
    a.kill9();
    b.kill9();
    c.kill9(leader);
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|m| *m != leader).collect();
    let new_leader = c.wait_leader_among(&others, ELECTION).await;
    // The refusal is the signal that the timeout fired.
    wait_for("the removal limit to refuse", AGENT_LIMIT, || async {
        let status = c.status(new_leader).await?;
        (status["agents"]["recovery_removals_refused"].as_u64()? == 2).then_some(())
    })
    .await;
    let seen = c.agents_seen().await.expect("GET_AGENTS answers");
    assert_eq!(
        seen.recovered,
        [a_id.clone(), b_id.clone()].into_iter().collect(),
        "{seen:?}"
    );
    assert!(seen.unreachable.is_empty(), "{seen:?}");
    // They may still come back.
    a.spawn();
    let (back, _) = a.wait_registered(1, AGENT_LIMIT).await;
    assert_eq!(back, a_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_checkpoint_is_reported_with_its_path_and_cleanup_forgets_the_agent() {
    let c = cluster();
    c.wait_leader(ELECTION).await;
    let (mut agent, id) = registered_agent(&c, "a").await;
    agent.kill9();

    let info = agent
        .work_dir
        .join("meta/agents")
        .join(&id)
        .join("agent.info");
    let bytes = std::fs::read(&info).expect("the agent checkpointed its info");
    std::fs::write(&info, &bytes[..bytes.len() / 2]).unwrap();
    agent.spawn();
    let exit = agent
        .wait_exit(AGENT_LIMIT)
        .await
        .expect("an agent with a corrupt checkpoint refuses to start");
    assert!(!exit.success());
    let log = agent.log_text();
    assert!(log.contains(&info.display().to_string()), "{log}");

    // --recover=cleanup forgets the agent; the next start is a new agent.
    std::fs::write(&info, &bytes).unwrap();
    let plain = agent.cmd.clone();
    agent.cmd = plain.clone().recover(Recover::Cleanup);
    agent.spawn();
    let exit = agent
        .wait_exit(AGENT_LIMIT)
        .await
        .expect("cleanup ends by itself");
    assert!(exit.success(), "{}", agent.log_text());
    agent.cmd = plain;
    agent.spawn();
    let (new_id, _) = agent.wait_registered(1, AGENT_LIMIT).await;
    assert_ne!(new_id, id);
}
