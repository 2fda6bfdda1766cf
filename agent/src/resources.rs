//! `--resources`: Mesos's text form of an agent's resources
//! (`cpus:4;mem:4096;disk:10240;ports:[31000-32000]`, `cpus(ops):2`,
//! `gpus_ids:{a,b}`) into `mesos.v1.Resource`s, and the defaults Mesos
//! derives from the machine for cpus, mem, disk and ports not given.
//!
//! An item without a role is unreserved (role `*`, no reservation); with a
//! role it is statically reserved for it, in the post-refinement form
//! Mesos 1.11 writes (one `ReservationInfo { type: STATIC, role }`).
//! Scalars keep three decimals, as Mesos's fixed-point arithmetic does.
//!
//! Unlike Mesos, which repairs or ignores some of these, this refuses:
//! empty names, negative, NaN or infinite quantities, text values, a name
//! given twice for the same role, and inverted or overlapping ranges.
//! Every error names the item.

use mesoraft_proto::mesos::v1::resource::{reservation_info, ReservationInfo};
use mesoraft_proto::mesos::v1::value::{self, Range, Scalar};
use mesoraft_proto::mesos::v1::Resource;

use crate::value::{format_ranges, format_set, parse_value, ParsedValue, ValueError};

/// The unreserved pool.
pub const UNRESERVED_ROLE: &str = "*";

/// Mesos's `DEFAULT_PORTS`.
pub const DEFAULT_PORTS: Range = Range {
    begin: 31000,
    end: 32000,
};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// The right form, shown with syntax errors.
pub const RESOURCES_FORM: &str =
    "write NAME:VALUE or NAME(ROLE):VALUE items separated by ';', e.g. \
     cpus:4;mem:4096;disk:10240;ports:[31000-32000]";

/// Why `--resources` was refused; each names the item.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResourcesError {
    #[error("resource {item:?} is not NAME:VALUE; {RESOURCES_FORM}")]
    Syntax { item: String },
    #[error("resource {item:?} has no name; {RESOURCES_FORM}")]
    EmptyName { item: String },
    #[error("resource {item:?} has a bad name: {problem}")]
    BadName { item: String, problem: String },
    #[error("resource {item:?} has a bad role: {problem}")]
    BadRole { item: String, problem: String },
    #[error("resource {item:?}: {source}")]
    Value { item: String, source: ValueError },
    #[error(
        "resource {item:?}: the value is text; a resource is a number (cpus:4), \
         ranges (ports:[31000-32000]) or a set (gpus:{{a,b}})"
    )]
    Text { item: String },
    #[error("resource {item:?}: a quantity must not be negative")]
    Negative { item: String },
    #[error(
        "resource {name:?} is given twice for role {role:?} ({first:?} and {second:?}); \
         give each name once per role"
    )]
    Duplicate {
        name: String,
        role: String,
        first: String,
        second: String,
    },
}

/// Parses `--resources` text (see the module doc). Items are separated
/// by `;`; whitespace around items, names, roles and values is ignored;
/// empty items (a trailing `;`) are skipped.
pub fn parse_resources(text: &str) -> Result<Vec<Resource>, ResourcesError> {
    let mut parsed: Vec<(Resource, String)> = Vec::new();
    for item in text.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let resource = parse_item(item)?;
        let role = role_of(&resource);
        if let Some((_, first)) = parsed
            .iter()
            .find(|(r, _)| r.name == resource.name && role_of(r) == role)
        {
            return Err(ResourcesError::Duplicate {
                name: resource.name.clone(),
                role: role.to_string(),
                first: first.clone(),
                second: item.to_string(),
            });
        }
        parsed.push((resource, item.to_string()));
    }
    Ok(parsed.into_iter().map(|(r, _)| r).collect())
}

