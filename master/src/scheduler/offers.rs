//! The leader's outstanding offers: what each offer holds, whose it is,
//! and taking offers back (ACCEPT, DECLINE, rescinds). Pure: times are
//! arguments.
//!
//! Offer ids carry the term (`<cluster>-<term>-O<n>`), so an offer made by
//! an earlier leader can never be mistaken for one of this term: after a
//! failover every old offer is simply unknown (Mesos: "Offer is no longer
//! valid").

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::allocator::{Allocation, Resources};

/// One offer made and neither used, declined nor rescinded yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Outstanding {
    pub id: String,
    pub framework_id: String,
    pub agent_id: String,
    pub role: String,
    pub resources: Resources,
    pub made_at: Instant,
}

/// The offers an ACCEPT or DECLINE named, taken out of the book.
#[derive(Debug, Default, PartialEq)]
pub struct Taken {
    /// Valid offers (their resources go to the launches or back to the
    /// allocator).
    pub offers: Vec<Outstanding>,
    /// Why the call as a whole is invalid, if it is (Mesos then drops
    /// every launch in it with REASON_INVALID_OFFERS).
    pub invalid: Option<String>,
}

#[derive(Debug)]
pub struct OfferBook {
    prefix: String,
    next: u64,
    offers: HashMap<String, Outstanding>,
    by_agent: HashMap<String, BTreeSet<String>>,
    by_framework: HashMap<String, BTreeSet<String>>,
}

