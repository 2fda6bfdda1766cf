//! One allocation cycle of the master's allocator at cluster scale.
//!
//! The master calls `Allocator::allocate` once per allocation interval
//! (and after events), so the time of one call bounds how fast offers can
//! follow each other. Two shapes per size:
//!
//! * `offer all`: every agent is free, so the cycle places every agent
//!   (the first cycle after a failover, or after a mass decline).
//! * `steady`: every framework already holds its offers, so the cycle
//!   finds nothing to place: the cost paid every interval in a full
//!   cluster.
//!
//! A plain `Instant` harness (no criterion: the build is offline). Run
//! with `cargo bench -p mesoraft-master --bench allocator_cycle`; an
//! argument of `quick` runs only the smaller size.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mesoraft_master::allocator::{
    AgentId, Allocation, Allocator, AllocatorConfig, FrameworkId, Ranges, Resources, Scalar,
};

const ROLE: &str = "bench";

/// How many times each cycle is timed.
const RUNS: usize = 5;

struct Size {
    agents: usize,
    frameworks: usize,
}

fn scalar(v: f64) -> Scalar {
    Scalar::from_f64(v).expect("a constant amount")
}

fn agent_resources() -> Resources {
    Resources::new()
        .with_scalar("cpus", scalar(4.0))
        .with_scalar("mem", scalar(16384.0))
        .with_scalar("disk", scalar(100000.0))
        .with_ranges(
            "ports",
            Ranges::from_spans([(31000, 32000)]).expect("a constant range"),
        )
}

fn build(size: &Size) -> Allocator {
    let mut allocator = Allocator::new(AllocatorConfig::default());
    let total = agent_resources();
    for i in 0..size.agents {
        allocator
            .add_agent(
                AgentId(format!("agent-S{i}")),
                total.clone(),
                Vec::new(),
                Vec::new(),
            )
            .expect("a new agent");
    }
    let roles: BTreeSet<String> = [ROLE.to_string()].into();
    for i in 0..size.frameworks {
        allocator
            .add_framework(
                FrameworkId(format!("framework-{i:05}")),
                roles.clone(),
                true,
            )
            .expect("a new framework");
    }
    allocator
}

/// Gives every offer back without a filter, as a framework declining
/// with `refuse_seconds: 0` does, so the next cycle offers everything
/// again.
fn give_back(allocator: &mut Allocator, allocations: &[Allocation], now: Instant) {
    for a in allocations {
        allocator
            .recover(
                &a.framework_id,
                &a.agent_id,
                &a.role,
                &a.resources,
                None,
                now,
            )
            .expect("resources that were offered");
    }
}

struct Figures {
    min: Duration,
    median: Duration,
    offers: usize,
}

fn figures(mut times: Vec<Duration>, offers: usize) -> Figures {
    times.sort();
    Figures {
        min: times[0],
        median: times[times.len() / 2],
        offers,
    }
}

/// Times cycles that place every agent.
fn offer_all(allocator: &mut Allocator, now: Instant) -> Figures {
    let mut times = Vec::with_capacity(RUNS);
    let mut offers = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let allocations = allocator.allocate(now);
        times.push(start.elapsed());
        offers = allocations.len();
        give_back(allocator, &allocations, now);
    }
    figures(times, offers)
}

/// Times cycles in a cluster whose frameworks hold everything.
fn steady(allocator: &mut Allocator, now: Instant) -> Figures {
    let placed = allocator.allocate(now);
    assert!(!placed.is_empty(), "the warm-up cycle placed nothing");
    let mut times = Vec::with_capacity(RUNS);
    let mut offers = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let allocations = allocator.allocate(now);
        times.push(start.elapsed());
        offers += allocations.len();
    }
    figures(times, offers)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; anything else is ours.
    let quick = std::env::args().any(|a| a == "quick");
    let mut sizes = vec![Size {
        agents: 10_000,
        frameworks: 1_000,
    }];
    if !quick {
        sizes.push(Size {
            agents: 50_000,
            frameworks: 6_000,
        });
    }
    println!(
        "allocator cycle, one role, agents of cpus:4 mem:16384 disk:100000 ports:[31000-32000]"
    );
    println!("{RUNS} timed cycles each, one core\n");
    println!(
        "{:>8} {:>10} {:>10} {:>8} {:>10} {:>10}",
        "agents", "frameworks", "cycle", "offers", "min ms", "median ms"
    );
    for size in &sizes {
        let now = Instant::now();
        let build_start = Instant::now();
        let mut allocator = build(size);
        let built = build_start.elapsed();
        let rows = [
            ("offer all", offer_all(&mut allocator, now)),
            ("steady", steady(&mut allocator, now)),
        ];
        for (name, f) in rows {
            println!(
                "{:>8} {:>10} {:>10} {:>8} {:>10} {:>10}",
                size.agents,
                size.frameworks,
                name,
                f.offers,
                ms(f.min),
                ms(f.median)
            );
        }
        eprintln!(
            "(state of {} agents x {} frameworks built in {} ms)",
            size.agents,
            size.frameworks,
            ms(built)
        );
    }
}
