//! Calls as Mesos frameworks send them.

use super::*;

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
pub(super) fn mesos_accept_launch() -> serde_json::Value {
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
