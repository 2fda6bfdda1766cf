//! Property tests: the registry is a deterministic state machine.
//!
//! Random command sequences over a small id space (so that both successes
//! and every kind of refusal happen), with times moving forward, are
//! replayed on independent copies, with and without a snapshot in the
//! middle; all copies must agree on every result and on the final state.

use mesoraft_proto::mesos::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo, WeightInfo};
use mesoraft_registry::{Command, CommandResult, PruneEntry, Registry, TimeNs};
use proptest::prelude::*;

/// One step of a generated history. `SelectPrune` is materialized into a
/// `Command::Prune` by the "leader" copy, from its state at that point, as
/// the real leader does.
#[derive(Clone, Debug)]
enum Step {
    Command(Box<Command>),
    SelectPrune { max_count: usize, max_age_ns: i64 },
}

const AGENT_IDS: &[&str] = &["c-S0", "c-S1", "c-S2", "c-S3", "x", ""];
const FRAMEWORK_IDS: &[&str] = &["c-0000", "c-0001", "c-0002", "f", ""];
const ROLES: &[&str] = &["*", "a", "b/c", "", "-x", "a b", "a//b"];

fn agent_id() -> impl Strategy<Value = AgentId> {
    prop::sample::select(AGENT_IDS).prop_map(|value| AgentId {
        value: value.to_string(),
    })
}

fn agent_info() -> impl Strategy<Value = AgentInfo> {
    let hostname = prop::sample::select(&["h1", "h2"][..]);
    (prop::option::weighted(0.8, agent_id()), hostname).prop_map(|(id, hostname)| AgentInfo {
        hostname: hostname.to_string(),
        id,
        ..Default::default()
    })
}

fn framework_info() -> impl Strategy<Value = FrameworkInfo> {
    let id = prop::sample::select(FRAMEWORK_IDS).prop_map(|value| FrameworkId {
        value: value.to_string(),
    });
    let name = prop::sample::select(&["n1", "n2"][..]);
    (prop::option::weighted(0.8, id), name).prop_map(|(id, name)| FrameworkInfo {
        user: "u".to_string(),
        name: name.to_string(),
        id,
        ..Default::default()
    })
}

