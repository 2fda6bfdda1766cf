//! The register checker must accept linearizable histories and reject the
//! others; both hand-made corner cases and generated histories.

use super::*;
use crate::checker::testing::Builder;
use crate::history::{Op, OpType, Process};
use crate::workload::FINAL_PROCESS;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// The linearizability part of the verdict (most hand-made histories have
/// no final read, which alone makes the whole verdict `unknown`).
fn linearizability(h: &[Op]) -> Validity {
    linearizability_of(&RegisterChecker::default().check(h))
}

fn linearizability_of(r: &CheckResult) -> Validity {
    RegisterDetails::deserialize(&r.details)
        .expect("register details")
        .linearizable
}

use OpType::{Fail, Info, Ok as Done};

#[test]
fn empty_and_sequential_histories_pass() {
    assert_eq!(linearizability(&[]), Validity::True);
    let h = Builder::default()
        .read(0, "a", None, 0, 1)
        .write(0, "a", 1.0, 2, 3, Done)
        .read(1, "a", Some(1.0), 4, 5)
        .write(1, "a", 2.0, 6, 7, Done)
        .read(0, "a", Some(2.0), 8, 9)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
}

#[test]
fn stale_read_fails() {
    // w1 and w2 both complete before the read starts; it returns w1.
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .write(0, "a", 2.0, 2, 3, Done)
        .read(1, "a", Some(1.0), 4, 5)
        .build();
    let r = RegisterChecker::default().check(&h);
    assert_eq!(r.valid, Validity::False);
    let failure = &r.details["failures"][0];
    assert_eq!(failure["key"], "a");
    assert_eq!(failure["stuck_op"]["f"], "read");
    assert_eq!(failure["window_is_minimal"], true);
    assert_eq!(failure["state_after_prefix"], json!(2.0));
    // The smallest self-contained window: the write of 2.0 and the read of
    // 1.0 after it (the first write is not needed to explain the failure).
    assert_eq!(failure["window_kind"], "self-contained", "{failure:#}");
    let window = failure["window"].as_array().unwrap();
    assert_eq!(window.len(), 2, "{failure:#}");
    assert_eq!(window[0]["f"], "write");
    assert_eq!(window[0]["value"], json!(2.0));
    assert_eq!(window[1]["f"], "read");
    assert_eq!(window[1]["value"], json!(1.0));
}

#[test]
fn read_of_initial_value_after_acknowledged_write_fails() {
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .read(1, "a", None, 2, 3)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
}

#[test]
fn lost_write_fails() {
    // Two reads after an acknowledged write both miss it.
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .write(1, "a", 2.0, 2, 10, Done)
        .read(2, "a", Some(1.0), 11, 12)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
}

#[test]
fn read_of_never_written_value_fails() {
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .read(1, "a", Some(42.0), 2, 3)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
}

#[test]
fn concurrent_writes_may_be_read_in_either_order() {
    for (first, second) in [(1.0, 2.0), (2.0, 1.0)] {
        let h = Builder::default()
            .write(0, "a", 1.0, 0, 10, Done)
            .write(1, "a", 2.0, 1, 9, Done)
            .read(2, "a", Some(first), 11, 12)
            .read(2, "a", Some(first), 13, 14)
            .build();
        assert_eq!(linearizability(&h), Validity::True);
        // ...but not one order and then the other, once both are over.
        let h = Builder::default()
            .write(0, "a", 1.0, 0, 10, Done)
            .write(1, "a", 2.0, 1, 9, Done)
            .read(2, "a", Some(first), 11, 12)
            .read(2, "a", Some(second), 13, 14)
            .build();
        assert_eq!(linearizability(&h), Validity::False);
    }
}

#[test]
fn reads_concurrent_with_a_write_may_flip_once() {
    // During the write, reads may see old then new, never new then old.
    let ok = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .write(0, "a", 2.0, 2, 20, Done)
        .read(1, "a", Some(1.0), 3, 4)
        .read(1, "a", Some(2.0), 5, 6)
        .build();
    assert_eq!(linearizability(&ok), Validity::True);
    let bad = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .write(0, "a", 2.0, 2, 20, Done)
        .read(1, "a", Some(2.0), 3, 4)
        .read(1, "a", Some(1.0), 5, 6)
        .build();
    assert_eq!(linearizability(&bad), Validity::False);
}

