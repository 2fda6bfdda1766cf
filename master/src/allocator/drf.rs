//! Dominant Resource Fairness: the order in which clients (roles, or the
//! frameworks of one role) are offered resources.
//!
//! A client's dominant share is the largest, over every scalar kind of
//! the cluster total, of its allocation of that kind divided by the
//! total; divided by the client's weight it is the weighted share. The
//! client with the smallest weighted share goes first. Ties go to the
//! client that has been allocated fewer times, then to the smaller name,
//! as in Mesos's DRF sorter — so the order is fully deterministic.
//! Non-scalar resources (ports, sets) do not count toward shares.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::resources::Quantities;
use super::scalar::Scalar;

/// The weight of a role that has none configured.
pub const DEFAULT_WEIGHT: f64 = 1.0;

/// The largest share of `total` that `allocation` takes of any scalar
/// kind; kinds the cluster has none of are skipped.
pub fn dominant_share(allocation: &Quantities, total: &Quantities) -> f64 {
    total
        .iter()
        .filter(|(_, t)| !t.is_zero())
        .map(|(name, t)| {
            allocation
                .get(name)
                .copied()
                .unwrap_or(Scalar::ZERO)
                .fraction_of(*t)
        })
        .fold(0.0, f64::max)
}

/// A weighted share as a totally ordered key. Shares are finite and not
/// negative (weights are checked), so `total_cmp` agrees with `<` here
/// and never needs a fallback for NaN.
#[derive(Debug, Clone, Copy)]
struct ShareKey(f64);

impl PartialEq for ShareKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ShareKey {}

impl PartialOrd for ShareKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ShareKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A client's place in the order: weighted share, then allocations,
/// then name. The name is shared with the client's record, so moving a
/// client in the order copies no string.
type OrderKey = (ShareKey, u64, Arc<str>);

/// One client as the sorter sees it.
#[derive(Debug, Clone)]
struct Client {
    name: Arc<str>,
    allocation: Quantities,
    weight: f64,
    /// How many allocations the client has received: the first tie-break.
    allocations: u64,
    /// Whether the client takes part in the order (inactive and
    /// suppressed clients keep their allocation but are not offered).
    active: bool,
}

impl Client {
    fn new(name: &str) -> Client {
        Client {
            name: Arc::from(name),
            allocation: Quantities::new(),
            weight: DEFAULT_WEIGHT,
            allocations: 0,
            active: false,
        }
    }

    fn weighted_share(&self, total: &Quantities) -> f64 {
        dominant_share(&self.allocation, total) / self.weight
    }

    fn key(&self, total: &Quantities) -> OrderKey {
        (
            ShareKey(self.weighted_share(total)),
            self.allocations,
            self.name.clone(),
        )
    }
}

/// The DRF order of a set of clients, against one cluster total.
///
/// The active clients are kept in order as they change, so an allocation
/// round that asks for the first client once per agent pays a logarithm
/// per allocation instead of a sort of every client per agent.
#[derive(Debug, Clone, Default)]
pub struct DrfSorter {
    total: Quantities,
    clients: BTreeMap<String, Client>,
    order: BTreeSet<OrderKey>,
}

impl DrfSorter {
    pub fn new(total: Quantities) -> DrfSorter {
        DrfSorter {
            total,
            clients: BTreeMap::new(),
            order: BTreeSet::new(),
        }
    }

    /// Applies `change` to the client `name` (created with the default
    /// weight, inactive, if unknown), keeping the order in step.
    fn update(&mut self, name: &str, change: impl FnOnce(&mut Client)) {
        if !self.clients.contains_key(name) {
            self.clients.insert(name.to_string(), Client::new(name));
        }
        let Some(client) = self.clients.get_mut(name) else {
            return;
        };
        if client.active {
            self.order.remove(&client.key(&self.total));
        }
        change(client);
        if client.active {
            self.order.insert(client.key(&self.total));
        }
    }

