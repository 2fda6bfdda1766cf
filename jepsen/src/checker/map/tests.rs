//! The map checker must accept linearizable histories of multi-key writes
//! and whole-map reads and reject the others, torn reads in particular.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::*;
use crate::checker::testing::Builder;
use crate::history::OpType::{Fail, Info, Ok as Done};

/// The linearizability part of the verdict (hand-made histories mostly
/// have no final read, which alone makes the verdict `unknown`).
fn linearizability(h: &[Op]) -> Validity {
    let r = MapChecker::default().check(h);
    MapDetails::deserialize(&r.details)
        .expect("map details")
        .linearizable
}

#[test]
fn sequential_and_concurrent_multi_key_histories_pass() {
    assert_eq!(linearizability(&[]), Validity::True);
    let h = Builder::default()
        .read_all(1, json!({"a": null, "b": null, "c": null}), 0, 1)
        .write_map(0, json!({"a": 1.0, "b": 1.0}), 2, 3, Done)
        .read_all(1, json!({"a": 1.0, "b": 1.0, "c": null}), 4, 5)
        .write_map(0, json!({"b": 2.0, "c": 2.0}), 6, 7, Done)
        .read_all(1, json!({"a": 1.0, "b": 2.0, "c": 2.0}), 8, 9)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
    // Two concurrent writes, read in either order, consistently.
    for (a, b, c) in [(1.0, 2.0, 2.0), (1.0, 1.0, 2.0)] {
        let h = Builder::default()
            .write_map(0, json!({"a": 1.0, "b": 1.0}), 0, 10, Done)
            .write_map(1, json!({"b": 2.0, "c": 2.0}), 1, 9, Done)
            .read_all(2, json!({"a": a, "b": b, "c": c}), 11, 12)
            .read_all(2, json!({"a": a, "b": b, "c": c}), 13, 14)
            .build();
        assert_eq!(linearizability(&h), Validity::True, "{a} {b} {c}");
    }
}

