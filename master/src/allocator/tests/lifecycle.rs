//! Offers, filters and their expiry, SUPPRESS / REVIVE, deactivation,
//! removal of agents and frameworks, minimum offer size.

use std::time::{Duration, Instant};

use super::super::{AllocatorError, Held, RefuseFilter};
use super::{agent, cluster, fw, ports, res, roles};

#[test]
fn a_framework_is_offered_the_whole_agent_once() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let offers = a.allocate(t0);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].framework_id, fw("f1"));
    assert_eq!(offers[0].role, "r");
    assert_eq!(offers[0].resources, res(4.0, 1024.0));
    assert!(a.agent(&agent("a1")).unwrap().available.is_empty());
    assert!(
        a.allocate(t0).is_empty(),
        "held resources are not offered twice"
    );
}

#[test]
fn a_declined_offer_is_hidden_until_its_filter_expires() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    a.recover(
        &fw("f1"),
        &agent("a1"),
        "r",
        &offer.resources,
        Some(RefuseFilter::default()),
        t0,
    )
    .unwrap();
    assert!(a.allocate(t0 + Duration::from_millis(4999)).is_empty());
    assert_eq!(a.allocate(t0 + Duration::from_secs(5)).len(), 1);
}

#[test]
fn refuse_seconds_zero_installs_no_filter_and_none_is_no_filter() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    a.recover(
        &fw("f1"),
        &agent("a1"),
        "r",
        &offer.resources,
        Some(RefuseFilter::seconds(0.0)),
        t0,
    )
    .unwrap();
    let offer = a.allocate(t0).remove(0);
    a.recover(&fw("f1"), &agent("a1"), "r", &offer.resources, None, t0)
        .unwrap();
    assert_eq!(a.allocate(t0).len(), 1);
}

#[test]
fn a_short_filter_lasts_one_allocation_interval() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    a.recover(
        &fw("f1"),
        &agent("a1"),
        "r",
        &offer.resources,
        Some(RefuseFilter::seconds(0.01)),
        t0,
    )
    .unwrap();
    assert!(a.allocate(t0 + Duration::from_millis(999)).is_empty());
    assert_eq!(a.allocate(t0 + Duration::from_secs(1)).len(), 1);
}

#[test]
fn a_huge_refuse_seconds_is_capped_at_365_days() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    a.recover(
        &fw("f1"),
        &agent("a1"),
        "r",
        &offer.resources,
        Some(RefuseFilter::seconds(1e15)),
        t0,
    )
    .unwrap();
    let day = Duration::from_secs(24 * 3600);
    assert!(a.allocate(t0 + day * 364).is_empty());
    assert_eq!(a.allocate(t0 + day * 365).len(), 1);
}

#[test]
fn a_filtered_agent_goes_to_the_next_framework() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    a.add_framework(fw("f2"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let first = a.allocate(t0).remove(0);
    a.recover(
        &first.framework_id,
        &agent("a1"),
        "r",
        &first.resources,
        Some(RefuseFilter::seconds(60.0)),
        t0,
    )
    .unwrap();
    let second = a.allocate(t0).remove(0);
    assert_ne!(second.framework_id, first.framework_id);
}

#[test]
fn more_resources_freed_on_the_agent_lift_a_filter_early() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    // One task keeps 1 cpu / 256 MB; the rest is declined for a minute.
    let task = res(1.0, 256.0);
    let rest = offer.resources.checked_sub(&task).unwrap();
    a.recover(
        &fw("f1"),
        &agent("a1"),
        "r",
        &rest,
        Some(RefuseFilter::seconds(60.0)),
        t0,
    )
    .unwrap();
    assert!(a.allocate(t0).is_empty());
    // The task finishes: the agent now has more than was declined.
    a.recover(&fw("f1"), &agent("a1"), "r", &task, None, t0)
        .unwrap();
    let offers = a.allocate(t0);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources, res(4.0, 1024.0));
}

#[test]
fn filters_are_per_role() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r1", "r2"]), true)
        .unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    a.recover(
        &fw("f1"),
        &agent("a1"),
        &offer.role,
        &offer.resources,
        Some(RefuseFilter::seconds(60.0)),
        t0,
    )
    .unwrap();
    let again = a.allocate(t0).remove(0);
    assert_eq!(again.framework_id, fw("f1"));
    assert_ne!(again.role, offer.role);
}

#[test]
fn revive_clears_filters() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    a.recover(
        &fw("f1"),
        &agent("a1"),
        "r",
        &offer.resources,
        Some(RefuseFilter::seconds(60.0)),
        t0,
    )
    .unwrap();
    assert!(a.allocate(t0).is_empty());
    a.revive(&fw("f1"), &[]).unwrap();
    assert_eq!(a.allocate(t0).len(), 1);
}

#[test]
fn suppress_stops_offers_until_revive() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    a.suppress(&fw("f1"), &[]).unwrap();
    assert!(a.allocate(t0).is_empty());
    a.revive(&fw("f1"), &["r".to_string()]).unwrap();
    assert_eq!(a.allocate(t0).len(), 1);
}

