//! Unreserved resources as the allocator computes with them.
//!
//! A [`Resources`] value is a bag of named scalars (cpus, mem, disk, gpus,
//! any name), named ranges (ports) and named sets, always canonical: no
//! zero scalar, no empty range or set is stored, so equal bags compare
//! equal. Reservations, persistent volumes, revocable and shared
//! resources do not exist here; the proto conversion in [`super::convert`]
//! refuses them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::ranges::Ranges;
use super::scalar::Scalar;

/// Scalar amounts by name: what DRF measures (Mesos's
/// `ResourceQuantities`, scalars only).
pub type Quantities = BTreeMap<String, Scalar>;

/// A canonical bag of unreserved resources.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    scalars: BTreeMap<String, Scalar>,
    ranges: BTreeMap<String, Ranges>,
    sets: BTreeMap<String, BTreeSet<String>>,
}

impl Resources {
    pub fn new() -> Resources {
        Resources::default()
    }

    /// Adds `amount` of the scalar `name`.
    pub fn with_scalar(mut self, name: &str, amount: Scalar) -> Resources {
        self.add_scalar(name, amount);
        self
    }

    /// Adds the integers of `ranges` to the ranges `name`.
    pub fn with_ranges(mut self, name: &str, ranges: Ranges) -> Resources {
        self.add_ranges(name, &ranges);
        self
    }

