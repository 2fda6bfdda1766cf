//! The scheduler API's wire contract: calls as Mesos frameworks write
//! them, events as they read them (hand-written Mesos JSON, in the shapes
//! of Mesos's `docs/scheduler-http-api.md`), protobuf round trips, and
//! Mesos's field numbers.

use prost::Message;
use serde_json::json;

use super::*;
use crate::mesos::v1::framework_info::capability;
use crate::mesos::v1::scheduler::{call, event, Call, Event};
use crate::mesos::v1::{
    offer, resource, task_status, value, Address, AgentId, Attribute, DomainInfo, ExecutorId,
    FrameworkId, MasterInfo, Offer, OfferId, Resource, TaskId, TaskState, TaskStatus, Url,
};

/// A UUID's 16 bytes, as a status update carries them.
const UUID: [u8; 16] = [
    0x9f, 0x1c, 0x4e, 0x27, 0x3a, 0x0b, 0x4d, 0x55, 0x8e, 0x61, 0x02, 0xc3, 0x7d, 0x94, 0xaa, 0x10,
];
const UUID_BASE64: &str = "nxxOJzoLTVWOYQLDfZSqEA==";

/// Decodes a call, and checks it survives protobuf unchanged and JSON
/// stably.
fn call(body: serde_json::Value) -> Call {
    let call: Call = match from_json(&body) {
        Ok(call) => call,
        Err(e) => panic!("{e}: {body}"),
    };
    assert_eq!(Call::decode(call.encode_to_vec().as_slice()).unwrap(), call);
    // Written out, unset fields with a default come out set (as Mesos
    // writes them); from then on the JSON is stable.
    let json = to_json(&call);
    assert_eq!(to_json(&from_json::<Call>(&json).unwrap()), json);
    call
}

/// Checks that `event` renders as `expected` and reads back from it and
/// from its protobuf bytes.
fn assert_event_json(event: &Event, expected: serde_json::Value) {
    assert_eq!(to_json(event), expected);
    assert_eq!(&from_json::<Event>(&expected).unwrap(), event);
    assert_eq!(
        &Event::decode(event.encode_to_vec().as_slice()).unwrap(),
        event
    );
}

fn field_error_path(body: serde_json::Value) -> String {
    match from_json::<Call>(&body) {
        Err(JsonError::Field { path, .. }) => path,
        other => panic!("expected a field error for {body}, got {other:?}"),
    }
}

fn scalar(name: &str, amount: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        ..Resource::default()
    }
}

// ---- calls ----

#[test]
fn a_subscribe_call_reads_from_mesos_json() {
    // The documented SUBSCRIBE, with the fields frameworks commonly add.
    // `offer_constraints` is not ours: ignored like any unknown field.
    let c = call(json!({
        "type": "SUBSCRIBE",
        "subscribe": {
            "framework_info": {
                "user": "foo",
                "name": "Example HTTP Framework",
                "roles": ["test1", "test2"],
                "capabilities": [
                    {"type": "MULTI_ROLE"},
                    {"type": "PARTITION_AWARE"},
                    {"type": "TASK_KILLING_STATE"}
                ],
                "failover_timeout": 604800.0,
                "checkpoint": true,
                "hostname": "scheduler.example.com",
                "principal": "example",
                "webui_url": "http://scheduler.example.com:8080",
                "labels": {"labels": [{"key": "team", "value": "infra"}]}
            },
            "suppressed_roles": ["test2"],
            "offer_constraints": {
                "role_constraints": {"test1": {"groups": [{"attribute_constraints": [
                    {"selector": {"attribute_name": "foo"}, "predicate": {"exists": {}}}
                ]}]}}
            }
        }
    }));
    assert_eq!(c.r#type(), call::Type::Subscribe);
    assert_eq!(c.framework_id, None);
    let subscribe = c.subscribe.unwrap();
    let info = subscribe.framework_info;
    assert_eq!(
        (info.user.as_str(), info.name.as_str()),
        ("foo", "Example HTTP Framework")
    );
    assert_eq!(info.roles, ["test1", "test2"]);
    let capabilities: Vec<_> = info.capabilities.iter().map(|c| c.r#type()).collect();
    assert_eq!(
        capabilities,
        [
            capability::Type::MultiRole,
            capability::Type::PartitionAware,
            capability::Type::TaskKillingState
        ]
    );
    assert_eq!(info.failover_timeout(), 604800.0);
    assert!(info.checkpoint());
    assert_eq!(
        info.webui_url.as_deref(),
        Some("http://scheduler.example.com:8080")
    );
    assert_eq!(info.labels.unwrap().labels[0].key, "team");
    assert_eq!(subscribe.suppressed_roles, ["test2"]);
}

#[test]
fn a_resubscribe_carries_the_framework_id_twice() {
    let c = call(json!({
        "framework_id": {"value": "12220-3440-12532-2345"},
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": {
            "user": "foo",
            "name": "f",
            "id": {"value": "12220-3440-12532-2345"},
            "role": "web"
        }}
    }));
    let id = FrameworkId {
        value: "12220-3440-12532-2345".into(),
    };
    assert_eq!(c.framework_id.as_ref(), Some(&id));
    let info = c.subscribe.unwrap().framework_info;
    assert_eq!(info.id, Some(id));
    #[allow(deprecated)] // `role`: pre-MULTI_ROLE frameworks still send it
    let role = info.role.clone();
    assert_eq!(role.as_deref(), Some("web"));
    // Unset fields read as Mesos's defaults.
    assert_eq!(info.failover_timeout(), 0.0);
    assert!(!info.checkpoint());
}