#[test]
fn failed_writes_never_happened() {
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Fail)
        .read(1, "a", None, 2, 3)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Fail)
        .read(1, "a", Some(1.0), 2, 3)
        .build();
    assert_eq!(
        linearizability(&h),
        Validity::False,
        "a failed write was observed"
    );
}

#[test]
fn unknown_writes_may_apply_late_or_never() {
    // Timed out, then seen much later: fine.
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Info)
        .read(1, "a", None, 2, 3)
        .read(1, "a", Some(1.0), 50, 51)
        .read(1, "a", Some(1.0), 60, 61)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
    // Never completed (run ended) and never seen: fine.
    let h = Builder::default()
        .write_open(0, "a", 1.0, 0)
        .read(1, "a", None, 2, 3)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
    // Seen, then unseen again with no other write: not fine.
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Info)
        .read(1, "a", Some(1.0), 2, 3)
        .read(1, "a", None, 4, 5)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
    // Seen before it was even invoked: not fine.
    let h = Builder::default()
        .read(1, "a", Some(1.0), 0, 1)
        .write(0, "a", 1.0, 2, 3, Info)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
    // An unknown write applied late may overwrite a later acknowledged one.
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Info)
        .write(1, "a", 2.0, 2, 3, Done)
        .read(2, "a", Some(2.0), 4, 5)
        .read(2, "a", Some(1.0), 6, 7)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
    // ...but it cannot apply twice.
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Info)
        .write(1, "a", 2.0, 2, 3, Done)
        .read(2, "a", Some(1.0), 4, 5)
        .read(2, "a", Some(2.0), 6, 7)
        .read(2, "a", Some(1.0), 8, 9)
        .build();
    assert_eq!(linearizability(&h), Validity::False);
}

#[test]
fn unknown_reads_are_ignored() {
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .op(
            1,
            "read",
            Some("a"),
            Value::Null,
            2,
            Info,
            Value::Null,
            Some(3),
        )
        .op(
            2,
            "read",
            Some("a"),
            Value::Null,
            2,
            Fail,
            Value::Null,
            Some(3),
        )
        .build();
    assert_eq!(linearizability(&h), Validity::True);
}

#[test]
fn multi_key_reads_are_split_per_key() {
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .write(0, "b", 1.0, 2, 3, Done)
        .read_all(1, json!({"a": 1.0, "b": 1.0}), 4, 5)
        .build();
    assert_eq!(linearizability(&h), Validity::True);
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .write(0, "b", 1.0, 2, 3, Done)
        .read_all(1, json!({"a": 1.0, "b": null}), 4, 5)
        .build();
    let r = RegisterChecker::default().check(&h);
    assert_eq!(r.valid, Validity::False);
    let details = RegisterDetails::deserialize(&r.details).expect("register details");
    assert_eq!(details.keys["a"].valid, Validity::True);
    assert_eq!(details.keys["b"].valid, Validity::False);
}

#[test]
fn exhausted_budget_is_unknown_not_a_pass() {
    // Many mutually concurrent writes and reads with an impossible read at
    // the end: a big search, and no time to do it.
    let mut b = Builder::default();
    for p in 0..40u64 {
        b.write(p, "a", p as f64 + 1.0, 0, 1000, Done);
    }
    b.read(99, "a", Some(12345.0), 1001, 1002);
    let h = b.build();
    let r = RegisterChecker {
        time_budget: Duration::ZERO,
    }
    .check(&h);
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
}

