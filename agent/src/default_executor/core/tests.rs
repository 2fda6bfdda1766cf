//! The default executor's decisions, input by input.

use std::time::{Duration, Instant};

use super::*;
use crate::http_executor::testing::{self, at, Counter};
use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::framework_info::Capability as FrameworkCapability;
use mesoraft_proto::mesos::v1::task_status::Source;
use mesoraft_proto::mesos::v1::{
    AgentInfo, CommandInfo, DurationInfo, ExecutorId, ExecutorInfo, FrameworkInfo,
};

fn settings(checkpoint: bool) -> Settings {
    testing::settings("default", checkpoint)
}

fn id(value: &str) -> TaskId {
    TaskId {
        value: value.into(),
    }
}

fn subscribed_event(capabilities: &[Capability]) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            executor_info: ExecutorInfo {
                executor_id: ExecutorId {
                    value: "default".into(),
                },
                ..Default::default()
            },
            framework_info: FrameworkInfo {
                name: "fw".into(),
                capabilities: capabilities
                    .iter()
                    .map(|c| FrameworkCapability {
                        r#type: Some(*c as i32),
                    })
                    .collect(),
                ..Default::default()
            },
            agent_info: AgentInfo::default(),
            container_id: None,
        }),
        ..Default::default()
    }
}

fn task(task_id: &str, command: &str, grace_secs: Option<u64>) -> TaskInfo {
    TaskInfo {
        name: task_id.into(),
        task_id: id(task_id),
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        kill_policy: grace_secs.map(|secs| KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: (secs * 1_000_000_000) as i64,
            }),
        }),
        ..Default::default()
    }
}

fn group_event(tasks: Vec<TaskInfo>) -> Event {
    Event {
        r#type: Some(event::Type::LaunchGroup as i32),
        launch_group: Some(event::LaunchGroup {
            task_group: TaskGroupInfo { tasks },
        }),
        ..Default::default()
    }
}

fn kill_event(task_id: &str, grace: Option<u64>) -> Event {
    Event {
        r#type: Some(event::Type::Kill as i32),
        kill: Some(event::Kill {
            task_id: id(task_id),
            kill_policy: grace.map(|secs| KillPolicy {
                grace_period: Some(DurationInfo {
                    nanoseconds: (secs * 1_000_000_000) as i64,
                }),
            }),
        }),
        ..Default::default()
    }
}

fn ack_event(task_id: &str, uuid: &[u8]) -> Event {
    Event {
        r#type: Some(event::Type::Acknowledged as i32),
        acknowledged: Some(event::Acknowledged {
            task_id: id(task_id),
            uuid: uuid.to_vec(),
        }),
        ..Default::default()
    }
}

fn simple(t: event::Type) -> Event {
    Event {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

fn ev(event: Event) -> Input {
    Input::Event(Box::new(event))
}

/// (task, state, uuid) of each UPDATE call among `actions`.
fn sent(actions: &[Action]) -> Vec<(String, TaskState, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(call) => call.update.as_ref().map(|u| {
                (
                    u.status.task_id.value.clone(),
                    u.status.state(),
                    u.status.uuid.clone().unwrap_or_default(),
                )
            }),
            _ => None,
        })
        .collect()
}

fn states(actions: &[Action]) -> Vec<(String, TaskState)> {
    sent(actions).into_iter().map(|(t, s, _)| (t, s)).collect()
}

fn pair(task: &str, state: TaskState) -> (String, TaskState) {
    (task.to_string(), state)
}

/// Subscribed, running group {a, b} (a: grace 3 s, b: none).
fn running_group(caps: &[Capability], base: Instant) -> DefaultExecutor {
    let mut exec = DefaultExecutor::new(settings(false), Box::new(Counter(0)));
    exec.start();
    exec.step(ev(subscribed_event(caps)), at(base, 0));
    exec.step(
        ev(group_event(vec![
            task("a", "sleep 10", Some(3)),
            task("b", "sleep 10", None),
        ])),
        at(base, 0),
    );
    exec.step(Input::TaskStarted(id("a")), at(base, 0));
    exec.step(Input::TaskStarted(id("b")), at(base, 0));
    exec
}

