//! Why the agent cannot run: one error for start-up and the agent's
//! life, so `startup` and `run` share it without needing each other.

use std::path::PathBuf;

use crate::checkpoint::{BootIdError, CheckpointError};
use crate::flags::FlagError;
use crate::reconfig::IncompatibleAgentInfo;

/// Why the agent cannot run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Flag(#[from] FlagError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    BootId(#[from] BootIdError),
    #[error("{0}")]
    Incompatible(IncompatibleAgentInfo),
    #[error("{0}")]
    Access(#[from] crate::session::AccessError),
    #[error("cannot listen on {addr}: {source}; is another agent running there?")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the masters refused this agent's credentials ({0}); give the cluster's secret with --cluster-secret-file")]
    Unauthorized(String),
    #[error("{0}")]
    Fatal(String),
    #[error("cannot remove {path}: {source}")]
    Cleanup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
