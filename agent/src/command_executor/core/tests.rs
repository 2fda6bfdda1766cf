//! The command executor's decisions, input by input.

use std::time::Instant;

use super::*;
use crate::http_executor::testing::{self, at, Counter};
use mesoraft_proto::mesos::v1::framework_info::capability::Type as Capability;
use mesoraft_proto::mesos::v1::framework_info::Capability as FrameworkCapability;
use mesoraft_proto::mesos::v1::task_status::Source;
use mesoraft_proto::mesos::v1::{
    AgentInfo, CommandInfo, DurationInfo, ExecutorId, ExecutorInfo, FrameworkInfo,
};

fn t1() -> TaskId {
    TaskId { value: "t1".into() }
}

fn settings(checkpoint: bool) -> Settings {
    testing::settings("e1", checkpoint)
}

fn subscribed_event(capabilities: &[Capability]) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            executor_info: ExecutorInfo {
                executor_id: ExecutorId { value: "e1".into() },
                ..Default::default()
            },
            framework_info: FrameworkInfo {
                user: "".into(),
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

fn task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn launch_event(task: TaskInfo) -> Event {
    Event {
        r#type: Some(event::Type::Launch as i32),
        launch: Some(event::Launch { task }),
        ..Default::default()
    }
}

fn kill_event(id: &str, grace: Option<u64>) -> Event {
    Event {
        r#type: Some(event::Type::Kill as i32),
        kill: Some(event::Kill {
            task_id: TaskId { value: id.into() },
            kill_policy: grace.map(|secs| KillPolicy {
                grace_period: Some(DurationInfo {
                    nanoseconds: (secs * 1_000_000_000) as i64,
                }),
            }),
        }),
        ..Default::default()
    }
}

fn ack_event(id: &str, uuid: &[u8]) -> Event {
    Event {
        r#type: Some(event::Type::Acknowledged as i32),
        acknowledged: Some(event::Acknowledged {
            task_id: TaskId { value: id.into() },
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

/// The states of the UPDATE calls among `actions`, with their uuids.
fn sent(actions: &[Action]) -> Vec<(TaskState, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(call) => call
                .update
                .as_ref()
                .map(|u| (u.status.state(), u.status.uuid.clone().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

/// An executor subscribed and running task `t1`.
fn running(checkpoint: bool, caps: &[Capability], base: Instant) -> CommandExecutor {
    let mut exec = CommandExecutor::new(settings(checkpoint), Box::new(Counter(0)));
    exec.start();
    exec.step(Input::Event(Box::new(subscribed_event(caps))), at(base, 0));
    exec.step(
        Input::Event(Box::new(launch_event(task("t1", "sleep 10")))),
        at(base, 0),
    );
    exec.step(Input::TaskStarted(t1()), at(base, 0));
    exec
}

#[test]
fn a_task_reports_starting_running_then_finished_each_with_a_fresh_uuid() {
    let base = Instant::now();
    let mut exec = CommandExecutor::new(settings(false), Box::new(Counter(0)));
    let first = exec.start();
    assert!(matches!(
        first[..],
        [Action::StartTimer(Timer::Recovery, _), Action::Subscribe(_)]
    ));

    exec.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 0));
    let actions = exec.step(
        Input::Event(Box::new(launch_event(task("t1", "echo hi")))),
        at(base, 0),
    );
    assert_eq!(sent(&actions), vec![(TaskState::TaskStarting, vec![1; 16])]);
    let Some(Action::Start(launch)) = actions.last() else {
        panic!("{actions:?}")
    };
    assert_eq!(launch.command.value.as_deref(), Some("echo hi"));

    let actions = exec.step(Input::TaskStarted(t1()), at(base, 0));
    assert_eq!(sent(&actions), vec![(TaskState::TaskRunning, vec![2; 16])]);

    let actions = exec.step(Input::TaskExited(t1(), TaskExit::Exited(0)), at(base, 1));
    assert_eq!(sent(&actions), vec![(TaskState::TaskFinished, vec![3; 16])]);
    let Action::Send(call) = &actions[1] else {
        panic!("{actions:?}")
    };
    let status = &call.update.as_ref().unwrap().status;
    assert_eq!(
        status.message.as_deref(),
        Some("Command exited with status 0")
    );
    assert_eq!(status.source(), Source::Executor);
    assert_eq!(status.executor_id.as_ref().unwrap().value, "e1");
    assert!(actions.contains(&Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT)));

    // Acks for the earlier updates do not end the executor; the terminal's does.
    assert_eq!(
        exec.step(
            Input::Event(Box::new(ack_event("t1", &[1; 16]))),
            at(base, 1)
        ),
        vec![]
    );
    assert_eq!(
        exec.step(
            Input::Event(Box::new(ack_event("t1", &[2; 16]))),
            at(base, 1)
        ),
        vec![]
    );
    assert_eq!(exec.unacknowledged_uuids(), vec![vec![3; 16]]);
    let actions = exec.step(
        Input::Event(Box::new(ack_event("t1", &[3; 16]))),
        at(base, 1),
    );
    assert_eq!(actions.last(), Some(&Action::Exit(ExitReason::Done)));
}

#[test]
fn a_failing_command_reports_its_exit_status_or_signal() {
    let base = Instant::now();
    let mut exec = running(false, &[], base);
    let actions = exec.step(Input::TaskExited(t1(), TaskExit::Exited(3)), at(base, 1));
    let Action::Send(call) = &actions[1] else {
        panic!("{actions:?}")
    };
    let status = &call.update.as_ref().unwrap().status;
    assert_eq!(status.state(), TaskState::TaskFailed);
    assert_eq!(
        status.message.as_deref(),
        Some("Command exited with status 3")
    );

    let mut exec = running(false, &[], base);
    let actions = exec.step(
        Input::TaskExited(t1(), TaskExit::Signaled(libc::SIGSEGV)),
        at(base, 1),
    );
    let Action::Send(call) = &actions[1] else {
        panic!("{actions:?}")
    };
    let status = &call.update.as_ref().unwrap().status;
    assert_eq!(status.state(), TaskState::TaskFailed);
    assert_eq!(
        status.message.as_deref(),
        Some("Command terminated with signal Segmentation fault")
    );
}

#[test]
fn a_kill_sends_sigterm_then_sigkill_after_the_grace_period_and_reports_killed() {
    let base = Instant::now();
    let mut exec = running(false, &[Capability::TaskKillingState], base);
    let actions = exec.step(
        Input::Event(Box::new(kill_event("t1", Some(4)))),
        at(base, 1),
    );
    assert_eq!(sent(&actions)[0].0, TaskState::TaskKilling);
    assert!(actions.contains(&Action::Signal(t1(), Signal::Term)));
    assert!(actions.contains(&Action::StartTimer(
        Timer::Escalate("t1".into()),
        Duration::from_secs(4)
    )));

    // A retry with the same or a longer grace changes nothing.
    assert_eq!(
        exec.step(
            Input::Event(Box::new(kill_event("t1", Some(4)))),
            at(base, 2)
        ),
        vec![]
    );
    assert_eq!(
        exec.step(
            Input::Event(Box::new(kill_event("t1", Some(30)))),
            at(base, 2)
        ),
        vec![]
    );
    // A shorter one moves the deadline to the kill's start plus it.
    assert_eq!(
        exec.step(
            Input::Event(Box::new(kill_event("t1", Some(2)))),
            at(base, 2)
        ),
        vec![Action::StartTimer(
            Timer::Escalate("t1".into()),
            Duration::from_secs(1)
        )]
    );
    assert_eq!(
        exec.step(Input::TimerFired(Timer::Escalate("t1".into())), at(base, 3)),
        vec![Action::Signal(t1(), Signal::Kill)]
    );
    let actions = exec.step(
        Input::TaskExited(t1(), TaskExit::Signaled(libc::SIGKILL)),
        at(base, 3),
    );
    assert_eq!(sent(&actions)[0].0, TaskState::TaskKilled);
}

#[test]
fn a_kill_without_a_policy_uses_the_task_s_then_the_executor_s_grace_period() {
    let base = Instant::now();
    let mut exec = running(false, &[], base);
    let actions = exec.step(Input::Event(Box::new(kill_event("t1", None))), at(base, 1));
    // Without the TASK_KILLING_STATE capability no TASK_KILLING is sent.
    assert!(sent(&actions).is_empty());
    assert!(actions.contains(&Action::StartTimer(
        Timer::Escalate("t1".into()),
        Duration::from_secs(5)
    )));

    let mut exec = CommandExecutor::new(settings(false), Box::new(Counter(0)));
    exec.start();
    exec.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 0));
    let mut with_policy = task("t1", "sleep 9");
    with_policy.kill_policy = Some(KillPolicy {
        grace_period: Some(DurationInfo {
            nanoseconds: 1_000_000_000,
        }),
    });
    exec.step(
        Input::Event(Box::new(launch_event(with_policy))),
        at(base, 0),
    );
    // A kill while the command is starting waits for it to run.
    assert_eq!(
        exec.step(Input::Event(Box::new(kill_event("t1", None))), at(base, 0)),
        vec![]
    );
    let actions = exec.step(Input::TaskStarted(t1()), at(base, 0));
    assert_eq!(sent(&actions)[0].0, TaskState::TaskRunning);
    assert!(actions.contains(&Action::Signal(t1(), Signal::Term)));
    assert!(actions.contains(&Action::StartTimer(
        Timer::Escalate("t1".into()),
        Duration::from_secs(1)
    )));
}

#[test]
fn a_kill_of_another_task_is_ignored_and_one_before_any_launch_ends_the_executor() {
    let base = Instant::now();
    let mut exec = running(false, &[], base);
    assert_eq!(
        exec.step(Input::Event(Box::new(kill_event("t9", None))), at(base, 1)),
        vec![]
    );

    let mut idle = CommandExecutor::new(settings(false), Box::new(Counter(0)));
    idle.start();
    idle.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 0));
    assert_eq!(
        idle.step(Input::Event(Box::new(kill_event("t1", None))), at(base, 0)),
        vec![Action::Exit(ExitReason::Shutdown)]
    );
}

#[test]
fn a_second_launch_fails_that_task_and_a_task_without_a_command_fails() {
    let base = Instant::now();
    let mut exec = running(false, &[], base);
    let actions = exec.step(
        Input::Event(Box::new(launch_event(task("t2", "true")))),
        at(base, 1),
    );
    let Action::Send(call) = &actions[0] else {
        panic!("{actions:?}")
    };
    let status = &call.update.as_ref().unwrap().status;
    assert_eq!(status.task_id.value, "t2");
    assert_eq!(status.state(), TaskState::TaskFailed);

    let mut exec = CommandExecutor::new(settings(false), Box::new(Counter(0)));
    exec.start();
    exec.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 0));
    let mut empty = task("t1", "");
    empty.command = None;
    let actions = exec.step(Input::Event(Box::new(launch_event(empty))), at(base, 0));
    let states: Vec<_> = sent(&actions).into_iter().map(|(s, _)| s).collect();
    assert_eq!(states, [TaskState::TaskStarting, TaskState::TaskFailed]);
    assert!(!actions.iter().any(|a| matches!(a, Action::Start(_))));
}

