//! Wire types shared by every mesoraft component.
//!
//! * [`mesos::v1`]: the Mesos v1 messages (names and numbers are Mesos's).
//! * [`raft`]: the masters' Raft transport service.
//! * [`serde_pb`]: lets serde-based formats (Raft log, snapshots) carry
//!   protobuf messages.
//! * [`durable`]: writing files so that they survive a crash.
//! * [`auth`]: the cluster secret's header and token, shared by the
//!   masters and the tools that call them.
//! * [`units`]: flag values in Mesos's syntax (durations, rates,
//!   percentages), shared by the master's and the agent's flags.

pub mod mesos {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));
    }
}

pub mod raft {
    include!(concat!(env!("OUT_DIR"), "/mesoraft.raft.rs"));
}

pub mod auth;
pub mod durable;
pub mod serde_pb;
pub mod units;
