//! Who starts elections, and when: a policy that campaigns as soon as the
//! voters' leader lease has run out ([`policy`]), the silence it compares
//! with that lease ([`silence`]), and the timer that applies it
//! ([`driver`]).

pub mod driver;
pub mod policy;
pub mod silence;

pub use driver::{run, ElectionSwitch, NewerLogSeen};
pub use policy::{ElectionPolicy, ElectionTiming};

#[cfg(test)]
mod tests {
    use openraft::Vote;

    use crate::NodeId;

    /// Raft's election safety: at most one leader per term. openraft's
    /// default leader id is (term, node id), totally ordered, so a voter
    /// that voted for one candidate grants a higher-numbered one in the
    /// same term, and two masters can lead one term (seen with 5 masters
    /// and a majority killed). Built with `single-term-leader`, votes of
    /// one term for different candidates are incomparable: the second is
    /// refused.
    #[test]
    fn a_voter_never_grants_a_second_candidate_in_one_term() {
        let voted: Vote<NodeId> = Vote::new(170, 3);
        let rival: Vote<NodeId> = Vote::new(170, 5);
        assert_eq!(rival.partial_cmp(&voted), None);
        assert_eq!(voted.partial_cmp(&rival), None);
        assert!(
            Vote::<NodeId>::new(171, 3) > rival,
            "a later term still wins"
        );
    }
}