#[test]
fn shutdown_kills_the_task_within_the_grace_period_or_exits_when_idle() {
    let base = Instant::now();
    let mut exec = running(false, &[], base);
    let actions = exec.step(
        Input::Event(Box::new(simple(event::Type::Shutdown))),
        at(base, 1),
    );
    assert!(actions.contains(&Action::Signal(t1(), Signal::Term)));
    assert!(actions.contains(&Action::StartTimer(
        Timer::Escalate("t1".into()),
        Duration::from_secs(3)
    )));
    let actions = exec.step(
        Input::TaskExited(t1(), TaskExit::Signaled(libc::SIGTERM)),
        at(base, 2),
    );
    let (state, uuid) = sent(&actions)[0].clone();
    assert_eq!(state, TaskState::TaskKilled);
    let actions = exec.step(Input::Event(Box::new(ack_event("t1", &uuid))), at(base, 2));
    assert_eq!(actions.last(), Some(&Action::Exit(ExitReason::Shutdown)));

    let mut idle = CommandExecutor::new(settings(false), Box::new(Counter(0)));
    idle.start();
    idle.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 0));
    assert_eq!(
        idle.step(
            Input::Event(Box::new(simple(event::Type::Shutdown))),
            at(base, 0)
        ),
        vec![Action::Exit(ExitReason::Shutdown)]
    );
}

