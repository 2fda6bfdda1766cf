//! Waiting for a condition of the cluster, with a deadline: the test kit's
//! polling (`until(deadline, every, check)` asks `check` at once and then
//! every `every` until it gives `Some` or the deadline passes).

pub use mesoraft_testkit::wait::poll_every as until;
