//! No checker panics, whatever the history: completions without
//! invocations, repeated or out-of-order `index` fields, times going
//! backwards, values of the wrong shape. A panic in a checker aborts the
//! run without results, which looks like harness trouble instead of a
//! verdict.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::durability::DurabilityChecker;
use super::election::ElectionChecker;
use super::map::MapChecker;
use super::register::RegisterChecker;
use super::Checker;
use crate::history::{Op, OpType, Process};
use crate::workload::FINAL_PROCESS;

fn checkers() -> Vec<Box<dyn Checker>> {
    let budget = Duration::from_millis(200);
    vec![
        Box::new(RegisterChecker {
            time_budget: budget,
        }),
        Box::new(MapChecker {
            time_budget: budget,
        }),
        Box::new(ElectionChecker),
        Box::new(DurabilityChecker),
    ]
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..9) {
        0 => Value::Null,
        1 => json!(rng.gen_range(-3..5)),
        2 => json!(rng.gen_range(0..4) as f64 + 0.5),
        3 => json!("x"),
        4 => json!(u64::MAX),
        5 if depth < 2 => json!([random_value(rng, depth + 1)]),
        6 if depth < 2 => json!({"nemesis": "membership", "began_ns": random_value(rng, depth + 1),
                                 "value": {"wiped": [random_value(rng, depth + 1), 1]}}),
        _ if depth < 2 => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.gen_range(0..4) {
                let key = ["a", "b", "du-0", "du-0-1", "du-0-x", "el-1", "id", "term"]
                    [rng.gen_range(0..8)];
                map.insert(key.into(), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
        _ => json!(1.0),
    }
}

fn random_history(rng: &mut StdRng) -> Vec<Op> {
    let n = rng.gen_range(0..40);
    (0..n)
        .map(|i| Op {
            index: match rng.gen_range(0..4) {
                0 => i,
                1 => rng.gen_range(0..5),
                2 => i + 1_000_000,
                _ => rng.gen_range(0..usize::MAX),
            },
            process: match rng.gen_range(0..6) {
                0 => Process::Nemesis,
                1 => Process::Client(FINAL_PROCESS),
                _ => Process::Client(rng.gen_range(0..4)),
            },
            kind: [OpType::Invoke, OpType::Ok, OpType::Fail, OpType::Info][rng.gen_range(0..4)],
            f: ["read", "write", "final-read", "status", "start", "stop"][rng.gen_range(0..6)]
                .into(),
            key: [None, Some("a"), Some("b"), Some("du-0"), Some("el-1")][rng.gen_range(0..5)]
                .map(Into::into),
            value: random_value(rng, 0),
            time: match rng.gen_range(0..4) {
                0 => 0,
                1 => u64::MAX - rng.gen_range(0..3),
                _ => rng.gen_range(0..50),
            },
            node: None,
            error: None,
        })
        .collect()
}

#[test]
fn no_checker_panics_on_malformed_histories() {
    let mut rng = StdRng::seed_from_u64(77);
    let checkers = checkers();
    for _ in 0..3000 {
        let h = random_history(&mut rng);
        for c in &checkers {
            let r = c.check(&h);
            assert_eq!(r.checker, c.name());
        }
    }
}

#[test]
fn completions_without_invocations_and_reversed_times_are_judged() {
    // A completion with no invocation, then a read whose completion comes
    // before its invocation in time, and indexes counting down.
    let ops = [
        (
            Process::Client(0),
            OpType::Ok,
            "write",
            Some("a"),
            json!(1.0),
            5,
        ),
        (
            Process::Client(1),
            OpType::Invoke,
            "read",
            None,
            Value::Null,
            9,
        ),
        (
            Process::Client(1),
            OpType::Ok,
            "read",
            None,
            json!({"a": 1.0}),
            3,
        ),
        (
            Process::Client(2),
            OpType::Invoke,
            "write",
            None,
            json!({"a": 2.0, "b": 2.0}),
            1,
        ),
        (
            Process::Client(FINAL_PROCESS),
            OpType::Ok,
            "final-read",
            None,
            json!({"a": 2.0}),
            2,
        ),
    ];
    let h: Vec<Op> = ops
        .into_iter()
        .enumerate()
        .map(|(i, (process, kind, f, key, value, time))| Op {
            index: 100 - i,
            process,
            kind,
            f: f.into(),
            key: key.map(Into::into),
            value,
            time,
            node: None,
            error: None,
        })
        .collect();
    for c in checkers() {
        let r = c.check(&h);
        assert!(!r.valid.is_pass(), "{}: {}", c.name(), r.details);
    }
}
