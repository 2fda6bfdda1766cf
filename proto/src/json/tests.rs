//! The codec against JSON written the way Mesos writes and reads it.

use serde_json::json;

use super::*;
use crate::mesos::v1::master::{call, response, Call, Response};
use crate::mesos::v1::{
    value, AgentId, AgentInfo, Attribute, MasterInfo, Resource, Task, TaskId, TaskState,
    TaskStatus, TimeInfo,
};

/// An agent as Mesos's GET_AGENTS shows one: scalar, ranges and set
/// resources, scalar and text attributes, an `{"value": ...}` id.
fn mesos_agent_info() -> serde_json::Value {
    json!({
        "hostname": "agent1.example.com",
        "port": 5051,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4.0}, "role": "*"},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 4096.0}},
            {"name": "ports", "type": "RANGES",
             "ranges": {"range": [{"begin": 31000, "end": 32000}]}},
            {"name": "zones", "type": "SET", "set": {"item": ["a", "b"]}}
        ],
        "attributes": [
            {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
            {"name": "level", "type": "SCALAR", "scalar": {"value": 2.0}}
        ],
        "id": {"value": "4b2f6d4e-1f1e-4a5c-9d2e-0b9c7a1e2f3d-S0"}
    })
}

#[test]
#[allow(deprecated)] // `Resource.role`: Mesos still sends it
fn an_agent_info_reads_from_mesos_json() {
    let info: AgentInfo = from_json(&mesos_agent_info()).unwrap();
    assert_eq!(info.hostname, "agent1.example.com");
    assert_eq!(info.port, Some(5051));
    assert_eq!(
        info.id.as_ref().unwrap().value,
        "4b2f6d4e-1f1e-4a5c-9d2e-0b9c7a1e2f3d-S0"
    );
    let cpus = &info.resources[0];
    assert_eq!(cpus.r#type(), value::Type::Scalar);
    assert_eq!(cpus.scalar.as_ref().unwrap().value, 4.0);
    assert_eq!(cpus.role.as_deref(), Some("*"));
    let ports = info.resources[2].ranges.as_ref().unwrap();
    assert_eq!((ports.range[0].begin, ports.range[0].end), (31000, 32000));
    assert_eq!(info.resources[3].set.as_ref().unwrap().item, ["a", "b"]);
    assert_eq!(info.attributes[0].text.as_ref().unwrap().value, "r1");
    assert_eq!(info.attributes[1].scalar.as_ref().unwrap().value, 2.0);
}

#[test]
fn an_agent_info_writes_mesos_json_and_round_trips() {
    let info: AgentInfo = from_json(&mesos_agent_info()).unwrap();
    assert_eq!(to_json(&info), mesos_agent_info());
    let again: AgentInfo = from_json(&to_json(&info)).unwrap();
    assert_eq!(again, info);
}

#[test]
fn unset_fields_are_left_out_but_explicit_defaults_are_written() {
    let info = AgentInfo {
        hostname: "h".into(),
        resources: vec![Resource {
            name: "cpus".into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: 1.0 }),
            ..Resource::default()
        }],
        ..AgentInfo::default()
    };
    // `port` has `[default = 5051]`: Mesos writes it. `role` has a default
    // too but is deprecated: left out. Empty lists and unset messages too.
    assert_eq!(
        to_json(&info),
        json!({
            "hostname": "h",
            "port": 5051,
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}]
        })
    );
}

/// A status update as the scheduler API carries it.
fn mesos_task_status() -> serde_json::Value {
    json!({
        "task_id": {"value": "web-1"},
        "state": "TASK_RUNNING",
        "message": "started",
        "source": "SOURCE_EXECUTOR",
        "reason": "REASON_AGENT_REREGISTERED",
        "agent_id": {"value": "S1"},
        "timestamp": 1700000000.25,
        "uuid": "3q2+7w==",
        "unreachable_time": {"nanoseconds": 1700000000123456789i64}
    })
}

#[test]
fn a_task_status_with_a_base64_uuid_and_value_ids_round_trips() {
    let status: TaskStatus = from_json(&mesos_task_status()).unwrap();
    assert_eq!(status.task_id.value, "web-1");
    assert_eq!(status.state(), TaskState::TaskRunning);
    assert_eq!(status.uuid.as_deref(), Some(&[0xde, 0xad, 0xbe, 0xef][..]));
    assert_eq!(status.agent_id.as_ref().unwrap().value, "S1");
    assert_eq!(
        status.unreachable_time.as_ref().unwrap().nanoseconds,
        1_700_000_000_123_456_789
    );
    let json = to_json(&status);
    assert_eq!(json, mesos_task_status());
    // 64-bit integers are JSON numbers, not strings.
    assert!(json["unreachable_time"]["nanoseconds"].is_i64());
}

