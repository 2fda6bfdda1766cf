//! Mesos's value text, shared by `--resources` and `--attributes`: a
//! scalar (`4`, `0.5`), ranges (`[31000-32000]`, `[1-2,5-9]`), a set
//! (`{a,b}`) or, for attributes only, free text. Parsing follows Mesos's
//! `values::parse` (first character decides ranges or set, then a number,
//! else text), but refuses what Mesos silently repairs: inverted or
//! overlapping ranges, empty or repeated set items.
//!
//! Also the range arithmetic the reconfiguration check needs (containment
//! of coalesced ranges) and Mesos-style rendering for messages.

use mesoraft_proto::mesos::v1::value::Range;

/// A value as written on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedValue {
    /// A finite number; the sign is checked by the caller (attributes may
    /// be negative, resources may not).
    Scalar(f64),
    /// Sorted, non-overlapping, with adjacent ranges merged.
    Ranges(Vec<Range>),
    /// In the order written, without repeats.
    Set(Vec<String>),
    Text(String),
}

/// Why a value was refused (the caller adds which item it belonged to).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("the value is empty")]
    Empty,
    #[error("{0:?} is not a finite number")]
    NotFinite(String),
    #[error(
        "unbalanced or misplaced brackets in {0:?}; write ranges as [1-2,5-9] and sets as {{a,b}}"
    )]
    Brackets(String),
    #[error("{0:?} is not a range BEGIN-END of whole numbers, e.g. 31000-32000")]
    BadRange(String),
    #[error("range {begin}-{end} is inverted; write the lower bound first")]
    InvertedRange { begin: u64, end: u64 },
    #[error("ranges {first} and {second} overlap")]
    OverlappingRanges { first: String, second: String },
    #[error("no ranges between the brackets; write e.g. [31000-32000]")]
    NoRanges,
    #[error("the set has an empty item; write e.g. {{a,b}}")]
    EmptySetItem,
    #[error("{0:?} appears twice in the set")]
    RepeatedSetItem(String),
}

/// Parses one value (see the module doc).
pub fn parse_value(text: &str) -> Result<ParsedValue, ValueError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ValueError::Empty);
    }
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .filter(|i| !i.contains(['[', ']', '{', '}']))
            .ok_or_else(|| ValueError::Brackets(text.to_string()))?;
        return parse_ranges(inner).map(ParsedValue::Ranges);
    }
    if let Some(inner) = text.strip_prefix('{') {
        let inner = inner
            .strip_suffix('}')
            .filter(|i| !i.contains(['[', ']', '{', '}']))
            .ok_or_else(|| ValueError::Brackets(text.to_string()))?;
        return parse_set(inner).map(ParsedValue::Set);
    }
    if text.contains(['[', ']', '{', '}']) {
        return Err(ValueError::Brackets(text.to_string()));
    }
    if looks_numeric(text) {
        return match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(ParsedValue::Scalar(v)),
            _ => Err(ValueError::NotFinite(text.to_string())),
        };
    }
    Ok(ParsedValue::Text(text.to_string()))
}

/// A decimal number in the plain or exponent form (`-3`, `0.5`, `1e3`).
/// Rust's float parser also takes `inf` and `NaN`; those stay text here,
/// so an attribute `level:nan` is text rather than a refused scalar.
fn looks_numeric(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let digits_and_one_dot = |s: &str| {
        s.chars().any(|c| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_digit() || c == '.')
            && s.matches('.').count() <= 1
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    digits_and_one_dot(mantissa) && exponent_ok
}

fn parse_ranges(inner: &str) -> Result<Vec<Range>, ValueError> {
    let mut ranges = Vec::new();
    for item in inner.split(',').map(str::trim) {
        if item.is_empty() && inner.trim().is_empty() {
            return Err(ValueError::NoRanges);
        }
        let bad = || ValueError::BadRange(item.to_string());
        let (begin, end) = item.split_once('-').ok_or_else(bad)?;
        let begin: u64 = begin.trim().parse().map_err(|_| bad())?;
        let end: u64 = end.trim().parse().map_err(|_| bad())?;
        if end < begin {
            return Err(ValueError::InvertedRange { begin, end });
        }
        ranges.push(Range { begin, end });
    }
    ranges.sort_by_key(|r| (r.begin, r.end));
    for pair in ranges.windows(2) {
        if pair[1].begin <= pair[0].end {
            return Err(ValueError::OverlappingRanges {
                first: format_range(&pair[0]),
                second: format_range(&pair[1]),
            });
        }
    }
    // Adjacent ranges merge (`[1-2,3-4]` is `[1-4]`), as in Mesos, so
    // equal port sets compare equal however they were written.
    Ok(normalize_ranges(&ranges))
}

fn parse_set(inner: &str) -> Result<Vec<String>, ValueError> {
    let mut items: Vec<String> = Vec::new();
    for item in inner.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(ValueError::EmptySetItem);
        }
        if items.iter().any(|i| i == item) {
            return Err(ValueError::RepeatedSetItem(item.to_string()));
        }
        items.push(item.to_string());
    }
    Ok(items)
}