/// ACCEPT with a LAUNCH, as the Mesos documentation writes it, with a
/// command task (no executor), a ports range and `limits` (each limit a
/// `Value.Scalar` object: the documentation's bare numbers are refused by
/// stout as by us, see below).
fn mesos_accept_launch() -> serde_json::Value {
    json!({
        "framework_id": {"value": "12220-3440-12532-2345"},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "12220-3440-12532-O12"}],
            "operations": [{
                "type": "LAUNCH",
                "launch": {"task_infos": [{
                    "name": "My Task",
                    "task_id": {"value": "12220-3440-12532-my-task"},
                    "agent_id": {"value": "12220-3440-12532-S1233"},
                    "command": {
                        "shell": true,
                        "value": "echo hello && sleep 1000",
                        "environment": {"variables": [{"name": "MODE", "value": "test"}]},
                        "uris": [{"value": "http://example.com/app.tgz", "extract": true}]
                    },
                    "resources": [
                        {"allocation_info": {"role": "engineering"}, "name": "cpus",
                         "role": "*", "type": "SCALAR", "scalar": {"value": 1.0}},
                        {"allocation_info": {"role": "engineering"}, "name": "mem",
                         "role": "*", "type": "SCALAR", "scalar": {"value": 128.0}},
                        {"allocation_info": {"role": "engineering"}, "name": "ports",
                         "role": "*", "type": "RANGES",
                         "ranges": {"range": [{"begin": 31000, "end": 31001}]}}
                    ],
                    "limits": {"cpus": {"value": "Infinity"}, "mem": {"value": 512.0}},
                    "labels": {"labels": [{"key": "k", "value": "v"}]}
                }]}
            }],
            "filters": {"refuse_seconds": 5.0}
        }
    })
}

#[test]
fn an_accept_with_a_launch_reads_from_mesos_json() {
    let c = call(mesos_accept_launch());
    assert_eq!(c.r#type(), call::Type::Accept);
    let accept = c.accept.unwrap();
    assert_eq!(
        accept.offer_ids,
        [OfferId {
            value: "12220-3440-12532-O12".into()
        }]
    );
    assert_eq!(accept.filters.unwrap().refuse_seconds(), 5.0);
    let operation = &accept.operations[0];
    assert_eq!(operation.r#type(), offer::operation::Type::Launch);
    let task = &operation.launch.as_ref().unwrap().task_infos[0];
    assert_eq!(task.name, "My Task");
    assert_eq!(task.task_id.value, "12220-3440-12532-my-task");
    assert_eq!(task.agent_id.value, "12220-3440-12532-S1233");
    let command = task.command.as_ref().unwrap();
    assert!(command.shell());
    assert_eq!(command.value.as_deref(), Some("echo hello && sleep 1000"));
    assert_eq!(
        command.environment.as_ref().unwrap().variables[0].value(),
        "test"
    );
    assert_eq!(command.uris[0].value, "http://example.com/app.tgz");
    assert_eq!(task.resources[0].scalar, Some(value::Scalar { value: 1.0 }));
    assert_eq!(
        task.resources[1].scalar,
        Some(value::Scalar { value: 128.0 })
    );
    assert_eq!(
        task.resources[1].allocation_info,
        Some(resource::AllocationInfo {
            role: Some("engineering".into())
        })
    );
    let ports = &task.resources[2];
    assert_eq!(ports.r#type(), value::Type::Ranges);
    let range = &ports.ranges.as_ref().unwrap().range[0];
    assert_eq!((range.begin, range.end), (31000, 31001));
    assert_eq!(task.limits["cpus"].value, f64::INFINITY);
    assert_eq!(task.limits["mem"].value, 512.0);
}

#[test]
fn an_accept_with_a_launch_group_reads_from_mesos_json() {
    let c = call(json!({
        "framework_id": {"value": "f1"},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "o1"}, {"value": "o2"}],
            "operations": [{
                "type": "LAUNCH_GROUP",
                "id": {"value": "op-1"},
                "launch_group": {
                    "executor": {
                        "type": "DEFAULT",
                        "executor_id": {"value": "default-executor"},
                        "framework_id": {"value": "f1"},
                        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]
                    },
                    "task_group": {"tasks": [
                        {"name": "a", "task_id": {"value": "a"}, "agent_id": {"value": "S1"},
                         "command": {"value": "sleep 10"}},
                        {"name": "b", "task_id": {"value": "b"}, "agent_id": {"value": "S1"},
                         "command": {"shell": false, "value": "/bin/sleep", "arguments": ["sleep", "10"]}}
                    ]}
                }
            }]
        }
    }));
    let accept = c.accept.unwrap();
    assert_eq!(accept.offer_ids.len(), 2);
    assert_eq!(accept.filters, None);
    let operation = &accept.operations[0];
    assert_eq!(operation.r#type(), offer::operation::Type::LaunchGroup);
    assert_eq!(operation.id.as_ref().unwrap().value, "op-1");
    let group = operation.launch_group.as_ref().unwrap();
    assert_eq!(group.executor.executor_id.value, "default-executor");
    let tasks = &group.task_group.tasks;
    assert_eq!(tasks.len(), 2);
    let argv = tasks[1].command.as_ref().unwrap();
    assert!(!argv.shell());
    assert_eq!(argv.arguments, ["sleep", "10"]);
}

