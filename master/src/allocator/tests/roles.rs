//! Frameworks with several roles (MULTI_ROLE), changes of roles, and
//! recoveries that return nothing.

use std::time::Instant;

use super::super::{RefuseFilter, Resources};
use super::{agent, cluster, fw, res, roles};

#[test]
fn a_multi_role_framework_is_offered_in_each_role_by_that_roles_share() {
    let mut a = cluster(&[("a1", 4.0, 1024.0), ("a2", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r1", "r2"]), true)
        .unwrap();
    let offers = a.allocate(Instant::now());
    let mut offered_roles: Vec<&str> = offers.iter().map(|o| o.role.as_str()).collect();
    offered_roles.sort();
    assert_eq!(offered_roles, ["r1", "r2"]);
    assert_eq!(a.role_share("r1"), 0.5);
    assert_eq!(a.held_by(&fw("f1"), "r2"), res(4.0, 1024.0));
}

#[test]
fn leaving_a_role_stops_its_offers_but_keeps_what_is_held() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r1"]), true).unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    let task = res(1.0, 128.0);
    let rest = offer.resources.checked_sub(&task).unwrap();
    a.recover(&fw("f1"), &agent("a1"), "r1", &rest, None, t0)
        .unwrap();
    a.update_framework_roles(&fw("f1"), roles(&["r2"])).unwrap();
    let offers = a.allocate(t0);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].role, "r2");
    assert_eq!(a.held_by(&fw("f1"), "r1"), task);
    // The task in the old role can still finish.
    a.recover(&fw("f1"), &agent("a1"), "r1", &task, None, t0)
        .unwrap();
    assert_eq!(a.held_by(&fw("f1"), "r1"), Resources::new());
}

#[test]
fn recovering_nothing_installs_no_filter() {
    // An offer accepted in full comes back as an empty recovery; it must
    // not hide the agent once a task on it finishes.
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.add_framework(fw("f1"), roles(&["r"]), true).unwrap();
    let t0 = Instant::now();
    let offer = a.allocate(t0).remove(0);
    let filter = Some(RefuseFilter::seconds(60.0));
    a.recover(&fw("f1"), &agent("a1"), "r", &Resources::new(), filter, t0)
        .unwrap();
    a.recover(&fw("f1"), &agent("a1"), "r", &offer.resources, None, t0)
        .unwrap();
    assert_eq!(a.allocate(t0).len(), 1);
}

#[test]
fn holding_nothing_leaves_no_holder() {
    let mut a = cluster(&[("a1", 4.0, 1024.0)]);
    a.hold(&fw("f1"), &agent("a1"), "r", &Resources::new())
        .unwrap();
    assert!(a.agent(&agent("a1")).unwrap().held.is_empty());
}