/// Every operation a failure names is an invocation of the history with
/// those times, and the window is in time order.
fn assert_named_operations_are_real(h: &[Op], failure: &Value) {
    let mut named = vec![&failure["stuck_op"]];
    named.extend(failure["window"].as_array().expect("window"));
    for op in named {
        let index = op["index"].as_u64().expect("index") as usize;
        let inv = h
            .iter()
            .find(|o| o.index == index)
            .expect("named op exists");
        assert_eq!(inv.kind, OpType::Invoke, "{op:#}");
        assert_eq!(op["f"], inv.f, "{op:#}");
        assert_eq!(op["invoke_ms"], json!(inv.time as f64 / 1e6), "{op:#}");
    }
    let times: Vec<f64> = failure["window"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["invoke_ms"].as_f64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{failure:#}");
}

#[test]
fn torn_read_fails() {
    // The read is concurrent with the second write and shows its `a` but
    // the first write's `b`: each key alone is a legal register history.
    let h = Builder::default()
        .write_map(0, json!({"a": 1.0, "b": 1.0}), 0, 1, Done)
        .write_map(0, json!({"a": 2.0, "b": 2.0}), 2, 10, Done)
        .read_all(1, json!({"a": 2.0, "b": 1.0}), 3, 4)
        .final_read(json!({"a": 2.0, "b": 2.0}), 20, 21)
        .build();
    let r = MapChecker::default().check(&h);
    assert_eq!(r.valid, Validity::False, "{}", r.details);
    let failure = &r.details["failures"][0];
    assert_eq!(failure["stuck_op"]["f"], "read", "{failure:#}");
    assert_eq!(failure["stuck_op"]["value"], json!({"a": 2.0, "b": 1.0}));
    assert_eq!(failure["window_is_minimal"], true, "{failure:#}");
    let window = failure["window"].as_array().unwrap();
    assert!(window.len() <= 3, "{failure:#}");
    assert!(
        window
            .iter()
            .any(|o| o["value"] == json!({"a": 2.0, "b": 2.0})),
        "the write the read saw half of is named: {failure:#}"
    );
    assert_named_operations_are_real(&h, failure);
}

#[test]
fn stale_whole_map_read_fails() {
    let h = Builder::default()
        .write_map(0, json!({"a": 1.0, "b": 1.0}), 0, 1, Done)
        .write_map(0, json!({"a": 2.0, "b": 2.0}), 2, 3, Done)
        .read_all(1, json!({"a": 1.0, "b": 1.0}), 4, 5)
        .build();
    let r = MapChecker::default().check(&h);
    assert_eq!(r.valid, Validity::False);
    let failure = &r.details["failures"][0];
    assert_eq!(failure["keys"], json!(["a", "b"]));
    assert_eq!(failure["window_kind"], "self-contained", "{failure:#}");
    assert_eq!(failure["state_after_prefix"], json!({"a": 2.0, "b": 2.0}));
    let window = failure["window"].as_array().unwrap();
    assert_eq!(window.len(), 2, "{failure:#}");
    assert_eq!(window[0]["value"], json!({"a": 2.0, "b": 2.0}));
    assert_eq!(window[1]["f"], "read");
    assert_named_operations_are_real(&h, failure);
    // A read that mixes instants: `a` from after the second write, `c`
    // from before the third, which completed before the read began.
    let h = Builder::default()
        .write_map(0, json!({"a": 1.0, "c": 1.0}), 0, 1, Done)
        .write_map(0, json!({"a": 2.0, "b": 2.0}), 2, 3, Done)
        .write_map(0, json!({"b": 3.0, "c": 3.0}), 4, 5, Done)
        .read_all(1, json!({"a": 2.0, "b": 3.0, "c": 1.0}), 6, 7)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
}

#[test]
fn unknown_writes_apply_whole_late_or_never() {
    let base = || {
        let mut b = Builder::default();
        b.write_map(0, json!({"a": 1.0, "b": 1.0}), 0, 1, Done);
        b
    };
    // Timed out and never seen: as if never applied.
    let h = base()
        .write_map(1, json!({"a": 2.0, "b": 2.0}), 2, 3, Info)
        .read_all(2, json!({"a": 1.0, "b": 1.0}), 4, 5)
        .write_map_open(3, json!({"b": 3.0}), 6)
        .read_all(2, json!({"a": 1.0, "b": 1.0}), 7, 8)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
    // Seen late, and from then on.
    let h = base()
        .write_map(1, json!({"a": 2.0, "b": 2.0}), 2, 3, Info)
        .read_all(2, json!({"a": 1.0, "b": 1.0}), 4, 5)
        .read_all(2, json!({"a": 2.0, "b": 2.0}), 50, 51)
        .read_all(2, json!({"a": 2.0, "b": 2.0}), 60, 61)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
    // Seen, then unseen with no other write.
    let h = base()
        .write_map(1, json!({"a": 2.0, "b": 2.0}), 2, 3, Info)
        .read_all(2, json!({"a": 2.0, "b": 2.0}), 4, 5)
        .read_all(2, json!({"a": 1.0, "b": 1.0}), 6, 7)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
    // Seen before it was invoked.
    let h = base()
        .read_all(2, json!({"a": 2.0, "b": 2.0}), 2, 3)
        .write_map(1, json!({"a": 2.0, "b": 2.0}), 4, 5, Info)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
    // Seen in one key only: an unknown write is applied whole or not at all.
    let h = base()
        .write_map(1, json!({"a": 2.0, "b": 2.0}), 2, 3, Info)
        .read_all(2, json!({"a": 2.0, "b": 1.0}), 4, 5)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
    // Applied late, over a later acknowledged write.
    let h = base()
        .write_map(1, json!({"a": 2.0, "b": 2.0}), 2, 3, Info)
        .write_map(0, json!({"a": 3.0, "b": 3.0}), 4, 5, Done)
        .read_all(2, json!({"a": 3.0, "b": 3.0}), 6, 7)
        .read_all(2, json!({"a": 2.0, "b": 2.0}), 8, 9)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
    // ...but only once.
    let h = base()
        .write_map(1, json!({"a": 2.0, "b": 2.0}), 2, 3, Info)
        .write_map(0, json!({"a": 3.0, "b": 3.0}), 4, 5, Done)
        .read_all(2, json!({"a": 2.0, "b": 2.0}), 6, 7)
        .read_all(2, json!({"a": 3.0, "b": 3.0}), 8, 9)
        .read_all(2, json!({"a": 2.0, "b": 2.0}), 10, 11)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
    // A failed write never happened.
    let h = base()
        .write_map(1, json!({"a": 2.0, "b": 2.0}), 2, 3, Fail)
        .read_all(2, json!({"a": 2.0, "b": 2.0}), 4, 5)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
}

#[test]
fn simplification_drops_unseen_and_bounds_seen_unknown_writes() {
    let h = Builder::default()
        .write_map(0, json!({"a": 1.0, "b": 1.0}), 0, 1, Info)
        .write_map(1, json!({"a": 2.0, "b": 2.0}), 0, 1, Info)
        .read_all(2, json!({"a": null, "b": 2.0}), 5, 7)
        .read_all(2, json!({"a": null, "b": 2.0}), 3, 9)
        .build();
    let ops = simplify_unknown_writes(partition(&h).ops);
    let writes: Vec<&MapOp> = ops
        .iter()
        .filter(|o| matches!(o.input, MapInput::Write(_)))
        .collect();
    assert_eq!(writes.len(), 1, "the unseen write is dropped");
    assert_eq!(
        writes[0].ret,
        Some(7_000_000),
        "applied before the first read returned"
    );
}

#[test]
fn final_read_and_acknowledged_writes_are_required() {
    let base = || {
        let mut b = Builder::default();
        b.write_map(0, json!({"a": 1.0, "b": 1.0}), 0, 1, Done)
            .read_all(1, json!({"a": 1.0, "b": 1.0}), 2, 3);
        b
    };
    let r = MapChecker::default().check(&base().build());
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    let r = MapChecker::default().check(&base().final_read(json!({"a": 1.0}), 5, 6).build());
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    let r =
        MapChecker::default().check(&base().final_read(json!({"a": 1.0, "b": 1.0}), 5, 6).build());
    assert_eq!(r.valid, Validity::True, "{}", r.summary);
    assert_eq!(r.details["keys"]["a"]["reads_ok"], 2, "{}", r.details);
    assert_eq!(r.details["keys"]["a"]["final_reads"], 1, "{}", r.details);
    let r = MapChecker::default().check(
        &Builder::default()
            .write_map(0, json!({"a": 1.0, "b": 1.0}), 0, 1, Info)
            .final_read(json!({"a": null, "b": null}), 5, 6)
            .build(),
    );
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
}

/// Simulates an atomic map: every operation takes effect at a random
/// instant inside its interval. Writes set 2..=all keys (sometimes one)
/// to a value unique to the write; some time out (applied or not) or
/// fail, and a process's last write may never complete. Ends with a final
/// read of the whole map.
fn simulate(
    rng: &mut StdRng,
    processes: u64,
    ops_per_process: usize,
    keys: &[&str],
    spread: u64,
) -> Vec<Op> {
    struct Planned {
        p: u64,
        write: Option<Vec<String>>,
        value: f64,
        call: u64,
        ret: u64,
        at: u64,
        outcome: OpType,
        applied: bool,
        open: bool,
    }
    let mut plans = Vec::new();
    let mut counter = 0.0;
    for p in 0..processes {
        let mut t = rng.gen_range(0..spread.max(1));
        for n in 0..ops_per_process {
            let call = t;
            let ret = call + rng.gen_range(1..=spread.max(1));
            let at = rng.gen_range(call..=ret);
            let write = rng.gen_bool(0.5).then(|| {
                let n = if rng.gen_bool(0.1) {
                    1
                } else {
                    rng.gen_range(2.min(keys.len())..=keys.len())
                };
                keys.choose_multiple(rng, n)
                    .map(|k| k.to_string())
                    .collect()
            });
            counter += 1.0;
            let (outcome, applied) = match (write.is_some(), rng.gen_range(0..10)) {
                (true, 0) => (Info, rng.gen_bool(0.5)),
                (true, 1) => (Fail, false),
                _ => (Done, true),
            };
            // Only a process's last operation can still be running when
            // the history ends.
            let open = outcome == Info && n + 1 == ops_per_process && rng.gen_bool(0.5);
            plans.push(Planned {
                p,
                write,
                value: counter,
                call,
                ret,
                at,
                outcome,
                applied,
                open,
            });
            t = ret + rng.gen_range(0..spread.max(1));
        }
    }
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|i| plans[*i].at);
    let mut state: BTreeMap<String, f64> = BTreeMap::new();
    let mut seen: HashMap<usize, Value> = HashMap::new();
    let snapshot = |state: &BTreeMap<String, f64>| -> Value {
        Value::Object(
            keys.iter()
                .map(|k| (k.to_string(), json!(state.get(*k))))
                .collect(),
        )
    };
    for i in order {
        let plan = &plans[i];
        match &plan.write {
            Some(sets) if plan.applied => {
                for k in sets {
                    state.insert(k.clone(), plan.value);
                }
            }
            Some(_) => {}
            None => {
                seen.insert(i, snapshot(&state));
            }
        }
    }
    let mut b = Builder::default();
    for (i, plan) in plans.iter().enumerate() {
        let p = plan.p + 1000 * i as u64;
        match &plan.write {
            Some(sets) => {
                let sets = Value::Object(
                    sets.iter()
                        .map(|k| (k.clone(), json!(plan.value)))
                        .collect(),
                );
                if plan.open {
                    b.write_map_open(p, sets, plan.call)
                } else {
                    b.write_map(p, sets, plan.call, plan.ret, plan.outcome)
                }
            }
            None => b.read_all(p, seen[&i].clone(), plan.call, plan.ret),
        };
    }
    let end = plans.iter().map(|p| p.ret).max().unwrap_or(0) + 1;
    b.final_read(snapshot(&state), end, end + 1);
    b.build()
}

#[test]
fn generated_atomic_map_histories_pass() {
    for seed in 0..60 {
        let mut rng = StdRng::seed_from_u64(seed);
        let h = simulate(&mut rng, 5, 40, &["a", "b", "c", "d"], 30);
        let r = MapChecker::default().check(&h);
        assert_eq!(r.valid, Validity::True, "seed {seed}: {}", r.details);
    }
}

/// Makes one read show, for one key, the value of a write that an
/// acknowledged write to that key followed, both over before the read
/// began; the other keys keep their values (a torn or stale read).
fn inject_stale_key(h: &mut [Op], rng: &mut StdRng) -> bool {
    let done: Vec<(usize, usize, u64, u64, Value, OpType, bool)> = pair(h)
        .iter()
        .filter_map(|c| {
            let d = c.complete?;
            let is_write = c.invoke.f == "write";
            Some((
                c.invoke.index,
                d.index,
                c.invoke.time,
                d.time,
                c.invoke.value.clone(),
                d.kind,
                is_write,
            ))
        })
        .collect();
    let writes: Vec<_> = done.iter().filter(|o| o.6 && o.5 == Done).collect();
    let mut reads: Vec<_> = done.iter().filter(|o| !o.6 && o.5 == Done).collect();
    reads.shuffle(rng);
    for r in reads {
        for wa in &writes {
            for wb in &writes {
                let Some(key) =
                    wa.4.as_object()
                        .and_then(|a| a.keys().find(|k| wb.4.get(k.as_str()).is_some()).cloned())
                else {
                    continue;
                };
                if wa.3 < wb.2 && wb.3 < r.2 {
                    h[r.1].value[&key] = wa.4[&key].clone();
                    return true;
                }
            }
        }
    }
    false
}

#[test]
fn generated_histories_with_a_stale_key_fail() {
    let mut injected = 0;
    for seed in 0..60 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut h = simulate(&mut rng, 5, 40, &["a", "b", "c", "d"], 30);
        if !inject_stale_key(&mut h, &mut rng) {
            continue;
        }
        injected += 1;
        let r = MapChecker::default().check(&h);
        assert_eq!(r.valid, Validity::False, "seed {seed}");
        assert_named_operations_are_real(&h, &r.details["failures"][0]);
    }
    assert!(
        injected > 40,
        "only {injected} histories had a stale key injected"
    );
}