#[test]
fn a_decline_reads_refuse_seconds_and_filters_default_to_five_seconds() {
    let c = call(json!({
        "framework_id": {"value": "12220-3440-12532-2345"},
        "type": "DECLINE",
        "decline": {
            "offer_ids": [{"value": "12220-3440-12532-O12"}, {"value": "12220-3440-12532-O13"}],
            "filters": {"refuse_seconds": 3600.0}
        }
    }));
    let decline = c.decline.unwrap();
    assert_eq!(decline.offer_ids[1].value, "12220-3440-12532-O13");
    assert_eq!(decline.filters.unwrap().refuse_seconds(), 3600.0);

    // Filters without refuse_seconds: Mesos's default, 5 seconds; and
    // Mesos writes the default out.
    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "DECLINE",
        "decline": {"offer_ids": [{"value": "o"}], "filters": {}}
    }));
    let filters = c.decline.as_ref().unwrap().filters.unwrap();
    assert_eq!(filters.refuse_seconds, None);
    assert_eq!(filters.refuse_seconds(), 5.0);
    assert_eq!(to_json(&filters), json!({"refuse_seconds": 5.0}));
}

#[test]
fn an_acknowledge_reads_its_base64_uuid() {
    let c = call(json!({
        "framework_id": {"value": "12220-3440-12532-2345"},
        "type": "ACKNOWLEDGE",
        "acknowledge": {
            "agent_id": {"value": "12220-3440-12532-S1233"},
            "task_id": {"value": "12220-3440-12532-my-task"},
            "uuid": UUID_BASE64
        }
    }));
    assert_eq!(c.r#type(), call::Type::Acknowledge);
    let ack = c.acknowledge.unwrap();
    assert_eq!(ack.agent_id.value, "12220-3440-12532-S1233");
    assert_eq!(ack.task_id.value, "12220-3440-12532-my-task");
    assert_eq!(ack.uuid, UUID);
}

#[test]
fn base64_is_read_as_leniently_as_stout_reads_it() {
    // The uuid of Mesos's own ACKNOWLEDGE example: no padding and
    // non-zero trailing bits, which stout's decoder accepts (it drops
    // them), as it skips whitespace.
    for uuid in [
        "jhadf73jhakdlfha723adf",
        "jhadf73jhakdlfha723adf==",
        "jhadf73jhakd\nlfha723adf",
    ] {
        let c = call(json!({
            "framework_id": {"value": "f"},
            "type": "ACKNOWLEDGE",
            "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": uuid}
        }));
        let bytes = c.acknowledge.unwrap().uuid;
        assert_eq!(bytes.len(), 16, "{uuid}");
        assert_eq!(&bytes[..3], &[0x8e, 0x16, 0x9d], "{uuid}");
    }
}

