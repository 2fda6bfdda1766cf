//! Order statistics of latency samples.
//!
//! Percentiles use the nearest-rank method: the p-th percentile of n
//! sorted samples is the sample of rank ceil(p * n / 100) (1-based), i.e.
//! the smallest sample such that at least p % of all samples are <= it.
//! It is always one of the samples (no interpolation); with 20 samples p99
//! is the maximum.

use serde::Serialize;

/// The p-th percentile (0 < p <= 100) of `sorted` (ascending); None when
/// there are no samples.
pub fn percentile(sorted: &[f64], p: u32) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(1, 100) as usize;
    let rank = (p * n).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

/// n, min, max, mean and the percentiles the bench prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// Summary of unsorted samples (NaNs are ignored); None when empty.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut s: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        Some(Summary {
            n: s.len(),
            min: s[0],
            p50: percentile(&s, 50)?,
            p90: percentile(&s, 90)?,
            p99: percentile(&s, 99)?,
            max: s[s.len() - 1],
            mean: s.iter().sum::<f64>() / s.len() as f64,
        })
    }
}

/// `value x count` pairs of a small integer distribution, e.g. "1 x18, 2 x2".
pub fn histogram(values: &[u64]) -> String {
    let mut counts = std::collections::BTreeMap::<u64, usize>::new();
    for v in values {
        *counts.entry(*v).or_default() += 1;
    }
    if counts.is_empty() {
        return "-".into();
    }
    counts
        .iter()
        .map(|(v, c)| format!("{v} x{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(n: u32) -> Vec<f64> {
        (1..=n).map(f64::from).collect()
    }

    #[test]
    fn nearest_rank_on_one_to_hundred() {
        let s = range(100);
        assert_eq!(percentile(&s, 50), Some(50.0));
        assert_eq!(percentile(&s, 90), Some(90.0));
        assert_eq!(percentile(&s, 99), Some(99.0));
        assert_eq!(percentile(&s, 100), Some(100.0));
        assert_eq!(percentile(&s, 1), Some(1.0));
    }

    #[test]
    fn nearest_rank_on_twenty_samples() {
        // The bench's default trial count: p99 is the maximum.
        let s = range(20);
        assert_eq!(percentile(&s, 50), Some(10.0));
        assert_eq!(percentile(&s, 90), Some(18.0));
        assert_eq!(percentile(&s, 99), Some(20.0));
    }

    #[test]
    fn small_and_empty_inputs() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7.0], 50), Some(7.0));
        assert_eq!(percentile(&[7.0], 99), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0], 50), Some(1.0));
        assert_eq!(percentile(&[1.0, 2.0], 51), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50), Some(2.0));
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn summary_sorts_its_input() {
        let s = Summary::of(&[300.0, 100.0, 500.0, 200.0, 400.0]).unwrap();
        assert_eq!(s.n, 5);
        assert_eq!(s.min, 100.0);
        assert_eq!(s.p50, 300.0);
        assert_eq!(s.p90, 500.0);
        assert_eq!(s.p99, 500.0);
        assert_eq!(s.max, 500.0);
        assert_eq!(s.mean, 300.0);
    }

    #[test]
    fn summary_of_a_skewed_sample() {
        // 98 fast, 2 slow: p50/p90 fast, p99 and max slow.
        let mut v = vec![1.0; 98];
        v.extend([250.0, 900.0]);
        let s = Summary::of(&v).unwrap();
        assert_eq!((s.p50, s.p90, s.p99, s.max), (1.0, 1.0, 250.0, 900.0));
    }

    #[test]
    fn histograms() {
        assert_eq!(histogram(&[1, 2, 1, 1]), "1 x3, 2 x1");
        assert_eq!(histogram(&[]), "-");
    }
}