/// Reference: exhaustive search over every order (and every subset of the
/// unknown-outcome writes) that respects real time.
fn brute_force(ops: &[MapOp], keys: usize) -> bool {
    fn go(ops: &[MapOp], used: u32, state: MapState, seen: &mut HashSet<(u32, MapState)>) -> bool {
        let definite_left = (0..ops.len()).any(|i| used & (1 << i) == 0 && ops[i].ret.is_some());
        if !definite_left {
            return true;
        }
        if !seen.insert((used, state.clone())) {
            return false;
        }
        for i in 0..ops.len() {
            if used & (1 << i) != 0 {
                continue;
            }
            let blocked = (0..ops.len()).any(|j| {
                j != i && used & (1 << j) == 0 && ops[j].ret.is_some_and(|r| r < ops[i].call)
            });
            if blocked {
                continue;
            }
            let model = MapModel { keys: state.len() };
            if let Some(next) = model.step(&state, &ops[i].input, ops[i].output.as_ref()) {
                if go(ops, used | (1 << i), next, seen) {
                    return true;
                }
            }
        }
        false
    }
    go(ops, 0, MapModel { keys }.initial(), &mut HashSet::new())
}

#[test]
fn agrees_with_brute_force_on_random_small_histories() {
    let mut rng = StdRng::seed_from_u64(4343);
    let (mut legal, mut illegal) = (0, 0);
    for case in 0..3000 {
        let processes = rng.gen_range(2..=4u64);
        let keys: &[&str] = if rng.gen_bool(0.5) {
            &["a", "b"]
        } else {
            &["a", "b", "c"]
        };
        let per_process = rng.gen_range(1..=3);
        let mut h = simulate(&mut rng, processes, per_process, keys, 4);
        // Drop the final read (it adds nothing here), and perturb one
        // read in half the cases.
        h.retain(|o| o.f != "final-read");
        if rng.gen_bool(0.5) {
            let reads: Vec<usize> = (0..h.len())
                .filter(|i| h[*i].f == "read" && h[*i].kind == Done)
                .collect();
            let written: Vec<Value> = h
                .iter()
                .filter(|o| o.f == "write" && o.kind == OpType::Invoke)
                .filter_map(|o| o.value.as_object()?.values().next().cloned())
                .collect();
            if let Some(&r) = reads.choose(&mut rng) {
                let key = keys[rng.gen_range(0..keys.len())];
                h[r].value[key] = match rng.gen_range(0..=written.len() + 1) {
                    0 => Value::Null,
                    k if k <= written.len() => written[k - 1].clone(),
                    _ => json!(1000.0), // never written
                };
            }
        }
        let history = partition(&h);
        let expected = brute_force(&history.ops, history.keys.len());
        let model = MapModel {
            keys: history.keys.len(),
        };
        let ops = simplify_unknown_writes(history.ops.clone());
        let got = matches!(
            wgl::check(&model, model.initial(), &ops, &Budget::default()),
            Outcome::Linearizable(_)
        );
        assert_eq!(
            got, expected,
            "case {case}: checker {got}, brute force {expected}: {:#?}",
            history.ops
        );
        if expected {
            legal += 1;
        } else {
            illegal += 1;
        }
    }
    assert!(
        legal > 300 && illegal > 300,
        "{legal} legal, {illegal} illegal"
    );
}