#[test]
fn the_json_text_is_compact_single_line_ascii() {
    let status = TaskStatus {
        task_id: TaskId {
            value: "t\u{e9}\u{1F600}".into(),
        },
        state: TaskState::TaskFailed as i32,
        message: Some("line one\nline two".into()),
        ..TaskStatus::default()
    };
    let text = to_json_string(&status);
    assert!(text.is_ascii(), "{text}");
    assert!(!text.contains('\n') && !text.contains(": "), "{text}");
    assert!(text.contains(r"t\u00e9\ud83d\ude00"), "{text}");
    let back: TaskStatus = from_json_slice(text.as_bytes()).unwrap();
    assert_eq!(back, status);
}

#[test]
fn numbers_may_come_as_strings_and_64_bit_integers_as_either() {
    let time: TimeInfo = from_json(&json!({"nanoseconds": "1700000000123456789"})).unwrap();
    assert_eq!(time.nanoseconds, 1_700_000_000_123_456_789);
    let time: TimeInfo = from_json(&json!({"nanoseconds": 5e3})).unwrap();
    assert_eq!(time.nanoseconds, 5000);
    let scalar: value::Scalar = from_json(&json!({"value": "2.5"})).unwrap();
    assert_eq!(scalar.value, 2.5);
    let scalar: value::Scalar = from_json(&json!({"value": "Infinity"})).unwrap();
    assert!(scalar.value.is_infinite());
    let range: value::Range =
        from_json(&json!({"begin": "18446744073709551615", "end": 1})).unwrap();
    assert_eq!(range.begin, u64::MAX);
    let master: MasterInfo =
        from_json(&json!({"id": "m", "ip": 16777343, "port": "5050"})).unwrap();
    assert_eq!(master.port, 5050);
}

#[test]
fn unknown_fields_are_ignored_and_null_means_unset() {
    let status: TaskStatus = from_json(&json!({
        "task_id": {"value": "t", "extra": [1, 2]},
        "state": "TASK_LOST",
        "slave_id": {"value": "S0"},
        "agentId": {"value": "camel case is not a proto name"},
        "message": null,
        "agent_id": null
    }))
    .unwrap();
    assert_eq!(status.message, None);
    assert_eq!(status.agent_id, None);
}

#[test]
fn an_unknown_enum_name_unsets_an_optional_field_and_fails_a_required_one() {
    let status: TaskStatus = from_json(&json!({
        "task_id": {"value": "t"},
        "state": "TASK_RUNNING",
        "reason": "REASON_FROM_THE_FUTURE"
    }))
    .unwrap();
    assert_eq!(status.reason, None);
    let err = from_json::<TaskStatus>(&json!({
        "task_id": {"value": "t"},
        "state": "TASK_FROM_THE_FUTURE"
    }))
    .unwrap_err();
    assert!(
        matches!(&err, JsonError::Field { path, .. } if path == "state"),
        "{err}"
    );
}

#[test]
fn a_field_of_the_wrong_type_is_an_error_naming_its_path() {
    let mut agent = mesos_agent_info();
    agent["resources"][2]["ranges"]["range"][0]["begin"] = json!("not a number");
    let err = from_json::<AgentInfo>(&agent).unwrap_err();
    assert_eq!(
        err,
        JsonError::Field {
            path: "resources[2].ranges.range[0].begin".into(),
            problem: "expecting an integer, found a string".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "field 'resources[2].ranges.range[0].begin': expecting an integer, found a string"
    );
    let cases = [
        (json!({"hostname": 7}), "hostname"),
        (json!({"hostname": "h", "port": true}), "port"),
        (json!({"hostname": "h", "port": 1.5}), "port"),
        (json!({"hostname": "h", "port": 4294967296u64}), "port"),
        (json!({"hostname": "h", "id": "S0"}), "id"),
        (
            json!({"hostname": "h", "resources": {"name": 1}}),
            "resources[0].name",
        ),
    ];
    for (input, path) in cases {
        match from_json::<AgentInfo>(&input) {
            Err(JsonError::Field { path: p, .. }) => assert_eq!(p, path, "{input}"),
            other => panic!("{input}: {other:?}"),
        }
    }
    let err = from_json::<TaskStatus>(&json!({
        "task_id": {"value": "t"}, "state": "TASK_RUNNING", "uuid": "%%%"
    }))
    .unwrap_err();
    assert!(
        matches!(&err, JsonError::Field { path, .. } if path == "uuid"),
        "{err}"
    );
}

#[test]
fn missing_required_fields_are_listed_recursively() {
    let err = from_json::<TaskStatus>(&json!({"task_id": {}, "agent_id": {}})).unwrap_err();
    assert_eq!(
        err,
        JsonError::MissingRequired(vec![
            "task_id.value".into(),
            "state".into(),
            "agent_id.value".into()
        ])
    );
    assert_eq!(
        err.to_string(),
        "missing required fields: task_id.value, state, agent_id.value"
    );
    let err = from_json::<AgentInfo>(&json!({
        "hostname": "h",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}, {"type": "SET"}],
        "attributes": [{"name": "rack", "type": "SCALAR", "scalar": {}}]
    }))
    .unwrap_err();
    assert_eq!(
        err,
        JsonError::MissingRequired(vec![
            "resources[1].name".into(),
            "attributes[0].scalar.value".into()
        ])
    );
}

