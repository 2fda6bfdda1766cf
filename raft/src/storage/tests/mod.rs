//! Storage tests: openraft's suite, restarts, corruption, a Raft group on
//! the real storage, and the durable-append latency.

mod corruption;
mod latency;
mod purge_order;
mod raft_group;
mod restart;
mod suite;
mod util;