#[test]
fn a_group_starts_every_task_in_its_own_sandbox_and_reports_each() {
    let base = Instant::now();
    let mut exec = DefaultExecutor::new(settings(false), Box::new(Counter(0)));
    assert!(matches!(
        exec.start()[..],
        [Action::StartTimer(Timer::Recovery, _), Action::Subscribe(_)]
    ));
    exec.step(ev(subscribed_event(&[])), at(base, 0));
    let actions = exec.step(
        ev(group_event(vec![
            task("a", "echo a", None),
            task("b", "echo b", None),
        ])),
        at(base, 0),
    );
    assert_eq!(
        states(&actions),
        [
            pair("a", TaskState::TaskStarting),
            pair("b", TaskState::TaskStarting)
        ]
    );
    let launches: Vec<&Launch> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Start(launch) => Some(launch),
            _ => None,
        })
        .collect();
    assert_eq!(launches.len(), 2);
    assert_eq!(launches[0].task_id.value, "a");
    assert_eq!(launches[0].sandbox, Some(PathBuf::from("tasks/a")));
    assert_eq!(launches[1].sandbox, Some(PathBuf::from("tasks/b")));
    assert_eq!(launches[1].command.value.as_deref(), Some("echo b"));

    let actions = exec.step(Input::TaskStarted(id("b")), at(base, 0));
    assert_eq!(states(&actions), [pair("b", TaskState::TaskRunning)]);
    let actions = exec.step(Input::TaskStarted(id("a")), at(base, 0));
    assert_eq!(states(&actions), [pair("a", TaskState::TaskRunning)]);

    let actions = exec.step(Input::TaskExited(id("a"), TaskExit::Exited(0)), at(base, 1));
    let finished_a = sent(&actions);
    assert_eq!(finished_a.len(), 1);
    assert_eq!(finished_a[0].1, TaskState::TaskFinished);
    // One task still runs: nothing killed, no exit timer yet.
    assert!(!actions.iter().any(|a| matches!(
        a,
        Action::Signal(..) | Action::StartTimer(Timer::TerminalAck, _)
    )));
    let actions = exec.step(Input::TaskExited(id("b"), TaskExit::Exited(0)), at(base, 1));
    let finished_b = sent(&actions);
    assert_eq!(finished_b[0].1, TaskState::TaskFinished);
    let Action::Send(call) = &actions[1] else {
        panic!("{actions:?}")
    };
    let status = &call.update.as_ref().unwrap().status;
    assert_eq!(
        status.message.as_deref(),
        Some("Command exited with status 0")
    );
    assert_eq!(status.source(), Source::Executor);
    assert_eq!(status.executor_id.as_ref().unwrap().value, "default");
    assert!(actions.contains(&Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT)));

    // Exits once both terminal updates are acknowledged, not before.
    assert_eq!(
        exec.step(ev(ack_event("a", &finished_a[0].2)), at(base, 2)),
        []
    );
    let actions = exec.step(ev(ack_event("b", &finished_b[0].2)), at(base, 2));
    assert_eq!(
        actions,
        [
            Action::CancelTimer(Timer::TerminalAck),
            Action::Exit(ExitReason::Done)
        ]
    );
}

#[test]
fn a_failed_task_gets_the_rest_of_its_group_killed_with_their_own_grace() {
    let base = Instant::now();
    let mut exec = running_group(&[], base);
    let actions = exec.step(Input::TaskExited(id("b"), TaskExit::Exited(2)), at(base, 1));
    assert_eq!(states(&actions), [pair("b", TaskState::TaskFailed)]);
    assert!(actions.contains(&Action::Signal(id("a"), Signal::Term)));
    assert!(actions.contains(&Action::StartTimer(
        Timer::Escalate("a".into()),
        Duration::from_secs(3)
    )));
    // Its grace period passes: SIGKILL; it ends TASK_KILLED.
    assert_eq!(
        exec.step(Input::TimerFired(Timer::Escalate("a".into())), at(base, 4)),
        [Action::Signal(id("a"), Signal::Kill)]
    );
    let actions = exec.step(
        Input::TaskExited(id("a"), TaskExit::Signaled(libc::SIGKILL)),
        at(base, 4),
    );
    assert_eq!(states(&actions), [pair("a", TaskState::TaskKilled)]);
    assert!(actions.contains(&Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT)));
}

