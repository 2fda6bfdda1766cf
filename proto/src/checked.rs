//! Protobuf request bodies read with proto2's required-field check.
//!
//! prost fills an absent required field with its default; Mesos's parser
//! (`ParseFromString`) refuses the message instead. An HTTP API that takes
//! `application/x-protobuf` bodies reads them with [`decode_checked`], so
//! a body missing a required field is refused with the fields' paths, as
//! the same body in JSON is by [`crate::json::from_json`].

use prost_reflect::DynamicMessage;

/// Why protobuf bytes are not a valid message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a protobuf encoding of the message.
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    /// Required fields are absent (paths as in [`crate::json`]).
    #[error("missing required fields: {}", .0.join(", "))]
    MissingRequired(Vec<String>),
    /// The message type is not among this crate's descriptors (a program
    /// error, never caused by input).
    #[error("no descriptor for message type {0}")]
    UnknownMessage(String),
}

/// `bytes` as a message of type `M`, refused when malformed or when a
/// required field is missing anywhere in it.
pub fn decode_checked<M: prost::Message + prost::Name + Default>(
    bytes: &[u8],
) -> Result<M, DecodeError> {
    let full_name = M::full_name();
    let desc = crate::json::descriptor(&full_name)
        .map_err(|_| DecodeError::UnknownMessage(full_name.clone()))?;
    let dynamic =
        DynamicMessage::decode(desc, bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let missing = crate::json::missing_required(&dynamic);
    if !missing.is_empty() {
        return Err(DecodeError::MissingRequired(missing));
    }
    M::decode(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::mesos::v1::scheduler::{call, Call};
    use crate::mesos::v1::{AgentId, FrameworkId, TaskId};

    fn kill(task: &str) -> Call {
        Call {
            framework_id: Some(FrameworkId { value: "f".into() }),
            r#type: Some(call::Type::Kill as i32),
            kill: Some(call::Kill {
                task_id: TaskId { value: task.into() },
                agent_id: Some(AgentId { value: "S1".into() }),
                kill_policy: None,
            }),
            ..Call::default()
        }
    }

    #[test]
    fn a_complete_message_decodes() {
        let call = kill("t1");
        assert_eq!(decode_checked::<Call>(&call.encode_to_vec()), Ok(call));
    }

    #[test]
    fn a_missing_required_field_is_refused_with_its_path() {
        // `kill { agent_id }` alone: what a framework that forgot the task
        // id sends. prost alone takes it, with an empty task id.
        let bytes = [
            0x10, 0x06, // type: KILL
            0x32, 0x06, // kill (6), 6 bytes
            0x12, 0x04, 0x0a, 0x02, b'S', b'1', // agent_id (2) {value: "S1"}
        ];
        assert!(Call::decode(&bytes[..]).is_ok());
        assert_eq!(
            decode_checked::<Call>(&bytes),
            Err(DecodeError::MissingRequired(vec!["kill.task_id".into()]))
        );
    }

    #[test]
    fn malformed_bytes_are_refused_and_nothing_panics() {
        let bytes = kill("t1").encode_to_vec();
        for end in 0..bytes.len() {
            let _ = decode_checked::<Call>(&bytes[..end]);
        }
        assert!(matches!(
            decode_checked::<Call>(&[0xff, 0xff, 0xff]),
            Err(DecodeError::Malformed(_))
        ));
    }
}