/// Simulates an atomic register: every operation takes effect at a random
/// instant inside its interval. Returns the history plus, for each key,
/// the ok writes (to inject anomalies later).
fn simulate(seed: u64, processes: u64, ops_per_process: usize, keys: &[&str]) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    struct Planned {
        p: u64,
        key: String,
        write: Option<f64>,
        call: u64,
        ret: u64,
        at: u64,
        outcome: OpType,
        applied: bool,
    }
    let mut plans = Vec::new();
    let mut counter = 0.0;
    for p in 0..processes {
        let mut t = rng.gen_range(0..20u64);
        for _ in 0..ops_per_process {
            let call = t;
            let ret = call + rng.gen_range(1..30u64);
            let at = rng.gen_range(call..=ret);
            let key = keys[rng.gen_range(0..keys.len())].to_string();
            let write = rng.gen_bool(0.5).then(|| {
                counter += 1.0;
                counter
            });
            // Writes sometimes time out (applied or not) or fail (not applied).
            let (outcome, applied) = match (write.is_some(), rng.gen_range(0..10)) {
                (true, 0) => (Info, rng.gen_bool(0.5)),
                (true, 1) => (Fail, false),
                _ => (Done, true),
            };
            plans.push(Planned {
                p,
                key,
                write,
                call,
                ret,
                at,
                outcome,
                applied,
            });
            t = ret + rng.gen_range(1..10u64);
        }
    }
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|i| plans[*i].at);
    let mut state: BTreeMap<String, f64> = BTreeMap::new();
    let mut seen: HashMap<usize, Option<f64>> = HashMap::new();
    for i in order {
        let plan = &plans[i];
        match plan.write {
            Some(v) if plan.applied => {
                state.insert(plan.key.clone(), v);
            }
            Some(_) => {}
            None => {
                seen.insert(i, state.get(&plan.key).copied());
            }
        }
    }
    let mut b = Builder::default();
    for (i, plan) in plans.iter().enumerate() {
        // Each process is sequential, but info ops move the client to a new
        // process number, as the real workload does.
        let p = plan.p + 1000 * i as u64;
        match plan.write {
            Some(v) => b.write(p, &plan.key, v, plan.call, plan.ret, plan.outcome),
            None => b.read(p, &plan.key, seen[&i], plan.call, plan.ret),
        };
    }
    // The final read after healing: every key as the simulation left it.
    let end = plans.iter().map(|p| p.ret).max().unwrap_or(0) + 1;
    let last: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| (k.to_string(), json!(state.get(*k))))
        .collect();
    b.final_read(Value::Object(last), end, end + 1);
    b.build()
}

#[test]
fn generated_atomic_register_histories_pass() {
    for seed in 0..60 {
        let h = simulate(seed, 5, 40, &["a", "b", "c"]);
        let r = RegisterChecker::default().check(&h);
        assert_eq!(r.valid, Validity::True, "seed {seed}: {}", r.details);
    }
}

/// Makes one read stale: it returns the value of a write that was followed
/// by another acknowledged write, both over before the read began.
fn inject_stale_read(h: &mut [Op], rng: &mut StdRng) -> bool {
    let pairs: Vec<(usize, usize, u64, u64, String, f64, OpType)> = pair(h)
        .iter()
        .filter_map(|c| {
            let done = c.complete?;
            Some((
                c.invoke.index,
                done.index,
                c.invoke.time,
                done.time,
                c.invoke.key.clone()?,
                c.invoke.value.as_f64().unwrap_or(0.0),
                done.kind,
            ))
        })
        .collect();
    let writes: Vec<_> = pairs
        .iter()
        .filter(|p| h[p.0].f == "write" && p.6 == Done)
        .collect();
    let mut reads: Vec<_> = pairs.iter().filter(|p| h[p.0].f == "read").collect();
    reads.shuffle(rng);
    for r in reads {
        for wa in &writes {
            for wb in &writes {
                if wa.4 == r.4 && wb.4 == r.4 && wa.3 < wb.2 && wb.3 < r.2 {
                    h[r.1].value = json!(wa.5);
                    return true;
                }
            }
        }
    }
    false
}

#[test]
fn generated_histories_with_a_stale_read_fail() {
    let mut injected = 0;
    for seed in 0..60 {
        let mut h = simulate(seed, 5, 40, &["a", "b", "c"]);
        let mut rng = StdRng::seed_from_u64(seed + 1000);
        if !inject_stale_read(&mut h, &mut rng) {
            continue;
        }
        injected += 1;
        let r = RegisterChecker::default().check(&h);
        assert_eq!(r.valid, Validity::False, "seed {seed}");
        let failure = &r.details["failures"][0];
        assert!(
            failure["window"].as_array().is_some_and(|w| !w.is_empty()),
            "{failure:#}"
        );
    }
    assert!(
        injected > 40,
        "only {injected} histories had a stale read injected"
    );
}