#[test]
fn a_killed_task_takes_its_group_along_and_other_groups_run_on() {
    let base = Instant::now();
    let mut exec = running_group(&[Capability::TaskKillingState], base);
    exec.step(
        ev(group_event(vec![task("c", "sleep 10", None)])),
        at(base, 0),
    );
    exec.step(Input::TaskStarted(id("c")), at(base, 0));

    let actions = exec.step(ev(kill_event("a", Some(1))), at(base, 1));
    assert_eq!(states(&actions), [pair("a", TaskState::TaskKilling)]);
    assert!(actions.contains(&Action::Signal(id("a"), Signal::Term)));
    assert!(actions.contains(&Action::StartTimer(
        Timer::Escalate("a".into()),
        Duration::from_secs(1)
    )));
    let actions = exec.step(
        Input::TaskExited(id("a"), TaskExit::Signaled(libc::SIGTERM)),
        at(base, 1),
    );
    assert_eq!(
        states(&actions),
        [
            pair("a", TaskState::TaskKilled),
            pair("b", TaskState::TaskKilling)
        ]
    );
    // b has no kill policy: the executor's shutdown grace period.
    assert!(actions.contains(&Action::StartTimer(
        Timer::Escalate("b".into()),
        Duration::from_secs(5)
    )));
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::Signal(t, _) if t.value == "c")));
    let actions = exec.step(
        Input::TaskExited(id("b"), TaskExit::Signaled(libc::SIGTERM)),
        at(base, 2),
    );
    assert_eq!(states(&actions), [pair("b", TaskState::TaskKilled)]);
    // c still runs: no exit yet.
    assert!(!actions.iter().any(|a| matches!(
        a,
        Action::StartTimer(Timer::TerminalAck, _) | Action::Exit(_)
    )));
}

#[test]
fn a_finished_task_leaves_the_rest_of_its_group_running() {
    let base = Instant::now();
    let mut exec = running_group(&[], base);
    let actions = exec.step(Input::TaskExited(id("a"), TaskExit::Exited(0)), at(base, 1));
    assert_eq!(states(&actions), [pair("a", TaskState::TaskFinished)]);
    assert!(!actions.iter().any(|a| matches!(a, Action::Signal(..))));
}

#[test]
fn a_task_that_cannot_start_fails_and_stops_its_group_mates_once_they_run() {
    let base = Instant::now();
    let mut exec = DefaultExecutor::new(settings(false), Box::new(Counter(0)));
    exec.start();
    exec.step(ev(subscribed_event(&[])), at(base, 0));
    let actions = exec.step(
        ev(group_event(vec![
            task("a", "sleep 10", None),
            task("b", "", None),
        ])),
        at(base, 0),
    );
    assert_eq!(
        states(&actions),
        [
            pair("a", TaskState::TaskStarting),
            pair("b", TaskState::TaskStarting),
            pair("b", TaskState::TaskFailed)
        ]
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::Start(_)))
            .count(),
        1
    );
    // a was still starting: the kill waits for it to run.
    let actions = exec.step(Input::TaskStarted(id("a")), at(base, 0));
    assert_eq!(states(&actions), [pair("a", TaskState::TaskRunning)]);
    assert!(actions.contains(&Action::Signal(id("a"), Signal::Term)));

    // A late start failure of a task that runs changes nothing.
    let actions = exec.step(
        Input::StartFailed {
            task_id: id("a"),
            error: "late".into(),
        },
        at(base, 0),
    );
    assert_eq!(actions, []);
}

#[test]
fn ids_that_cannot_name_a_sandbox_or_are_taken_fail_alone() {
    let base = Instant::now();
    let mut exec = running_group(&[], base);
    let actions = exec.step(
        ev(group_event(vec![
            task("../x", "true", None),
            task("a", "true", None),
        ])),
        at(base, 0),
    );
    let failed = sent(&actions);
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|(_, s, _)| *s == TaskState::TaskFailed));
    assert!(!actions.iter().any(|a| matches!(a, Action::Start(_))));
}

