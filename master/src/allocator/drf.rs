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
use std::collections::BTreeMap;

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

/// One client as the sorter sees it.
#[derive(Debug, Clone, Default)]
struct Client {
    allocation: Quantities,
    weight: f64,
    /// How many allocations the client has received: the first tie-break.
    allocations: u64,
    /// Whether the client takes part in the order (inactive and
    /// suppressed clients keep their allocation but are not offered).
    active: bool,
}

/// The DRF order of a set of clients, against one cluster total.
#[derive(Debug, Clone, Default)]
pub struct DrfSorter {
    total: Quantities,
    clients: BTreeMap<String, Client>,
}

impl DrfSorter {
    pub fn new(total: Quantities) -> DrfSorter {
        DrfSorter {
            total,
            clients: BTreeMap::new(),
        }
    }

    /// Adds (or updates the weight, past allocation count and activity
    /// of) a client; its allocation is left as it is.
    pub fn add_client(&mut self, name: &str, weight: f64, allocations: u64, active: bool) {
        let client = self.clients.entry(name.to_string()).or_default();
        client.weight = weight;
        client.allocations = allocations;
        client.active = client.active || active;
    }

    /// Records `quantities` allocated to `name` (adding the client,
    /// inactive and with the default weight, if it is unknown). When
    /// `counted`, the allocation counts as one more for the tie-break.
    pub fn allocated(&mut self, name: &str, quantities: &Quantities, counted: bool) {
        let client = self
            .clients
            .entry(name.to_string())
            .or_insert_with(|| Client {
                weight: DEFAULT_WEIGHT,
                ..Client::default()
            });
        for (kind, amount) in quantities {
            let entry = client.allocation.entry(kind.clone()).or_default();
            *entry = entry.saturating_add(*amount);
        }
        if counted {
            client.allocations += 1;
        }
    }

    /// The weighted dominant share of `name` (0 for an unknown client).
    pub fn share(&self, name: &str) -> f64 {
        self.clients
            .get(name)
            .map(|c| self.weighted_share(c))
            .unwrap_or(0.0)
    }

    /// The unweighted dominant share of `name` (0 for an unknown client).
    pub fn dominant_share(&self, name: &str) -> f64 {
        self.clients
            .get(name)
            .map(|c| dominant_share(&c.allocation, &self.total))
            .unwrap_or(0.0)
    }

    fn weighted_share(&self, client: &Client) -> f64 {
        dominant_share(&client.allocation, &self.total) / client.weight
    }

    /// The active clients, first to be offered first.
    pub fn sorted(&self) -> Vec<String> {
        let mut keyed: Vec<(f64, u64, &String)> = self
            .clients
            .iter()
            .filter(|(_, c)| c.active)
            .map(|(name, c)| (self.weighted_share(c), c.allocations, name))
            .collect();
        keyed.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(Ordering::Equal)
                .then(a.1.cmp(&b.1))
                .then(a.2.cmp(b.2))
        });
        keyed.into_iter().map(|(_, _, name)| name.clone()).collect()
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
