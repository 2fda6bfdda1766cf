//! raftctl: the operator tool for the master group.