    /// Adds (or updates the weight, past allocation count and activity
    /// of) a client; its allocation is left as it is.
    pub fn add_client(&mut self, name: &str, weight: f64, allocations: u64, active: bool) {
        self.update(name, |client| {
            client.weight = weight;
            client.allocations = allocations;
            client.active = client.active || active;
        });
    }

    /// Records `quantities` allocated to `name` (adding the client,
    /// inactive and with the default weight, if it is unknown). When
    /// `counted`, the allocation counts as one more for the tie-break.
    pub fn allocated(&mut self, name: &str, quantities: &Quantities, counted: bool) {
        self.update(name, |client| {
            for (kind, amount) in quantities {
                match client.allocation.get_mut(kind) {
                    Some(entry) => *entry = entry.saturating_add(*amount),
                    None => {
                        client.allocation.insert(kind.clone(), *amount);
                    }
                }
            }
            if counted {
                client.allocations += 1;
            }
        });
    }

    /// The weighted dominant share of `name` (0 for an unknown client).
    pub fn share(&self, name: &str) -> f64 {
        self.clients
            .get(name)
            .map(|c| c.weighted_share(&self.total))
            .unwrap_or(0.0)
    }

    /// The unweighted dominant share of `name` (0 for an unknown client).
    pub fn dominant_share(&self, name: &str) -> f64 {
        self.clients
            .get(name)
            .map(|c| dominant_share(&c.allocation, &self.total))
            .unwrap_or(0.0)
    }

    /// The active clients, first to be offered first, without copying:
    /// callers that need only the first eligible client stop early.
    pub fn in_order(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(|(_, _, name)| &**name)
    }

    /// The active clients, first to be offered first.
    pub fn sorted(&self) -> Vec<String> {
        self.in_order().map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, f64)]) -> Quantities {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), Scalar::from_f64(*v).unwrap()))
            .collect()
    }

    #[test]
    fn dominant_share_is_the_largest_fraction() {
        let total = q(&[("cpus", 10.0), ("mem", 1000.0), ("gpus", 0.0)]);
        assert_eq!(
            dominant_share(&q(&[("cpus", 1.0), ("mem", 500.0)]), &total),
            0.5
        );
        assert_eq!(
            dominant_share(&q(&[("cpus", 3.0), ("mem", 100.0)]), &total),
            0.3
        );
        assert_eq!(dominant_share(&q(&[("disk", 3.0)]), &total), 0.0);
        assert_eq!(dominant_share(&Quantities::new(), &Quantities::new()), 0.0);
    }

    #[test]
    fn smaller_weighted_share_goes_first() {
        let mut drf = DrfSorter::new(q(&[("cpus", 10.0), ("mem", 1000.0)]));
        drf.add_client("a", 1.0, 0, true);
        drf.add_client("b", 2.0, 0, true);
        drf.allocated("a", &q(&[("cpus", 2.0)]), true);
        drf.allocated("b", &q(&[("mem", 300.0)]), true);
        // a: 0.2 / 1; b: 0.3 / 2 = 0.15.
        assert_eq!(drf.sorted(), ["b", "a"]);
        assert_eq!(drf.share("a"), 0.2);
        drf.allocated("b", &q(&[("mem", 200.0)]), true);
        // b: 0.5 / 2 = 0.25.
        assert_eq!(drf.sorted(), ["a", "b"]);
    }

    #[test]
    fn ties_go_to_fewer_allocations_then_to_the_name() {
        let mut drf = DrfSorter::new(q(&[("cpus", 10.0)]));
        drf.add_client("b", 1.0, 0, true);
        drf.add_client("a", 1.0, 1, true);
        drf.add_client("c", 1.0, 0, true);
        assert_eq!(drf.sorted(), ["b", "c", "a"]);
    }

    #[test]
    fn inactive_clients_are_not_sorted_but_keep_their_allocation() {
        let mut drf = DrfSorter::new(q(&[("cpus", 10.0)]));
        drf.allocated("gone", &q(&[("cpus", 5.0)]), false);
        drf.add_client("here", 1.0, 0, true);
        assert_eq!(drf.sorted(), ["here"]);
        assert_eq!(drf.share("gone"), 0.5);
    }
}
