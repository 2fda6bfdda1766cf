//! Fairness over simulated rounds: frameworks launch tasks of a fixed
//! size on what they are offered, keep them running (the task's
//! resources stay held), and decline the rest with `refuse_seconds` 0.
//! Each framework launches one task per offer, so every allocation
//! round moves shares by at most one task and DRF's choice decides who
//! grows. With unlimited and equal demand, the cluster fills up with
//! dominant shares equal up to one task (weighted by the role weights).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::super::{Allocator, FrameworkId, RefuseFilter, Resources};
use super::{cluster, fw, res, roles};

struct Simulation {
    allocator: Allocator,
    task: Resources,
    now: Instant,
    tasks: BTreeMap<FrameworkId, usize>,
}

impl Simulation {
    fn new(allocator: Allocator, task: Resources) -> Simulation {
        Simulation {
            allocator,
            task,
            now: Instant::now(),
            tasks: BTreeMap::new(),
        }
    }

    /// One allocation round; returns how many tasks were launched.
    fn round(&mut self) -> usize {
        let mut launched = 0;
        for offer in self.allocator.allocate(self.now) {
            let rest = match offer.resources.checked_sub(&self.task) {
                Some(rest) => {
                    launched += 1;
                    *self.tasks.entry(offer.framework_id.clone()).or_default() += 1;
                    rest
                }
                None => offer.resources.clone(),
            };
            self.allocator
                .recover(
                    &offer.framework_id,
                    &offer.agent_id,
                    &offer.role,
                    &rest,
                    Some(RefuseFilter::seconds(0.0)),
                    self.now,
                )
                .unwrap();
        }
        self.now += Duration::from_secs(1);
        launched
    }

    /// Runs rounds until nothing more can be launched.
    fn run_until_full(&mut self) {
        for _ in 0..10_000 {
            if self.round() == 0 {
                return;
            }
        }
        panic!("the cluster never filled up");
    }
}

/// Four agents of 8 cpus and 8 GB: 32 one-cpu tasks in all, so one task
/// is a dominant share of 1/32.
fn four_agents() -> Allocator {
    cluster(&[
        ("a1", 8.0, 8192.0),
        ("a2", 8.0, 8192.0),
        ("a3", 8.0, 8192.0),
        ("a4", 8.0, 8192.0),
    ])
}

const ONE_TASK: f64 = 1.0 / 32.0;
const EPSILON: f64 = 1e-9;

#[test]
fn equal_frameworks_in_one_role_converge_to_equal_shares() {
    let mut a = four_agents();
    for f in ["f1", "f2", "f3"] {
        a.add_framework(fw(f), roles(&["r"]), true).unwrap();
    }
    let mut sim = Simulation::new(a, res(1.0, 512.0));
    sim.run_until_full();
    assert_eq!(sim.tasks.values().sum::<usize>(), 32, "{:?}", sim.tasks);
    let shares: Vec<f64> = ["f1", "f2", "f3"]
        .iter()
        .map(|f| sim.allocator.framework_share(&fw(f), "r"))
        .collect();
    let max = shares.iter().copied().fold(0.0, f64::max);
    let min = shares.iter().copied().fold(1.0, f64::min);
    assert!(max - min <= ONE_TASK + EPSILON, "shares {shares:?}");
}

#[test]
fn equal_roles_converge_to_equal_shares() {
    let mut a = four_agents();
    a.add_framework(fw("f1"), roles(&["a"]), true).unwrap();
    a.add_framework(fw("f2"), roles(&["b"]), true).unwrap();
    // A second framework in role a does not give the role more.
    a.add_framework(fw("f3"), roles(&["a"]), true).unwrap();
    let mut sim = Simulation::new(a, res(1.0, 512.0));
    sim.run_until_full();
    let share_a = sim.allocator.role_share("a");
    let share_b = sim.allocator.role_share("b");
    assert!(
        (share_a - share_b).abs() <= ONE_TASK + EPSILON,
        "a {share_a} b {share_b}"
    );
    assert!((share_a + share_b - 1.0).abs() < EPSILON);
}

#[test]
fn weights_two_to_one_converge_to_shares_two_to_one() {
    let mut a = four_agents();
    a.set_weight("a", 2.0).unwrap();
    a.add_framework(fw("f1"), roles(&["a"]), true).unwrap();
    a.add_framework(fw("f2"), roles(&["b"]), true).unwrap();
    // 3 GB per task makes memory the dominant kind: 8 tasks in all
    // (2 per agent), one task is a share of 3/32.
    let mut sim = Simulation::new(a, res(0.5, 3072.0));
    sim.run_until_full();
    let share_a = sim.allocator.role_share("a");
    let share_b = sim.allocator.role_share("b");
    let one_task = 3072.0 / 32768.0;
    assert!(share_a > share_b, "a {share_a} b {share_b}");
    assert!(
        (share_a / 2.0 - share_b).abs() <= one_task + EPSILON,
        "a {share_a} b {share_b}: weighted shares differ by more than one task"
    );
}

#[test]
fn weights_two_to_one_with_small_tasks() {
    let mut a = four_agents();
    a.replace_weights([("a", 2.0)]).unwrap();
    a.add_framework(fw("f1"), roles(&["a"]), true).unwrap();
    a.add_framework(fw("f2"), roles(&["b"]), true).unwrap();
    let mut sim = Simulation::new(a, res(0.25, 64.0));
    sim.run_until_full();
    let tasks_a = sim.tasks[&fw("f1")];
    let tasks_b = sim.tasks[&fw("f2")];
    assert_eq!(tasks_a + tasks_b, 128);
    let share_a = sim.allocator.role_share("a");
    let share_b = sim.allocator.role_share("b");
    assert!(
        (share_a / 2.0 - share_b).abs() <= 1.0 / 128.0 + EPSILON,
        "a {share_a} ({tasks_a} tasks) b {share_b} ({tasks_b} tasks)"
    );
}

#[test]
fn a_newcomer_catches_up_as_tasks_finish() {
    let mut a = four_agents();
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let mut sim = Simulation::new(a, res(1.0, 512.0));
    sim.run_until_full();
    assert_eq!(sim.tasks[&fw("f1")], 32);
    sim.allocator
        .add_framework(fw("f2"), roles(&["r"]), true)
        .unwrap();
    // f1's tasks finish one per agent and round; f2 has the smaller
    // share, so it gets the freed cpus until it is level with f1.
    let agents: Vec<_> = sim.allocator.agent_ids().cloned().collect();
    for _ in 0..8 {
        for agent_id in &agents {
            if sim.allocator.framework_share(&fw("f1"), "r")
                <= sim.allocator.framework_share(&fw("f2"), "r")
            {
                break;
            }
            let held = sim.allocator.agent(agent_id).unwrap().held;
            if held.iter().any(|h| h.framework_id == fw("f1")) {
                let task = sim.task.clone();
                let now = sim.now;
                sim.allocator
                    .recover(&fw("f1"), agent_id, "r", &task, None, now)
                    .unwrap();
                *sim.tasks.get_mut(&fw("f1")).unwrap() -= 1;
            }
        }
        sim.round();
    }
    let f1 = sim.allocator.framework_share(&fw("f1"), "r");
    let f2 = sim.allocator.framework_share(&fw("f2"), "r");
    assert!((f1 - f2).abs() <= ONE_TASK + EPSILON, "f1 {f1} f2 {f2}");
}