#[test]
fn shutdown_kills_every_task_and_exits_once_their_ends_are_acknowledged() {
    let base = Instant::now();
    let mut exec = running_group(&[], base);
    let actions = exec.step(ev(simple(event::Type::Shutdown)), at(base, 1));
    // 5 s of shutdown grace, 2 s kept for the terminal updates.
    for t in ["a", "b"] {
        assert!(actions.contains(&Action::Signal(id(t), Signal::Term)));
        assert!(actions.contains(&Action::StartTimer(
            Timer::Escalate(t.into()),
            Duration::from_secs(3)
        )));
    }
    let a = exec.step(
        Input::TaskExited(id("a"), TaskExit::Signaled(libc::SIGTERM)),
        at(base, 1),
    );
    // A shutdown is no group failure: nothing more to kill.
    assert_eq!(states(&a), [pair("a", TaskState::TaskKilled)]);
    let b = exec.step(
        Input::TaskExited(id("b"), TaskExit::Signaled(libc::SIGTERM)),
        at(base, 1),
    );
    exec.step(ev(ack_event("a", &sent(&a)[0].2)), at(base, 2));
    let actions = exec.step(ev(ack_event("b", &sent(&b)[0].2)), at(base, 2));
    assert_eq!(actions.last(), Some(&Action::Exit(ExitReason::Shutdown)));

    let mut idle = DefaultExecutor::new(settings(false), Box::new(Counter(0)));
    idle.start();
    idle.step(ev(subscribed_event(&[])), at(base, 0));
    assert_eq!(
        idle.step(ev(simple(event::Type::Shutdown)), at(base, 0)),
        [Action::Exit(ExitReason::Shutdown)]
    );
}

#[test]
fn a_single_task_launch_is_refused_by_shutting_down() {
    let base = Instant::now();
    let mut exec = DefaultExecutor::new(settings(false), Box::new(Counter(0)));
    exec.start();
    exec.step(ev(subscribed_event(&[])), at(base, 0));
    let launch = Event {
        r#type: Some(event::Type::Launch as i32),
        launch: Some(event::Launch {
            task: task("t", "true", None),
        }),
        ..Default::default()
    };
    assert_eq!(
        exec.step(ev(launch), at(base, 0)),
        [Action::Exit(ExitReason::Shutdown)]
    );
}

#[test]
fn with_checkpointing_a_lost_agent_is_resubscribed_with_the_unacknowledged_updates_and_tasks() {
    let base = Instant::now();
    let mut exec = DefaultExecutor::new(settings(true), Box::new(Counter(0)));
    exec.start();
    exec.step(ev(subscribed_event(&[])), at(base, 0));
    let actions = exec.step(
        ev(group_event(vec![
            task("a", "sleep 10", None),
            task("b", "sleep 10", None),
        ])),
        at(base, 0),
    );
    // a's STARTING is acknowledged: the agent knows a, not b.
    let starting_a = sent(&actions)[0].2.clone();
    exec.step(ev(ack_event("a", &starting_a)), at(base, 0));

    let actions = exec.step(
        Input::Disconnected {
            why: "agent restarting".into(),
        },
        at(base, 1),
    );
    assert!(actions.contains(&Action::StartTimer(
        Timer::Resubscribe,
        Duration::from_secs(1)
    )));
    assert!(!actions.iter().any(|a| matches!(a, Action::Exit(_))));
    // Updates made while away wait for the next subscription.
    assert_eq!(exec.step(Input::TaskStarted(id("a")), at(base, 1)), []);
    let actions = exec.step(Input::TimerFired(Timer::Resubscribe), at(base, 2));
    let [Action::Subscribe(call)] = &actions[..] else {
        panic!("{actions:?}")
    };
    let subscribe = call.subscribe.as_ref().unwrap();
    let tasks: Vec<&str> = subscribe
        .unacknowledged_tasks
        .iter()
        .map(|t| t.task_id.value.as_str())
        .collect();
    assert_eq!(tasks, ["b"]);
    let updates: Vec<(String, TaskState)> = subscribe
        .unacknowledged_updates
        .iter()
        .map(|u| (u.status.task_id.value.clone(), u.status.state()))
        .collect();
    assert_eq!(
        updates,
        [
            pair("b", TaskState::TaskStarting),
            pair("a", TaskState::TaskRunning)
        ]
    );
}

#[test]
fn without_checkpointing_a_lost_agent_means_killing_everything() {
    let base = Instant::now();
    let mut exec = running_group(&[], base);
    let actions = exec.step(Input::Disconnected { why: "gone".into() }, at(base, 1));
    assert!(actions.contains(&Action::Signal(id("a"), Signal::Term)));
    assert!(actions.contains(&Action::Signal(id("b"), Signal::Term)));
    exec.step(
        Input::TaskExited(id("a"), TaskExit::Signaled(libc::SIGTERM)),
        at(base, 1),
    );
    let actions = exec.step(
        Input::TaskExited(id("b"), TaskExit::Signaled(libc::SIGTERM)),
        at(base, 1),
    );
    assert_eq!(actions.last(), Some(&Action::Exit(ExitReason::Shutdown)));
}
