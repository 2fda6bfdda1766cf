//! The one kit for driving mesoraft processes from outside, shared by the
//! end-to-end tests (`tests/support`), the Jepsen harness (`jepsen`) and
//! `mesoraft local`.
//!
//! - [`MasterCmd`] and [`AgentCmd`]: the only code that spells the
//!   master's and the agent's command-line flags (each pinned against its
//!   program's own parser by a contract test in the master and agent
//!   crates); [`AgentSimCmd`] the same for the agent simulator the bench
//!   drives.
//! - [`ProcessGroup`]: a program in its own process group, output appended
//!   to a log file; kill -9 of the group, pause and resume.
//! - [`status`]: a typed probe of `GET /raft/status` with a [`Role`].
//! - [`operator`]: `POST /api/v1` calls that follow 307s, boundedly.
//! - [`wait`]: polling a condition until a deadline, never a fixed sleep.
//! - [`ports`]: free ports that outgoing connections will not take.
//! - [`local`]: the group `mesoraft local` runs, built from the above.
//!
//! It depends on none of the system's crates, so the Jepsen harness that
//! uses it stays black-box.

pub mod agent_cmd;
pub mod agent_sim_cmd;
pub mod gate;
pub mod local;
pub mod master_cmd;
pub mod operator;
pub mod ports;
pub mod process;
pub mod status;
pub mod text;
pub mod wait;

pub use agent_cmd::AgentCmd;
pub use agent_sim_cmd::AgentSimCmd;
pub use gate::Gate;
pub use master_cmd::MasterCmd;
pub use ports::free_listen_port;
pub use process::{kill_group, log_tail, run_bounded, ProcessGroup};
pub use status::{Role, Status};
pub use text::error_text;
pub use wait::{poll_every, poll_until, wait_for};
