//! Message -> JSON, by the message's descriptor (stout's `JSON::protobuf`).

use base64::Engine;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, ReflectMessage, Value};
use serde_json::{Map, Number};

use super::{descriptor, JsonError};

/// The encoded message `bytes` of type `full_name` as JSON.
pub(super) fn message_json(full_name: &str, bytes: &[u8]) -> Result<serde_json::Value, JsonError> {
    let message = DynamicMessage::decode(descriptor(full_name)?, bytes).map_err(|e| {
        JsonError::Conversion {
            message: full_name.to_string(),
            problem: e.to_string(),
        }
    })?;
    Ok(message_value(&message))
}

fn message_value(message: &DynamicMessage) -> serde_json::Value {
    let mut object = Map::new();
    for field in message.descriptor().fields() {
        let value = message.get_field(&field);
        let json = match value.as_ref() {
            Value::List(items) if field.is_list() => {
                if items.is_empty() {
                    continue;
                }
                let kind = field.kind();
                serde_json::Value::Array(items.iter().map(|v| single_value(v, &kind)).collect())
            }
            Value::Map(entries) if field.is_map() => {
                if entries.is_empty() {
                    continue;
                }
                map_value(&field, entries)
            }
            single => {
                if !message.has_field(&field) && !written_by_default(&field) {
                    continue;
                }
                single_value(single, &field.kind())
            }
        };
        object.insert(field.name().to_string(), json);
    }
    serde_json::Value::Object(object)
}

/// Mesos writes an unset field that has an explicit default, unless the
/// field is deprecated.
fn written_by_default(field: &FieldDescriptor) -> bool {
    let proto = field.field_descriptor_proto();
    let deprecated = proto
        .options
        .as_ref()
        .and_then(|o| o.deprecated)
        .unwrap_or(false);
    proto.default_value.is_some() && !deprecated
}

fn map_value(
    field: &FieldDescriptor,
    entries: &std::collections::HashMap<MapKey, Value>,
) -> serde_json::Value {
    let value_kind = match field.kind() {
        Kind::Message(entry) => entry.map_entry_value_field().kind(),
        other => other,
    };
    let mut object = Map::new();
    for (key, value) in entries {
        let key = match key {
            MapKey::Bool(b) => b.to_string(),
            MapKey::I32(n) => n.to_string(),
            MapKey::I64(n) => n.to_string(),
            MapKey::U32(n) => n.to_string(),
            MapKey::U64(n) => n.to_string(),
            MapKey::String(s) => s.clone(),
        };
        object.insert(key, single_value(value, &value_kind));
    }
    serde_json::Value::Object(object)
}

fn single_value(value: &Value, kind: &Kind) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Bool(b) => J::Bool(*b),
        Value::I32(n) => J::Number((*n).into()),
        Value::I64(n) => J::Number((*n).into()),
        Value::U32(n) => J::Number((*n).into()),
        Value::U64(n) => J::Number((*n).into()),
        Value::F32(x) => float(f64::from(*x)),
        Value::F64(x) => float(*x),
        Value::String(s) => J::String(s.clone()),
        Value::Bytes(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::EnumNumber(number) => match kind {
            Kind::Enum(e) => match e.get_value(*number) {
                Some(v) => J::String(v.name().to_string()),
                None => J::Number((*number).into()),
            },
            _ => J::Number((*number).into()),
        },
        Value::Message(m) => message_value(m),
        // Lists and maps are fields, never elements of one another.
        Value::List(items) => J::Array(items.iter().map(|v| single_value(v, kind)).collect()),
        Value::Map(_) => J::Object(Map::new()),
    }
}

/// JSON has no infinities or NaN; they travel as the strings stout reads
/// back.
fn float(x: f64) -> serde_json::Value {
    match Number::from_f64(x) {
        Some(n) => serde_json::Value::Number(n),
        None if x.is_nan() => serde_json::Value::String("NaN".into()),
        None if x > 0.0 => serde_json::Value::String("Infinity".into()),
        None => serde_json::Value::String("-Infinity".into()),
    }
}

/// Compact, single-line JSON with every non-ASCII character escaped
/// (`\uXXXX`, surrogate pairs beyond the BMP), as Mesos writes it.
pub fn to_ascii_string(value: &serde_json::Value) -> String {
    use serde::Serialize;
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, AsciiFormatter);
    if value.serialize(&mut serializer).is_err() {
        // Writing a `Value` into memory cannot fail; keep the signature
        // infallible anyway.
        return "null".into();
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// serde_json's compact format, escaping every non-ASCII character.
struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> std::io::Result<()>
    where
        W: ?Sized + std::io::Write,
    {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}
