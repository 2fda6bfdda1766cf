//! Mesos's JSON form of the protobuf messages of this crate, for the HTTP
//! APIs (operator, scheduler) that speak JSON.
//!
//! The codec is driven by the compiled descriptors (`build.rs` writes the
//! set protox produced; [`prost_reflect`] reads it), so every message gets
//! it without code of its own. The rules are stout's (Mesos's
//! `stout/protobuf.hpp`), not proto3's JSON mapping:
//!
//! Output ([`to_json`], [`to_json_string`]):
//! - proto field names (snake_case); enums by name; bytes as standard
//!   base64; 64-bit integers as JSON *numbers*; maps as objects;
//! - a field is written when it is set (proto2 presence), a repeated field
//!   when it has elements, and an unset field with an explicit
//!   `[default = ...]` that is not deprecated is written with its default
//!   (Mesos does: `"port": 5051` in an `AgentInfo` without a port);
//!   everything else is left out;
//! - [`to_json_string`] is compact, single-line, ASCII (non-ASCII escaped).
//!
//! Input ([`from_json`], [`from_json_slice`]):
//! - fields by proto name; unknown fields are ignored (clients send
//!   v0-named extras such as `slave_id`); `null` means unset;
//! - numbers may come as JSON numbers or strings (`"5"`, `"1e3"`,
//!   `"Infinity"` for floating point), booleans as `true` or `"true"`;
//! - bytes as base64 read as stout reads it (whitespace skipped, nothing
//!   after the first `=`, non-zero trailing bits accepted);
//! - an enum name this side does not know unsets an optional field (proto2
//!   rules) and is an error for a required one;
//! - a known field of the wrong JSON type is an error naming the field's
//!   path (`agent_info.resources[0].scalar.value`);
//! - required fields missing anywhere (checked recursively) are one error
//!   listing them all.
//!
//! Nothing here panics on any input.

mod decode;
mod encode;

#[cfg(test)]
mod scheduler_tests;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, MessageDescriptor};

pub use encode::to_ascii_string;

/// The descriptors of every .proto file of this crate.
const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// Why JSON could not be read as a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The body is not JSON at all.
    #[error("malformed JSON: {0}")]
    Syntax(String),
    /// The top level (or an element of a message list) is not an object.
    #[error("expecting a JSON object for {message}, found {found}")]
    NotAnObject {
        message: String,
        found: &'static str,
    },
    /// A known field holds a value it cannot take.
    #[error("field '{path}': {problem}")]
    Field { path: String, problem: String },
    /// Required fields are absent (paths as protobuf writes them).
    #[error("missing required fields: {}", .0.join(", "))]
    MissingRequired(Vec<String>),
    /// The message type is not among this crate's descriptors (a program
    /// error, never caused by input).
    #[error("no descriptor for message type {0}")]
    UnknownMessage(String),
    /// The parsed message did not convert to its Rust type (a program
    /// error, never caused by input).
    #[error("cannot convert the parsed {message}: {problem}")]
    Conversion { message: String, problem: String },
}

/// The descriptor pool of this crate's messages, decoded once.
fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(FILE_DESCRIPTOR_SET).ok())
        .as_ref()
}

/// The descriptor of the message type named `full_name` (e.g.
/// `mesos.v1.AgentInfo`).
pub fn descriptor(full_name: &str) -> Result<MessageDescriptor, JsonError> {
    pool()
        .and_then(|pool| pool.get_message_by_name(full_name))
        .ok_or_else(|| JsonError::UnknownMessage(full_name.to_string()))
}

/// `message` as Mesos's JSON. Infallible for the messages of this crate;
/// a type without a descriptor renders as an empty object.
pub fn to_json<M: prost::Message + prost::Name>(message: &M) -> serde_json::Value {
    encode::message_json(&M::full_name(), &message.encode_to_vec())
        .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()))
}

/// `message` as compact, single-line, ASCII JSON text.
pub fn to_json_string<M: prost::Message + prost::Name>(message: &M) -> String {
    to_ascii_string(&to_json(message))
}

/// Reads a message from Mesos's JSON (see the module doc for the rules).
pub fn from_json<M: prost::Message + prost::Name + Default>(
    value: &serde_json::Value,
) -> Result<M, JsonError> {
    let full_name = M::full_name();
    let dynamic = decode::message_from_json(&descriptor(&full_name)?, value)?;
    M::decode(prost::Message::encode_to_vec(&dynamic).as_slice()).map_err(|e| {
        JsonError::Conversion {
            message: full_name,
            problem: e.to_string(),
        }
    })
}

/// The paths of the required fields missing anywhere in `message` (the
/// check [`from_json`] makes), for messages that arrive otherwise.
pub(crate) fn missing_required(message: &prost_reflect::DynamicMessage) -> Vec<String> {
    let mut missing = Vec::new();
    decode::missing_required(message, "", &mut missing);
    missing
}

/// [`from_json`] of a request body.
pub fn from_json_slice<M: prost::Message + prost::Name + Default>(
    body: &[u8],
) -> Result<M, JsonError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| JsonError::Syntax(e.to_string()))?;
    from_json(&value)
}