fn weight() -> impl Strategy<Value = WeightInfo> {
    let value = prop_oneof![
        Just(1.0),
        Just(0.1 + 0.2),
        Just(0.0),
        Just(-1.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        (1e-300f64..1e300),
    ];
    let role = prop::option::weighted(0.95, prop::sample::select(ROLES));
    (value, role).prop_map(|(weight, role)| WeightInfo {
        weight,
        role: role.map(str::to_string),
    })
}

fn prune_entries() -> impl Strategy<Value = Vec<PruneEntry>> {
    let entry =
        (agent_id(), 0i64..64).prop_map(|(agent_id, time_ns)| PruneEntry { agent_id, time_ns });
    prop::collection::vec(entry, 0..3)
}

/// A step whose times are offsets; `history` turns them into a clock.
fn step() -> impl Strategy<Value = (Step, TimeNs)> {
    let command = prop_oneof![
        1 => prop::sample::select(&["c", "d"][..])
            .prop_map(|id| Command::InitCluster { cluster_id: id.to_string() }),
        4 => agent_info().prop_map(|info| Command::AdmitAgent { info }),
        2 => agent_info().prop_map(|info| Command::UpdateAgent { info }),
        3 => agent_id().prop_map(|agent_id| Command::MarkUnreachable { agent_id, time_ns: 0 }),
        3 => agent_info().prop_map(|info| Command::MarkReachable { info }),
        2 => agent_id().prop_map(|agent_id| Command::MarkGone { agent_id, time_ns: 0 }),
        1 => agent_id().prop_map(|agent_id| Command::RemoveAgent { agent_id }),
        1 => (prune_entries(), prune_entries())
            .prop_map(|(unreachable, gone)| Command::Prune { unreachable, gone }),
        3 => framework_info().prop_map(|info| Command::AddFramework { info, time_ns: 0 }),
        2 => (framework_info(), any::<bool>()).prop_map(|(info, disconnected)| {
            Command::UpdateFramework { info, disconnected_time_ns: disconnected.then_some(0) }
        }),
        2 => prop::sample::select(FRAMEWORK_IDS).prop_map(|value| Command::CompleteFramework {
            framework_id: FrameworkId { value: value.to_string() },
            time_ns: 0,
        }),
        2 => prop::collection::vec(weight(), 0..4)
            .prop_map(|weights| Command::UpdateWeights { weights }),
    ];
    let select = (0usize..4, 0i64..40).prop_map(|(max_count, max_age_ns)| Step::SelectPrune {
        max_count,
        max_age_ns,
    });
    let step = prop_oneof![12 => command.prop_map(|c| Step::Command(Box::new(c))), 1 => select];
    (step, 0i64..5)
}

/// Stamps a moving clock into the steps' time fields.
fn history() -> impl Strategy<Value = Vec<(Step, TimeNs)>> {
    prop::collection::vec(step(), 0..60).prop_map(|steps| {
        let mut now = 0;
        steps
            .into_iter()
            .map(|(mut step, delta)| {
                now += delta;
                if let Step::Command(command) = &mut step {
                    stamp(command, now);
                }
                (step, now)
            })
            .collect()
    })
}

fn stamp(command: &mut Command, now: TimeNs) {
    match command {
        Command::MarkUnreachable { time_ns, .. }
        | Command::MarkGone { time_ns, .. }
        | Command::AddFramework { time_ns, .. }
        | Command::CompleteFramework { time_ns, .. } => *time_ns = now,
        Command::UpdateFramework {
            disconnected_time_ns: Some(time_ns),
            ..
        } => *time_ns = now,
        _ => {}
    }
}

/// Applies one command, checking that a refusal changed nothing.
fn apply_checked(registry: &mut Registry, command: &Command) -> CommandResult {
    let before = registry.clone();
    let result = registry.apply(command);
    if result.is_err() {
        assert_eq!(
            *registry, before,
            "refused {command:?} changed the registry"
        );
    }
    result
}

/// Replays a history on the leader copy, materializing prune selections.
fn lead(registry: &mut Registry, history: &[(Step, TimeNs)]) -> (Vec<Command>, Vec<CommandResult>) {
    let mut commands = Vec::new();
    let mut results = Vec::new();
    for (step, now) in history {
        let command = match step {
            Step::Command(command) => (**command).clone(),
            Step::SelectPrune {
                max_count,
                max_age_ns,
            } => registry
                .select_prune(*now, *max_count, *max_age_ns)
                .into_command(),
        };
        results.push(apply_checked(registry, &command));
        commands.push(command);
    }
    (commands, results)
}

fn follow(registry: &mut Registry, commands: &[Command]) -> Vec<CommandResult> {
    commands
        .iter()
        .map(|command| apply_checked(registry, command))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn replicas_agree_with_and_without_a_snapshot(
        history in history(),
        split in any::<prop::sample::Index>(),
    ) {
        let mut leader = Registry::default();
        let (commands, leader_results) = lead(&mut leader, &history);

        let mut follower = Registry::default();
        let follower_results = follow(&mut follower, &commands);
        prop_assert_eq!(&follower_results, &leader_results);
        prop_assert_eq!(&follower, &leader);

        // A third replica: a prefix, then a snapshot, then the rest.
        let split = split.index(commands.len() + 1);
        let mut before_snapshot = Registry::default();
        let mut restored_results = follow(&mut before_snapshot, &commands[..split]);
        let bytes = before_snapshot.to_snapshot_bytes();
        let mut restored = Registry::from_snapshot_bytes(&bytes).expect("own snapshot restores");
        prop_assert_eq!(&restored, &before_snapshot);
        restored_results.extend(follow(&mut restored, &commands[split..]));
        prop_assert_eq!(&restored_results, &leader_results);
        prop_assert_eq!(&restored, &leader);
        prop_assert_eq!(restored.to_snapshot_bytes(), leader.to_snapshot_bytes());
    }
}

/// A guard on the generator rather than the registry: the histories must
/// reach every outcome, or the properties above prove little.
#[test]
fn histories_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeSet;

    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    let mut pruned_something = false;
    for _ in 0..300 {
        let history = history()
            .new_tree(&mut runner)
            .expect("a history")
            .current();
        let (_, results) = lead(&mut Registry::default(), &history);
        for result in results {
            let text = match &result {
                Ok(response) => format!("{response:?}"),
                Err(error) => format!("{error:?}"),
            };
            let variant = text.split([' ', '{', '(']).next().unwrap_or_default();
            seen.insert(variant.to_string());
            if let Ok(mesoraft_registry::Response::Pruned { unreachable, gone }) = result {
                pruned_something |= unreachable + gone > 0;
            }
        }
    }
    let expected = [
        "Applied",
        "Unchanged",
        "AgentAdmitted",
        "FrameworkAdded",
        "Pruned",
        "ClusterNotInitialized",
        "ClusterIdMismatch",
        "MissingId",
        "InvalidId",
        "AgentAlreadyAdmitted",
        "AgentUnreachable",
        "AgentGone",
        "AgentUnknown",
        "FrameworkAlreadyExists",
        "FrameworkCompleted",
        "FrameworkUnknown",
        "MissingRole",
        "InvalidRole",
        "InvalidWeight",
    ];
    for variant in expected {
        assert!(
            seen.contains(variant),
            "never produced {variant}; saw {seen:?}"
        );
    }
    assert!(pruned_something, "no history ever pruned an entry");
}