#[test]
fn wgl_witness_is_a_valid_order() {
    let h = simulate(7, 4, 30, &["a"]);
    let ops = partition(&h).remove("a").unwrap();
    let ops = simplify_unknown_writes(ops);
    let Outcome::Linearizable(order) = wgl::check(&RegisterModel, None, &ops, &Budget::default())
    else {
        panic!("expected linearizable");
    };
    // Replaying the witness satisfies the model and respects real time.
    let mut state = None;
    for (n, i) in order.iter().enumerate() {
        state = RegisterModel
            .step(&state, &ops[*i].input, ops[*i].output.as_ref())
            .expect("witness step legal");
        for j in &order[n + 1..] {
            let later = &ops[*j];
            assert!(
                later.ret.is_none_or(|r| r >= ops[*i].call),
                "op {j} returned before op {i} was called, yet comes after it"
            );
        }
    }
}

/// A correct history is never judged non-linearizable, whatever the
/// concurrency; up to 15 clients on one register the search also decides
/// (6000 operations). Prints how the search time grows (`--nocapture`):
/// about 10 ms at 5 clients, 0.3 s at 12, 1.7 s at 15 on the 2-core VM.
#[test]
fn correct_histories_pass_at_every_concurrency() {
    for procs in [5u64, 8, 10, 12, 15, 20] {
        let h = simulate(99, procs, 6000 / procs as usize, &["a"]);
        let start = std::time::Instant::now();
        let r = RegisterChecker {
            time_budget: Duration::from_secs(30),
        }
        .check(&h);
        eprintln!("{procs} procs: {:?} in {:?}", r.valid, start.elapsed());
        if procs <= 15 {
            assert_eq!(r.valid, Validity::True, "{procs} procs: {}", r.summary);
        } else {
            assert_ne!(r.valid, Validity::False, "{procs} procs: {}", r.summary);
        }
    }
}

