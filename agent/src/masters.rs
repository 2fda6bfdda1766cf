//! The masters an agent may talk to: `--masters a:5050,b:5050` and the
//! leader addresses learnt on the way.
//!
//! [`MasterList::next`] yields the master to try next: every known master
//! once per round, in a fresh random order each round (so agents do not
//! all start with the first of the list), except that a leader named by a
//! "not the leader, the leader is X" answer goes first, once. Learnt
//! addresses join the list (bounded); the configured ones are never
//! forgotten, so a wrong or stale answer cannot strand the agent. Pure:
//! the randomness is injected.

use std::collections::VecDeque;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::host_port::{HostPort, HostPortError};

/// At most this many learnt addresses are kept (the oldest go first), so
/// answers naming ever new addresses cannot grow the list without bound.
pub const MAX_LEARNT_MASTERS: usize = 16;

/// The right form, shown in every error.
pub const MASTERS_FORM: &str = "give HOST:PORT of each master, comma-separated, e.g. \
     m1:5050,m2:5050,m3:5050 or 10.0.0.1:5050,[fd00::1]:5050";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MastersError {
    #[error("no master given; {MASTERS_FORM}")]
    Empty,
    #[error("master address {0}; {MASTERS_FORM}")]
    BadAddress(HostPortError),
}

/// A master's address.
pub type MasterAddr = HostPort;

/// Parses `--masters`: comma-separated `HOST:PORT`s, repeats dropped (the
/// first kept), at least one.
pub fn parse_masters(text: &str) -> Result<Vec<MasterAddr>, MastersError> {
    let mut masters: Vec<MasterAddr> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let addr: MasterAddr = item.parse().map_err(MastersError::BadAddress)?;
        if !masters.contains(&addr) {
            masters.push(addr);
        }
    }
    if masters.is_empty() {
        return Err(MastersError::Empty);
    }
    Ok(masters)
}

/// The masters to try, in the order of the module doc.
#[derive(Debug, Clone)]
pub struct MasterList {
    configured: Vec<MasterAddr>,
    learnt: VecDeque<MasterAddr>,
    /// What is left of the current round; taken from the end.
    round: Vec<MasterAddr>,
    leader_hint: Option<MasterAddr>,
}

impl MasterList {
    /// The list of `--masters` (repeats dropped); at least one.
    pub fn new(configured: Vec<MasterAddr>) -> Result<Self, MastersError> {
        let mut unique: Vec<MasterAddr> = Vec::with_capacity(configured.len());
        for addr in configured {
            if !unique.contains(&addr) {
                unique.push(addr);
            }
        }
        if unique.is_empty() {
            return Err(MastersError::Empty);
        }
        Ok(MasterList {
            configured: unique,
            learnt: VecDeque::new(),
            round: Vec::new(),
            leader_hint: None,
        })
    }

    pub fn configured(&self) -> &[MasterAddr] {
        &self.configured
    }

    /// Configured masters first, then learnt ones, oldest first.
    pub fn known(&self) -> impl Iterator<Item = &MasterAddr> {
        self.configured.iter().chain(self.learnt.iter())
    }

    pub fn is_known(&self, addr: &MasterAddr) -> bool {
        self.known().any(|a| a == addr)
    }

    /// The master to try now.
    pub fn next<R: Rng + ?Sized>(&mut self, rng: &mut R) -> MasterAddr {
        if let Some(leader) = self.leader_hint.take() {
            // Tried now, so not again in this round.
            self.round.retain(|a| *a != leader);
            return leader;
        }
        if self.round.is_empty() {
            self.round = self.known().cloned().collect();
            self.round.shuffle(rng);
        }
        // `known` is never empty: `configured` has at least one address.
        self.round
            .pop()
            .unwrap_or_else(|| self.configured[0].clone())
    }

    /// Masters of the current round not tried yet (a leader hint counts).
    pub fn round_left(&self) -> bool {
        self.leader_hint.is_some() || !self.round.is_empty()
    }

    /// The masters after this come from a fresh round of every known
    /// master (after losing the leader, each deserves a try).
    pub fn new_round(&mut self) {
        self.round.clear();
    }

    /// A master answered "not the leader, the leader is `leader`": try it
    /// next (once), and remember it if it is new.
    pub fn follow_leader(&mut self, leader: MasterAddr) {
        self.learn(leader.clone());
        self.leader_hint = Some(leader);
    }