    /// Adds `items` to the set `name`.
    pub fn with_set<I, S>(mut self, name: &str, items: I) -> Resources
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let items: BTreeSet<String> = items.into_iter().map(Into::into).collect();
        self.add_set(name, &items);
        self
    }

    fn add_scalar(&mut self, name: &str, amount: Scalar) {
        if amount.is_zero() {
            return;
        }
        let entry = self.scalars.entry(name.to_string()).or_default();
        *entry = entry.saturating_add(amount);
    }

    fn add_ranges(&mut self, name: &str, ranges: &Ranges) {
        if ranges.is_empty() {
            return;
        }
        let entry = self.ranges.entry(name.to_string()).or_default();
        *entry = entry.union(ranges);
    }

    fn add_set(&mut self, name: &str, items: &BTreeSet<String>) {
        if items.is_empty() {
            return;
        }
        self.sets
            .entry(name.to_string())
            .or_default()
            .extend(items.iter().cloned());
    }

    pub fn is_empty(&self) -> bool {
        self.scalars.is_empty() && self.ranges.is_empty() && self.sets.is_empty()
    }

    /// The amount of the scalar `name` (zero when absent).
    pub fn scalar(&self, name: &str) -> Scalar {
        self.scalars.get(name).copied().unwrap_or_default()
    }

    /// The ranges `name` (empty when absent).
    pub fn ranges(&self, name: &str) -> Ranges {
        self.ranges.get(name).cloned().unwrap_or_default()
    }

    pub fn scalars(&self) -> impl Iterator<Item = (&str, Scalar)> {
        self.scalars.iter().map(|(n, s)| (n.as_str(), *s))
    }

    pub fn all_ranges(&self) -> impl Iterator<Item = (&str, &Ranges)> {
        self.ranges.iter().map(|(n, r)| (n.as_str(), r))
    }

    pub fn sets(&self) -> impl Iterator<Item = (&str, &BTreeSet<String>)> {
        self.sets.iter().map(|(n, s)| (n.as_str(), s))
    }

    /// The scalar amounts, for DRF shares.
    pub fn quantities(&self) -> Quantities {
        self.scalars.clone()
    }

    /// Adds the scalar amounts to `into` (a running sum of quantities).
    pub fn add_scalars_to(&self, into: &mut Quantities) {
        for (name, amount) in &self.scalars {
            match into.get_mut(name) {
                Some(sum) => *sum = sum.saturating_add(*amount),
                None => {
                    into.insert(name.clone(), *amount);
                }
            }
        }
    }

    /// Takes the scalar amounts off `from` (never below zero); kinds that
    /// reach zero are dropped, so equal sums compare equal.
    pub fn sub_scalars_from(&self, from: &mut Quantities) {
        for (name, amount) in &self.scalars {
            if let Some(sum) = from.get_mut(name) {
                *sum = sum.saturating_sub(*amount);
                if sum.is_zero() {
                    from.remove(name);
                }
            }
        }
    }

    /// Adds everything of `other` to `self`.
    pub fn add(&mut self, other: &Resources) {
        for (name, amount) in &other.scalars {
            self.add_scalar(name, *amount);
        }
        for (name, ranges) in &other.ranges {
            self.add_ranges(name, ranges);
        }
        for (name, items) in &other.sets {
            self.add_set(name, items);
        }
    }

    /// `self + other` as a new value.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut sum = self.clone();
        sum.add(other);
        sum
    }

    /// Whether `self` holds at least everything of `other`.
    pub fn contains(&self, other: &Resources) -> bool {
        other.scalars.iter().all(|(n, a)| self.scalar(n) >= *a)
            && other
                .ranges
                .iter()
                .all(|(n, r)| self.ranges.get(n).is_some_and(|mine| mine.contains(r)))
            && other
                .sets
                .iter()
                .all(|(n, s)| self.sets.get(n).is_some_and(|mine| mine.is_superset(s)))
    }

    /// `self - other`, or `None` (and `self` untouched) when `self` does
    /// not contain `other`: the allocator never lets an amount go below
    /// zero.
    pub fn checked_sub(&self, other: &Resources) -> Option<Resources> {
        if !self.contains(other) {
            return None;
        }
        let mut rest = self.clone();
        for (name, amount) in &other.scalars {
            let left = rest.scalar(name).saturating_sub(*amount);
            if left.is_zero() {
                rest.scalars.remove(name);
            } else {
                rest.scalars.insert(name.clone(), left);
            }
        }
        for (name, ranges) in &other.ranges {
            if let Some(mine) = rest.ranges.get_mut(name) {
                *mine = mine.difference(ranges);
                if mine.is_empty() {
                    rest.ranges.remove(name);
                }
            }
        }
        for (name, items) in &other.sets {
            if let Some(mine) = rest.sets.get_mut(name) {
                mine.retain(|i| !items.contains(i));
                if mine.is_empty() {
                    rest.sets.remove(name);
                }
            }
        }
        Some(rest)
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.scalars.iter().map(|(n, a)| format!("{n}:{a}")));
        parts.extend(self.ranges.iter().map(|(n, r)| format!("{n}:{r}")));
        parts.extend(self.sets.iter().map(|(n, s)| {
            let items: Vec<&str> = s.iter().map(String::as_str).collect();
            format!("{n}:{{{}}}", items.join(","))
        }));
        if parts.is_empty() {
            return f.write_str("{}");
        }
        f.write_str(&parts.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: f64) -> Scalar {
        Scalar::from_f64(v).unwrap()
    }

    fn ports(spans: &[(u64, u64)]) -> Ranges {
        Ranges::from_spans(spans.iter().copied()).unwrap()
    }

    #[test]
    fn subtracting_everything_leaves_an_empty_bag() {
        let r = Resources::new()
            .with_scalar("cpus", s(0.3))
            .with_scalar("mem", s(128.0))
            .with_ranges("ports", ports(&[(1, 10)]))
            .with_set("gpus_ids", ["a", "b"]);
        let zero = r.checked_sub(&r).unwrap();
        assert!(zero.is_empty());
        assert_eq!(zero, Resources::new());
        assert_eq!(zero.to_string(), "{}");
    }

    #[test]
    fn fractional_parts_add_back_exactly() {
        let total = Resources::new().with_scalar("cpus", s(1.0));
        let parts = [s(0.1), s(0.2), s(0.3), s(0.4)];
        let mut left = total.clone();
        for p in parts {
            left = left
                .checked_sub(&Resources::new().with_scalar("cpus", p))
                .unwrap();
        }
        assert!(left.is_empty(), "{left}");
        let mut back = Resources::new();
        for p in parts {
            back.add(&Resources::new().with_scalar("cpus", p));
        }
        assert_eq!(back, total);
    }

    #[test]
    fn subtraction_of_more_than_held_is_refused() {
        let r = Resources::new()
            .with_scalar("cpus", s(1.0))
            .with_ranges("ports", ports(&[(1, 10)]));
        let more_cpus = Resources::new().with_scalar("cpus", s(1.001));
        let other_ports = Resources::new().with_ranges("ports", ports(&[(10, 11)]));
        let unknown = Resources::new().with_scalar("gpus", s(1.0));
        assert_eq!(r.checked_sub(&more_cpus), None);
        assert_eq!(r.checked_sub(&other_ports), None);
        assert_eq!(r.checked_sub(&unknown), None);
    }

    #[test]
    fn ranges_split_and_merge_through_the_bag() {
        let total = Resources::new().with_ranges("ports", ports(&[(31000, 31009)]));
        let a = Resources::new().with_ranges("ports", ports(&[(31003, 31004)]));
        let rest = total.checked_sub(&a).unwrap();
        assert_eq!(
            rest.ranges("ports"),
            ports(&[(31000, 31002), (31005, 31009)])
        );
        assert_eq!(rest.plus(&a), total);
        assert_eq!(total.to_string(), "ports:[31000-31009]");
    }

    #[test]
    fn zero_amounts_are_not_stored() {
        let r = Resources::new()
            .with_scalar("cpus", Scalar::ZERO)
            .with_ranges("ports", Ranges::default())
            .with_set("x", Vec::<String>::new());
        assert!(r.is_empty());
    }
}