#[test]
fn moderately_concurrent_long_histories_check_quickly() {
    // 10 clients on one register, 6000 operations, timeouts sprinkled in.
    let h = simulate(99, 10, 600, &["a"]);
    let start = std::time::Instant::now();
    let r = RegisterChecker::default().check(&h);
    assert_eq!(r.valid, Validity::True, "{}", r.summary);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

/// Reference: exhaustive search over every order (and every subset of the
/// unknown-outcome writes) that respects real time.
fn brute_force(ops: &[RegOp]) -> bool {
    fn go(ops: &[RegOp], used: u32, state: RegValue, seen: &mut HashSet<(u32, RegValue)>) -> bool {
        let definite_left = (0..ops.len()).any(|i| used & (1 << i) == 0 && ops[i].ret.is_some());
        if !definite_left {
            return true;
        }
        if !seen.insert((used, state)) {
            return false;
        }
        for i in 0..ops.len() {
            if used & (1 << i) != 0 {
                continue;
            }
            // Everything that returned before i was invoked must come first.
            let blocked = (0..ops.len()).any(|j| {
                j != i && used & (1 << j) == 0 && ops[j].ret.is_some_and(|r| r < ops[i].call)
            });
            if blocked {
                continue;
            }
            if let Some(next) = RegisterModel.step(&state, &ops[i].input, ops[i].output.as_ref()) {
                if go(ops, used | (1 << i), next, seen) {
                    return true;
                }
            }
        }
        false
    }
    go(ops, 0, None, &mut HashSet::new())
}

#[test]
fn agrees_with_brute_force_on_random_small_histories() {
    let mut rng = StdRng::seed_from_u64(4242);
    let (mut legal, mut illegal) = (0, 0);
    for case in 0..3000 {
        let mut b = Builder::default();
        let mut written: Vec<f64> = Vec::new();
        let mut next_value = 1.0;
        let processes = rng.gen_range(2..=4u64);
        for p in 0..processes {
            let mut t = rng.gen_range(0..4u64);
            for _ in 0..rng.gen_range(1..=3) {
                let t1 = t + rng.gen_range(0..6u64);
                if rng.gen_bool(0.5) {
                    let v = next_value;
                    next_value += 1.0;
                    written.push(v);
                    match rng.gen_range(0..6) {
                        0 => {
                            b.write_open(p, "a", v, t);
                            break; // the process never finished this op
                        }
                        1 => b.write(p, "a", v, t, t1, Info),
                        2 => b.write(p, "a", v, t, t1, Fail),
                        _ => b.write(p, "a", v, t, t1, Done),
                    };
                } else {
                    let pool = written.len() + 1;
                    let seen = match rng.gen_range(0..pool + 1) {
                        0 => None,
                        k if k <= written.len() => Some(written[k - 1]),
                        _ => Some(next_value + 100.0), // never written
                    };
                    b.read(p, "a", seen, t, t1);
                }
                t = t1 + rng.gen_range(0..3u64);
            }
        }
        let h = b.build();
        let ops = partition(&h).remove("a").unwrap_or_default();
        let expected = brute_force(&ops);
        let got = matches!(
            check_key("a", ops.clone(), &Catalog::new(&h), None),
            KeyVerdict::Ok
        );
        assert_eq!(
            got, expected,
            "case {case}: checker {got}, brute force {expected}: {ops:#?}"
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

/// Part 1 of a composition: an election-like part 0 writes its own roles
/// (`part0_writes`, one every 2 ms from 0 ms) in between, so positions in
/// the part's history differ from the `index` fields (positions in the
/// full history).
fn composed_history_with_a_stale_read(part0_writes: u64) -> Vec<Op> {
    use crate::workload::PROCESS_SPAN;
    let part1 = PROCESS_SPAN;
    let mut b = Builder::default();
    for n in 0..part0_writes {
        b.write(n % 3, &format!("el-{n}"), n as f64, 2 * n, 2 * n + 1, Done);
    }
    b.write(part1, "jr0", 1.0, 3, 6, Done)
        .read_all(part1 + 1, json!({"jr0": 1.0, "jr1": null}), 5, 9)
        .write(part1 + 2, "jr1", 1.0, 10, 14, Done)
        .write(part1, "jr0", 2.0, 20, 24, Done)
        .read_all(part1 + 1, json!({"jr0": 1.0, "jr1": 1.0}), 30, 33)
        .read_all(part1 + 2, json!({"jr0": 2.0, "jr1": 1.0}), 40, 41);
    b.build()
}

/// The operation of the full history whose invocation has `index`, with
/// its completion.
fn invocation_and_completion(full: &[Op], index: usize) -> (&Op, Option<&Op>) {
    let inv = &full[index];
    let done = full[index + 1..]
        .iter()
        .find(|o| o.process == inv.process && o.kind != OpType::Invoke);
    (inv, done)
}

/// Few operations of the other part: the old lookup by position named
/// other operations; many: it ran past the part's history and panicked.
#[test]
fn composed_stale_read_is_explained_with_that_keys_operations() {
    for part0_writes in [1, 30] {
        composed_stale_read_is_explained(part0_writes);
    }
}

fn composed_stale_read_is_explained(part0_writes: u64) {
    use crate::workload::composed::part_history;
    use crate::workload::PROCESS_SPAN;
    let full = composed_history_with_a_stale_read(part0_writes);
    let part = part_history(&full, 1);
    let r = RegisterChecker::default().check(&part);
    assert_eq!(r.valid, Validity::False, "{:#}", r.details);
    let failure = &r.details["failures"][0];
    assert_eq!(failure["key"], "jr0");
    let mut named: Vec<&Value> = vec![&failure["stuck_op"]];
    named.extend(
        failure["last_write_in_prefix"]
            .as_object()
            .map(|_| &failure["last_write_in_prefix"]),
    );
    let window = failure["window"].as_array().expect("window");
    assert!(!window.is_empty(), "{failure:#}");
    named.extend(window.iter());
    for op in named {
        let index = op["index"].as_u64().expect("index") as usize;
        let (inv, done) = invocation_and_completion(&full, index);
        assert!(
            matches!(inv.process, Process::Client(p) if p >= PROCESS_SPAN),
            "{op:#} is not an operation of part 1"
        );
        let of_key = match inv.f.as_str() {
            "write" => inv.key.as_deref() == Some("jr0"),
            _ => done.is_some_and(|d| d.value.get("jr0").is_some()),
        };
        assert!(of_key, "{op:#} is not an operation on jr0");
        assert_eq!(op["f"], inv.f, "{op:#}");
        assert_eq!(op["invoke_ms"], json!(inv.time as f64 / 1e6), "{op:#}");
        assert_eq!(
            op["complete_ms"],
            json!(done.map(|d| d.time as f64 / 1e6)),
            "{op:#}"
        );
    }
    let times: Vec<f64> = window
        .iter()
        .map(|o| o["invoke_ms"].as_f64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "window not in time order: {failure:#}"
    );
}

#[test]
fn index_fields_beyond_the_history_do_not_panic() {
    // The stale read of `stale_read_fails`, as a part whose `index` fields
    // (positions in a longer full history) all lie beyond its length.
    let mut h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Done)
        .write(0, "a", 2.0, 2, 3, Done)
        .read(1, "a", Some(1.0), 4, 5)
        .build();
    for op in &mut h {
        op.index += 1000;
    }
    let r = RegisterChecker::default().check(&h);
    assert_eq!(r.valid, Validity::False);
    let stuck = &r.details["failures"][0]["stuck_op"];
    assert_eq!(stuck["index"], 1004, "{stuck:#}");
    assert_eq!(stuck["complete_ms"], json!(5.0), "{stuck:#}");
}

fn sequential_history() -> Builder {
    let mut b = Builder::default();
    b.write(0, "a", 1.0, 0, 1, Done)
        .read(1, "a", Some(1.0), 2, 3)
        .write(0, "b", 1.0, 4, 5, Done)
        .read_all(1, json!({"a": 1.0, "b": 1.0}), 6, 7)
        .read_all(1, json!({"a": 1.0, "b": 1.0}), 8, 9);
    b
}

#[test]
fn without_a_successful_final_read_the_verdict_is_unknown() {
    let r = RegisterChecker::default().check(&sequential_history().build());
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    assert_eq!(linearizability_of(&r), Validity::True);
    // A final read that failed does not count.
    let h = sequential_history()
        .op(
            FINAL_PROCESS,
            "final-read",
            None,
            Value::Null,
            20,
            Fail,
            Value::Null,
            Some(21),
        )
        .build();
    assert_eq!(
        RegisterChecker::default().check(&h).valid,
        Validity::Unknown
    );
    // Nor does one that does not show a written key.
    let h = sequential_history()
        .final_read(json!({"a": 1.0}), 20, 21)
        .build();
    let r = RegisterChecker::default().check(&h);
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    assert!(r.summary.contains('b'), "{}", r.summary);
}

#[test]
fn a_final_read_showing_every_key_makes_it_valid() {
    let h = sequential_history()
        .final_read(json!({"a": 1.0, "b": 1.0}), 20, 21)
        .build();
    let r = RegisterChecker::default().check(&h);
    assert_eq!(r.valid, Validity::True, "{}", r.summary);
    assert_eq!(r.details["final_reads"], 1);
    // Successful reads per key, the final one included.
    assert_eq!(r.details["keys"]["a"]["reads_ok"], 4, "{}", r.details);
    assert_eq!(r.details["keys"]["b"]["reads_ok"], 3, "{}", r.details);
    assert_eq!(r.details["keys"]["a"]["final_reads"], 1, "{}", r.details);
}

#[test]
fn old_histories_final_read_by_the_final_process_counts() {
    // Recorded as a plain `read` by the final process of part 1.
    let h = sequential_history()
        .read_all(
            crate::workload::PROCESS_SPAN + FINAL_PROCESS,
            json!({"a": 1.0, "b": 1.0}),
            20,
            21,
        )
        .build();
    let r = RegisterChecker::default().check(&h);
    assert_eq!(r.valid, Validity::True, "{}", r.summary);
    // A plain read by a client is not a final read.
    let h = sequential_history()
        .read_all(3, json!({"a": 1.0, "b": 1.0}), 20, 21)
        .build();
    assert_eq!(
        RegisterChecker::default().check(&h).valid,
        Validity::Unknown
    );
}

#[test]
fn the_final_read_is_checked_like_any_read() {
    let h = sequential_history()
        .write(0, "a", 2.0, 10, 11, Done)
        .final_read(json!({"a": 1.0, "b": 1.0}), 20, 21)
        .build();
    let r = RegisterChecker::default().check(&h);
    assert_eq!(r.valid, Validity::False, "{}", r.summary);
    assert_eq!(r.details["failures"][0]["stuck_op"]["f"], "final-read");
}

#[test]
fn no_acknowledged_write_is_unknown() {
    let h = Builder::default()
        .write(0, "a", 1.0, 0, 1, Info)
        .read(1, "a", None, 2, 3)
        .final_read(json!({"a": null}), 20, 21)
        .build();
    let r = RegisterChecker::default().check(&h);
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    assert_eq!(
        RegisterChecker::default().check(&[]).valid,
        Validity::Unknown
    );
}
