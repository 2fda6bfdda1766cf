//! serde adapters for prost messages.
//!
//! The registry keeps Mesos's own protobuf types (so every component shares
//! one definition of `AgentInfo`, `FrameworkInfo`, ...), but the Raft log and
//! snapshots are serde documents. A message is embedded as its protobuf
//! encoding: base64 text in human-readable formats, raw bytes otherwise.
//! prost encodes fields in number order and maps are `BTreeMap`s (see
//! build.rs), so equal messages always encode to equal bytes.
//!
//! Use as `#[serde(with = "mesoraft_proto::serde_pb")]` on a message field,
//! or `serde_pb::vec` / `serde_pb::option` for repeated / optional ones.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use prost::Message;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<M: Message, S: Serializer>(msg: &M, ser: S) -> Result<S::Ok, S::Error> {
    let bytes = msg.encode_to_vec();
    if ser.is_human_readable() {
        ser.serialize_str(&BASE64.encode(bytes))
    } else {
        ser.serialize_bytes(&bytes)
    }
}

pub fn deserialize<'de, M: Message + Default, D: Deserializer<'de>>(de: D) -> Result<M, D::Error> {
    let bytes: Vec<u8> = if de.is_human_readable() {
        let text = String::deserialize(de)?;
        BASE64
            .decode(text.as_bytes())
            .map_err(|e| D::Error::custom(format!("protobuf field is not valid base64: {e}")))?
    } else {
        serde_bytes_vec(de)?
    };
    M::decode(bytes.as_slice()).map_err(|e| {
        D::Error::custom(format!(
            "cannot decode embedded {}: {e}",
            std::any::type_name::<M>()
        ))
    })
}

fn serde_bytes_vec<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<u8>, D::Error> {
    struct BytesVisitor;
    impl<'de> serde::de::Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("protobuf bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    de.deserialize_byte_buf(BytesVisitor)
}

/// `#[serde(with = "serde_pb::vec")]` for `Vec<M>`.
pub mod vec {
    use super::*;
    use serde::ser::SerializeSeq;

    struct Wrap<'a, M>(&'a M);
    impl<M: Message> serde::Serialize for Wrap<'_, M> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, s)
        }
    }
    struct Own<M>(M);
    impl<'de, M: Message + Default> Deserialize<'de> for Own<M> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::deserialize(d).map(Own)
        }
    }

    pub fn serialize<M: Message, S: Serializer>(msgs: &[M], ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(msgs.len()))?;
        for m in msgs {
            seq.serialize_element(&Wrap(m))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, M: Message + Default, D: Deserializer<'de>>(
        de: D,
    ) -> Result<Vec<M>, D::Error> {
        let items: Vec<Own<M>> = Vec::deserialize(de)?;
        Ok(items.into_iter().map(|o| o.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesos::v1::{AgentId, AgentInfo};
    use serde::Serialize;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(with = "crate::serde_pb")]
        info: AgentInfo,
        #[serde(with = "crate::serde_pb::vec")]
        many: Vec<AgentId>,
    }

    #[test]
    fn json_round_trip_is_exact() {
        let h = Holder {
            info: AgentInfo {
                hostname: "h1".into(),
                port: Some(5051),
                id: Some(AgentId {
                    value: "a-S1".into(),
                }),
                ..Default::default()
            },
            many: vec![AgentId { value: "x".into() }, AgentId { value: "y".into() }],
        };
        let text = serde_json::to_string(&h).unwrap();
        let back: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(h, back);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let bad = r#"{"info":"!!!not base64","many":[]}"#;
        assert!(serde_json::from_str::<Holder>(bad).is_err());
        let bad = r#"{"info":"/////w==","many":[]}"#;
        assert!(serde_json::from_str::<Holder>(bad).is_err());
    }
}
