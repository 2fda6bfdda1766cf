//! The tonic Raft transport.