#[test]
fn a_reconcile_reads_with_and_without_tasks() {
    let explicit = call(json!({
        "framework_id": {"value": "f"},
        "type": "RECONCILE",
        "reconcile": {"tasks": [
            {"task_id": {"value": "t1"}, "agent_id": {"value": "S1"}},
            {"task_id": {"value": "t2"}}
        ]}
    }));
    let tasks = explicit.reconcile.unwrap().tasks;
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].task_id.value, "t1");
    assert_eq!(tasks[0].agent_id.as_ref().unwrap().value, "S1");
    assert_eq!(tasks[1].agent_id, None);

    // Implicit: an empty list, no list, or no body at all.
    for reconcile in [json!({"tasks": []}), json!({}), json!(null)] {
        let implicit = call(json!({
            "framework_id": {"value": "f"},
            "type": "RECONCILE",
            "reconcile": reconcile
        }));
        assert_eq!(implicit.r#type(), call::Type::Reconcile);
        assert!(implicit.reconcile.unwrap_or_default().tasks.is_empty());
    }
}

#[test]
fn a_kill_reads_without_an_agent_id_and_ignores_v0_names() {
    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "KILL",
        "kill": {"task_id": {"value": "12220-3440-12532-my-task"}, "slave_id": {"value": "S0"}}
    }));
    let kill = c.kill.unwrap();
    assert_eq!(kill.task_id.value, "12220-3440-12532-my-task");
    assert_eq!(kill.agent_id, None);
    assert_eq!(kill.kill_policy, None);

    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "KILL",
        "kill": {
            "task_id": {"value": "t"},
            "agent_id": {"value": "S1"},
            "kill_policy": {"grace_period": {"nanoseconds": "3000000000"}}
        }
    }));
    let kill = c.kill.unwrap();
    assert_eq!(kill.agent_id.unwrap().value, "S1");
    assert_eq!(
        kill.kill_policy.unwrap().grace_period.unwrap().nanoseconds,
        3_000_000_000
    );
}

#[test]
fn suppress_and_revive_read_with_and_without_roles() {
    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "SUPPRESS",
        "suppress": {"roles": ["web", "batch"]}
    }));
    assert_eq!(c.suppress.unwrap().roles, ["web", "batch"]);
    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "REVIVE",
        "revive": {"roles": ["web"]}
    }));
    assert_eq!(c.revive.unwrap().roles, ["web"]);
    // The documentation's `{"role": ...}` is not a field: all roles.
    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "REVIVE",
        "revive": {"role": "web"}
    }));
    assert!(c.revive.unwrap().roles.is_empty());
    let c = call(json!({"framework_id": {"value": "f"}, "type": "SUPPRESS"}));
    assert_eq!((c.r#type(), c.suppress), (call::Type::Suppress, None));
}

#[test]
fn the_remaining_calls_read_from_mesos_json() {
    let c = call(json!({"framework_id": {"value": "f"}, "type": "TEARDOWN"}));
    assert_eq!(c.r#type(), call::Type::Teardown);

    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "SHUTDOWN",
        "shutdown": {"executor_id": {"value": "e"}, "agent_id": {"value": "S1"}}
    }));
    assert_eq!(c.shutdown.unwrap().executor_id.value, "e");

    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "MESSAGE",
        "message": {"agent_id": {"value": "S1"}, "executor_id": {"value": "e"}, "data": "aGVsbG8="}
    }));
    assert_eq!(c.message.unwrap().data, b"hello");

    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "REQUEST",
        "request": {"requests": [{"agent_id": {"value": "S1"},
                                  "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}}]}]}
    }));
    assert_eq!(
        c.request.unwrap().requests[0].resources[0],
        scalar("cpus", 2.0)
    );

    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "UPDATE_FRAMEWORK",
        "update_framework": {
            "framework_info": {"user": "u", "name": "n", "id": {"value": "f"}, "roles": ["a", "b"]},
            "suppressed_roles": ["b"]
        }
    }));
    let update = c.update_framework.unwrap();
    assert_eq!(update.framework_info.roles, ["a", "b"]);
    assert_eq!(update.suppressed_roles, ["b"]);
}

