//! Partition shapes as *grudges*: for each node, the set of nodes whose
//! connections to it are dropped (they cannot open a connection to it; it
//! can still open connections to them and talk both ways on those). Pure
//! functions, so the shapes are unit-tested without any network.

use std::collections::{BTreeMap, BTreeSet};

pub type Grudge = BTreeMap<u64, BTreeSet<u64>>;

fn add(g: &mut Grudge, to: u64, from: u64) {
    if to != from {
        g.entry(to).or_default().insert(from);
    }
}

/// Two sides that cannot talk to each other at all.
pub fn split(a: &[u64], b: &[u64]) -> Grudge {
    let mut g = Grudge::new();
    for x in a {
        for y in b {
            add(&mut g, *x, *y);
            add(&mut g, *y, *x);
        }
    }
    g
}

/// Random halves: `order` is a shuffled node list; the first ⌊n/2⌋ form
/// the minority.
pub fn halves(order: &[u64]) -> Grudge {
    let (a, b) = order.split_at(order.len() / 2);
    split(a, b)
}

/// One node cut off from all others.
pub fn isolate(node: u64, all: &[u64]) -> Grudge {
    let others: Vec<u64> = all.iter().copied().filter(|n| *n != node).collect();
    split(&[node], &others)
}

/// Every node can reach a majority (itself included), and no two nodes
/// reach the same majority. With `order` as a ring: when a majority minus
/// one is even, each node and its nearest (m-1)/2 neighbours on each side
/// reach each other (symmetric); otherwise (e.g. 3 nodes) each node accepts
/// connections only from the next m-1 nodes of the ring (directed: b may
/// connect to a, c to b, a to c; a 3-node ring in which every pair could
/// talk both ways would join everyone).
pub fn majorities_ring(order: &[u64]) -> Grudge {
    let n = order.len();
    let m = n / 2 + 1;
    let mut g = Grudge::new();
    for (i, node) in order.iter().enumerate() {
        let mut hears: BTreeSet<usize> = BTreeSet::new();
        if (m - 1).is_multiple_of(2) {
            for d in 1..=(m - 1) / 2 {
                hears.insert((i + d) % n);
                hears.insert((i + n - d) % n);
            }
        } else {
            for d in 1..m {
                hears.insert((i + d) % n);
            }
        }
        for (j, other) in order.iter().enumerate() {
            if j != i && !hears.contains(&j) {
                add(&mut g, *node, *other);
            }
        }
    }
    g
}

/// Two halves that cannot talk, joined by one node that hears and is heard
/// by everyone: `order[..k]` | `order[k]` | `order[k+1..]` with k = ⌊(n-1)/2⌋.
pub fn bridge(order: &[u64]) -> Grudge {
    let k = (order.len() - 1) / 2;
    split(&order[..k], &order[k + 1..])
}

/// `from` cannot open connections to `to`; `to` can still open
/// connections to `from`.
pub fn one_way(from: u64, to: u64) -> Grudge {
    let mut g = Grudge::new();
    add(&mut g, to, from);
    g
}

/// The directed cuts of `g`: `(from, to)` = connections `from` opens to
/// `to` are dropped.
pub fn cut_pairs(g: &Grudge) -> Vec<(u64, u64)> {
    g.iter()
        .flat_map(|(to, froms)| froms.iter().map(move |from| (*from, *to)))
        .collect()
}

/// Whether every cut also holds the other way round.
pub fn is_symmetric(g: &Grudge) -> bool {
    let pairs: BTreeSet<(u64, u64)> = cut_pairs(g).into_iter().collect();
    pairs.iter().all(|(a, b)| pairs.contains(&(*b, *a)))
}

/// The nodes each node can open connections to (itself included).
pub fn reaches(g: &Grudge, all: &[u64]) -> BTreeMap<u64, BTreeSet<u64>> {
    all.iter()
        .map(|from| {
            let reached = all
                .iter()
                .copied()
                .filter(|to| !g.get(to).is_some_and(|refused| refused.contains(from)))
                .collect();
            (*from, reached)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_and_isolation() {
        let g = halves(&[3, 1, 2, 5, 4]);
        assert!(is_symmetric(&g));
        let v = reaches(&g, &[1, 2, 3, 4, 5]);
        assert_eq!(v[&3], BTreeSet::from([1, 3]));
        assert_eq!(v[&5], BTreeSet::from([2, 4, 5]));
        let g = isolate(2, &[1, 2, 3]);
        let v = reaches(&g, &[1, 2, 3]);
        assert_eq!(v[&2], BTreeSet::from([2]));
        assert_eq!(v[&1], BTreeSet::from([1, 3]));
    }

    #[test]
    fn majorities_ring_gives_distinct_majorities() {
        for n in [3u64, 4, 5, 6, 7] {
            let all: Vec<u64> = (1..=n).collect();
            let order: Vec<u64> = all.iter().rev().copied().collect();
            let g = majorities_ring(&order);
            assert_eq!(is_symmetric(&g), (n / 2).is_multiple_of(2), "n={n}");
            let v = reaches(&g, &all);
            let m = (n / 2 + 1) as usize;
            let distinct: BTreeSet<&BTreeSet<u64>> = v.values().collect();
            assert_eq!(distinct.len(), n as usize, "n={n}: views {v:?}");
            for (node, seen) in &v {
                assert!(seen.len() >= m, "n={n}: node {node} sees {seen:?}");
                assert!(seen.len() < n as usize, "n={n}: node {node} sees everyone");
            }
        }
    }

    #[test]
    fn bridge_node_sees_both_sides() {
        let all = [1, 2, 3, 4, 5];
        let v = reaches(&bridge(&all), &all);
        assert_eq!(v[&3], BTreeSet::from([1, 2, 3, 4, 5]));
        assert_eq!(v[&1], BTreeSet::from([1, 2, 3]));
        assert_eq!(v[&5], BTreeSet::from([3, 4, 5]));
        let v = reaches(&bridge(&[1, 2, 3]), &[1, 2, 3]);
        assert_eq!(v[&2].len(), 3);
        assert_eq!(v[&1], BTreeSet::from([1, 2]));
    }

    #[test]
    fn one_way_is_one_way() {
        let g = one_way(1, 2);
        assert_eq!(cut_pairs(&g), vec![(1, 2)]);
        assert!(!is_symmetric(&g));
        let v = reaches(&g, &[1, 2, 3]);
        assert!(!v[&1].contains(&2));
        assert!(v[&2].contains(&1));
    }
}
