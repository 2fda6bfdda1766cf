//! Conversions from and to Mesos `Resource` messages.

use mesoraft_proto::mesos::v1::{resource, value, Resource};

use super::super::{ConversionError, Resources};
use super::{ports, res, s};

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Resource::default()
    }
}

fn range(name: &str, spans: &[(u64, u64)]) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: spans
                .iter()
                .map(|(b, e)| value::Range { begin: *b, end: *e })
                .collect(),
        }),
        ..Resource::default()
    }
}

#[test]
#[allow(deprecated)] // `Resource.role`: Mesos still sends it.
fn an_agent_total_converts_and_round_trips() {
    let list = vec![
        scalar("cpus", 0.1),
        scalar("cpus", 0.2),
        scalar("mem", 1024.0),
        scalar("disk", 0.0),
        range("ports", &[(31005, 31010), (31000, 31004)]),
        Resource {
            name: "zones".into(),
            r#type: value::Type::Set as i32,
            set: Some(value::Set {
                item: vec!["b".into(), "a".into()],
            }),
            role: Some("*".into()),
            ..Resource::default()
        },
    ];
    let r = Resources::from_proto(&list).unwrap();
    assert_eq!(r.scalar("cpus"), s(0.3));
    assert_eq!(r.ranges("ports"), ports(31000, 31010));
    assert_eq!(
        r.to_string(),
        "cpus:0.3;mem:1024;ports:[31000-31010];zones:{a,b}"
    );
    let back = r.to_proto(None);
    assert_eq!(Resources::from_proto(&back).unwrap(), r);
    assert!(back.iter().all(|x| x.role.as_deref() == Some("*")));
}

#[test]
fn offered_resources_carry_their_role_and_come_back_with_it() {
    let r = res(1.5, 256.0).with_ranges("ports", ports(1, 2));
    let offered = r.to_proto(Some("web"));
    assert!(offered
        .iter()
        .all(|x| x.allocation_info.as_ref().and_then(|a| a.role.as_deref()) == Some("web")));
    let back = Resources::from_allocated_proto(&offered).unwrap();
    assert_eq!(back.role, "web");
    assert_eq!(back.resources, r);
    assert_eq!(
        Resources::from_proto(&offered),
        Err(ConversionError::UnexpectedAllocation {
            name: "cpus".into()
        })
    );
    assert_eq!(
        Resources::from_allocated_proto(&[scalar("cpus", 1.0)]),
        Err(ConversionError::MissingAllocation {
            name: "cpus".into()
        })
    );
    let mut mixed = res(1.0, 1.0).to_proto(Some("a"));
    mixed.extend(res(1.0, 0.0).to_proto(Some("b")));
    assert!(matches!(
        Resources::from_allocated_proto(&mixed),
        Err(ConversionError::SeveralRoles { .. })
    ));
}

#[test]
#[allow(deprecated)] // `Resource.role`: Mesos still sends it.
fn what_cannot_be_represented_is_refused() {
    let mut reserved = scalar("cpus", 1.0);
    reserved.role = Some("web".into());
    let mut dynamic = scalar("mem", 1.0);
    dynamic.reservations.push(resource::ReservationInfo {
        role: Some("web".into()),
        ..Default::default()
    });
    let text = Resource {
        name: "t".into(),
        r#type: value::Type::Text as i32,
        ..Resource::default()
    };
    let mut unknown = scalar("x", 1.0);
    unknown.r#type = 42;
    let mut no_value = scalar("cpus", 1.0);
    no_value.scalar = None;
    let cases: Vec<(Vec<Resource>, &str)> = vec![
        (vec![reserved], "reserved"),
        (vec![dynamic], "reserved"),
        (vec![text], "TEXT"),
        (vec![unknown], "unknown value type"),
        (vec![no_value], "no SCALAR value"),
        (vec![scalar("cpus", -1.0)], "negative"),
        (vec![scalar("cpus", f64::NAN)], "finite"),
        (vec![scalar("", 1.0)], "empty name"),
        (vec![range("ports", &[(5, 4)])], "ends before it begins"),
        (
            vec![scalar("ports", 1.0), range("ports", &[(1, 2)])],
            "one name takes one type",
        ),
    ];
    for (list, expected) in cases {
        let err = Resources::from_proto(&list).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{err} should say {expected}"
        );
    }
}
