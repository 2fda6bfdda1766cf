//! What a master forgets of its leadership when it starts.
//!
//! openraft 0.9 restores a node whose stored vote is a committed vote for
//! itself as leader of that term at once, without an election. That is
//! only safe if its log holds every entry it ever sent, and it does not:
//! a leader sends new entries to the followers while it is still syncing
//! them itself, a quorum of followers can commit them first, and a power
//! failure then leaves the followers with entries the leader's log lacks.
//! Leading the same term again, it would give its next entry the lost
//! entry's log id; the followers take it for the entry they hold, and the
//! replicas diverge with an acknowledged write lost on the leader
//! (`tests/e2e/leader_restart.rs`).
//!
//! So a restarted master keeps its vote's term but drops its commitment:
//! it starts as a follower that voted for itself, and leads again only by
//! winning a new term, whose election checks its log against the voters'
//! and whose blank entry makes its commit and read index current. Votes
//! for other leaders stay committed: a restarted follower must keep
//! refusing votes for a lease from its start (openraft stamps the loaded
//! vote with the start instant).

use openraft::storage::RaftLogStorage;

use super::{KvStore, LogStore};
use crate::{NodeId, StorageError, Vote};

/// The vote to store before the Raft core starts, if the stored one must
/// change: a committed vote for `me` becomes `me`'s uncommitted vote of
/// the same term.
pub fn vote_after_restart(stored: Option<&Vote>, me: NodeId) -> Option<Vote> {
    let v = stored?;
    (v.is_committed() && v.leader_id().voted_for() == Some(me))
        .then(|| Vote::new(v.leader_id().get_term(), me))
}

/// Applies [`vote_after_restart`] to the log store (durably). Returns the
/// term whose leadership was given up, if any.
pub async fn give_up_leadership<K: KvStore>(
    log_store: &mut LogStore<K>,
    me: NodeId,
) -> Result<Option<u64>, StorageError> {
    let stored = log_store.read_vote().await?;
    let Some(vote) = vote_after_restart(stored.as_ref(), me) else {
        return Ok(None);
    };
    log_store.save_vote(&vote).await?;
    Ok(Some(vote.leader_id().get_term()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_committed_vote_for_me_is_given_up() {
        let me = 2;
        assert_eq!(
            vote_after_restart(Some(&Vote::new_committed(7, me)), me),
            Some(Vote::new(7, me))
        );
        assert_eq!(
            vote_after_restart(Some(&Vote::new_committed(7, 1)), me),
            None
        );
        assert_eq!(vote_after_restart(Some(&Vote::new(7, me)), me), None);
        assert_eq!(vote_after_restart(Some(&Vote::new(7, 3)), me), None);
        assert_eq!(vote_after_restart(None, me), None);
    }
}
