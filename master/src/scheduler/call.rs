//! Reading a scheduler call: the media types a request may use, decoding
//! its body (JSON by Mesos's rules, or proto2-checked protobuf), and the
//! checks Mesos's `validation::scheduler::call::validate` makes before a
//! call reaches the framework logic. Pure: bytes and header values in, a
//! [`SchedulerCall`] or a [`CallError`] saying what is wrong out.

use mesoraft_proto::mesos::v1::scheduler::{call, Call};
use mesoraft_proto::mesos::v1::{offer, Filters, FrameworkInfo, KillPolicy};

/// The two encodings of the scheduler API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Protobuf => "application/x-protobuf",
        }
    }
}

/// Why a call is not taken; each maps to one HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// 415: the body's media type is neither JSON nor protobuf.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 406: the client accepts neither JSON nor protobuf.
    #[error("{0}")]
    NotAcceptable(String),
    /// 400: malformed or invalid call.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> CallError {
    CallError::Invalid(message.into())
}

/// The body's format from `Content-Type` (parameters such as `charset`
/// are ignored).
pub fn request_format(content_type: Option<&str>) -> Result<Format, CallError> {
    let Some(value) = content_type else {
        return Err(CallError::UnsupportedMediaType(
            "Expecting 'Content-Type' to be present; use application/json or \
             application/x-protobuf\n"
                .into(),
        ));
    };
    match media_type(value).as_str() {
        "application/json" => Ok(Format::Json),
        "application/x-protobuf" => Ok(Format::Protobuf),
        other => Err(CallError::UnsupportedMediaType(format!(
            "Expecting 'Content-Type' of application/json or application/x-protobuf, \
             not '{other}'\n"
        ))),
    }
}

/// The answer's format from `Accept`: none (or `*/*`) means JSON; an
/// explicit list is taken in its order of preference (q-values honoured,
/// `q=0` refuses).
pub fn response_format(accept: Option<&str>) -> Result<Format, CallError> {
    let Some(value) = accept.filter(|v| !v.trim().is_empty()) else {
        return Ok(Format::Json);
    };
    let mut best: Option<(f32, usize, Format)> = None;
    for (position, item) in value.split(',').enumerate() {
        let mut parts = item.split(';');
        let kind = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality <= 0.0 {
            continue;
        }
        let format = match kind.as_str() {
            "application/json" | "application/*" | "*/*" => Format::Json,
            "application/x-protobuf" => Format::Protobuf,
            _ => continue,
        };
        // Higher quality wins; at equal quality the earlier entry.
        let better = match best {
            None => true,
            Some((q, _, _)) => quality > q,
        };
        if better {
            best = Some((quality, position, format));
        }
    }
    best.map(|(_, _, f)| f).ok_or_else(|| {
        CallError::NotAcceptable(format!(
            "Expecting 'Accept' to allow application/json or application/x-protobuf, \
             not '{value}'\n"
        ))
    })
}

fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The body as a `Call`; a malformed body is a 400 naming what is wrong.
pub fn decode(body: &[u8], format: Format) -> Result<Call, CallError> {
    match format {
        Format::Json => mesoraft_proto::json::from_json_slice::<Call>(body)
            .map_err(|e| invalid(format!("Failed to parse body into Call: {e}\n"))),
        Format::Protobuf => mesoraft_proto::checked::decode_checked::<Call>(body)
            .map_err(|e| invalid(format!("Failed to parse body into Call: {e}\n"))),
    }
}

/// A call that passed validation, with what its type needs.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per request, moved on
pub enum SchedulerCall {
    Subscribe {
        info: FrameworkInfo,
        suppressed_roles: Vec<String>,
    },
    Teardown,
    Accept {
        offer_ids: Vec<String>,
        operations: Vec<offer::Operation>,
        filters: Option<Filters>,
    },
    Decline {
        offer_ids: Vec<String>,
        filters: Option<Filters>,
    },
    Revive {
        roles: Vec<String>,
    },
    Suppress {
        roles: Vec<String>,
    },
    Kill {
        task_id: String,
        agent_id: Option<String>,
        kill_policy: Option<KillPolicy>,
    },
    Shutdown {
        executor_id: String,
        agent_id: String,
    },
    Acknowledge {
        agent_id: String,
        task_id: String,
        uuid: Vec<u8>,
    },
    Reconcile {
        /// (task id, agent id hint)
        tasks: Vec<(String, Option<String>)>,
    },
    Message {
        agent_id: String,
        executor_id: String,
        data: Vec<u8>,
    },
    /// REQUEST: accepted and ignored (as Mesos's allocator does).
    Request,
    /// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: this master makes
    /// no inverse offers, so there is nothing to answer.
    InverseOffers,
    UpdateFramework {
        info: FrameworkInfo,
        suppressed_roles: Vec<String>,
    },
}

/// A validated call and the framework it is for (None only for a
/// SUBSCRIBE of a new framework).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidCall {
    pub framework_id: Option<String>,
    pub call: SchedulerCall,
}