    /// Adds `addr` to the list if it is not known yet, dropping the oldest
    /// learnt address past [`MAX_LEARNT_MASTERS`].
    pub fn learn(&mut self, addr: MasterAddr) {
        if self.is_known(&addr) {
            return;
        }
        self.learnt.push_back(addr);
        if self.learnt.len() > MAX_LEARNT_MASTERS {
            if let Some(dropped) = self.learnt.pop_front() {
                self.round.retain(|a| *a != dropped);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn addr(text: &str) -> MasterAddr {
        text.parse().unwrap()
    }

    fn list(text: &str) -> MasterList {
        MasterList::new(parse_masters(text).unwrap()).unwrap()
    }

    #[test]
    fn a_round_is_left_until_every_master_was_tried_and_can_start_afresh() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut masters = list("m1:1,m2:1,m3:1");
        assert!(!masters.round_left(), "no round drawn yet");
        masters.next(&mut rng);
        assert!(masters.round_left());
        masters.next(&mut rng);
        assert!(masters.round_left());
        masters.next(&mut rng);
        assert!(!masters.round_left(), "all three tried");
        // A leader hint is one more master to try.
        masters.follow_leader(addr("m2:1"));
        assert!(masters.round_left());
        assert_eq!(masters.next(&mut rng), addr("m2:1"));
        // A fresh round after a partial one: every master again.
        masters.next(&mut rng);
        masters.new_round();
        let mut round: Vec<MasterAddr> = (0..3).map(|_| masters.next(&mut rng)).collect();
        round.sort_by_key(ToString::to_string);
        assert_eq!(round, [addr("m1:1"), addr("m2:1"), addr("m3:1")]);
    }

    #[test]
    fn the_flag_parses_trims_and_drops_repeats() {
        let masters = parse_masters(" m1:5050, M1:5050,10.0.0.2:5050,,[fd00::1]:5050 ").unwrap();
        let text: Vec<String> = masters.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["m1:5050", "10.0.0.2:5050", "[fd00::1]:5050"]);
        assert_eq!(masters[0].host(), "m1");
        assert_eq!(masters[0].port(), 5050);
    }

    #[test]
    fn a_bad_address_is_named_and_the_form_shown() {
        let message = parse_masters("ok:1,m1").unwrap_err().to_string();
        assert!(
            message.contains("\"m1\" is not HOST:PORT: no port"),
            "{message}"
        );
        assert!(message.contains("e.g. m1:5050"), "{message}");
        assert_eq!(parse_masters(" , "), Err(MastersError::Empty));
        assert!(MasterList::new(vec![]).is_err());
    }

    #[test]
    fn each_round_visits_every_master_once_in_a_fresh_order() {
        let mut masters = list("a:1,b:1,c:1,d:1");
        let mut rng = StdRng::seed_from_u64(1);
        let mut orders = Vec::new();
        for _ in 0..20 {
            let round: Vec<MasterAddr> = (0..4).map(|_| masters.next(&mut rng)).collect();
            let mut sorted = round.clone();
            sorted.sort();
            assert_eq!(sorted, masters.configured().to_vec());
            orders.push(round);
        }
        orders.sort();
        orders.dedup();
        assert!(
            orders.len() > 5,
            "only {} orders in 20 rounds",
            orders.len()
        );
    }

    #[test]
    fn a_named_leader_goes_first_once_and_unknown_ones_are_learnt() {
        let mut masters = list("a:1,b:1,c:1");
        let mut rng = StdRng::seed_from_u64(2);
        let first = masters.next(&mut rng);
        let leader = if first == addr("b:1") { "c:1" } else { "b:1" };
        masters.follow_leader(addr(leader));
        assert_eq!(masters.next(&mut rng), addr(leader));
        // The rest of the round: the third master only.
        let third = masters.next(&mut rng);
        assert!(third != first && third != addr(leader));
        // A leader not in the list joins it for good.
        masters.follow_leader(addr("d:1"));
        assert_eq!(masters.next(&mut rng), addr("d:1"));
        assert!(masters.is_known(&addr("d:1")));
        let round: Vec<MasterAddr> = (0..4).map(|_| masters.next(&mut rng)).collect();
        assert!(round.contains(&addr("d:1")) && round.contains(&addr("a:1")));
    }

    #[test]
    fn learnt_addresses_are_bounded_and_configured_ones_never_forgotten() {
        let mut masters = list("a:1,b:1");
        for i in 0..100u16 {
            masters.learn(addr(&format!("x{i}:1")));
        }
        masters.learn(addr("a:1"));
        let known: Vec<String> = masters.known().map(ToString::to_string).collect();
        assert_eq!(known.len(), 2 + MAX_LEARNT_MASTERS);
        assert_eq!(known[..2], ["a:1", "b:1"]);
        assert_eq!(known.last().unwrap(), "x99:1");
        let mut rng = StdRng::seed_from_u64(3);
        let round: Vec<MasterAddr> = (0..known.len()).map(|_| masters.next(&mut rng)).collect();
        assert!(round.contains(&addr("a:1")) && round.contains(&addr("b:1")));
    }
}