#[test]
fn inverse_offer_and_operation_calls_parse() {
    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "ACCEPT_INVERSE_OFFERS",
        "accept_inverse_offers": {"inverse_offer_ids": [{"value": "i1"}], "filters": {"refuse_seconds": 1}}
    }));
    assert_eq!(
        c.accept_inverse_offers.unwrap().inverse_offer_ids[0].value,
        "i1"
    );
    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "DECLINE_INVERSE_OFFERS",
        "decline_inverse_offers": {"inverse_offer_ids": [{"value": "i1"}]}
    }));
    assert_eq!(c.r#type(), call::Type::DeclineInverseOffers);
    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "ACKNOWLEDGE_OPERATION_STATUS",
        "acknowledge_operation_status": {
            "agent_id": {"value": "S1"},
            "resource_provider_id": {"value": "rp"},
            "uuid": UUID_BASE64,
            "operation_id": {"value": "op"}
        }
    }));
    assert_eq!(c.acknowledge_operation_status.unwrap().uuid, UUID);
    let c = call(json!({
        "framework_id": {"value": "f"},
        "type": "RECONCILE_OPERATIONS",
        "reconcile_operations": {"operations": [{"operation_id": {"value": "op"}}]}
    }));
    assert_eq!(
        c.reconcile_operations.unwrap().operations[0]
            .operation_id
            .value,
        "op"
    );
    // Offer operations mesoraft does not carry out still parse (by type).
    for kind in [
        "RESERVE",
        "UNRESERVE",
        "CREATE",
        "DESTROY",
        "GROW_VOLUME",
        "SHRINK_VOLUME",
        "CREATE_DISK",
        "DESTROY_DISK",
    ] {
        let c = call(json!({
            "framework_id": {"value": "f"},
            "type": "ACCEPT",
            "accept": {"offer_ids": [{"value": "o"}],
                       "operations": [{"type": kind, "reserve": {"resources": []}}]}
        }));
        let operation = &c.accept.unwrap().operations[0];
        assert_eq!(operation.r#type().as_str_name(), kind);
    }
}

#[test]
fn every_call_type_parses_by_name_and_by_number() {
    let names = [
        ("SUBSCRIBE", 1),
        ("TEARDOWN", 2),
        ("ACCEPT", 3),
        ("DECLINE", 4),
        ("ACCEPT_INVERSE_OFFERS", 13),
        ("DECLINE_INVERSE_OFFERS", 14),
        ("REVIVE", 5),
        ("KILL", 6),
        ("SHUTDOWN", 7),
        ("ACKNOWLEDGE", 8),
        ("ACKNOWLEDGE_OPERATION_STATUS", 15),
        ("RECONCILE", 9),
        ("RECONCILE_OPERATIONS", 16),
        ("MESSAGE", 10),
        ("REQUEST", 11),
        ("SUPPRESS", 12),
        ("UPDATE_FRAMEWORK", 17),
    ];
    for (name, number) in names {
        for kind in [json!(name), json!(number)] {
            let c: Call =
                from_json(&json!({"framework_id": {"value": "f"}, "type": kind})).unwrap();
            assert_eq!(c.r#type, Some(number), "{name}");
            assert_eq!(c.r#type().as_str_name(), name);
        }
    }
}

/// stout's rule (MESOS-4997): an enum value this side does not know
/// leaves an optional enum field unset, so a call from a newer framework
/// reads as UNKNOWN, which the master refuses as a call, not as JSON.
#[test]
fn an_unknown_call_type_reads_as_unset() {
    let c: Call = from_json(&json!({"framework_id": {"value": "f"}, "type": "RESIZE"})).unwrap();
    assert_eq!(c.r#type, None);
    assert_eq!(c.r#type(), call::Type::Unknown);
}

// ---- events ----

#[test]
fn a_subscribed_event_writes_mesos_json() {
    let event = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId {
                value: "12220-3440-12532-2345".into(),
            },
            heartbeat_interval_seconds: Some(15.0),
            master_info: Some(MasterInfo {
                id: "master-1".into(),
                ip: 16_777_343,
                port: 5050,
                hostname: Some("master1.example.com".into()),
                version: Some("1.11.0".into()),
                address: Some(Address {
                    hostname: Some("master1.example.com".into()),
                    ip: Some("127.0.0.1".into()),
                    port: 5050,
                }),
                ..MasterInfo::default()
            }),
        }),
        ..Event::default()
    };
    assert_event_json(
        &event,
        json!({
            "type": "SUBSCRIBED",
            "subscribed": {
                "framework_id": {"value": "12220-3440-12532-2345"},
                "heartbeat_interval_seconds": 15.0,
                "master_info": {
                    "id": "master-1",
                    "ip": 16777343,
                    "port": 5050,
                    "hostname": "master1.example.com",
                    "version": "1.11.0",
                    "address": {"hostname": "master1.example.com", "ip": "127.0.0.1", "port": 5050}
                }
            }
        }),
    );
    // Compact, with the double written as Mesos writes it.
    let text = to_json_string(&event);
    assert!(
        text.contains(r#""heartbeat_interval_seconds":15.0"#),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        to_json(&event)
    );
}

fn an_offer() -> Offer {
    let allocation = resource::AllocationInfo {
        role: Some("engineering".into()),
    };
    let allocated = |r: Resource| Resource {
        allocation_info: Some(allocation.clone()),
        ..r
    };
    Offer {
        id: OfferId {
            value: "12214-23523-O235235".into(),
        },
        framework_id: FrameworkId {
            value: "12124-235325-32425".into(),
        },
        agent_id: AgentId {
            value: "12325-23523-S23523".into(),
        },
        hostname: "agent.host".into(),
        url: Some(Url {
            scheme: "http".into(),
            address: Address {
                hostname: Some("agent.host".into()),
                ip: Some("198.51.100.7".into()),
                port: 5051,
            },
            path: Some("/slave(1)".into()),
            ..Url::default()
        }),
        domain: Some(DomainInfo {
            fault_domain: Some(crate::mesos::v1::domain_info::FaultDomain {
                region: crate::mesos::v1::domain_info::fault_domain::RegionInfo {
                    name: "eu".into(),
                },
                zone: crate::mesos::v1::domain_info::fault_domain::ZoneInfo {
                    name: "eu-1a".into(),
                },
            }),
        }),
        resources: vec![
            allocated(scalar("cpus", 2.0)),
            allocated(scalar("mem", 8192.0)),
            allocated(Resource {
                name: "ports".into(),
                r#type: value::Type::Ranges as i32,
                ranges: Some(value::Ranges {
                    range: vec![
                        value::Range {
                            begin: 31000,
                            end: 31099,
                        },
                        value::Range {
                            begin: 31200,
                            end: 32000,
                        },
                    ],
                }),
                ..Resource::default()
            }),
        ],
        attributes: vec![
            Attribute {
                name: "rack".into(),
                r#type: value::Type::Text as i32,
                text: Some(value::Text {
                    value: "r12".into(),
                }),
                ..Attribute::default()
            },
            Attribute {
                name: "generation".into(),
                r#type: value::Type::Scalar as i32,
                scalar: Some(value::Scalar { value: 3.0 }),
                ..Attribute::default()
            },
        ],
        executor_ids: vec![ExecutorId {
            value: "my-executor".into(),
        }],
        unavailability: None,
        allocation_info: Some(allocation),
    }
}

#[test]
fn an_offers_event_writes_mesos_json() {
    let event = Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers {
            offers: vec![an_offer()],
        }),
        ..Event::default()
    };
    let role = json!({"role": "engineering"});
    assert_event_json(
        &event,
        json!({
            "type": "OFFERS",
            "offers": {"offers": [{
                "id": {"value": "12214-23523-O235235"},
                "framework_id": {"value": "12124-235325-32425"},
                "agent_id": {"value": "12325-23523-S23523"},
                "hostname": "agent.host",
                "url": {
                    "scheme": "http",
                    "address": {"hostname": "agent.host", "ip": "198.51.100.7", "port": 5051},
                    "path": "/slave(1)"
                },
                "domain": {"fault_domain": {"region": {"name": "eu"}, "zone": {"name": "eu-1a"}}},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0},
                     "allocation_info": role},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 8192.0},
                     "allocation_info": role},
                    {"name": "ports", "type": "RANGES",
                     "ranges": {"range": [{"begin": 31000, "end": 31099},
                                          {"begin": 31200, "end": 32000}]},
                     "allocation_info": role}
                ],
                "attributes": [
                    {"name": "rack", "type": "TEXT", "text": {"value": "r12"}},
                    {"name": "generation", "type": "SCALAR", "scalar": {"value": 3.0}}
                ],
                "executor_ids": [{"value": "my-executor"}],
                "allocation_info": role
            }]}
        }),
    );
}