#[test]
fn a_checkpointing_executor_resubscribes_with_its_unacknowledged_updates_and_task() {
    let base = Instant::now();
    let mut exec = running(true, &[], base);
    let actions = exec.step(
        Input::Disconnected {
            why: "agent restarted".into(),
        },
        at(base, 1),
    );
    assert!(actions.contains(&Action::StartTimer(
        Timer::Recovery,
        Duration::from_secs(900)
    )));
    assert!(actions.contains(&Action::StartTimer(
        Timer::Resubscribe,
        Duration::from_secs(1)
    )));

    // The task finishes while the agent is away: nothing is sent, the
    // update waits for the next subscription.
    let actions = exec.step(Input::TaskExited(t1(), TaskExit::Exited(0)), at(base, 2));
    assert!(sent(&actions).is_empty());

    // A failed attempt backs off again without restarting the recovery clock.
    let actions = exec.step(Input::TimerFired(Timer::Resubscribe), at(base, 2));
    assert!(matches!(actions[..], [Action::Subscribe(_)]));
    let actions = exec.step(
        Input::Disconnected {
            why: "refused".into(),
        },
        at(base, 2),
    );
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::StartTimer(Timer::Recovery, _))));

    let actions = exec.step(Input::TimerFired(Timer::Resubscribe), at(base, 3));
    let [Action::Subscribe(call)] = &actions[..] else {
        panic!("{actions:?}")
    };
    let subscribe = call.subscribe.as_ref().unwrap();
    let states: Vec<_> = subscribe
        .unacknowledged_updates
        .iter()
        .map(|u| u.status.state())
        .collect();
    assert_eq!(
        states,
        [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ]
    );
    assert_eq!(subscribe.unacknowledged_tasks[0].task_id.value, "t1");

    let actions = exec.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 3));
    assert!(actions.contains(&Action::CancelTimer(Timer::Recovery)));
    assert!(actions.contains(&Action::StartTimer(Timer::TerminalAck, TERMINAL_ACK_LIMIT)));

    // Once an update is acknowledged the task is no longer resent.
    exec.step(
        Input::Event(Box::new(ack_event("t1", &[1; 16]))),
        at(base, 3),
    );
    exec.step(
        Input::Disconnected {
            why: "again".into(),
        },
        at(base, 4),
    );
    let actions = exec.step(Input::TimerFired(Timer::Resubscribe), at(base, 5));
    let [Action::Subscribe(call)] = &actions[..] else {
        panic!("{actions:?}")
    };
    let subscribe = call.subscribe.as_ref().unwrap();
    assert!(subscribe.unacknowledged_tasks.is_empty());
    assert_eq!(subscribe.unacknowledged_updates.len(), 2);
}