/// Arbitrary (not just small-id-space) input never panics, and every state
/// reached is one a snapshot can carry (restoring checks the invariants).
mod arbitrary_input {
    use super::*;

    fn any_id() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(AGENT_IDS).prop_map(str::to_string),
            ".*",
            "c-S[0-9]{1,25}",
            "c-[0-9]{1,25}",
        ]
    }

    fn any_agent_info() -> impl Strategy<Value = AgentInfo> {
        (prop::option::of(any_id()), ".*").prop_map(|(id, hostname)| AgentInfo {
            hostname,
            id: id.map(|value| AgentId { value }),
            ..Default::default()
        })
    }

    fn any_framework_info() -> impl Strategy<Value = FrameworkInfo> {
        prop::option::of(any_id()).prop_map(|id| FrameworkInfo {
            id: id.map(|value| FrameworkId { value }),
            ..Default::default()
        })
    }

    fn any_entries() -> impl Strategy<Value = Vec<PruneEntry>> {
        let entry = (any_id(), any::<i64>()).prop_map(|(value, time_ns)| PruneEntry {
            agent_id: AgentId { value },
            time_ns,
        });
        prop::collection::vec(entry, 0..3)
    }

    fn any_command() -> impl Strategy<Value = Command> {
        let weight = (any::<f64>(), prop::option::of(".*"))
            .prop_map(|(weight, role)| WeightInfo { weight, role });
        prop_oneof![
            prop_oneof![Just("c".to_string()), ".*"]
                .prop_map(|cluster_id| Command::InitCluster { cluster_id }),
            any_agent_info().prop_map(|info| Command::AdmitAgent { info }),
            any_agent_info().prop_map(|info| Command::UpdateAgent { info }),
            any_agent_info().prop_map(|info| Command::MarkReachable { info }),
            (any_id(), any::<i64>()).prop_map(|(value, time_ns)| Command::MarkUnreachable {
                agent_id: AgentId { value },
                time_ns,
            }),
            (any_id(), any::<i64>()).prop_map(|(value, time_ns)| Command::MarkGone {
                agent_id: AgentId { value },
                time_ns,
            }),
            any_id().prop_map(|value| Command::RemoveAgent {
                agent_id: AgentId { value }
            }),
            (any_entries(), any_entries())
                .prop_map(|(unreachable, gone)| Command::Prune { unreachable, gone }),
            (any_framework_info(), any::<i64>())
                .prop_map(|(info, time_ns)| Command::AddFramework { info, time_ns }),
            (any_framework_info(), prop::option::of(any::<i64>())).prop_map(
                |(info, disconnected_time_ns)| {
                    Command::UpdateFramework {
                        info,
                        disconnected_time_ns,
                    }
                }
            ),
            (any_id(), any::<i64>()).prop_map(|(value, time_ns)| Command::CompleteFramework {
                framework_id: FrameworkId { value },
                time_ns,
            }),
            prop::collection::vec(weight, 0..3)
                .prop_map(|weights| Command::UpdateWeights { weights }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics_and_keeps_invariants(
            commands in prop::collection::vec(any_command(), 0..40),
            now in any::<i64>(),
            max_count in 0usize..3,
            max_age_ns in any::<i64>(),
        ) {
            let mut registry = Registry::default();
            for command in &commands {
                let result = apply_checked(&mut registry, command);
                // Errors render (and serialize, as the Raft response does).
                if let Err(error) = &result {
                    prop_assert!(!error.to_string().is_empty());
                }
                let json = serde_json::to_string(&result).expect("result serializes");
                let back: CommandResult = serde_json::from_str(&json).expect("result parses");
                prop_assert_eq!(&back, &result);
                let restored = Registry::from_snapshot_bytes(&registry.to_snapshot_bytes());
                prop_assert_eq!(restored.as_ref(), Ok(&registry));
            }
            let prune = registry.select_prune(now, max_count, max_age_ns).into_command();
            apply_checked(&mut registry, &prune).expect("Prune is never refused");
        }
    }
}

/// Whatever state `apply` produces, its snapshot restores to an equal
/// state: the loader's invariants are the rules `apply` enforces, not
/// stricter ones. Ids cluster around the id counters' edges (the largest
/// numbers, leading zeros, numbers too long for a counter), where the two
/// sets of rules could part.
mod snapshot_restores_every_applied_state {
    use super::*;

    fn sequence_number() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("0".to_string()),
            Just("7".to_string()),
            Just("0007".to_string()),
            Just((u64::MAX - 1).to_string()),
            Just(u64::MAX.to_string()),
            Just(format!("0{}", u64::MAX)),
            Just("18446744073709551616".to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
        ]
    }

    fn edge_agent_id() -> impl Strategy<Value = AgentId> {
        prop_oneof![
            4 => sequence_number().prop_map(|n| format!("c-S{n}")),
            1 => sequence_number().prop_map(|n| format!("c-{n}")),
            1 => Just("x".to_string()),
        ]
        .prop_map(|value| AgentId { value })
    }

    fn edge_framework_id() -> impl Strategy<Value = FrameworkId> {
        prop_oneof![
            4 => sequence_number().prop_map(|n| format!("c-{n}")),
            1 => sequence_number().prop_map(|n| format!("c-S{n}")),
        ]
        .prop_map(|value| FrameworkId { value })
    }

    fn agent() -> impl Strategy<Value = AgentInfo> {
        prop::option::weighted(0.8, edge_agent_id()).prop_map(|id| AgentInfo {
            hostname: "h".to_string(),
            id,
            ..Default::default()
        })
    }

    fn command() -> impl Strategy<Value = Command> {
        let framework =
            prop::option::weighted(0.8, edge_framework_id()).prop_map(|id| FrameworkInfo {
                user: "u".to_string(),
                name: "n".to_string(),
                id,
                ..Default::default()
            });
        prop_oneof![
            1 => Just(Command::InitCluster { cluster_id: "c".to_string() }),
            4 => agent().prop_map(|info| Command::AdmitAgent { info }),
            3 => agent().prop_map(|info| Command::MarkReachable { info }),
            2 => edge_agent_id().prop_map(|agent_id| Command::MarkUnreachable { agent_id, time_ns: 1 }),
            2 => edge_agent_id().prop_map(|agent_id| Command::MarkGone { agent_id, time_ns: 2 }),
            4 => framework.prop_map(|info| Command::AddFramework { info, time_ns: 3 }),
            2 => edge_framework_id().prop_map(|framework_id| Command::CompleteFramework { framework_id, time_ns: 4 }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn after_every_command(commands in prop::collection::vec(command(), 0..40)) {
            let mut registry = Registry::default();
            registry.apply(&Command::InitCluster { cluster_id: "c".to_string() })
                .expect("InitCluster");
            for command in &commands {
                let _ = apply_checked(&mut registry, command);
                let restored = Registry::from_snapshot_bytes(&registry.to_snapshot_bytes());
                prop_assert_eq!(
                    restored.as_ref(), Ok(&registry),
                    "state after {:?} does not restore from its snapshot", command
                );
            }
        }
    }
}
