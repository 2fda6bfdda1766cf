//! The scheduler events a master sends, built as `mesos.v1.scheduler.Event`
//! messages and framed as RecordIO records in the stream's format.

use mesoraft_proto::mesos::v1::scheduler::{event, Event};
use mesoraft_proto::mesos::v1::{
    AgentId, ExecutorId, FrameworkId, MasterInfo, Offer, OfferId, TaskStatus,
};

use super::call::Format;

pub fn subscribed(framework_id: &str, heartbeat_secs: f64, master: MasterInfo) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId {
                value: framework_id.to_string(),
            },
            heartbeat_interval_seconds: Some(heartbeat_secs),
            master_info: Some(master),
        }),
        ..Event::default()
    }
}

pub fn heartbeat() -> Event {
    Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Event::default()
    }
}

pub fn error(message: &str) -> Event {
    Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: message.to_string(),
        }),
        ..Event::default()
    }
}

pub fn offers(offers: Vec<Offer>) -> Event {
    Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers { offers }),
        ..Event::default()
    }
}

pub fn rescind(offer_id: &str) -> Event {
    Event {
        r#type: Some(event::Type::Rescind as i32),
        rescind: Some(event::Rescind {
            offer_id: OfferId {
                value: offer_id.to_string(),
            },
        }),
        ..Event::default()
    }
}

pub fn update(status: TaskStatus) -> Event {
    Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update { status }),
        ..Event::default()
    }
}

pub fn message(agent_id: &str, executor_id: &str, data: Vec<u8>) -> Event {
    Event {
        r#type: Some(event::Type::Message as i32),
        message: Some(event::Message {
            agent_id: AgentId {
                value: agent_id.to_string(),
            },
            executor_id: ExecutorId {
                value: executor_id.to_string(),
            },
            data,
        }),
        ..Event::default()
    }
}

/// FAILURE: an agent was lost (`executor_id` None) or an executor ended.
pub fn failure(agent_id: &str, executor_id: Option<&str>, status: Option<i32>) -> Event {
    Event {
        r#type: Some(event::Type::Failure as i32),
        failure: Some(event::Failure {
            agent_id: Some(AgentId {
                value: agent_id.to_string(),
            }),
            executor_id: executor_id.map(|e| ExecutorId {
                value: e.to_string(),
            }),
            status,
        }),
        ..Event::default()
    }
}

/// One RecordIO record: `<decimal length>\n<that many bytes>` (also the
/// operator API's event stream).
pub fn record<M: prost::Message + prost::Name>(event: &M, format: Format) -> Vec<u8> {
    let payload = match format {
        Format::Json => mesoraft_proto::json::to_json_string(event).into_bytes(),
        Format::Protobuf => event.encode_to_vec(),
    };
    let mut out = format!("{}\n", payload.len()).into_bytes();
    out.extend_from_slice(&payload);
    out
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn a_record_is_its_length_a_newline_and_the_event_in_mesos_json() {
        let bytes = record(&heartbeat(), Format::Json);
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text, "20\n{\"type\":\"HEARTBEAT\"}");
    }

    #[test]
    fn a_protobuf_record_decodes_back() {
        let e = error("Framework has been removed");
        let bytes = record(&e, Format::Protobuf);
        let newline = bytes.iter().position(|b| *b == b'\n').unwrap();
        let len: usize = std::str::from_utf8(&bytes[..newline])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, bytes.len() - newline - 1);
        assert_eq!(Event::decode(&bytes[newline + 1..]).unwrap(), e);
    }

    #[test]
    fn subscribed_carries_the_id_the_heartbeat_and_the_master() {
        let json =
            mesoraft_proto::json::to_json(&subscribed("c-0001", 15.0, MasterInfo::default()));
        assert_eq!(json["type"], "SUBSCRIBED");
        assert_eq!(json["subscribed"]["framework_id"]["value"], "c-0001");
        assert_eq!(json["subscribed"]["heartbeat_interval_seconds"], 15.0);
    }
}