#[test]
fn an_update_event_writes_a_base64_uuid() {
    let status = TaskStatus {
        task_id: TaskId {
            value: "12344-my-task".into(),
        },
        state: TaskState::TaskRunning as i32,
        source: Some(task_status::Source::Executor as i32),
        agent_id: Some(AgentId {
            value: "12325-23523-S23523".into(),
        }),
        executor_id: Some(ExecutorId {
            value: "12344-my-task".into(),
        }),
        timestamp: Some(1_700_000_000.25),
        uuid: Some(UUID.to_vec()),
        healthy: Some(true),
        ..TaskStatus::default()
    };
    let event = Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update { status }),
        ..Event::default()
    };
    assert_event_json(
        &event,
        json!({
            "type": "UPDATE",
            "update": {"status": {
                "task_id": {"value": "12344-my-task"},
                "state": "TASK_RUNNING",
                "source": "SOURCE_EXECUTOR",
                "agent_id": {"value": "12325-23523-S23523"},
                "executor_id": {"value": "12344-my-task"},
                "timestamp": 1700000000.25,
                "uuid": UUID_BASE64,
                "healthy": true
            }}
        }),
    );
}

#[test]
fn a_reconciliation_answer_has_a_reason_and_no_uuid() {
    let event = Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update {
            status: TaskStatus {
                task_id: TaskId { value: "t".into() },
                state: TaskState::TaskLost as i32,
                source: Some(task_status::Source::Master as i32),
                reason: Some(task_status::Reason::Reconciliation as i32),
                message: Some("Reconciliation: Task is unknown".into()),
                agent_id: Some(AgentId { value: "S1".into() }),
                ..TaskStatus::default()
            },
        }),
        ..Event::default()
    };
    assert_event_json(
        &event,
        json!({
            "type": "UPDATE",
            "update": {"status": {
                "task_id": {"value": "t"},
                "state": "TASK_LOST",
                "source": "SOURCE_MASTER",
                "reason": "REASON_RECONCILIATION",
                "message": "Reconciliation: Task is unknown",
                "agent_id": {"value": "S1"}
            }}
        }),
    );
}

