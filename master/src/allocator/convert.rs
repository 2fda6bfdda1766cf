//! Conversions between the allocator's [`Resources`] and Mesos's
//! `Resource` messages.
//!
//! Only unreserved resources are representable. Anything else —
//! reservations, a role other than `"*"`, TEXT values, negative or
//! non-finite amounts, one name used with two types — is refused with a
//! [`ConversionError`] naming the resource, rather than silently dropped
//! or treated as unreserved.

use std::collections::BTreeMap;

use mesoraft_proto::mesos::v1::{resource, value, Resource};

use super::ranges::{InvertedRange, Ranges};
use super::resources::Resources;
use super::scalar::{Scalar, ScalarError};

/// The role of unreserved resources.
pub const UNRESERVED_ROLE: &str = "*";

/// Why a list of `Resource` messages cannot be used by the allocator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConversionError {
    #[error("a resource has an empty name")]
    EmptyName,
    #[error("resource '{name}' has an unknown value type {code}")]
    UnknownType { name: String, code: i32 },
    #[error(
        "resource '{name}' is of type {kind}, which cannot be allocated; use SCALAR, RANGES or SET"
    )]
    UnsupportedType { name: String, kind: &'static str },
    #[error("resource '{name}' is declared {kind} but has no {kind} value")]
    MissingValue { name: String, kind: &'static str },
    #[error("resource '{name}': {source}")]
    Scalar { name: String, source: ScalarError },
    #[error("resource '{name}': {source}")]
    Range { name: String, source: InvertedRange },
    #[error("resource '{name}' is used both as {first} and as {second}; one name takes one type")]
    MixedTypes {
        name: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("resource '{name}' is reserved (role '{role}'); only unreserved resources ('*') can be allocated yet")]
    Reserved { name: String, role: String },
    #[error("resource '{name}' carries an allocation role; give unallocated resources here, or use the allocated conversion")]
    UnexpectedAllocation { name: String },
    #[error("resource '{name}' has no allocation role; offered or used resources must carry allocation_info.role")]
    MissingAllocation { name: String },
    #[error("resources are allocated to several roles ('{first}', '{second}'); give one role's resources at a time")]
    SeveralRoles { first: String, second: String },
}

/// Resources allocated to one role, as they come back from a framework
/// (ACCEPT, DECLINE) with `allocation_info.role` set.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleResources {
    pub role: String,
    pub resources: Resources,
}

fn kind_name(kind: value::Type) -> &'static str {
    match kind {
        value::Type::Scalar => "SCALAR",
        value::Type::Ranges => "RANGES",
        value::Type::Set => "SET",
        value::Type::Text => "TEXT",
    }
}

impl Resources {
    /// Unallocated, unreserved resources (an agent's total).
    pub fn from_proto(list: &[Resource]) -> Result<Resources, ConversionError> {
        if let Some(r) = list.iter().find(|r| r.allocation_info.is_some()) {
            return Err(ConversionError::UnexpectedAllocation {
                name: r.name.clone(),
            });
        }
        convert_list(list)
    }

    /// Resources of one role's allocation (every entry carries the same
    /// `allocation_info.role`).
    pub fn from_allocated_proto(list: &[Resource]) -> Result<RoleResources, ConversionError> {
        let mut role: Option<&str> = None;
        for r in list {
            let this = r
                .allocation_info
                .as_ref()
                .and_then(|a| a.role.as_deref())
                .ok_or_else(|| ConversionError::MissingAllocation {
                    name: r.name.clone(),
                })?;
            match role {
                Some(first) if first != this => {
                    return Err(ConversionError::SeveralRoles {
                        first: first.to_string(),
                        second: this.to_string(),
                    })
                }
                _ => role = Some(this),
            }
        }
        Ok(RoleResources {
            role: role.unwrap_or(UNRESERVED_ROLE).to_string(),
            resources: convert_list(list)?,
        })
    }