#[test]
fn the_top_level_must_be_an_object_and_the_text_json() {
    for (input, found) in [
        (json!([1]), "an array"),
        (json!("x"), "a string"),
        (json!(null), "null"),
    ] {
        assert_eq!(
            from_json::<AgentId>(&input).unwrap_err(),
            JsonError::NotAnObject {
                message: "mesos.v1.AgentID".into(),
                found
            }
        );
    }
    assert!(matches!(
        from_json_slice::<AgentId>(b"{\"value\": "),
        Err(JsonError::Syntax(_))
    ));
}

#[test]
fn a_single_element_is_taken_for_a_repeated_field_as_stout_does() {
    let info: AgentInfo = from_json(&json!({
        "hostname": "h",
        "attributes": {"name": "rack", "type": "TEXT", "text": {"value": "r1"}}
    }))
    .unwrap();
    assert_eq!(info.attributes.len(), 1);
}

#[test]
fn maps_are_objects() {
    let task: Task = from_json(&json!({
        "name": "t", "task_id": {"value": "t"}, "framework_id": {"value": "f"},
        "agent_id": {"value": "a"}, "state": "TASK_STAGING",
        "limits": {"cpus": {"value": 2.0}, "mem": {"value": 128.0}}
    }))
    .unwrap();
    assert_eq!(task.limits["mem"].value, 128.0);
    assert_eq!(
        to_json(&task)["limits"],
        json!({"cpus": {"value": 2.0}, "mem": {"value": 128.0}})
    );
    let err = from_json::<Task>(&json!({
        "name": "t", "task_id": {"value": "t"}, "framework_id": {"value": "f"},
        "agent_id": {"value": "a"}, "state": "TASK_STAGING", "limits": {"cpus": {}}
    }))
    .unwrap_err();
    assert_eq!(
        err,
        JsonError::MissingRequired(vec!["limits[cpus].value".into()])
    );
}

#[test]
fn operator_calls_and_answers_have_mesos_shapes() {
    let call: Call = from_json(&json!({
        "type": "MARK_AGENT_GONE",
        "mark_agent_gone": {"agent_id": {"value": "S3"}}
    }))
    .unwrap();
    assert_eq!(call.r#type(), call::Type::MarkAgentGone);
    assert_eq!(call.mark_agent_gone.unwrap().agent_id.value, "S3");
    let err =
        from_json::<Call>(&json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {}})).unwrap_err();
    assert_eq!(
        err,
        JsonError::MissingRequired(vec!["mark_agent_gone.agent_id".into()])
    );

    let answer = Response {
        r#type: Some(response::Type::GetAgents as i32),
        get_agents: Some(response::GetAgents {
            agents: vec![response::get_agents::Agent {
                agent_info: AgentInfo {
                    hostname: "h".into(),
                    id: Some(AgentId { value: "S1".into() }),
                    ..AgentInfo::default()
                },
                active: true,
                deactivated: Some(false),
                version: "1.0".into(),
                registered_time: Some(TimeInfo { nanoseconds: 17 }),
                ..Default::default()
            }],
            recovered_agents: vec![],
            unreachable_agents: vec![response::get_agents::UnreachableAgent {
                agent_id: AgentId { value: "S2".into() },
                time: TimeInfo { nanoseconds: 18 },
            }],
        }),
        ..Response::default()
    };
    assert_eq!(
        to_json(&answer),
        json!({
            "type": "GET_AGENTS",
            "get_agents": {
                "agents": [{
                    "agent_info": {"hostname": "h", "port": 5051, "id": {"value": "S1"}},
                    "active": true,
                    "deactivated": false,
                    "version": "1.0",
                    "registered_time": {"nanoseconds": 17}
                }],
                "unreachable_agents": [{"agent_id": {"value": "S2"}, "time": {"nanoseconds": 18}}]
            }
        })
    );
}