#[test]
fn the_other_events_write_mesos_json() {
    let rescind = Event {
        r#type: Some(event::Type::Rescind as i32),
        rescind: Some(event::Rescind {
            offer_id: OfferId { value: "o1".into() },
        }),
        ..Event::default()
    };
    assert_event_json(
        &rescind,
        json!({"type": "RESCIND", "rescind": {"offer_id": {"value": "o1"}}}),
    );
    let message = Event {
        r#type: Some(event::Type::Message as i32),
        message: Some(event::Message {
            agent_id: AgentId { value: "S1".into() },
            executor_id: ExecutorId { value: "e".into() },
            data: b"hello".to_vec(),
        }),
        ..Event::default()
    };
    assert_event_json(
        &message,
        json!({"type": "MESSAGE", "message": {
            "agent_id": {"value": "S1"}, "executor_id": {"value": "e"}, "data": "aGVsbG8="
        }}),
    );
    let failure = Event {
        r#type: Some(event::Type::Failure as i32),
        failure: Some(event::Failure {
            agent_id: Some(AgentId { value: "S1".into() }),
            executor_id: Some(ExecutorId { value: "e".into() }),
            status: Some(137),
        }),
        ..Event::default()
    };
    assert_event_json(
        &failure,
        json!({"type": "FAILURE", "failure": {
            "agent_id": {"value": "S1"}, "executor_id": {"value": "e"}, "status": 137
        }}),
    );
    let error = Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: "Framework failed over".into(),
        }),
        ..Event::default()
    };
    assert_event_json(
        &error,
        json!({"type": "ERROR", "error": {"message": "Framework failed over"}}),
    );
    let heartbeat = Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Event::default()
    };
    assert_event_json(&heartbeat, json!({"type": "HEARTBEAT"}));
    assert_eq!(to_json_string(&heartbeat), r#"{"type":"HEARTBEAT"}"#);
}

