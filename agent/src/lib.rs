//! The mesoraft agent: a machine offering its resources to the masters.
//!
//! This crate holds the agent's decisions as pure functions and plain
//! types, with the machine, the disk and the network at the edges:
//!
//! * [`flags`]: `mesoraft agent`'s flags ([`AgentArgs`]) checked into an
//!   [`AgentConfig`] (the info the flags describe included).
//! * [`value`]: Mesos's value text (scalars, ranges, sets), shared by
//! * [`resources`] (`--resources`, with the machine's defaults) and
//! * [`attributes`] (`--attributes`).
//! * [`machine`]: the machine facts the defaults come from (the I/O).
//! * [`reconfig`]: `--reconfiguration-policy`, may a restarted agent keep
//!   its identity with the info its flags give now.
//! * [`checkpoint`]: the work dir's record of the agent (id, info, boot id).
//! * [`recovery`]: the start-up decision (register new, re-register,
//!   clean up, or refuse) from the checkpoint, the flags and the boot id.
//! * [`masters`]: `--masters` and the order masters are tried in,
//!   following "the leader is X" answers.
//! * [`backoff`]: jittered exponential backoff between attempts.
//! * [`host_port`]: `HOST:PORT` syntax.
//! * [`session`]: finding and following the leading master, one gRPC
//!   stream per session ([`session::reaction`] decides, pure).
//! * [`retry`]: after a session ends, the next master now or after the
//!   backoff (pure).
//! * [`run`]: start-up and the agent's life; [`http`]: its endpoints.
//! * [`sim`]: `mesoraft agent-sim`, many light agents in one process
//!   speaking the same protocol, for measuring the masters at scale.
//! * [`command_executor`]: `mesoraft executor`, the built-in executor
//!   running a task's command over the v1 executor API.
//! * [`default_executor`]: `mesoraft default-executor`, the built-in
//!   executor running task groups over the same API.
//! * [`http_executor`]: what both built-in executors share (environment,
//!   API client, subscription, task processes, the loop).
//! * [`executors`]: the table of frameworks, executors and tasks (pure),
//!   and the containerizer; [`executor_api`]: Mesos's v1 executor HTTP
//!   API on the agent's port. [`keys`] and [`task_state`]: the names and
//!   facts the table, the update manager and the checkpoint share.
//! * [`files`]: the sandboxes over HTTP; [`metrics`]: the agent's figures.
//! * [`error`]: why the agent cannot run; [`testing`]: for tests that run
//!   real agents.
//! * [`updates`]: status updates, at least once (pure core).
//! * [`driver`]: the runtime carrying out the table's and the update
//!   manager's decisions.
//! * [`recordio`]: the framing of the executor API's event streams.
//! * [`procfs`]: processes as `/proc` shows them (executors outlive the
//!   agent).
//!
//! The agent depends on the wire types (`mesoraft-proto`) only, never on
//! the master's crates: it talks to the masters over the network alone.

pub mod attributes;
pub mod backoff;
pub mod checkpoint;
pub mod command_executor;
pub mod default_executor;
pub mod driver;
pub mod error;
pub mod executor_api;
pub mod executors;
pub mod files;
pub mod flags;
pub mod host_port;
pub mod http;
pub mod http_executor;
pub mod keys;
pub mod machine;
pub mod masters;
pub mod metrics;
pub mod procfs;
pub mod reconfig;
pub mod recordio;
pub mod recovery;
pub mod resources;
pub mod retry;
pub mod run;
pub mod session;
pub mod sim;
pub mod startup;
pub mod task_state;
pub mod testing;
pub mod updates;
pub mod value;

pub use flags::{AgentArgs, AgentConfig, FlagError};
pub use run::{run, AgentError, AgentExit};
