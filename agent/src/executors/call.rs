//! Reading an executor's call from an HTTP request, without I/O: the
//! content type (JSON with Mesos's rules, or protobuf), the media type
//! the event stream is answered in, and Mesos's checks of a call
//! (`validateExecutorCall` in `src/common/validation.cpp`). Every problem
//! is a [`CallError`] with the message Mesos gives; nothing here panics.

use mesoraft_proto::mesos::v1::executor::{call, Call};
use mesoraft_proto::mesos::v1::task_status::Source;
use mesoraft_proto::mesos::v1::{TaskState, TaskStatus};
use prost::Message;

use super::model::ExecutorKey;

pub const APPLICATION_JSON: &str = "application/json";
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";

/// How a call or the event stream is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Json,
    Protobuf,
}

impl ContentType {
    pub fn media_type(self) -> &'static str {
        match self {
            ContentType::Json => APPLICATION_JSON,
            ContentType::Protobuf => APPLICATION_PROTOBUF,
        }
    }
}

/// A call that passed the checks.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorCall {
    Subscribe {
        executor: ExecutorKey,
        subscribe: call::Subscribe,
    },
    Update {
        executor: ExecutorKey,
        status: TaskStatus,
    },
    Message {
        executor: ExecutorKey,
        data: Vec<u8>,
    },
    Heartbeat,
}

/// Why a request is not a call the agent takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("Expecting 'Content-Type' to be present")]
    MissingContentType,
    #[error("Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}")]
    UnsupportedMediaType,
    #[error("Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'")]
    NotAcceptable,
    #[error("Failed to parse body into Call protobuf: {0}")]
    Undecodable(String),
    #[error("Failed to validate Executor::Call: {0}")]
    Invalid(String),
    #[error("Received 'UNKNOWN' call")]
    Unknown,
}

/// The request body as a call, by its `Content-Type`.
pub fn decode(content_type: Option<&str>, body: &[u8]) -> Result<Call, CallError> {
    match media_type(content_type.ok_or(CallError::MissingContentType)?).as_str() {
        APPLICATION_JSON => mesoraft_proto::json::from_json_slice::<Call>(body)
            .map_err(|e| CallError::Undecodable(e.to_string())),
        APPLICATION_PROTOBUF => {
            Call::decode(body).map_err(|e| CallError::Undecodable(e.to_string()))
        }
        _ => Err(CallError::UnsupportedMediaType),
    }
}

/// The encoding of the event stream a SUBSCRIBE asks for: JSON unless
/// the `Accept` header rules it out (no header accepts everything).
pub fn stream_type(accept: Option<&str>) -> Result<ContentType, CallError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(ContentType::Json);
    };
    let accepts = |wanted: &str| {
        accept.split(',').any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            let (kind, _) = wanted.split_once('/').unwrap_or((wanted, ""));
            !refused && (media == wanted || media == "*/*" || media == format!("{kind}/*"))
        })
    };
    if accepts(APPLICATION_JSON) {
        Ok(ContentType::Json)
    } else if accepts(APPLICATION_PROTOBUF) {
        Ok(ContentType::Protobuf)
    } else {
        Err(CallError::NotAcceptable)
    }
}

/// Mesos's checks of an executor call.
pub fn validate(call: Call) -> Result<ExecutorCall, CallError> {
    let invalid = |m: String| Err(CallError::Invalid(m));
    let Some(kind) = call.r#type else {
        return invalid("Expecting 'type' to be present".into());
    };
    if call.executor_id.value.is_empty() {
        return invalid("Expecting 'executor_id' to be present".into());
    }
    if call.framework_id.value.is_empty() {
        return invalid("Expecting 'framework_id' to be present".into());
    }
    let executor = ExecutorKey::new(&call.framework_id, &call.executor_id);
    match call::Type::try_from(kind).unwrap_or(call::Type::Unknown) {
        call::Type::Subscribe => match call.subscribe {
            Some(subscribe) => Ok(ExecutorCall::Subscribe {
                executor,
                subscribe,
            }),
            None => invalid("Expecting 'subscribe' to be present".into()),
        },
        call::Type::Update => {
            let Some(update) = call.update else {
                return invalid("Expecting 'update' to be present".into());
            };
            check_status(&executor, &update.status).map_err(CallError::Invalid)?;
            Ok(ExecutorCall::Update {
                executor,
                status: update.status,
            })
        }
        call::Type::Message => match call.message {
            Some(message) => Ok(ExecutorCall::Message {
                executor,
                data: message.data,
            }),
            None => invalid("Expecting 'message' to be present".into()),
        },
        call::Type::Heartbeat => Ok(ExecutorCall::Heartbeat),
        call::Type::Unknown => Err(CallError::Unknown),
    }
}