/// A task that ends after the SUBSCRIBE left but before SUBSCRIBED came
/// is in no SUBSCRIBE; SUBSCRIBED must send its update, and only it.
#[test]
fn an_update_made_while_subscribing_is_sent_once_subscribed() {
    let base = Instant::now();
    let mut exec = running(true, &[], base);
    exec.step(
        Input::Disconnected {
            why: "agent restarted".into(),
        },
        at(base, 1),
    );
    let actions = exec.step(Input::TimerFired(Timer::Resubscribe), at(base, 2));
    let [Action::Subscribe(call)] = &actions[..] else {
        panic!("{actions:?}")
    };
    let carried = call
        .subscribe
        .as_ref()
        .unwrap()
        .unacknowledged_updates
        .len();
    assert_eq!(carried, 2, "STARTING and RUNNING ride on the SUBSCRIBE");

    let actions = exec.step(Input::TaskExited(t1(), TaskExit::Exited(0)), at(base, 2));
    assert!(sent(&actions).is_empty(), "not subscribed yet: {actions:?}");

    let actions = exec.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 2));
    assert_eq!(
        sent(&actions),
        [(TaskState::TaskFinished, vec![3; 16])],
        "only the update the SUBSCRIBE did not carry"
    );

    // A subscription that carried everything sends nothing more.
    exec.step(
        Input::Disconnected {
            why: "again".into(),
        },
        at(base, 3),
    );
    exec.step(Input::TimerFired(Timer::Resubscribe), at(base, 4));
    let actions = exec.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 4));
    assert!(sent(&actions).is_empty(), "{actions:?}");
}