#[test]
fn suppressing_one_role_leaves_the_others_offered() {
    let mut a = cluster(&[("a1", 4.0, 1024.0), ("a2", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r1", "r2"]), true)
        .unwrap();
    a.suppress(&fw("f1"), &["r1".to_string()]).unwrap();
    let offers = a.allocate(Instant::now());
    assert_eq!(offers.len(), 2);
    assert!(offers.iter().all(|o| o.role == "r2"));
}

#[test]
fn a_deactivated_framework_is_not_offered_and_loses_its_filters() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    a.recover(
        &fw("f1"),
        &agent("a1"),
        "r",
        &offer.resources,
        Some(RefuseFilter::seconds(60.0)),
        t0,
    )
    .unwrap();
    a.deactivate_framework(&fw("f1")).unwrap();
    assert!(a.allocate(t0).is_empty());
    a.activate_framework(&fw("f1")).unwrap();
    assert_eq!(
        a.allocate(t0).len(),
        1,
        "the filter went with the deactivation"
    );
}

#[test]
fn removing_an_agent_returns_what_was_held_on_it() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let offer = a.allocate(Instant::now()).remove(0);
    let held = a.remove_agent(&agent("a1")).unwrap();
    assert_eq!(
        held,
        vec![Held {
            framework_id: fw("f1"),
            role: "r".into(),
            resources: offer.resources
        }]
    );
    assert_eq!(a.agent(&agent("a1")), None);
    assert_eq!(
        a.remove_agent(&agent("a1")),
        Err(AllocatorError::UnknownAgent(agent("a1")))
    );
}

#[test]
fn removing_a_framework_frees_its_resources_for_the_others() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    assert_eq!(a.allocate(t0)[0].framework_id, fw("f1"));
    a.add_framework(fw("f2"), roles(&["r"]), true).unwrap();
    let released = a.remove_framework(&fw("f1")).unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].resources, res(4.0, 1024.0));
    let offers = a.allocate(t0);
    assert_eq!(offers[0].framework_id, fw("f2"));
    // Late recovery of the removed framework's offer is refused.
    assert!(matches!(
        a.recover(&fw("f1"), &agent("a1"), "r", &res(4.0, 1024.0), None, t0),
        Err(AllocatorError::NotHeld { .. })
    ));
}

#[test]
fn offers_below_the_minimum_are_not_made() {
    let t0 = Instant::now();
    for (cpus, mem, offered) in [
        (0.009, 31.0, false),
        (0.01, 0.0, true),
        (0.0, 32.0, true),
        (0.0, 0.0, false),
    ] {
        let mut a = cluster(&[]);
        a.add_agent(
            agent("a1"),
            res(cpus, mem).with_ranges("ports", ports(1, 9)),
            vec![],
            vec![],
        )
        .unwrap();
        a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
        assert_eq!(!a.allocate(t0).is_empty(), offered, "cpus {cpus} mem {mem}");
    }
}

#[test]
fn refused_operations_change_nothing() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    a.allocate(t0);
    let before = a.agent(&agent("a1")).unwrap();
    assert!(matches!(
        a.recover(&fw("f1"), &agent("a1"), "r", &res(5.0, 1.0), None, t0),
        Err(AllocatorError::NotHeld { .. })
    ));
    assert!(matches!(
        a.recover(&fw("f1"), &agent("a1"), "other", &res(1.0, 1.0), None, t0),
        Err(AllocatorError::NotHeld { .. })
    ));
    assert!(matches!(
        a.update_agent(&agent("a1"), res(2.0, 1024.0)),
        Err(AllocatorError::TotalBelowHeld { .. })
    ));
    assert!(matches!(
        a.hold(&fw("f1"), &agent("a1"), "r", &res(0.1, 0.0)),
        Err(AllocatorError::NotAvailable { .. })
    ));
    assert!(matches!(
        a.set_weight("r", 0.0),
        Err(AllocatorError::InvalidWeight { .. })
    ));
    assert!(matches!(
        a.replace_weights([("r", 2.0), ("q", f64::NAN)]),
        Err(AllocatorError::InvalidWeight { .. })
    ));
    assert_eq!(a.weight("r"), 1.0);
    assert_eq!(a.agent(&agent("a1")).unwrap(), before);
    assert_eq!(
        a.add_framework(fw("f1"), roles(&["r"]), true),
        Err(AllocatorError::FrameworkExists(fw("f1")))
    );
}

#[test]
fn resources_held_by_a_re_registering_agent_count_toward_shares() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    let held = vec![Held {
        framework_id: fw("f1"),
        role: "r".into(),
        resources: res(2.0, 256.0),
    }];
    a.add_agent(agent("a2"), res(4.0, 1024.0), vec![], held)
        .unwrap();
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    a.add_framework(fw("f2"), roles(&["r"]), true).unwrap();
    assert_eq!(a.framework_share(&fw("f1"), "r"), 0.25);
    let offers = a.allocate(Instant::now());
    // Whichever agent is visited first goes to f2, which holds nothing.
    assert_eq!(offers.len(), 2);
    assert_eq!(
        offers.iter().filter(|o| o.framework_id == fw("f2")).count(),
        1
    );
}

#[test]
fn growing_an_agent_offers_the_difference() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    a.allocate(t0);
    a.update_agent(&agent("a1"), res(6.0, 1024.0)).unwrap();
    let offers = a.allocate(t0);
    assert_eq!(offers[0].resources, res(2.0, 0.0));
}