fn check_status(executor: &ExecutorKey, status: &TaskStatus) -> Result<(), String> {
    let uuid = status
        .uuid
        .as_ref()
        .ok_or("Expecting 'uuid' to be present")?;
    if uuid.len() != 16 {
        return Err(format!("Not a UUID: expected 16 bytes, got {}", uuid.len()));
    }
    if let Some(id) = &status.executor_id {
        if id.value != executor.executor_id {
            return Err(format!(
                "ExecutorID in Call: {} does not match ExecutorID in TaskStatus: {}",
                executor.executor_id, id.value
            ));
        }
    }
    if status.source.map(|_| status.source()) != Some(Source::Executor) {
        return Err(format!(
            "Received Call from executor {} of framework {} with invalid source, expecting 'SOURCE_EXECUTOR'",
            executor.executor_id, executor.framework_id
        ));
    }
    if status.state() == TaskState::TaskStaging {
        return Err(format!(
            "Received TASK_STAGING from executor {} of framework {} which is not allowed",
            executor.executor_id, executor.framework_id
        ));
    }
    if status.task_id.value.is_empty() {
        return Err("Expecting 'status.task_id' to be present".into());
    }
    Ok(())
}

/// The media type of a header value: before any parameter, lower case.
fn media_type(header: &str) -> String {
    header
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::mesos::v1::{ExecutorId, FrameworkId, TaskId};

    fn update_call(status: TaskStatus) -> Call {
        Call {
            executor_id: ExecutorId { value: "e1".into() },
            framework_id: FrameworkId { value: "f1".into() },
            r#type: Some(call::Type::Update as i32),
            update: Some(call::Update { status }),
            ..Default::default()
        }
    }

    fn good_status() -> TaskStatus {
        TaskStatus {
            task_id: TaskId { value: "t1".into() },
            state: TaskState::TaskRunning as i32,
            source: Some(Source::Executor as i32),
            uuid: Some(vec![7; 16]),
            ..Default::default()
        }
    }

    #[test]
    fn json_and_protobuf_bodies_decode_by_content_type() {
        let call = update_call(good_status());
        let json = mesoraft_proto::json::to_json_string(&call);
        assert_eq!(
            decode(Some("application/json"), json.as_bytes()),
            Ok(call.clone())
        );
        assert_eq!(
            decode(Some("Application/JSON; charset=utf-8"), json.as_bytes()),
            Ok(call.clone())
        );
        let bytes = call.encode_to_vec();
        assert_eq!(decode(Some(APPLICATION_PROTOBUF), &bytes), Ok(call));
        assert_eq!(decode(None, &bytes), Err(CallError::MissingContentType));
        assert_eq!(
            decode(Some("text/plain"), &bytes),
            Err(CallError::UnsupportedMediaType)
        );
        for garbage in [&b"{"[..], b"[]", b"{\"type\": 7}", b"\xff\xff"] {
            assert!(matches!(
                decode(Some(APPLICATION_JSON), garbage),
                Err(CallError::Undecodable(_))
            ));
        }
        assert!(matches!(
            decode(Some(APPLICATION_PROTOBUF), b"\xff\xff\xff"),
            Err(CallError::Undecodable(_))
        ));
    }

    #[test]
    fn the_stream_is_json_unless_accept_rules_it_out() {
        assert_eq!(stream_type(None), Ok(ContentType::Json));
        assert_eq!(stream_type(Some("*/*")), Ok(ContentType::Json));
        assert_eq!(
            stream_type(Some("application/x-protobuf")),
            Ok(ContentType::Protobuf)
        );
        assert_eq!(
            stream_type(Some("application/json;q=0, application/x-protobuf")),
            Ok(ContentType::Protobuf)
        );
        assert_eq!(
            stream_type(Some("text/html")),
            Err(CallError::NotAcceptable)
        );
    }

    #[test]
    fn mesos_checks_of_an_update_are_made() {
        assert!(matches!(
            validate(update_call(good_status())),
            Ok(ExecutorCall::Update { .. })
        ));
        type Spoil = fn(&mut TaskStatus);
        let cases: Vec<(Spoil, &str)> = vec![
            (|s| s.uuid = None, "Expecting 'uuid'"),
            (|s| s.uuid = Some(vec![1, 2]), "Not a UUID"),
            (
                |s| s.executor_id = Some(ExecutorId { value: "e2".into() }),
                "does not match",
            ),
            (|s| s.source = None, "invalid source"),
            (|s| s.state = TaskState::TaskStaging as i32, "TASK_STAGING"),
        ];
        for (spoil, message) in cases {
            let mut status = good_status();
            spoil(&mut status);
            let err = validate(update_call(status)).unwrap_err();
            assert!(err.to_string().contains(message), "{err}");
        }
        let mut no_type = update_call(good_status());
        no_type.r#type = None;
        assert!(validate(no_type).is_err());
        let mut no_update = update_call(good_status());
        no_update.update = None;
        assert!(validate(no_update).is_err());
        let mut no_executor = update_call(good_status());
        no_executor.executor_id.value.clear();
        assert!(validate(no_executor).is_err());
        let mut unknown = update_call(good_status());
        unknown.r#type = Some(99);
        assert_eq!(validate(unknown), Err(CallError::Unknown));
    }
}