impl OfferBook {
    /// A book for one leader term; `prefix` makes its ids unique to it.
    pub fn new(prefix: String) -> Self {
        Self {
            prefix,
            next: 0,
            offers: HashMap::new(),
            by_agent: HashMap::new(),
            by_framework: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.offers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Outstanding> {
        self.offers.get(id)
    }

    /// Every outstanding offer, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Outstanding> {
        self.offers.values()
    }

    /// Records an allocation as a new offer and returns it.
    pub fn make(&mut self, allocation: Allocation, now: Instant) -> &Outstanding {
        self.next += 1;
        let id = format!("{}-O{}", self.prefix, self.next);
        let offer = Outstanding {
            id: id.clone(),
            framework_id: allocation.framework_id.0,
            agent_id: allocation.agent_id.0,
            role: allocation.role,
            resources: allocation.resources,
            made_at: now,
        };
        self.by_agent
            .entry(offer.agent_id.clone())
            .or_default()
            .insert(id.clone());
        self.by_framework
            .entry(offer.framework_id.clone())
            .or_default()
            .insert(id.clone());
        self.offers.entry(id).or_insert(offer)
    }

    /// Takes the offers `ids` of `framework_id` for an ACCEPT or DECLINE.
    /// Mesos's rules: at least one offer, no id twice, every offer
    /// current and the framework's, all on one agent. Offers that are
    /// valid are taken even when the call is not, so their resources can
    /// be returned.
    pub fn take(&mut self, framework_id: &str, ids: &[String]) -> Taken {
        let mut taken = Taken::default();
        let mut seen = BTreeSet::new();
        let mut problems = Vec::new();
        if ids.is_empty() {
            problems.push("No offers specified".to_string());
        }
        for id in ids {
            if !seen.insert(id.as_str()) {
                problems.push(format!("Duplicate offer {id} in the call"));
                continue;
            }
            match self.offers.get(id) {
                None => problems.push(format!("Offer {id} is no longer valid")),
                Some(o) if o.framework_id != framework_id => problems.push(format!(
                    "Offer {id} has invalid framework {} while framework {framework_id} \
                     is expected",
                    o.framework_id
                )),
                Some(_) => {
                    if let Some(offer) = self.remove(id) {
                        taken.offers.push(offer);
                    }
                }
            }
        }
        let agents: BTreeSet<&str> = taken.offers.iter().map(|o| o.agent_id.as_str()).collect();
        if agents.len() > 1 {
            problems.push(format!(
                "Aggregated offers must belong to one agent, not {}",
                agents.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if !problems.is_empty() {
            taken.invalid = Some(problems.join("; "));
        }
        taken
    }

    /// Takes every offer on `agent_id` (the agent left or was deactivated).
    pub fn take_agent(&mut self, agent_id: &str) -> Vec<Outstanding> {
        let ids = self.by_agent.remove(agent_id).unwrap_or_default();
        ids.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Takes every offer made to `framework_id` (it is gone or inactive).
    pub fn take_framework(&mut self, framework_id: &str) -> Vec<Outstanding> {
        let ids = self.by_framework.remove(framework_id).unwrap_or_default();
        ids.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Takes the offers older than `timeout` at `now` (`--offer-timeout`).
    pub fn take_expired(&mut self, now: Instant, timeout: Duration) -> Vec<Outstanding> {
        let old: Vec<String> = self
            .offers
            .values()
            .filter(|o| now.saturating_duration_since(o.made_at) >= timeout)
            .map(|o| o.id.clone())
            .collect();
        old.iter().filter_map(|id| self.remove(id)).collect()
    }

    fn remove(&mut self, id: &str) -> Option<Outstanding> {
        let offer = self.offers.remove(id)?;
        for (index, key) in [
            (&mut self.by_agent, &offer.agent_id),
            (&mut self.by_framework, &offer.framework_id),
        ] {
            if let Some(ids) = index.get_mut(key) {
                ids.remove(id);
                if ids.is_empty() {
                    index.remove(key);
                }
            }
        }
        Some(offer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::{AgentId, FrameworkId, Scalar};

    fn allocation(framework: &str, agent: &str) -> Allocation {
        Allocation {
            framework_id: FrameworkId(framework.into()),
            role: "*".into(),
            agent_id: AgentId(agent.into()),
            resources: Resources::new().with_scalar("cpus", Scalar::from_thousandths(1000)),
        }
    }

    fn book_with(offers: &[(&str, &str)]) -> (OfferBook, Vec<String>, Instant) {
        let now = Instant::now();
        let mut book = OfferBook::new("c-7".into());
        let ids = offers
            .iter()
            .map(|(f, a)| book.make(allocation(f, a), now).id.clone())
            .collect();
        (book, ids, now)
    }

    #[test]
    fn offer_ids_carry_the_term_prefix_and_are_never_reused() {
        let (mut book, ids, _) = book_with(&[("f", "a"), ("f", "b")]);
        assert_eq!(ids, vec!["c-7-O1", "c-7-O2"]);
        book.take("f", &ids[..1]);
        let next = book.make(allocation("f", "a"), Instant::now()).id.clone();
        assert_eq!(next, "c-7-O3");
    }

    #[test]
    fn a_valid_accept_takes_its_offers() {
        let (mut book, ids, _) = book_with(&[("f", "a"), ("f", "a")]);
        let taken = book.take("f", &ids);
        assert_eq!(taken.invalid, None);
        assert_eq!(taken.offers.len(), 2);
        assert!(book.is_empty());
    }

    #[test]
    fn offers_of_another_framework_or_unknown_ones_make_the_call_invalid() {
        let (mut book, ids, _) = book_with(&[("f", "a"), ("g", "a")]);
        let taken = book.take("f", &[ids[0].clone(), ids[1].clone(), "x-O9".into()]);
        let why = taken.invalid.unwrap();
        assert!(why.contains("invalid framework g"), "{why}");
        assert!(why.contains("x-O9 is no longer valid"), "{why}");
        // The framework's own valid offer is taken (to be recovered); the
        // other framework's stays outstanding.
        assert_eq!(taken.offers.len(), 1);
        assert!(book.get(&ids[1]).is_some());
    }

    #[test]
    fn offers_on_two_agents_or_named_twice_make_the_call_invalid() {
        let (mut book, ids, _) = book_with(&[("f", "a"), ("f", "b")]);
        let taken = book.take("f", &ids);
        assert!(taken.invalid.unwrap().contains("one agent"));
        let (mut book, ids, _) = book_with(&[("f", "a")]);
        let taken = book.take("f", &[ids[0].clone(), ids[0].clone()]);
        assert!(taken.invalid.unwrap().contains("Duplicate"));
        assert!(book.take("f", &[]).invalid.unwrap().contains("No offers"));
    }

    #[test]
    fn an_agent_or_framework_leaving_takes_its_offers() {
        let (mut book, _, _) = book_with(&[("f", "a"), ("g", "a"), ("f", "b")]);
        assert_eq!(book.take_agent("a").len(), 2);
        assert_eq!(book.take_framework("f").len(), 1);
        assert!(book.is_empty());
        assert!(book.take_agent("a").is_empty());
    }

    #[test]
    fn offers_expire_after_the_offer_timeout() {
        let (mut book, _, then) = book_with(&[("f", "a")]);
        assert!(book.take_expired(then, Duration::from_secs(5)).is_empty());
        let later = then + Duration::from_secs(5);
        assert_eq!(book.take_expired(later, Duration::from_secs(5)).len(), 1);
    }
}
