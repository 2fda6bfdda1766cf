//! The accounting invariant under random operation sequences: on every
//! agent, available plus everything held equals the total, whatever
//! sequence of events (valid or refused) the allocator went through.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::super::state::Holder;
use super::super::{Allocator, AllocatorConfig, Quantities, RefuseFilter, Resources, Scalar};
use super::{agent, fw, ports, res, roles};

const AGENTS: [&str; 5] = ["a1", "a2", "a3", "a4", "a5"];
const FRAMEWORKS: [&str; 4] = ["f1", "f2", "f3", "f4"];
const ROLES: [&str; 3] = ["r1", "r2", "r3"];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}

/// A random part of `whole` (possibly empty, possibly all of it).
fn part_of(rng: &mut StdRng, whole: &Resources) -> Resources {
    let mut part = Resources::new();
    for (name, amount) in whole.scalars() {
        let fraction = rng.gen_range(0..=4) as f64 / 4.0;
        let amount = Scalar::from_f64(amount.as_f64() * fraction).unwrap();
        part = part.with_scalar(name, amount);
    }
    for (name, ranges) in whole.all_ranges() {
        if let Some(span) = ranges.spans().first() {
            if rng.gen_bool(0.5) {
                let end = rng.gen_range(span.begin..=span.end);
                part = part.with_ranges(name, ports(span.begin, end));
            }
        }
    }
    assert!(whole.contains(&part), "{whole} must contain {part}");
    part
}

fn random_filter(rng: &mut StdRng) -> Option<RefuseFilter> {
    match rng.gen_range(0..4) {
        0 => None,
        1 => Some(RefuseFilter::seconds(0.0)),
        2 => Some(RefuseFilter::default()),
        _ => Some(RefuseFilter::seconds(rng.gen_range(0.0..30.0))),
    }
}

fn random_total(rng: &mut StdRng) -> Resources {
    let cpus = rng.gen_range(0..=16) as f64 * 0.125 + 0.001 * rng.gen_range(0..3) as f64;
    let mem = rng.gen_range(0..=64) as f64 * 100.3;
    let first_port = rng.gen_range(1000..2000);
    res(cpus, mem).with_ranges(
        "ports",
        ports(first_port, first_port + rng.gen_range(0..50)),
    )
}

fn check(a: &Allocator, step: usize, op: u32) {
    // The sums a round starts from are those of the agents' records.
    let mut total = Quantities::new();
    let mut held: BTreeMap<Holder, Quantities> = BTreeMap::new();
    for agent in a.agents.values() {
        agent.total.add_scalars_to(&mut total);
        for (holder, resources) in &agent.held {
            let sum = held.entry(holder.clone()).or_default();
            resources.add_scalars_to(sum);
        }
    }
    held.retain(|_, sum| !sum.is_empty());
    assert_eq!(a.total, total, "step {step} op {op}: cluster total");
    assert_eq!(a.held_sums, held, "step {step} op {op}: held sums");
    for id in a.agent_ids() {
        let view = a.agent(id).unwrap();
        let mut sum = view.available.clone();
        for h in &view.held {
            assert!(
                !h.resources.is_empty(),
                "step {step} op {op}: empty holding"
            );
            sum.add(&h.resources);
        }
        assert_eq!(
            sum, view.total,
            "step {step} op {op}: agent {id}: available {} + held != total",
            view.available
        );
    }
}

/// One random event; errors are expected (unknown ids, refusals) and
/// must leave the state consistent too.
fn random_event(a: &mut Allocator, rng: &mut StdRng, now: &mut Instant) -> u32 {
    let op = rng.gen_range(0..11);
    let f = fw(pick(rng, &FRAMEWORKS));
    let ag = agent(pick(rng, &AGENTS));
    let role = pick(rng, &ROLES).to_string();
    match op {
        0 => drop(a.add_agent(ag, random_total(rng), vec![], vec![])),
        1 => drop(a.remove_agent(&ag)),
        2 => {
            let subscribed = roles(&[pick(rng, &ROLES), pick(rng, &ROLES)]);
            drop(a.add_framework(f, subscribed, rng.gen_bool(0.8)));
        }
        3 => drop(a.remove_framework(&f)),
        4 if rng.gen_bool(0.5) => drop(a.deactivate_framework(&f)),
        4 => drop(a.activate_framework(&f)),
        5 if rng.gen_bool(0.5) => drop(a.suppress(&f, &[role])),
        5 => drop(a.revive(&f, &[])),
        6..=7 => {
            for offer in a.allocate(*now) {
                let declined = part_of(rng, &offer.resources);
                let filter = random_filter(rng);
                a.recover(
                    &offer.framework_id,
                    &offer.agent_id,
                    &offer.role,
                    &declined,
                    filter,
                    *now,
                )
                .unwrap();
            }
        }
        8 => {
            // A task finishes, or a bogus recovery is refused.
            if let Some(view) = a.agent(&ag) {
                if let Some(h) = view.held.first() {
                    let part = part_of(rng, &h.resources);
                    a.recover(&h.framework_id, &ag, &h.role, &part, None, *now)
                        .unwrap();
                }
                let bogus = view.total.plus(&res(1.0, 0.0));
                assert!(a.recover(&f, &ag, &role, &bogus, None, *now).is_err());
            }
        }
        9 => {
            if let Some(view) = a.agent(&ag) {
                let grown = view.total.plus(&random_total(rng));
                let next = if rng.gen_bool(0.5) {
                    grown
                } else {
                    part_of(rng, &view.total)
                };
                drop(a.update_agent(&ag, next));
            }
        }
        _ => {
            drop(a.set_weight(&role, rng.gen_range(0.0..4.0)));
            *now += Duration::from_millis(rng.gen_range(0..3000));
        }
    }
    op
}

#[test]
fn available_plus_held_is_the_total_after_any_sequence() {
    for seed in 0..40 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut a = Allocator::new(AllocatorConfig {
            agent_order_seed: seed,
            ..AllocatorConfig::default()
        });
        let mut now = Instant::now();
        for step in 0..400 {
            let op = random_event(&mut a, &mut rng, &mut now);
            check(&a, step, op);
        }
    }
}

#[test]
fn the_same_events_give_the_same_offers() {
    let run = || {
        let mut rng = StdRng::seed_from_u64(7);
        let mut a = Allocator::new(AllocatorConfig::default());
        let mut now = Instant::now();
        let mut log = Vec::new();
        for _ in 0..300 {
            random_event(&mut a, &mut rng, &mut now);
            let offers = a.allocate(now);
            log.extend(offers.iter().map(|o| {
                format!(
                    "{} {} {} {}",
                    o.framework_id, o.role, o.agent_id, o.resources
                )
            }));
            for o in offers {
                a.recover(
                    &o.framework_id,
                    &o.agent_id,
                    &o.role,
                    &o.resources,
                    None,
                    now,
                )
                .unwrap();
            }
        }
        log
    };
    let first = run();
    assert!(!first.is_empty());
    assert_eq!(first, run());
}
