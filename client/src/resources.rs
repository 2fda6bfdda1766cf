//! Resources in Mesos's text syntax (`cpus:0.1;mem:32;ports:[31000-31009]`),
//! and taking what a task needs out of an offer. Pure.
//!
//! What is taken keeps the offer's metadata (role, allocation, reservations),
//! as the master wants a launched task's resources to name the allocation
//! they came from.

use mesoraft_proto::mesos::v1::value::{self, Range, Ranges, Scalar, Set};
use mesoraft_proto::mesos::v1::Resource;

/// Mesos compares scalars in fixed point with three decimals.
const EPSILON: f64 = 0.0005;

/// Parses `name:value;...`: a scalar (`32`, `0.5`), ranges (`[1-5,8-9]`)
/// or a set (`{a,b}`). Errors name the part that is wrong.
pub fn parse_resources(text: &str) -> Result<Vec<Resource>, String> {
    let mut out: Vec<Resource> = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once(':')
            .ok_or_else(|| format!("{part:?} is not name:value (e.g. cpus:0.5)"))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "{part:?}: {name:?} is not a resource name (reserved resources, name(role), are not supported here)"
            ));
        }
        if out.iter().any(|r| r.name == name) {
            return Err(format!("{name:?} is given twice"));
        }
        out.push(parse_value(name, value.trim()).map_err(|e| format!("{part:?}: {e}"))?);
    }
    if out.is_empty() {
        return Err(format!(
            "no resource in {text:?}; expected e.g. cpus:0.1;mem:32"
        ));
    }
    Ok(out)
}

fn parse_value(name: &str, value: &str) -> Result<Resource, String> {
    let mut r = Resource {
        name: name.to_string(),
        ..Default::default()
    };
    if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        let mut ranges = Vec::new();
        for item in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (b, e) = item.split_once('-').unwrap_or((item, item));
            let begin: u64 = b
                .trim()
                .parse()
                .map_err(|_| format!("{b:?} is not a whole number"))?;
            let end: u64 = e
                .trim()
                .parse()
                .map_err(|_| format!("{e:?} is not a whole number"))?;
            if begin > end {
                return Err(format!("range {item:?} ends before it begins"));
            }
            ranges.push(Range { begin, end });
        }
        r.set_type(value::Type::Ranges);
        r.ranges = Some(Ranges { range: ranges });
    } else if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        let items = inner.split(',').map(str::trim).filter(|s| !s.is_empty());
        r.set_type(value::Type::Set);
        r.set = Some(Set {
            item: items.map(str::to_string).collect(),
        });
    } else {
        let amount: f64 = value
            .parse()
            .map_err(|_| format!("{value:?} is not a number, [ranges] or {{set}}"))?;
        if !amount.is_finite() || amount <= 0.0 {
            return Err(format!("{value:?} must be a positive amount"));
        }
        r.set_type(value::Type::Scalar);
        r.scalar = Some(Scalar { value: amount });
    }
    Ok(r)
}

/// Takes `wanted` out of `available` (an offer's resources, as left by
/// earlier takes): the resources to launch with, or None (and `available`
/// untouched) if they do not fit.
pub fn take(available: &mut Vec<Resource>, wanted: &[Resource]) -> Option<Vec<Resource>> {
    let mut left = available.clone();
    let mut taken = Vec::new();
    for want in wanted {
        match want.r#type() {
            value::Type::Scalar => take_scalar(&mut left, want, &mut taken)?,
            value::Type::Ranges => take_ranges(&mut left, want, &mut taken)?,
            value::Type::Set => take_set(&mut left, want, &mut taken)?,
            value::Type::Text => return None,
        }
    }
    left.retain(|r| !is_empty(r));
    *available = left;
    Some(taken)
}

fn same_kind(r: &Resource, want: &Resource) -> bool {
    r.name == want.name && r.r#type() == want.r#type()
}

fn take_scalar(left: &mut [Resource], want: &Resource, taken: &mut Vec<Resource>) -> Option<()> {
    let mut need = want.scalar.as_ref()?.value;
    for r in left.iter_mut().filter(|r| same_kind(r, want)) {
        let Some(have) = r.scalar.as_mut() else {
            continue;
        };
        let part = need.min(have.value);
        if part <= EPSILON {
            continue;
        }
        have.value -= part;
        need -= part;
        let mut piece = r.clone();
        piece.scalar = Some(Scalar { value: part });
        taken.push(piece);
        if need <= EPSILON {
            return Some(());
        }
    }
    (need <= EPSILON).then_some(())
}

