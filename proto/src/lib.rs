//! Wire types shared by every mesoraft component.
//!
//! * [`mesos::v1`]: the Mesos v1 messages (names and numbers are Mesos's),
//!   with [`mesos::v1::master`], the operator API's,
//!   [`mesos::v1::executor`], the executor API's, and
//!   [`mesos::v1::scheduler`], the scheduler (framework) API's.
//! * [`raft`]: the masters' Raft transport service.
//! * [`agent`]: the agent session with the leading master (Mesos's
//!   agent messages on one gRPC stream).
//! * [`serde_pb`]: lets serde-based formats (Raft log, snapshots) carry
//!   protobuf messages.
//! * [`durable`]: writing files so that they survive a crash.
//! * [`checked`]: protobuf request bodies read with proto2's
//!   required-field check (which prost does not make).
//! * [`codec`]: the gRPC codec of every service (prost's, with small
//!   initial buffers: a leader holds a stream per agent).
//! * [`auth`]: the cluster secret's header and token, shared by the
//!   masters and the tools that call them.
//! * [`json`]: Mesos's JSON form of every message here (stout's rules),
//!   driven by the compiled descriptors.
//! * [`units`]: flag values in Mesos's syntax (durations, rates,
//!   percentages), shared by the master's and the agent's flags.

pub mod mesos {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));

        /// The operator API's calls and answers (`POST /api/v1`).
        pub mod master {
            include!(concat!(env!("OUT_DIR"), "/mesos.v1.master.rs"));
        }

        /// The executor API's calls and events (`POST /api/v1/executor`
        /// on the agent).
        pub mod executor {
            include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
        }

        /// The scheduler API's calls and events (`POST /api/v1/scheduler`
        /// on the masters).
        pub mod scheduler {
            include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
        }
    }
}

pub mod raft {
    include!(concat!(env!("OUT_DIR"), "/mesoraft.raft.rs"));
}

/// Package `mesoraft.agent` refers to `mesos.v1` two levels up, as its
/// package path is deep.
mod mesoraft_package {
    // Generated: a oneof's variants are as large as their messages.
    #[allow(clippy::large_enum_variant)]
    pub mod agent {
        include!(concat!(env!("OUT_DIR"), "/mesoraft.agent.rs"));
    }
}
pub use mesoraft_package::agent;

pub mod auth;
pub mod checked;
pub mod codec;
pub mod durable;
pub mod json;
pub mod serde_pb;
pub mod units;
