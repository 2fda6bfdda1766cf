//! What `members add --replace` does with the slot it was asked to give to
//! the master now answering at an address: a pure decision, so that a
//! resent request (raftctl retries across leader changes) finds the work
//! already done instead of being refused or undoing it.

/// What the leader knows of the slot.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    pub member: bool,
    pub voter: bool,
    pub address: Option<&'a str>,
    /// The incarnation the slot is bound to (None: unbound).
    pub bound: Option<&'a str>,
    /// That incarnation answers as itself, without a problem.
    pub answers_as_bound: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplaceStep {
    /// Not a member: a plain add.
    Add,
    /// An earlier call got as far as a learner bound to the master now
    /// answering: go on from there (catch up, promote).
    Resume,
    /// An earlier call naming the same old incarnation finished: the slot
    /// is a voter at the address, bound to another incarnation that
    /// answers as itself. Nothing to do.
    AlreadyDone,
    /// The slot's incarnation answers as itself: `--replace` is for a lost
    /// or restored work dir, not for a healthy member.
    RefuseHealthy { bound: String },
    /// Remove the slot's incarnation, then add the one answering.
    RemoveThenAdd,
}

/// `replaces`: the incarnation the caller saw in the slot when it decided
/// to replace it (None from callers that did not say).
pub fn replace_step(slot: Slot<'_>, address: &str, replaces: Option<&str>) -> ReplaceStep {
    if !slot.member {
        return ReplaceStep::Add;
    }
    let Some(bound) = slot.bound.filter(|_| slot.answers_as_bound) else {
        return ReplaceStep::RemoveThenAdd;
    };
    if !slot.voter {
        return ReplaceStep::Resume;
    }
    let finished = slot.address == Some(address) && replaces.is_some_and(|old| old != bound);
    if finished {
        ReplaceStep::AlreadyDone
    } else {
        ReplaceStep::RefuseHealthy {
            bound: bound.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "10.0.0.1:5050";

    fn slot(voter: bool, bound: Option<&'static str>, answers: bool) -> Slot<'static> {
        Slot {
            member: true,
            voter,
            address: Some(ADDR),
            bound,
            answers_as_bound: answers,
        }
    }

    #[test]
    fn a_lost_incarnation_is_removed_then_the_new_one_added() {
        // Bound to the old incarnation, which does not answer as itself.
        let s = slot(true, Some("old"), false);
        assert_eq!(
            replace_step(s, ADDR, Some("old")),
            ReplaceStep::RemoveThenAdd
        );
        assert_eq!(replace_step(s, ADDR, None), ReplaceStep::RemoveThenAdd);
        let unbound = slot(false, None, false);
        assert_eq!(
            replace_step(unbound, ADDR, None),
            ReplaceStep::RemoveThenAdd
        );
    }

    #[test]
    fn a_resend_after_the_replace_finished_changes_nothing() {
        let done = slot(true, Some("new"), true);
        assert_eq!(
            replace_step(done, ADDR, Some("old")),
            ReplaceStep::AlreadyDone
        );
        // Cut off after the learner was bound: go on.
        let half = slot(false, Some("new"), true);
        assert_eq!(replace_step(half, ADDR, Some("old")), ReplaceStep::Resume);
    }

    #[test]
    fn a_healthy_member_is_not_replaced() {
        let healthy = slot(true, Some("old"), true);
        let refused = ReplaceStep::RefuseHealthy {
            bound: "old".into(),
        };
        assert_eq!(replace_step(healthy, ADDR, Some("old")), refused);
        assert_eq!(replace_step(healthy, ADDR, None), refused);
        // Another address is a move, not a finished replace.
        assert_eq!(replace_step(healthy, "10.0.0.9:5050", Some("x")), refused);
    }

    #[test]
    fn a_slot_not_in_the_membership_is_a_plain_add() {
        let absent = Slot {
            member: false,
            voter: false,
            address: None,
            bound: None,
            answers_as_bound: false,
        };
        assert_eq!(replace_step(absent, ADDR, Some("old")), ReplaceStep::Add);
    }
}
