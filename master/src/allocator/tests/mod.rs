//! Tests of the allocator as a whole, without sockets: conversions,
//! lifecycle (filters, suppress, revive, deactivation, removal),
//! fairness over simulated rounds, and the accounting invariant.

mod convert;
mod fairness;
mod invariants;
mod lifecycle;
mod roles;

use std::collections::BTreeSet;

use super::{AgentId, Allocator, AllocatorConfig, FrameworkId, Ranges, Resources, Scalar};

pub(super) fn s(v: f64) -> Scalar {
    Scalar::from_f64(v).unwrap()
}

/// `cpus`, `mem` and optional ports.
pub(super) fn res(cpus: f64, mem: f64) -> Resources {
    Resources::new()
        .with_scalar("cpus", s(cpus))
        .with_scalar("mem", s(mem))
}

pub(super) fn ports(begin: u64, end: u64) -> Ranges {
    Ranges::from_spans([(begin, end)]).unwrap()
}

pub(super) fn fw(id: &str) -> FrameworkId {
    FrameworkId::from(id)
}

pub(super) fn agent(id: &str) -> AgentId {
    AgentId::from(id)
}

pub(super) fn roles(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|r| r.to_string()).collect()
}

/// An allocator with the given agents (`cpus`, `mem` each).
pub(super) fn cluster(agents: &[(&str, f64, f64)]) -> Allocator {
    let mut a = Allocator::new(AllocatorConfig::default());
    for (id, cpus, mem) in agents {
        a.add_agent(agent(id), res(*cpus, *mem), vec![], vec![])
            .unwrap();
    }
    a
}
