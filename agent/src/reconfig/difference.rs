//! The differences between two agent infos, ids ignored, and which of
//! them the `additive` policy lets through. Resources and attributes
//! compare regardless of order; resources are identified by name, role
//! and type, and compared by containment (a scalar larger or equal,
//! ranges and sets supersets).

use std::fmt;

use mesoraft_proto::mesos::v1::value::{self, Range};
use mesoraft_proto::mesos::v1::{AgentInfo, Attribute, DomainInfo, Resource};

use super::ReconfigurationPolicy;
use crate::attributes::format_attribute;
use crate::resources::{format_resource, role_of};
use crate::value::{normalize_ranges, ranges_contain, set_contains};

/// One way the current agent info differs from the checkpointed one.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    Hostname {
        previous: String,
        current: String,
    },
    Port {
        previous: i32,
        current: i32,
    },
    Domain {
        previous: Option<DomainInfo>,
        current: Option<DomainInfo>,
    },
    ResourceAdded(Resource),
    ResourceRemoved(Resource),
    /// The current resource contains the previous one.
    ResourceGrown {
        previous: Resource,
        current: Resource,
    },
    /// The previous resource contains the current one.
    ResourceShrunk {
        previous: Resource,
        current: Resource,
    },
    /// Neither contains the other (ranges or sets that moved).
    ResourceChanged {
        previous: Resource,
        current: Resource,
    },
    AttributeAdded(Attribute),
    AttributeRemoved(Attribute),
    AttributeChanged {
        previous: Attribute,
        current: Attribute,
    },
}

impl Difference {
    /// Whether `additive` lets this change through.
    pub fn allowed_under_additive(&self) -> bool {
        matches!(
            self,
            Difference::ResourceAdded(_)
                | Difference::ResourceGrown { .. }
                | Difference::AttributeAdded(_)
        )
    }

    /// Whether `policy` lets this change through.
    pub fn allowed_under(&self, policy: ReconfigurationPolicy) -> bool {
        match policy {
            ReconfigurationPolicy::Equal => false,
            ReconfigurationPolicy::Additive => self.allowed_under_additive(),
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Difference::*;
        match self {
            Hostname { previous, current } => {
                write!(f, "hostname changed from {previous:?} to {current:?}")
            }
            Port { previous, current } => write!(f, "port changed from {previous} to {current}"),
            Domain { previous, current } => write!(
                f,
                "domain changed from {} to {}",
                format_domain(previous.as_ref()),
                format_domain(current.as_ref())
            ),
            ResourceAdded(r) => write!(f, "resource {} added", format_resource(r)),
            ResourceRemoved(r) => write!(f, "resource {} removed", format_resource(r)),
            ResourceGrown { previous, current } => write!(
                f,
                "resource {} grew to {}",
                format_resource(previous),
                format_resource(current)
            ),
            ResourceShrunk { previous, current } => write!(
                f,
                "resource {} shrank to {}",
                format_resource(previous),
                format_resource(current)
            ),
            ResourceChanged { previous, current } => write!(
                f,
                "resource {} changed to {}",
                format_resource(previous),
                format_resource(current)
            ),
            AttributeAdded(a) => write!(f, "attribute {} added", format_attribute(a)),
            AttributeRemoved(a) => write!(f, "attribute {} removed", format_attribute(a)),
            AttributeChanged { previous, current } => write!(
                f,
                "attribute {} changed to {}",
                format_attribute(previous),
                format_attribute(current)
            ),
        }
    }
}

fn format_domain(domain: Option<&DomainInfo>) -> String {
    match domain.and_then(|d| d.fault_domain.as_ref()) {
        Some(fault) => format!("region {:?} zone {:?}", fault.region.name, fault.zone.name),
        None => "none".to_string(),
    }
}

/// Every difference between two agent infos, ids ignored.
pub fn differences(previous: &AgentInfo, current: &AgentInfo) -> Vec<Difference> {
    let mut found = Vec::new();
    if previous.hostname != current.hostname {
        found.push(Difference::Hostname {
            previous: previous.hostname.clone(),
            current: current.hostname.clone(),
        });
    }
    if previous.port() != current.port() {
        found.push(Difference::Port {
            previous: previous.port(),
            current: current.port(),
        });
    }
    if previous.domain != current.domain {
        found.push(Difference::Domain {
            previous: previous.domain.clone(),
            current: current.domain.clone(),
        });
    }
    resource_differences(&previous.resources, &current.resources, &mut found);
    attribute_differences(&previous.attributes, &current.attributes, &mut found);
    found
}

/// Resources are identified by name, role and type: a resource whose type
/// changed shows as removed and added.
type ResourceKey = (String, String, i32);

fn key_of(resource: &Resource) -> ResourceKey {
    (
        resource.name.clone(),
        role_of(resource).to_string(),
        resource.r#type,
    )
}

/// One entry per key, duplicates merged the way Mesos adds resources.
fn canonical(resources: &[Resource]) -> Vec<(ResourceKey, Resource)> {
    let mut merged: Vec<(ResourceKey, Resource)> = Vec::new();
    for resource in resources {
        let key = key_of(resource);
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => merge_into(existing, resource),
            None => merged.push((key, resource.clone())),
        }
    }
    merged
}