fn take_ranges(left: &mut [Resource], want: &Resource, taken: &mut Vec<Resource>) -> Option<()> {
    for wanted in &want.ranges.as_ref()?.range {
        let holder = left.iter_mut().filter(|r| same_kind(r, want)).find(|r| {
            r.ranges.as_ref().is_some_and(|rs| {
                rs.range
                    .iter()
                    .any(|h| h.begin <= wanted.begin && wanted.end <= h.end)
            })
        })?;
        let ranges = &mut holder.ranges.as_mut()?.range;
        let at = ranges
            .iter()
            .position(|h| h.begin <= wanted.begin && wanted.end <= h.end)?;
        let whole = ranges.remove(at);
        if whole.begin < wanted.begin {
            ranges.push(Range {
                begin: whole.begin,
                end: wanted.begin - 1,
            });
        }
        if wanted.end < whole.end {
            ranges.push(Range {
                begin: wanted.end + 1,
                end: whole.end,
            });
        }
        let mut piece = holder.clone();
        piece.ranges = Some(Ranges {
            range: vec![*wanted],
        });
        taken.push(piece);
    }
    Some(())
}

fn take_set(left: &mut [Resource], want: &Resource, taken: &mut Vec<Resource>) -> Option<()> {
    for item in &want.set.as_ref()?.item {
        let holder = left
            .iter_mut()
            .filter(|r| same_kind(r, want))
            .find(|r| r.set.as_ref().is_some_and(|s| s.item.contains(item)))?;
        holder.set.as_mut()?.item.retain(|i| i != item);
        let mut piece = holder.clone();
        piece.set = Some(Set {
            item: vec![item.clone()],
        });
        taken.push(piece);
    }
    Some(())
}

fn is_empty(r: &Resource) -> bool {
    match r.r#type() {
        value::Type::Scalar => r.scalar.as_ref().is_none_or(|s| s.value <= EPSILON),
        value::Type::Ranges => r.ranges.as_ref().is_none_or(|rs| rs.range.is_empty()),
        value::Type::Set => r.set.as_ref().is_none_or(|s| s.item.is_empty()),
        value::Type::Text => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::mesos::v1::resource::AllocationInfo;

    fn offer(text: &str) -> Vec<Resource> {
        let mut rs = parse_resources(text).unwrap();
        for r in &mut rs {
            r.allocation_info = Some(AllocationInfo {
                role: Some("web".into()),
            });
        }
        rs
    }

    #[test]
    fn the_syntax_parses_and_errors_name_the_part() {
        let rs = parse_resources("cpus:0.5; mem:32;ports:[31000-31001,31005];zones:{a,b}").unwrap();
        assert_eq!(rs.len(), 4);
        assert_eq!(rs[0].scalar.as_ref().unwrap().value, 0.5);
        assert_eq!(
            rs[2].ranges.as_ref().unwrap().range[1],
            Range {
                begin: 31005,
                end: 31005
            }
        );
        assert_eq!(rs[3].set.as_ref().unwrap().item, ["a", "b"]);
        for (bad, says) in [
            ("cpus", "not name:value"),
            ("cpus:abc", "\"abc\" is not a number"),
            ("cpus:-1", "positive"),
            ("cpus(web):1", "not a resource name"),
            ("cpus:1;cpus:2", "given twice"),
            ("ports:[5-1]", "ends before it begins"),
            ("", "no resource"),
        ] {
            let e = parse_resources(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn taking_keeps_the_offers_allocation_and_leaves_the_rest() {
        let mut available = offer("cpus:1;mem:100;ports:[100-200]");
        let want = parse_resources("cpus:0.4;mem:60;ports:[150-150]").unwrap();
        let got = take(&mut available, &want).unwrap();
        assert!(got
            .iter()
            .all(|r| r.allocation_info.as_ref().unwrap().role.as_deref() == Some("web")));
        assert_eq!(got[0].scalar.as_ref().unwrap().value, 0.4);
        let ports = &available[2].ranges.as_ref().unwrap().range;
        assert_eq!(
            ports,
            &[
                Range {
                    begin: 100,
                    end: 149
                },
                Range {
                    begin: 151,
                    end: 200
                }
            ]
        );
        // A second task fits; a third does not, and changes nothing.
        assert!(take(&mut available, &parse_resources("cpus:0.4;mem:40").unwrap()).is_some());
        let before = available.clone();
        assert!(take(&mut available, &parse_resources("cpus:0.4;mem:40").unwrap()).is_none());
        assert_eq!(available, before);
        assert!(take(&mut available, &parse_resources("gpus:1").unwrap()).is_none());
    }

    #[test]
    fn scalars_may_come_from_several_resources() {
        let mut available = offer("cpus:0.3");
        available.extend(offer("cpus:0.3"));
        let got = take(&mut available, &parse_resources("cpus:0.5").unwrap()).unwrap();
        assert_eq!(got.len(), 2);
        let left: f64 = available
            .iter()
            .map(|r| r.scalar.as_ref().unwrap().value)
            .sum();
        assert!((left - 0.1).abs() < 1e-9, "{left}");
        let mut sets = offer("zones:{a,b}");
        assert!(take(&mut sets, &parse_resources("zones:{b}").unwrap()).is_some());
        assert_eq!(sets[0].set.as_ref().unwrap().item, ["a"]);
    }
}
