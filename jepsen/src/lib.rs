//! Jepsen-style testing of mesoraft: real master processes (in network
//! namespaces when possible) under a seeded schedule of faults, every
//! client operation recorded in a history, and checkers that judge it
//! (linearizability per register, election safety, durability).
//!
//! Extension points: `workload::Workload`, `nemesis::Nemesis` and
//! `checker::Checker`. `bench` measures performance (failover, stability,
//! throughput) on the same cluster code.

pub mod agents_record;
pub mod bench;
pub mod checker;
pub mod cleanup;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod convergence;
pub mod fake;
pub mod figures;
pub mod history;
pub mod lazyfs;
pub mod matrix;
pub mod nemesis;
pub mod nemesis_record;
pub mod net;
pub mod report;
pub mod results;
pub mod runner;
pub mod schedule;
pub mod spec;
pub mod tasks_record;
pub mod wait;
pub mod workload;

/// `<workspace>/jepsen/store` (git-ignored).
pub fn default_store() -> std::path::PathBuf {
    cluster::binaries::workspace_root()
        .join("jepsen")
        .join("store")
}
