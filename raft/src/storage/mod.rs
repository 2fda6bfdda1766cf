//! Durable Raft storage. (Filled in by the storage work.)
