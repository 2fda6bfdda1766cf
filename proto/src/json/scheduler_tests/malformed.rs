//! Malformed bodies are refused naming the field; nothing panics.

use super::calls::mesos_accept_launch;
use super::*;

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