/// A correct history is never judged non-linearizable, whatever the
/// concurrency; prints how the search time grows (`--nocapture`).
#[test]
fn correct_histories_pass_at_every_concurrency() {
    for procs in [5u64, 8, 10, 12, 15, 20] {
        let mut rng = StdRng::seed_from_u64(99);
        let h = simulate(
            &mut rng,
            procs,
            6000 / procs as usize,
            &["a", "b", "c", "d"],
            30,
        );
        let start = std::time::Instant::now();
        let r = MapChecker {
            time_budget: Duration::from_secs(30),
        }
        .check(&h);
        eprintln!(
            "map, 4 keys, {procs} procs, {} operations: {:?} in {:?}",
            r.details["operations"],
            r.valid,
            start.elapsed()
        );
        assert_ne!(r.valid, Validity::False, "{procs} procs: {}", r.summary);
        if procs <= 10 {
            assert_eq!(r.valid, Validity::True, "{procs} procs: {}", r.summary);
        }
    }
}

/// Operations named by index fields that are not positions (the part of
/// a composed run) are described from their own records.
#[test]
fn reports_look_operations_up_by_index() {
    let mut h = Builder::default()
        .write_map(0, json!({"a": 1.0, "b": 1.0}), 0, 1, Done)
        .write_map(0, json!({"a": 2.0, "b": 2.0}), 2, 3, Done)
        .read_all(1, json!({"a": 1.0, "b": 1.0}), 4, 5)
        .build();
    for op in &mut h {
        op.index = op.index * 7 + 500;
    }
    let r = MapChecker::default().check(&h);
    assert_eq!(r.valid, Validity::False);
    let failure = &r.details["failures"][0];
    assert_named_operations_are_real(&h, failure);
    assert_eq!(
        failure["stuck_op"]["complete_ms"],
        json!(5.0),
        "{failure:#}"
    );
}
