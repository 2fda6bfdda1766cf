//! Protobuf bytes and field numbers are Mesos's.

use super::calls::mesos_accept_launch;
use super::*;

#[test]
fn protobuf_bytes_use_mesos_field_numbers() {
    // framework_id = 1 {value = 1: "f1"}, type = 2: TEARDOWN (2).
    let teardown = Call {
        framework_id: Some(FrameworkId { value: "f1".into() }),
        r#type: Some(call::Type::Teardown as i32),
        ..Call::default()
    };
    assert_eq!(
        teardown.encode_to_vec(),
        [0x0a, 0x04, 0x0a, 0x02, b'f', b'1', 0x10, 0x02]
    );
    // type = 1: HEARTBEAT (8).
    let heartbeat = Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Event::default()
    };
    assert_eq!(heartbeat.encode_to_vec(), [0x08, 0x08]);
    // Bytes a Mesos framework wrote decode to the same call as its JSON.
    let from_protobuf = Call::decode(call(mesos_accept_launch()).encode_to_vec().as_slice());
    assert_eq!(
        from_protobuf.unwrap(),
        from_json::<Call>(&mesos_accept_launch()).unwrap()
    );
}

/// Mesos's numbers for the scheduler API, checked against the compiled
/// descriptors: a renumbered field or value breaks every protobuf client.
#[test]
fn numbers_are_mesos_numbers() {
    let fields = |message: &str, expected: &[(&str, u32)]| {
        let desc = descriptor(message).unwrap();
        for (name, number) in expected {
            let field = desc
                .get_field_by_name(name)
                .unwrap_or_else(|| panic!("{message}.{name}"));
            assert_eq!(field.number(), *number, "{message}.{name}");
        }
        assert_eq!(desc.fields().len(), expected.len(), "{message}");
    };
    fields(
        "mesos.v1.scheduler.Call",
        &[
            ("framework_id", 1),
            ("type", 2),
            ("subscribe", 3),
            ("accept", 4),
            ("decline", 5),
            ("accept_inverse_offers", 13),
            ("decline_inverse_offers", 14),
            ("revive", 15),
            ("kill", 6),
            ("shutdown", 7),
            ("acknowledge", 8),
            ("acknowledge_operation_status", 17),
            ("reconcile", 9),
            ("reconcile_operations", 18),
            ("message", 10),
            ("request", 11),
            ("suppress", 16),
            ("update_framework", 19),
        ],
    );
    fields(
        "mesos.v1.scheduler.Event",
        &[
            ("type", 1),
            ("subscribed", 2),
            ("offers", 3),
            ("inverse_offers", 9),
            ("rescind", 4),
            ("rescind_inverse_offer", 10),
            ("update", 5),
            ("update_operation_status", 11),
            ("message", 6),
            ("failure", 7),
            ("error", 8),
        ],
    );
    fields(
        "mesos.v1.Offer",
        &[
            ("id", 1),
            ("framework_id", 2),
            ("agent_id", 3),
            ("hostname", 4),
            ("url", 8),
            ("domain", 11),
            ("resources", 5),
            ("attributes", 7),
            ("executor_ids", 6),
            ("unavailability", 9),
            ("allocation_info", 10),
        ],
    );
    let values = |message: &str, enum_name: &str, expected: &[(&str, i32)]| {
        let desc = descriptor(message).unwrap();
        let e = desc
            .parent_pool()
            .get_enum_by_name(&format!("{message}.{enum_name}"))
            .unwrap();
        for (name, number) in expected {
            assert_eq!(
                e.get_value_by_name(name).map(|v| v.number()),
                Some(*number),
                "{message}.{name}"
            );
        }
        assert_eq!(e.values().len(), expected.len(), "{message}.{enum_name}");
    };
    values(
        "mesos.v1.scheduler.Event",
        "Type",
        &[
            ("UNKNOWN", 0),
            ("SUBSCRIBED", 1),
            ("OFFERS", 2),
            ("INVERSE_OFFERS", 9),
            ("RESCIND", 3),
            ("RESCIND_INVERSE_OFFER", 10),
            ("UPDATE", 4),
            ("UPDATE_OPERATION_STATUS", 11),
            ("MESSAGE", 5),
            ("FAILURE", 6),
            ("ERROR", 7),
            ("HEARTBEAT", 8),
        ],
    );
    values(
        "mesos.v1.Offer.Operation",
        "Type",
        &[
            ("UNKNOWN", 0),
            ("LAUNCH", 1),
            ("LAUNCH_GROUP", 6),
            ("RESERVE", 2),
            ("UNRESERVE", 3),
            ("CREATE", 4),
            ("DESTROY", 5),
            ("GROW_VOLUME", 11),
            ("SHRINK_VOLUME", 12),
            ("CREATE_DISK", 13),
            ("DESTROY_DISK", 14),
        ],
    );
}