/// `ranges` sorted with overlapping and adjacent ranges merged, inverted
/// ones dropped: the canonical form of ranges read from anywhere but
/// [`parse_value`] (which refuses what this repairs).
pub fn normalize_ranges(ranges: &[Range]) -> Vec<Range> {
    let mut sorted: Vec<Range> = ranges
        .iter()
        .filter(|r| r.begin <= r.end)
        .copied()
        .collect();
    sorted.sort_by_key(|r| (r.begin, r.end));
    let mut merged: Vec<Range> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            Some(last) if range.begin <= last.end.saturating_add(1) => {
                last.end = last.end.max(range.end)
            }
            _ => merged.push(range),
        }
    }
    merged
}

/// Whether every number of `inner` is in `outer`, however either is
/// written.
pub fn ranges_contain(outer: &[Range], inner: &[Range]) -> bool {
    // Once coalesced, a covered inner range lies within one outer range.
    let outer = normalize_ranges(outer);
    normalize_ranges(inner).iter().all(|needle| {
        outer
            .iter()
            .any(|r| r.begin <= needle.begin && needle.end <= r.end)
    })
}

/// Whether every item of `inner` is in `outer`.
pub fn set_contains(outer: &[String], inner: &[String]) -> bool {
    inner.iter().all(|item| outer.contains(item))
}

pub fn format_range(range: &Range) -> String {
    format!("{}-{}", range.begin, range.end)
}

/// `[31000-32000, 33000-34000]`, Mesos's rendering.
pub fn format_ranges(ranges: &[Range]) -> String {
    let items: Vec<String> = ranges.iter().map(format_range).collect();
    format!("[{}]", items.join(", "))
}

/// `{a, b}`, Mesos's rendering.
pub fn format_set(items: &[String]) -> String {
    format!("{{{}}}", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(begin: u64, end: u64) -> Range {
        Range { begin, end }
    }

    #[test]
    fn the_first_character_decides_the_kind() {
        assert_eq!(parse_value(" 4 "), Ok(ParsedValue::Scalar(4.0)));
        assert_eq!(parse_value("-3"), Ok(ParsedValue::Scalar(-3.0)));
        assert_eq!(parse_value("1e3"), Ok(ParsedValue::Scalar(1000.0)));
        assert_eq!(
            parse_value("[31000-32000]"),
            Ok(ParsedValue::Ranges(vec![r(31000, 32000)]))
        );
        assert_eq!(
            parse_value("{x, y}"),
            Ok(ParsedValue::Set(vec!["x".into(), "y".into()]))
        );
        assert_eq!(parse_value("r1"), Ok(ParsedValue::Text("r1".into())));
        assert_eq!(parse_value("nan"), Ok(ParsedValue::Text("nan".into())));
        assert_eq!(parse_value("1.2.3"), Ok(ParsedValue::Text("1.2.3".into())));
    }

    #[test]
    fn ranges_are_sorted_and_adjacent_ones_merged() {
        assert_eq!(
            parse_value("[ 5-9 , 1-2, 3-3 ]"),
            Ok(ParsedValue::Ranges(vec![r(1, 3), r(5, 9)]))
        );
        assert!(ranges_contain(&[r(1, 10)], &[r(2, 3), r(10, 10)]));
        assert!(!ranges_contain(&[r(1, 4), r(6, 10)], &[r(4, 6)]));
        assert!(ranges_contain(&[r(1, 4)], &[]));
        assert!(ranges_contain(&[r(5, 10), r(1, 4)], &[r(3, 6)]));
        assert_eq!(
            normalize_ranges(&[r(8, 9), r(1, 5), r(3, 7), r(4, 2)]),
            vec![r(1, 9)]
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let cases = [
            ("", ValueError::Empty),
            ("[5-1]", ValueError::InvertedRange { begin: 5, end: 1 }),
            (
                "[1-5,4-9]",
                ValueError::OverlappingRanges {
                    first: "1-5".into(),
                    second: "4-9".into(),
                },
            ),
            ("[]", ValueError::NoRanges),
            ("[1-2,]", ValueError::BadRange("".into())),
            ("[7]", ValueError::BadRange("7".into())),
            ("[a-b]", ValueError::BadRange("a-b".into())),
            ("[-1-2]", ValueError::BadRange("-1-2".into())),
            ("[1-2", ValueError::Brackets("[1-2".into())),
            ("{a,{b}}", ValueError::Brackets("{a,{b}}".into())),
            ("a]", ValueError::Brackets("a]".into())),
            ("{a,,b}", ValueError::EmptySetItem),
            ("{}", ValueError::EmptySetItem),
            ("{a,a}", ValueError::RepeatedSetItem("a".into())),
            ("1e999", ValueError::NotFinite("1e999".into())),
        ];
        for (text, want) in cases {
            assert_eq!(parse_value(text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn rendering_is_mesos_style() {
        assert_eq!(format_ranges(&[r(1, 2), r(5, 9)]), "[1-2, 5-9]");
        assert_eq!(format_set(&["a".into(), "b".into()]), "{a, b}");
    }
}