fn merge_into(existing: &mut Resource, more: &Resource) {
    if let (Some(a), Some(b)) = (existing.scalar.as_mut(), more.scalar) {
        a.value += b.value;
    }
    if let (Some(a), Some(b)) = (existing.ranges.as_mut(), more.ranges.as_ref()) {
        a.range.extend(b.range.iter().copied());
        a.range = normalize_ranges(&a.range);
    }
    if let (Some(a), Some(b)) = (existing.set.as_mut(), more.set.as_ref()) {
        for item in &b.item {
            if !a.item.contains(item) {
                a.item.push(item.clone());
            }
        }
    }
}

fn resource_differences(previous: &[Resource], current: &[Resource], found: &mut Vec<Difference>) {
    let previous = canonical(previous);
    let current = canonical(current);
    for (key, old) in &previous {
        match current.iter().find(|(k, _)| k == key) {
            None => found.push(Difference::ResourceRemoved(old.clone())),
            Some((_, new)) => {
                let grew = contains(new, old);
                let shrank = contains(old, new);
                let (previous, current) = (old.clone(), new.clone());
                match (grew, shrank) {
                    (true, true) => {}
                    (true, false) => found.push(Difference::ResourceGrown { previous, current }),
                    (false, true) => found.push(Difference::ResourceShrunk { previous, current }),
                    (false, false) => found.push(Difference::ResourceChanged { previous, current }),
                }
            }
        }
    }
    for (key, new) in &current {
        if !previous.iter().any(|(k, _)| k == key) {
            found.push(Difference::ResourceAdded(new.clone()));
        }
    }
}

/// Scalars are compared in Mesos's fixed point (three decimals).
fn fixed(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

fn ranges_of(resource_ranges: Option<&value::Ranges>) -> &[Range] {
    resource_ranges
        .map(|r| r.range.as_slice())
        .unwrap_or_default()
}

fn items_of(set: Option<&value::Set>) -> &[String] {
    set.map(|s| s.item.as_slice()).unwrap_or_default()
}

/// Whether `outer` holds all of `inner` (same key, so the same type).
fn contains(outer: &Resource, inner: &Resource) -> bool {
    match outer.r#type() {
        value::Type::Scalar => {
            let value_of = |r: &Resource| r.scalar.map(|s| fixed(s.value)).unwrap_or(0);
            value_of(outer) >= value_of(inner)
        }
        value::Type::Ranges => ranges_contain(
            ranges_of(outer.ranges.as_ref()),
            ranges_of(inner.ranges.as_ref()),
        ),
        value::Type::Set => {
            set_contains(items_of(outer.set.as_ref()), items_of(inner.set.as_ref()))
        }
        value::Type::Text => outer == inner,
    }
}

fn attribute_differences(
    previous: &[Attribute],
    current: &[Attribute],
    found: &mut Vec<Difference>,
) {
    for old in previous {
        match current.iter().find(|a| a.name == old.name) {
            None => found.push(Difference::AttributeRemoved(old.clone())),
            Some(new) if !same_attribute_value(old, new) => {
                found.push(Difference::AttributeChanged {
                    previous: old.clone(),
                    current: new.clone(),
                })
            }
            Some(_) => {}
        }
    }
    for new in current {
        if !previous.iter().any(|a| a.name == new.name) {
            found.push(Difference::AttributeAdded(new.clone()));
        }
    }
}

/// Equal values whatever order sets and ranges were written in.
fn same_attribute_value(a: &Attribute, b: &Attribute) -> bool {
    if a.r#type != b.r#type {
        return false;
    }
    match a.r#type() {
        value::Type::Scalar => a.scalar.map(|s| fixed(s.value)) == b.scalar.map(|s| fixed(s.value)),
        value::Type::Ranges => {
            normalize_ranges(ranges_of(a.ranges.as_ref()))
                == normalize_ranges(ranges_of(b.ranges.as_ref()))
        }
        value::Type::Set => {
            let (x, y) = (items_of(a.set.as_ref()), items_of(b.set.as_ref()));
            set_contains(x, y) && set_contains(y, x)
        }
        value::Type::Text => a.text == b.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::parse_attributes;
    use crate::resources::{parse_resources, scalar};

    fn base() -> AgentInfo {
        AgentInfo {
            hostname: "a1".into(),
            port: Some(5051),
            resources: parse_resources("cpus:4;ports:[1-9]").unwrap(),
            attributes: parse_attributes("rack:r1;t:{x,y}").unwrap(),
            ..AgentInfo::default()
        }
    }

    #[test]
    fn duplicates_in_a_checkpointed_info_are_merged_before_comparing() {
        let mut previous = base();
        previous.resources.push(scalar("cpus", 1.0));
        // cpus:4 + cpus:1 = 5 before; 4 now: shrunk.
        let found = differences(&previous, &base());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].to_string(), "resource cpus:5 shrank to cpus:4");
    }

    #[test]
    fn unnormalized_ranges_and_reordered_sets_are_not_differences() {
        let mut current = base();
        current.resources[1]
            .ranges
            .as_mut()
            .unwrap()
            .range
            .reverse();
        current.resources[1]
            .ranges
            .as_mut()
            .unwrap()
            .range
            .push(value::Range { begin: 2, end: 3 });
        current.attributes[1].set.as_mut().unwrap().item.reverse();
        assert_eq!(differences(&base(), &current), vec![]);
    }

    #[test]
    fn the_port_default_applies_when_unset() {
        let mut current = base();
        current.port = None;
        assert_eq!(differences(&base(), &current), vec![]);
    }
}