#[test]
fn every_message_of_the_crate_has_a_descriptor() {
    let pool = pool().expect("the descriptor set decodes");
    for desc in pool.all_messages() {
        let empty = prost_reflect::DynamicMessage::new(desc.clone());
        // Encoding and rendering any message (here: empty) cannot fail.
        let rendered =
            encode::message_json(desc.full_name(), &prost::Message::encode_to_vec(&empty));
        assert!(rendered.is_ok(), "{}", desc.full_name());
    }
    for name in [
        <AgentInfo as prost::Name>::full_name(),
        <Attribute as prost::Name>::full_name(),
        <value::Scalar as prost::Name>::full_name(),
        <response::get_agents::Agent as prost::Name>::full_name(),
        <crate::agent::AgentToMaster as prost::Name>::full_name(),
    ] {
        assert!(descriptor(&name).is_ok(), "{name}");
    }
}

#[test]
fn no_input_panics() {
    // Values of every JSON type in every field of a nested message.
    let odd = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1e308),
        json!("x"),
        json!([]),
        json!([null, 1, "a", {}]),
        json!({}),
        json!({"value": {"value": [1]}}),
    ];
    for a in &odd {
        for field in [
            "hostname",
            "port",
            "resources",
            "attributes",
            "id",
            "domain",
        ] {
            let _ = from_json::<AgentInfo>(&json!({ field: a }));
            let _ = from_json::<AgentInfo>(
                &json!({"hostname": "h", "resources": [{ "name": "n", "type": "RANGES", "ranges": { "range": [{ "begin": a, "end": a }] } }]}),
            );
        }
        let _ = from_json::<Task>(&json!({ "limits": a }));
        let _ = from_json::<Task>(&json!({ "limits": { "k": a } }));
    }
}

/// An executor's UPDATE call as Mesos's executor library writes it: the
/// uuid as base64, enums by name.
#[test]
fn an_executor_update_call_reads_from_mesos_json() {
    use crate::mesos::v1::executor::{call, Call as ExecutorCall};
    let body = json!({
        "type": "UPDATE",
        "framework_id": {"value": "f1"},
        "executor_id": {"value": "e1"},
        "update": {"status": {
            "task_id": {"value": "t1"},
            "state": "TASK_RUNNING",
            "source": "SOURCE_EXECUTOR",
            "uuid": "AAECAwQFBgcICQoLDA0ODw==",
            "timestamp": 1.5
        }}
    });
    let call: ExecutorCall = from_json(&body).unwrap();
    assert_eq!(call.r#type(), call::Type::Update);
    let status = call.update.as_ref().unwrap().status.clone();
    assert_eq!(status.state(), TaskState::TaskRunning);
    assert_eq!(
        status.uuid.as_deref(),
        Some(&(0u8..16).collect::<Vec<_>>()[..])
    );
    assert_eq!(from_json::<ExecutorCall>(&to_json(&call)).unwrap(), call);
}

#[test]
fn an_executor_subscribed_event_writes_mesos_json() {
    use crate::mesos::v1::executor::{event, Event};
    use crate::mesos::v1::{ContainerId, ExecutorId, ExecutorInfo, FrameworkInfo};
    let event = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            executor_info: ExecutorInfo {
                executor_id: ExecutorId { value: "e1".into() },
                ..Default::default()
            },
            framework_info: FrameworkInfo {
                user: "u".into(),
                name: "n".into(),
                ..Default::default()
            },
            agent_info: AgentInfo {
                hostname: "h".into(),
                ..Default::default()
            },
            container_id: Some(ContainerId {
                value: "c1".into(),
                parent: None,
            }),
        }),
        ..Default::default()
    };
    let json = to_json(&event);
    assert_eq!(json["type"], "SUBSCRIBED");
    assert_eq!(json["subscribed"]["container_id"], json!({"value": "c1"}));
    // Written with Mesos's defaults (`port`, `checkpoint`), which read
    // back as set fields: the JSON is stable from then on.
    assert_eq!(json["subscribed"]["agent_info"]["port"], 5051);
    assert_eq!(json["subscribed"]["framework_info"]["checkpoint"], false);
    let back: Event = from_json(&json).unwrap();
    assert_eq!(
        back.subscribed.as_ref().unwrap().container_id,
        event.subscribed.unwrap().container_id
    );
    assert_eq!(to_json(&back), json);
}
