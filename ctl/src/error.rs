//! raftctl's failures, each mapped to an exit code. Messages are written
//! for an operator: what went wrong, and what to do about it.

/// Exit code of a usage error (clap uses the same).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a request that failed (no master, no leader, refused).
pub const EXIT_FAILED: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Bad command-line input that clap could not catch.
    #[error("{0}")]
    Usage(String),
    /// No master answered, or none knew a leader, before the deadline.
    #[error("{0}")]
    Unavailable(String),
    /// A master answered with an error status.
    #[error("{message}")]
    Refused { status: u16, message: String },
    /// A change was sent but no answer came back: it may or may not have
    /// been applied.
    #[error("{0}")]
    OutcomeUnknown(String),
    /// Local trouble: the HTTP client could not be built, stdout failed...
    #[error("{0}")]
    Local(String),
    /// Whoever read the output went away (`raftctl status --watch | head`):
    /// nothing left to say, and nobody to say it to.
    #[error("the output was closed")]
    OutputClosed,
}

impl CtlError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILED,
        }
    }
}

/// Unreadable secret or TLS files are the operator's to fix, like a bad
/// flag.
impl From<crate::security::SecurityError> for CtlError {
    fn from(e: crate::security::SecurityError) -> Self {
        CtlError::Usage(e.to_string())
    }
}

impl From<std::io::Error> for CtlError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return CtlError::OutputClosed;
        }
        CtlError::Local(format!("cannot write the output: {e}"))
    }
}