fn parse_item(item: &str) -> Result<Resource, ResourcesError> {
    let (key, value_text) = item
        .split_once(':')
        .ok_or_else(|| ResourcesError::Syntax { item: item.into() })?;
    let (name, role) = split_name_and_role(item, key.trim())?;
    let value = parse_value(value_text).map_err(|source| ResourcesError::Value {
        item: item.into(),
        source,
    })?;
    let mut resource = Resource {
        name,
        ..Resource::default()
    };
    match value {
        ParsedValue::Scalar(v) if v < 0.0 => {
            return Err(ResourcesError::Negative { item: item.into() })
        }
        ParsedValue::Scalar(v) => set_scalar(&mut resource, v),
        ParsedValue::Ranges(ranges) => {
            resource.set_type(value::Type::Ranges);
            resource.ranges = Some(value::Ranges { range: ranges });
        }
        ParsedValue::Set(items) => {
            resource.set_type(value::Type::Set);
            resource.set = Some(value::Set { item: items });
        }
        ParsedValue::Text(_) => return Err(ResourcesError::Text { item: item.into() }),
    }
    if role != UNRESERVED_ROLE {
        resource.reservations.push(ReservationInfo {
            r#type: Some(reservation_info::Type::Static as i32),
            role: Some(role),
            ..ReservationInfo::default()
        });
    }
    Ok(resource)
}

/// `cpus` -> (`cpus`, `*`); `cpus(ops)` -> (`cpus`, `ops`).
fn split_name_and_role(item: &str, key: &str) -> Result<(String, String), ResourcesError> {
    let (name, role) = match key.split_once('(') {
        None => (key, UNRESERVED_ROLE),
        Some((name, rest)) => {
            let role = rest
                .strip_suffix(')')
                .ok_or_else(|| ResourcesError::Syntax { item: item.into() })?;
            (name.trim(), role.trim())
        }
    };
    if name.is_empty() {
        return Err(ResourcesError::EmptyName { item: item.into() });
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "()[]{}:;,".contains(*c))
    {
        return Err(ResourcesError::BadName {
            item: item.into(),
            problem: format!("{c:?} is not allowed in a name"),
        });
    }
    check_role(role).map_err(|problem| ResourcesError::BadRole {
        item: item.into(),
        problem,
    })?;
    Ok((name.to_string(), role.to_string()))
}

/// Mesos's role rules (`roles::validate`), the parts that matter for a
/// flag: not empty, not `.` or `..`, no leading `-`, no whitespace,
/// control characters or `\`, no empty path component.
fn check_role(role: &str) -> Result<(), String> {
    if role.is_empty() {
        return Err("the role between the parentheses is empty".into());
    }
    if role == UNRESERVED_ROLE {
        return Ok(());
    }
    if role.starts_with('-') {
        return Err("a role must not start with '-'".into());
    }
    if let Some(c) = role
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "\\()".contains(*c))
    {
        return Err(format!("{c:?} is not allowed in a role"));
    }
    if role
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(
            "each '/'-separated part of a role must be a non-empty name other than '.' and '..'"
                .into(),
        );
    }
    Ok(())
}

/// Mesos keeps scalar resources in fixed point with three decimals.
fn set_scalar(resource: &mut Resource, value: f64) {
    resource.set_type(value::Type::Scalar);
    resource.scalar = Some(Scalar {
        value: (value * 1000.0).round() / 1000.0,
    });
}

/// The role a resource is reserved for, `*` when unreserved: the last
/// (most refined) reservation, else the pre-refinement `role` field.
// The deprecated `role` is read so resources written by older Mesos
// components (pre-refinement format) still answer correctly.
#[allow(deprecated)]
pub fn role_of(resource: &Resource) -> &str {
    resource
        .reservations
        .last()
        .and_then(|r| r.role.as_deref())
        .or(resource.role.as_deref())
        .unwrap_or(UNRESERVED_ROLE)
}

/// `cpus(ops):4`, `ports:[31000-32000]`: Mesos's rendering, readable back
/// by [`parse_resources`].
pub fn format_resource(resource: &Resource) -> String {
    let role = role_of(resource);
    let key = if role == UNRESERVED_ROLE {
        resource.name.clone()
    } else {
        format!("{}({role})", resource.name)
    };
    let value = match resource.r#type() {
        value::Type::Scalar => resource
            .scalar
            .map(|s| s.value.to_string())
            .unwrap_or_default(),
        value::Type::Ranges => format_ranges(
            resource
                .ranges
                .as_ref()
                .map(|r| r.range.as_slice())
                .unwrap_or_default(),
        ),
        value::Type::Set => format_set(
            resource
                .set
                .as_ref()
                .map(|s| s.item.as_slice())
                .unwrap_or_default(),
        ),
        value::Type::Text => "(text)".to_string(),
    };
    format!("{key}:{value}")
}