    /// Mesos `Resource` messages, unreserved, with `allocation_info.role`
    /// set when `allocated_to` is given (as in offers).
    #[allow(deprecated)] // `Resource.role`: Mesos still sends and reads it.
    pub fn to_proto(&self, allocated_to: Option<&str>) -> Vec<Resource> {
        let allocation_info = allocated_to.map(|role| resource::AllocationInfo {
            role: Some(role.to_string()),
        });
        let base = |name: &str, kind: value::Type| Resource {
            name: name.to_string(),
            r#type: kind as i32,
            role: Some(UNRESERVED_ROLE.to_string()),
            allocation_info: allocation_info.clone(),
            ..Resource::default()
        };
        let mut out = Vec::new();
        for (name, amount) in self.scalars() {
            let mut r = base(name, value::Type::Scalar);
            r.scalar = Some(value::Scalar {
                value: amount.as_f64(),
            });
            out.push(r);
        }
        for (name, ranges) in self.all_ranges() {
            let mut r = base(name, value::Type::Ranges);
            r.ranges = Some(value::Ranges {
                range: ranges
                    .spans()
                    .iter()
                    .map(|s| value::Range {
                        begin: s.begin,
                        end: s.end,
                    })
                    .collect(),
            });
            out.push(r);
        }
        for (name, items) in self.sets() {
            let mut r = base(name, value::Type::Set);
            r.set = Some(value::Set {
                item: items.iter().cloned().collect(),
            });
            out.push(r);
        }
        out
    }
}

fn convert_list(list: &[Resource]) -> Result<Resources, ConversionError> {
    let mut kinds: BTreeMap<&str, value::Type> = BTreeMap::new();
    let mut out = Resources::new();
    for r in list {
        let kind = check_unreserved(r)?;
        if let Some(first) = kinds.insert(&r.name, kind) {
            if first != kind {
                return Err(ConversionError::MixedTypes {
                    name: r.name.clone(),
                    first: kind_name(first),
                    second: kind_name(kind),
                });
            }
        }
        out.add(&convert_one(r, kind)?);
    }
    Ok(out)
}

/// The value type of `r`, if it is a well-formed unreserved resource.
#[allow(deprecated)] // `Resource.role`: older frameworks still set it.
fn check_unreserved(r: &Resource) -> Result<value::Type, ConversionError> {
    if r.name.is_empty() {
        return Err(ConversionError::EmptyName);
    }
    let reserved_role = r
        .reservations
        .iter()
        .chain(r.reservation.iter())
        .map(|info| info.role.clone().unwrap_or_default())
        .next()
        .or_else(|| r.role.clone().filter(|role| role != UNRESERVED_ROLE));
    if let Some(role) = reserved_role {
        return Err(ConversionError::Reserved {
            name: r.name.clone(),
            role,
        });
    }
    value::Type::try_from(r.r#type).map_err(|_| ConversionError::UnknownType {
        name: r.name.clone(),
        code: r.r#type,
    })
}

fn convert_one(r: &Resource, kind: value::Type) -> Result<Resources, ConversionError> {
    let name = r.name.as_str();
    let missing = || ConversionError::MissingValue {
        name: name.to_string(),
        kind: kind_name(kind),
    };
    match kind {
        value::Type::Scalar => {
            let v = r.scalar.as_ref().ok_or_else(missing)?.value;
            let amount = Scalar::from_f64(v).map_err(|source| ConversionError::Scalar {
                name: name.to_string(),
                source,
            })?;
            Ok(Resources::new().with_scalar(name, amount))
        }
        value::Type::Ranges => {
            let spans = r.ranges.as_ref().ok_or_else(missing)?;
            let ranges = Ranges::from_spans(spans.range.iter().map(|s| (s.begin, s.end))).map_err(
                |source| ConversionError::Range {
                    name: name.to_string(),
                    source,
                },
            )?;
            Ok(Resources::new().with_ranges(name, ranges))
        }
        value::Type::Set => {
            let set = r.set.as_ref().ok_or_else(missing)?;
            Ok(Resources::new().with_set(name, set.item.iter().cloned()))
        }
        value::Type::Text => Err(ConversionError::UnsupportedType {
            name: name.to_string(),
            kind: "TEXT",
        }),
    }
}
