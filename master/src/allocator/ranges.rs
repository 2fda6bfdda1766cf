//! Sets of integers kept as sorted, merged, inclusive ranges (ports).
//!
//! The representation is canonical: ranges are sorted, never overlap and
//! never touch (`[1-2]` and `[3-4]` are stored as `[1-4]`), so two values
//! holding the same integers compare equal.

use std::fmt;

/// One inclusive range `begin..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub begin: u64,
    pub end: u64,
}

/// Why a list of ranges was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("range [{begin}-{end}] ends before it begins")]
pub struct InvertedRange {
    pub begin: u64,
    pub end: u64,
}

/// A canonical set of integers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Ranges {
    spans: Vec<Span>,
}

impl Ranges {
    /// The set holding every integer of the given ranges, in any order and
    /// possibly overlapping.
    pub fn from_spans(
        spans: impl IntoIterator<Item = (u64, u64)>,
    ) -> Result<Ranges, InvertedRange> {
        let mut all = Vec::new();
        for (begin, end) in spans {
            if end < begin {
                return Err(InvertedRange { begin, end });
            }
            all.push(Span { begin, end });
        }
        Ok(Ranges::canonical(all))
    }

    /// Sorts and merges overlapping or touching spans.
    fn canonical(mut spans: Vec<Span>) -> Ranges {
        spans.sort();
        let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.begin <= last.end.saturating_add(1) => {
                    last.end = last.end.max(span.end);
                }
                _ => merged.push(span),
            }
        }
        Ranges { spans: merged }
    }

    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// How many integers the set holds (saturating for `[0-u64::MAX]`).
    pub fn count(&self) -> u64 {
        self.spans.iter().fold(0u64, |n, s| {
            n.saturating_add((s.end - s.begin).saturating_add(1))
        })
    }

    /// The union of both sets.
    pub fn union(&self, other: &Ranges) -> Ranges {
        let mut all = self.spans.clone();
        all.extend_from_slice(&other.spans);
        Ranges::canonical(all)
    }

    /// The integers of `self` that are not in `other`.
    pub fn difference(&self, other: &Ranges) -> Ranges {
        let mut out = Vec::new();
        let mut cut = other.spans.iter().peekable();
        for span in &self.spans {
            let mut begin = span.begin;
            let mut remaining = true;
            // Skip cuts entirely before this span.
            while cut.peek().is_some_and(|c| c.end < begin) {
                cut.next();
            }
            let mut ahead = cut.clone();
            while let Some(c) = ahead.peek() {
                if c.begin > span.end {
                    break;
                }
                if c.begin > begin {
                    out.push(Span {
                        begin,
                        end: c.begin - 1,
                    });
                }
                if c.end >= span.end {
                    remaining = false;
                    break;
                }
                begin = begin.max(c.end + 1);
                ahead.next();
            }
            if remaining && begin <= span.end {
                out.push(Span {
                    begin,
                    end: span.end,
                });
            }
        }
        Ranges { spans: out }
    }

    /// Whether every integer of `other` is in `self`.
    pub fn contains(&self, other: &Ranges) -> bool {
        other.spans.iter().all(|o| {
            self.spans
                .iter()
                .any(|s| s.begin <= o.begin && o.end <= s.end)
        })
    }

    /// Whether `value` is in the set.
    pub fn contains_value(&self, value: u64) -> bool {
        self.spans
            .iter()
            .any(|s| s.begin <= value && value <= s.end)
    }
}

impl fmt::Display for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, s) in self.spans.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}-{}", s.begin, s.end)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(spans: &[(u64, u64)]) -> Ranges {
        Ranges::from_spans(spans.iter().copied()).unwrap()
    }

    #[test]
    fn overlapping_and_touching_ranges_merge_and_sort() {
        let x = r(&[(10, 20), (1, 2), (3, 4), (15, 30), (40, 40)]);
        assert_eq!(x.to_string(), "[1-4, 10-30, 40-40]");
        assert_eq!(x.count(), 4 + 21 + 1);
        assert_eq!(x, r(&[(40, 40), (1, 4), (10, 30)]));
    }

    #[test]
    fn inverted_range_is_refused() {
        assert_eq!(
            Ranges::from_spans([(5, 4)]),
            Err(InvertedRange { begin: 5, end: 4 })
        );
    }

    #[test]
    fn subtracting_the_middle_splits_a_range() {
        let ports = r(&[(31000, 32000)]);
        let taken = r(&[(31100, 31199), (31500, 31500)]);
        let left = ports.difference(&taken);
        assert_eq!(left, r(&[(31000, 31099), (31200, 31499), (31501, 32000)]));
        assert_eq!(left.union(&taken), ports);
        assert!(ports.contains(&taken));
        assert!(!left.contains(&taken));
        assert!(!left.contains_value(31500));
        assert!(left.contains_value(31501));
    }

    #[test]
    fn difference_edges() {
        let x = r(&[(1, 10), (20, 30)]);
        assert_eq!(x.difference(&x), Ranges::default());
        assert_eq!(x.difference(&r(&[(0, 100)])), Ranges::default());
        assert_eq!(
            x.difference(&r(&[(1, 1), (30, 30)])),
            r(&[(2, 10), (20, 29)])
        );
        assert_eq!(x.difference(&r(&[(5, 25)])), r(&[(1, 4), (26, 30)]));
        assert_eq!(x.difference(&r(&[(11, 19)])), x);
        assert_eq!(
            r(&[(0, u64::MAX)]).difference(&r(&[(u64::MAX, u64::MAX)])),
            r(&[(0, u64::MAX - 1)])
        );
        assert_eq!(r(&[(0, u64::MAX)]).count(), u64::MAX);
    }

    #[test]
    fn contains_needs_every_value() {
        let x = r(&[(1, 10), (20, 30)]);
        assert!(x.contains(&r(&[(2, 3), (25, 30)])));
        assert!(!x.contains(&r(&[(9, 21)])));
        assert!(x.contains(&Ranges::default()));
        assert!(!Ranges::default().contains(&r(&[(1, 1)])));
    }
}