impl ValidCall {
    pub fn is_subscribe(&self) -> bool {
        matches!(self.call, SchedulerCall::Subscribe { .. })
    }
}

/// Mesos's call validation: a known type, the message of that type
/// present, a framework id on every call but a first SUBSCRIBE, and that
/// id consistent with the framework info it carries.
pub fn validate(call: Call) -> Result<ValidCall, CallError> {
    use call::Type;
    let Some(kind) = call.r#type.and_then(|t| Type::try_from(t).ok()) else {
        return Err(invalid(match call.r#type {
            None => "Expecting 'type' to be present\n".to_string(),
            Some(t) => format!("Unknown call type {t}\n"),
        }));
    };
    let framework_id = call.framework_id.as_ref().map(|id| id.value.clone());
    let needs_id = || {
        framework_id
            .clone()
            .ok_or_else(|| invalid("Expecting 'framework_id' to be present\n"))
    };
    let missing = |field: &str| invalid(format!("Expecting '{field}' to be present\n"));
    let call = match kind {
        Type::Unknown => return Err(invalid("Received an UNKNOWN call type\n")),
        Type::Subscribe => {
            let s = call.subscribe.ok_or_else(|| missing("subscribe"))?;
            let info_id = s.framework_info.id.as_ref().map(|id| id.value.as_str());
            if framework_id.is_some() && framework_id.as_deref() != info_id {
                return Err(invalid(
                    "'framework_id' differs from 'subscribe.framework_info.id'\n",
                ));
            }
            if info_id.is_some() && framework_id.is_none() {
                return Err(invalid(
                    "Expecting 'framework_id' to be present when \
                     'subscribe.framework_info.id' is set\n",
                ));
            }
            return Ok(ValidCall {
                framework_id,
                call: SchedulerCall::Subscribe {
                    info: s.framework_info,
                    suppressed_roles: s.suppressed_roles,
                },
            });
        }
        Type::Teardown => SchedulerCall::Teardown,
        Type::Accept => {
            let a = call.accept.ok_or_else(|| missing("accept"))?;
            SchedulerCall::Accept {
                offer_ids: a.offer_ids.into_iter().map(|o| o.value).collect(),
                operations: a.operations,
                filters: a.filters,
            }
        }
        Type::Decline => {
            let d = call.decline.ok_or_else(|| missing("decline"))?;
            SchedulerCall::Decline {
                offer_ids: d.offer_ids.into_iter().map(|o| o.value).collect(),
                filters: d.filters,
            }
        }
        Type::AcceptInverseOffers | Type::DeclineInverseOffers => SchedulerCall::InverseOffers,
        Type::Revive => SchedulerCall::Revive {
            roles: call.revive.map(|r| r.roles).unwrap_or_default(),
        },
        Type::Suppress => SchedulerCall::Suppress {
            roles: call.suppress.map(|s| s.roles).unwrap_or_default(),
        },
        Type::Kill => {
            let k = call.kill.ok_or_else(|| missing("kill"))?;
            SchedulerCall::Kill {
                task_id: k.task_id.value,
                agent_id: k.agent_id.map(|a| a.value),
                kill_policy: k.kill_policy,
            }
        }
        Type::Shutdown => {
            let s = call.shutdown.ok_or_else(|| missing("shutdown"))?;
            SchedulerCall::Shutdown {
                executor_id: s.executor_id.value,
                agent_id: s.agent_id.value,
            }
        }
        Type::Acknowledge => {
            let a = call.acknowledge.ok_or_else(|| missing("acknowledge"))?;
            if uuid::Uuid::from_slice(&a.uuid).is_err() {
                return Err(invalid(format!(
                    "'acknowledge.uuid' must be a 16-byte UUID, not {} bytes\n",
                    a.uuid.len()
                )));
            }
            SchedulerCall::Acknowledge {
                agent_id: a.agent_id.value,
                task_id: a.task_id.value,
                uuid: a.uuid,
            }
        }
        Type::Reconcile => {
            let r = call.reconcile.ok_or_else(|| missing("reconcile"))?;
            SchedulerCall::Reconcile {
                tasks: r
                    .tasks
                    .into_iter()
                    .map(|t| (t.task_id.value, t.agent_id.map(|a| a.value)))
                    .collect(),
            }
        }
        Type::Message => {
            let m = call.message.ok_or_else(|| missing("message"))?;
            SchedulerCall::Message {
                agent_id: m.agent_id.value,
                executor_id: m.executor_id.value,
                data: m.data,
            }
        }
        Type::Request => SchedulerCall::Request,
        Type::UpdateFramework => {
            let u = call
                .update_framework
                .ok_or_else(|| missing("update_framework"))?;
            let info_id = u.framework_info.id.as_ref().map(|id| id.value.as_str());
            if info_id != framework_id.as_deref() {
                return Err(invalid(
                    "'update_framework.framework_info.id' must equal 'framework_id'\n",
                ));
            }
            SchedulerCall::UpdateFramework {
                info: u.framework_info,
                suppressed_roles: u.suppressed_roles,
            }
        }
        Type::AcknowledgeOperationStatus | Type::ReconcileOperations => {
            return Err(invalid(format!(
                "{} is not supported: this master offers no operation feedback \
                 (launch operations are reported through task status updates)\n",
                kind.as_str_name()
            )))
        }
    };
    Ok(ValidCall {
        framework_id: Some(needs_id()?),
        call,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_json(text: &str) -> Result<ValidCall, CallError> {
        decode(text.as_bytes(), Format::Json).and_then(validate)
    }

    #[test]
    fn media_types_are_read_as_mesos_does() {
        assert_eq!(request_format(Some("application/json")), Ok(Format::Json));
        assert_eq!(
            request_format(Some("application/json; charset=utf-8")),
            Ok(Format::Json)
        );
        assert_eq!(
            request_format(Some("application/x-protobuf")),
            Ok(Format::Protobuf)
        );
        assert!(matches!(
            request_format(Some("text/plain")),
            Err(CallError::UnsupportedMediaType(m)) if m.contains("text/plain")
        ));
        assert!(matches!(
            request_format(None),
            Err(CallError::UnsupportedMediaType(_))
        ));
        assert_eq!(response_format(None), Ok(Format::Json));
        assert_eq!(response_format(Some("*/*")), Ok(Format::Json));
        assert_eq!(
            response_format(Some("application/x-protobuf")),
            Ok(Format::Protobuf)
        );
        assert_eq!(
            response_format(Some("application/json;q=0.5, application/x-protobuf")),
            Ok(Format::Protobuf)
        );
        assert!(matches!(
            response_format(Some("text/html")),
            Err(CallError::NotAcceptable(_))
        ));
        assert!(matches!(
            response_format(Some("application/json;q=0")),
            Err(CallError::NotAcceptable(_))
        ));
    }

    #[test]
    fn a_first_subscribe_needs_no_framework_id() {
        let c = call_json(
            r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}"#,
        )
        .unwrap();
        assert_eq!(c.framework_id, None);
        assert!(c.is_subscribe());
    }

    #[test]
    fn a_resubscribe_s_ids_must_agree() {
        let err = call_json(
            r#"{"type":"SUBSCRIBE","framework_id":{"value":"a"},
                "subscribe":{"framework_info":{"user":"u","name":"n","id":{"value":"b"}}}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("differs"), "{err}");
        let err = call_json(
            r#"{"type":"SUBSCRIBE",
                "subscribe":{"framework_info":{"user":"u","name":"n","id":{"value":"b"}}}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("framework_id"), "{err}");
    }

    #[test]
    fn calls_other_than_subscribe_need_a_framework_id_and_their_message() {
        let err = call_json(r#"{"type":"REVIVE"}"#).unwrap_err();
        assert!(err.to_string().contains("framework_id"), "{err}");
        let err = call_json(r#"{"type":"KILL","framework_id":{"value":"f"}}"#).unwrap_err();
        assert!(err.to_string().contains("'kill'"), "{err}");
        let ok = call_json(r#"{"type":"REVIVE","framework_id":{"value":"f"}}"#).unwrap();
        assert_eq!(ok.call, SchedulerCall::Revive { roles: vec![] });
    }

    #[test]
    fn unknown_and_missing_types_are_refused() {
        for body in [
            r#"{"type":"UNKNOWN","framework_id":{"value":"f"}}"#,
            r#"{"framework_id":{"value":"f"}}"#,
        ] {
            assert!(
                matches!(call_json(body), Err(CallError::Invalid(_))),
                "{body}"
            );
        }
        let err = call_json(r#"{"type":"NO_SUCH_CALL"}"#).unwrap_err();
        assert!(matches!(err, CallError::Invalid(_)), "{err}");
    }

    #[test]
    fn an_acknowledgement_needs_a_real_uuid() {
        let err = call_json(
            r#"{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":
                {"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAA"}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("16-byte"), "{err}");
        let ok = call_json(
            r#"{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":
                {"agent_id":{"value":"a"},"task_id":{"value":"t"},
                 "uuid":"AAECAwQFBgcICQoLDA0ODw=="}}"#,
        )
        .unwrap();
        assert!(matches!(ok.call, SchedulerCall::Acknowledge { ref uuid, .. } if uuid.len() == 16));
    }

    #[test]
    fn malformed_bodies_are_400s_naming_the_problem() {
        for body in ["", "{", "[]", r#"{"type":"KILL","kill":{"task_id":5}}"#] {
            let err = decode(body.as_bytes(), Format::Json).and_then(validate);
            assert!(matches!(err, Err(CallError::Invalid(_))), "{body}: {err:?}");
        }
        let err = decode(&[0xff, 0xff, 0xff], Format::Protobuf).unwrap_err();
        assert!(matches!(err, CallError::Invalid(_)));
    }

    #[test]
    fn operation_feedback_calls_are_refused_with_the_reason() {
        let err = call_json(
            r#"{"type":"RECONCILE_OPERATIONS","framework_id":{"value":"f"},
                "reconcile_operations":{}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
    }
}
