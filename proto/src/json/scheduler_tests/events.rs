//! Events as Mesos frameworks read them.

use super::*;

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