#[test]
fn inverse_offer_and_operation_events_parse() {
    let inverse: Event = from_json(&json!({
        "type": "INVERSE_OFFERS",
        "inverse_offers": {"inverse_offers": [{
            "id": {"value": "i1"},
            "framework_id": {"value": "f"},
            "agent_id": {"value": "S1"},
            "unavailability": {"start": {"nanoseconds": 1}, "duration": {"nanoseconds": 2}}
        }]}
    }))
    .unwrap();
    assert_eq!(inverse.r#type(), event::Type::InverseOffers);
    let rescind: Event = from_json(&json!({
        "type": "RESCIND_INVERSE_OFFER",
        "rescind_inverse_offer": {"inverse_offer_id": {"value": "i1"}}
    }))
    .unwrap();
    assert_eq!(rescind.r#type(), event::Type::RescindInverseOffer);
    let operation: Event = from_json(&json!({
        "type": "UPDATE_OPERATION_STATUS",
        "update_operation_status": {"status": {
            "operation_id": {"value": "op"},
            "state": "OPERATION_FINISHED",
            "uuid": {"value": UUID_BASE64},
            "agent_id": {"value": "S1"}
        }}
    }))
    .unwrap();
    let status = operation.update_operation_status.unwrap().status;
    assert_eq!(status.state().as_str_name(), "OPERATION_FINISHED");
    assert_eq!(status.uuid.unwrap().value, UUID);
}

// ---- protobuf and field numbers ----

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

// ---- malformed bodies ----

#[test]
fn a_field_of_the_wrong_type_is_named_by_its_path() {
    assert_eq!(
        field_error_path(json!({"type": "ACCEPT", "accept": {"offer_ids": [{"value": 5}]}})),
        "accept.offer_ids[0].value"
    );
    assert_eq!(
        field_error_path(
            json!({"type": "DECLINE", "decline": {"filters": {"refuse_seconds": "soon"}}})
        ),
        "decline.filters.refuse_seconds"
    );
    assert_eq!(field_error_path(json!({"type": ["SUBSCRIBE"]})), "type");
    let mut accept = mesos_accept_launch();
    accept["accept"]["operations"][0]["launch"]["task_infos"][0]["resources"][2]["ranges"]
        ["range"][0]["begin"] = json!(-1);
    assert_eq!(
        field_error_path(accept),
        "accept.operations[0].launch.task_infos[0].resources[2].ranges.range[0].begin"
    );
    assert_eq!(
        field_error_path(json!({"type": "ACKNOWLEDGE", "acknowledge": {"uuid": "not base64!"}})),
        "acknowledge.uuid"
    );
    assert_eq!(
        field_error_path(json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": "me"}})),
        "subscribe.framework_info"
    );
}

#[test]
fn bare_numbers_as_limits_are_refused_as_stout_refuses_them() {
    let mut accept = mesos_accept_launch();
    accept["accept"]["operations"][0]["launch"]["task_infos"][0]["limits"] =
        json!({"cpus": "Infinity", "mem": 512.0});
    let path = field_error_path(accept);
    assert!(
        path.starts_with("accept.operations[0].launch.task_infos[0].limits["),
        "{path}"
    );
}

#[test]
fn an_unknown_value_of_a_required_enum_is_named_by_its_path() {
    let mut accept = mesos_accept_launch();
    accept["accept"]["operations"][0]["launch"]["task_infos"][0]["resources"][0]["type"] =
        json!("SCALER");
    assert_eq!(
        field_error_path(accept),
        "accept.operations[0].launch.task_infos[0].resources[0].type"
    );
}

#[test]
fn missing_required_fields_are_listed_with_their_paths() {
    let missing = |body: serde_json::Value| match from_json::<Call>(&body) {
        Err(JsonError::MissingRequired(paths)) => paths,
        other => panic!("expected missing fields for {body}, got {other:?}"),
    };
    assert_eq!(
        missing(json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "n"}}})),
        ["subscribe.framework_info.user"]
    );
    assert_eq!(
        missing(json!({"type": "SUBSCRIBE", "subscribe": {}})),
        ["subscribe.framework_info"]
    );
    assert_eq!(
        missing(json!({"type": "ACKNOWLEDGE", "acknowledge": {"task_id": {"value": "t"}}})),
        ["acknowledge.agent_id", "acknowledge.uuid"]
    );
    assert_eq!(
        missing(json!({"type": "KILL", "kill": {"agent_id": {"value": "S1"}}})),
        ["kill.task_id"]
    );
    assert_eq!(
        missing(json!({"type": "RECONCILE", "reconcile": {"tasks": [{"task_id": {}}]}})),
        ["reconcile.tasks[0].task_id.value"]
    );
    let mut accept = mesos_accept_launch();
    let task = &mut accept["accept"]["operations"][0]["launch"]["task_infos"][0];
    task.as_object_mut().unwrap().remove("agent_id");
    task["resources"][1].as_object_mut().unwrap().remove("name");
    assert_eq!(
        missing(accept),
        [
            "accept.operations[0].launch.task_infos[0].agent_id",
            "accept.operations[0].launch.task_infos[0].resources[1].name"
        ]
    );
    let error = from_json::<Call>(&json!({"type": "KILL", "kill": {}})).unwrap_err();
    assert_eq!(error.to_string(), "missing required fields: kill.task_id");
}

#[test]
fn no_call_body_panics() {
    let odd = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5e300),
        json!("x"),
        json!("Infinity"),
        json!([]),
        json!([null, 1, "a", {}]),
        json!({}),
        json!({"value": {"value": [1]}}),
    ];
    let bodies = |a: &serde_json::Value| {
        vec![
            json!(a),
            json!({"type": a}),
            json!({"framework_id": a}),
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": a, "name": a,
                   "capabilities": [{"type": a}], "failover_timeout": a, "offer_filters": {"r": a}}}}),
            json!({"type": "ACCEPT", "accept": {"offer_ids": a, "operations": [{"type": a,
                   "launch": {"task_infos": [{"resources": [{"type": "RANGES",
                   "ranges": {"range": [{"begin": a, "end": a}]}}], "limits": {"cpus": a}}]}}],
                   "filters": {"refuse_seconds": a}}}),
            json!({"type": "ACKNOWLEDGE", "acknowledge": {"uuid": a, "task_id": a}}),
            json!({"type": "RECONCILE", "reconcile": {"tasks": a}}),
            json!({"type": "RECONCILE", "reconcile": {"tasks": [a]}}),
        ]
    };
    for a in &odd {
        for body in bodies(a) {
            let _ = from_json::<Call>(&body);
            let _ = from_json::<Event>(&body);
        }
    }
    // Nor does any prefix of a real call's protobuf bytes.
    let bytes = call(mesos_accept_launch()).encode_to_vec();
    for end in 0..bytes.len() {
        let _ = Call::decode(&bytes[..end]);
    }
}