/// What the machine offers, for the resources `--resources` leaves out.
/// Each fact is detected only by the `machine` module; a fact that could not
/// be detected carries why, and is an error only if it is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineResources {
    /// Online CPUs.
    pub cpus: Result<u64, String>,
    /// Total physical memory.
    pub memory_bytes: Result<u64, String>,
    /// Size of the filesystem holding the work dir.
    pub disk_bytes: Result<u64, String>,
}

/// A default that was needed but whose fact could not be detected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot detect the machine's {name} ({problem}); give it in --resources, e.g. {example}")]
pub struct UndetectedResource {
    pub name: &'static str,
    pub problem: String,
    pub example: &'static str,
}

/// Mesos leaves 1 GiB to the system, or half the memory when there is
/// less than 2 GiB; in whole MiB.
pub fn default_mem_mib(total_bytes: u64) -> u64 {
    (total_bytes - GIB.min(total_bytes / 2)) / MIB
}

/// Mesos leaves 5 GiB of the work dir's filesystem, or half of it when
/// it is smaller than 10 GiB; in whole MiB.
pub fn default_disk_mib(total_bytes: u64) -> u64 {
    (total_bytes - (5 * GIB).min(total_bytes / 2)) / MIB
}

/// `given` plus a default for each of cpus, mem, disk and ports that no
/// item names (for any role), as Mesos's containerizer fills them in.
pub fn with_defaults(
    mut given: Vec<Resource>,
    machine: &MachineResources,
) -> Result<Vec<Resource>, UndetectedResource> {
    let named = |name: &str, list: &[Resource]| list.iter().any(|r| r.name == name);
    let needed = |fact: &Result<u64, String>, name, example| {
        fact.clone().map_err(|problem| UndetectedResource {
            name,
            problem,
            example,
        })
    };
    if !named("cpus", &given) {
        let cpus = needed(&machine.cpus, "cpus", "cpus:4")?;
        given.push(scalar("cpus", cpus as f64));
    }
    if !named("mem", &given) {
        let bytes = needed(&machine.memory_bytes, "mem", "mem:4096")?;
        given.push(scalar("mem", default_mem_mib(bytes) as f64));
    }
    if !named("disk", &given) {
        let bytes = needed(&machine.disk_bytes, "disk", "disk:10240")?;
        given.push(scalar("disk", default_disk_mib(bytes) as f64));
    }
    if !named("ports", &given) {
        let mut ports = Resource {
            name: "ports".into(),
            ranges: Some(value::Ranges {
                range: vec![DEFAULT_PORTS],
            }),
            ..Resource::default()
        };
        ports.set_type(value::Type::Ranges);
        given.push(ports);
    }
    Ok(given)
}