#[test]
fn the_recovery_timeout_ends_the_executor_only_while_it_is_away() {
    let base = Instant::now();
    let mut exec = running(true, &[], base);
    exec.step(Input::Disconnected { why: "gone".into() }, at(base, 1));
    assert_eq!(
        exec.step(Input::TimerFired(Timer::Recovery), at(base, 901)),
        vec![Action::Exit(ExitReason::AgentLost)]
    );

    let mut back = running(true, &[], base);
    back.step(Input::Disconnected { why: "gone".into() }, at(base, 1));
    back.step(Input::TimerFired(Timer::Resubscribe), at(base, 2));
    back.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 2));
    assert_eq!(
        back.step(Input::TimerFired(Timer::Recovery), at(base, 901)),
        vec![]
    );
}

#[test]
fn without_checkpointing_losing_the_agent_shuts_the_executor_down() {
    let base = Instant::now();
    let mut exec = running(false, &[], base);
    let actions = exec.step(Input::Disconnected { why: "gone".into() }, at(base, 1));
    assert!(actions.contains(&Action::Signal(t1(), Signal::Term)));
    let actions = exec.step(
        Input::TaskExited(t1(), TaskExit::Signaled(libc::SIGTERM)),
        at(base, 2),
    );
    assert_eq!(actions.last(), Some(&Action::Exit(ExitReason::Shutdown)));

    let mut idle = CommandExecutor::new(settings(false), Box::new(Counter(0)));
    idle.start();
    idle.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 0));
    let actions = idle.step(Input::Disconnected { why: "gone".into() }, at(base, 1));
    assert_eq!(actions.last(), Some(&Action::Exit(ExitReason::AgentLost)));
}

#[test]
fn the_first_subscription_is_retried_until_its_limit() {
    let base = Instant::now();
    let mut exec = CommandExecutor::new(settings(false), Box::new(Counter(0)));
    exec.start();
    let actions = exec.step(
        Input::Disconnected {
            why: "refused".into(),
        },
        at(base, 0),
    );
    assert!(actions.contains(&Action::StartTimer(
        Timer::Resubscribe,
        Duration::from_secs(1)
    )));
    assert_eq!(
        exec.step(Input::TimerFired(Timer::Recovery), at(base, 60)),
        vec![Action::Exit(ExitReason::AgentLost)]
    );
}

#[test]
fn an_unacknowledged_terminal_update_ends_the_executor_after_the_fail_safe() {
    let base = Instant::now();
    let mut exec = running(false, &[], base);
    exec.step(Input::TaskExited(t1(), TaskExit::Exited(0)), at(base, 1));
    assert_eq!(
        exec.step(Input::TimerFired(Timer::TerminalAck), at(base, 61)),
        vec![Action::Exit(ExitReason::TerminalUnacknowledged)]
    );
}

#[test]
fn launch_group_is_refused() {
    let base = Instant::now();
    let mut exec = CommandExecutor::new(settings(false), Box::new(Counter(0)));
    exec.start();
    exec.step(Input::Event(Box::new(subscribed_event(&[]))), at(base, 0));
    let actions = exec.step(
        Input::Event(Box::new(simple(event::Type::LaunchGroup))),
        at(base, 0),
    );
    assert!(matches!(
        actions[..],
        [Action::Exit(ExitReason::Unsupported(_))]
    ));
}
