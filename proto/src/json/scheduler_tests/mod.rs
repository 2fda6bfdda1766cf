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

mod calls;
mod events;
mod malformed;
mod numbers;