/// An unreserved scalar resource.
pub fn scalar(name: &str, value: f64) -> Resource {
    let mut resource = Resource {
        name: name.into(),
        ..Resource::default()
    };
    set_scalar(&mut resource, value);
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(list: &[Resource]) -> Vec<String> {
        list.iter().map(format_resource).collect()
    }

    #[test]
    fn the_mesos_example_parses() {
        let list = parse_resources("cpus:4;mem:4096;disk:10240;ports:[31000-32000]").unwrap();
        assert_eq!(
            render(&list),
            ["cpus:4", "mem:4096", "disk:10240", "ports:[31000-32000]"]
        );
        assert_eq!(list[0].r#type(), value::Type::Scalar);
        assert_eq!(list[3].r#type(), value::Type::Ranges);
        assert!(list.iter().all(|r| r.reservations.is_empty()));
    }

    #[test]
    fn roles_sets_several_ranges_and_whitespace() {
        let text = " cpus ( ops ) : 2 ; cpus:1.5; gpus:{a, b} ;ports:[5-9, 1-2]; ";
        let list = parse_resources(text).unwrap();
        assert_eq!(
            render(&list),
            ["cpus(ops):2", "cpus:1.5", "gpus:{a, b}", "ports:[1-2, 5-9]"]
        );
        let reservation = &list[0].reservations[0];
        assert_eq!(reservation.role.as_deref(), Some("ops"));
        assert_eq!(reservation.r#type(), reservation_info::Type::Static);
        assert_eq!(role_of(&list[1]), "*");
        assert_eq!(parse_resources(" ; ").unwrap(), vec![]);
        assert_eq!(
            parse_resources("cpus(*):2").unwrap()[0].reservations,
            vec![]
        );
    }

    #[test]
    #[allow(deprecated)]
    fn the_pre_refinement_role_field_is_read_too() {
        let mut legacy = scalar("cpus", 1.0);
        legacy.role = Some("ops".into());
        assert_eq!(role_of(&legacy), "ops");
        assert_eq!(format_resource(&legacy), "cpus(ops):1");
    }

    #[test]
    fn scalars_keep_three_decimals() {
        let list = parse_resources("cpus:0.12345").unwrap();
        assert_eq!(list[0].scalar.unwrap().value, 0.123);
    }

    #[test]
    fn each_refusal_names_the_item() {
        let cases = [
            "cpus",
            ":4",
            "(ops):4",
            "cpus():4",
            "cpus(ops:4",
            "cpus(-x):4",
            "cpus(a//b):4",
            "my cpus:4",
            "cpus:-1",
            "cpus:NaN",
            "cpus:1e400",
            "cpus:lots",
            "cpus:",
            "ports:[2-1]",
            "ports:[1-5,3-9]",
            "ports:[1-2",
            "gpus:{a,a}",
        ];
        for text in cases {
            let err = parse_resources(&format!("mem:1;{text}")).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(&format!("{:?}", text.trim())),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn a_name_twice_for_one_role_is_refused_but_not_across_roles() {
        assert!(parse_resources("cpus:1;cpus(ops):2").is_ok());
        let err = parse_resources("cpus:1;mem:2;cpus:3").unwrap_err();
        assert_eq!(
            err,
            ResourcesError::Duplicate {
                name: "cpus".into(),
                role: "*".into(),
                first: "cpus:1".into(),
                second: "cpus:3".into()
            }
        );
        assert!(parse_resources("cpus(ops):1;cpus( ops ):2").is_err());
    }

    #[test]
    fn default_memory_and_disk_follow_mesos() {
        // 16 GiB: 1 GiB left to the system.
        assert_eq!(default_mem_mib(16 * GIB), 15 * 1024);
        // 1 GiB: half of it.
        assert_eq!(default_mem_mib(GIB), 512);
        // exactly 2 GiB: both rules agree.
        assert_eq!(default_mem_mib(2 * GIB), 1024);
        assert_eq!(default_mem_mib(0), 0);
        // 100 GiB disk: 5 GiB left; 6 GiB disk: half.
        assert_eq!(default_disk_mib(100 * GIB), 95 * 1024);
        assert_eq!(default_disk_mib(6 * GIB), 3 * 1024);
        assert_eq!(default_disk_mib(u64::MAX), (u64::MAX - 5 * GIB) / MIB);
    }

    fn machine() -> MachineResources {
        MachineResources {
            cpus: Ok(8),
            memory_bytes: Ok(16 * GIB),
            disk_bytes: Ok(100 * GIB),
        }
    }

    #[test]
    fn missing_resources_are_filled_from_the_machine() {
        let list = with_defaults(vec![], &machine()).unwrap();
        assert_eq!(
            render(&list),
            ["cpus:8", "mem:15360", "disk:97280", "ports:[31000-32000]"]
        );
        // A name given for any role suppresses its default.
        let given = parse_resources("cpus(ops):2;ports:[1-2]").unwrap();
        let list = with_defaults(given, &machine()).unwrap();
        assert_eq!(
            render(&list),
            ["cpus(ops):2", "ports:[1-2]", "mem:15360", "disk:97280"]
        );
    }

    #[test]
    fn an_undetected_fact_is_an_error_only_when_needed() {
        let blind = MachineResources {
            disk_bytes: Err("statvfs failed".into()),
            ..machine()
        };
        let err = with_defaults(vec![], &blind).unwrap_err();
        assert_eq!(err.name, "disk");
        assert!(err.to_string().contains("disk:10240"), "{err}");
        let given = parse_resources("disk:100").unwrap();
        assert!(with_defaults(given, &blind).is_ok());
    }
}
