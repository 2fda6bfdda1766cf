//! JSON -> message, by the message's descriptor (stout's
//! `protobuf::parse`), plus the recursive check of required fields.

use std::collections::HashMap;

use base64::Engine;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage, Value,
};
use serde_json::Value as Json;

use super::JsonError;

/// Reads `value` as a message of type `desc`, then checks that every
/// required field is present.
pub(super) fn message_from_json(
    desc: &MessageDescriptor,
    value: &Json,
) -> Result<DynamicMessage, JsonError> {
    let Json::Object(object) = value else {
        return Err(JsonError::NotAnObject {
            message: desc.full_name().to_string(),
            found: json_type(value),
        });
    };
    let message = parse_message(desc, object, "")?;
    let mut missing = Vec::new();
    missing_required(&message, "", &mut missing);
    if missing.is_empty() {
        Ok(message)
    } else {
        Err(JsonError::MissingRequired(missing))
    }
}

fn json_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn field_error(path: &str, problem: impl Into<String>) -> JsonError {
    JsonError::Field {
        path: path.to_string(),
        problem: problem.into(),
    }
}

fn parse_message(
    desc: &MessageDescriptor,
    object: &serde_json::Map<String, Json>,
    prefix: &str,
) -> Result<DynamicMessage, JsonError> {
    let mut message = DynamicMessage::new(desc.clone());
    for (name, value) in object {
        // Fields by their proto names only; anything else is ignored.
        let Some(field) = desc.get_field_by_name(name) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let path = join(prefix, name);
        let parsed = if field.is_map() {
            Some(parse_map(&field, value, &path)?)
        } else if field.is_list() {
            Some(parse_list(&field, value, &path)?)
        } else {
            parse_single(&field.kind(), value, &path, field.is_required())?
        };
        if let Some(parsed) = parsed {
            message
                .try_set_field(&field, parsed)
                .map_err(|e| field_error(&path, e.to_string()))?;
        }
    }
    Ok(message)
}

/// A repeated field: an array, or (as stout allows) a single element.
fn parse_list(field: &FieldDescriptor, value: &Json, path: &str) -> Result<Value, JsonError> {
    let kind = field.kind();
    let elements: &[Json] = match value {
        Json::Array(items) => items,
        single => std::slice::from_ref(single),
    };
    let mut list = Vec::with_capacity(elements.len());
    for (i, element) in elements.iter().enumerate() {
        if element.is_null() {
            continue;
        }
        // An enum name this side does not know is dropped (proto2).
        if let Some(v) = parse_single(&kind, element, &format!("{path}[{i}]"), false)? {
            list.push(v);
        }
    }
    Ok(Value::List(list))
}

fn parse_map(field: &FieldDescriptor, value: &Json, path: &str) -> Result<Value, JsonError> {
    let Json::Object(object) = value else {
        return Err(field_error(
            path,
            format!("expecting an object (a map), found {}", json_type(value)),
        ));
    };
    let Kind::Message(entry) = field.kind() else {
        return Err(field_error(path, "map field without an entry type"));
    };
    let key_kind = entry.map_entry_key_field().kind();
    let value_kind = entry.map_entry_value_field().kind();
    let mut map = HashMap::with_capacity(object.len());
    for (key, v) in object {
        let entry_path = format!("{path}[{key}]");
        let key = map_key(&key_kind, key, &entry_path)?;
        if v.is_null() {
            continue;
        }
        if let Some(v) = parse_single(&value_kind, v, &entry_path, false)? {
            map.insert(key, v);
        }
    }
    Ok(Value::Map(map))
}

fn map_key(kind: &Kind, key: &str, path: &str) -> Result<MapKey, JsonError> {
    let bad = || field_error(path, format!("map key {key:?} is not a {kind:?}"));
    Ok(match kind {
        Kind::String => MapKey::String(key.to_string()),
        Kind::Bool => MapKey::Bool(key.parse().map_err(|_| bad())?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(key.parse().map_err(|_| bad())?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(key.parse().map_err(|_| bad())?),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(key.parse().map_err(|_| bad())?),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(key.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    })
}

/// One value of `kind`. `None`: an enum name this side does not know on a
/// field that is not required (proto2 leaves such a field unset).
fn parse_single(
    kind: &Kind,
    value: &Json,
    path: &str,
    required: bool,
) -> Result<Option<Value>, JsonError> {
    let wrong = |expected: &str| {
        field_error(
            path,
            format!("expecting {expected}, found {}", json_type(value)),
        )
    };
    let parsed = match kind {
        Kind::Message(desc) => match value {
            Json::Object(object) => Value::Message(parse_message(desc, object, path)?),
            _ => return Err(wrong("an object")),
        },
        Kind::String => match value {
            Json::String(s) => Value::String(s.clone()),
            _ => return Err(wrong("a string")),
        },
        Kind::Bytes => match value {
            Json::String(s) => {
                Value::Bytes(decode_base64(s).map_err(|e| field_error(path, e))?.into())
            }
            _ => return Err(wrong("a base64 string")),
        },
        Kind::Bool => match value {
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) if s == "true" => Value::Bool(true),
            Json::String(s) if s == "false" => Value::Bool(false),
            _ => return Err(wrong("a boolean")),
        },
        Kind::Enum(desc) => {
            let found = match value {
                Json::String(name) => desc.get_value_by_name(name),
                Json::Number(n) => n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .and_then(|n| desc.get_value(n)),
                _ => return Err(wrong("an enum value name")),
            };
            match found {
                Some(v) => Value::EnumNumber(v.number()),
                None if required => {
                    return Err(field_error(
                        path,
                        format!("{value} is not a value of enum {}", desc.full_name()),
                    ))
                }
                None => return Ok(None),
            }
        }
        Kind::Double | Kind::Float => {
            let x = floating(value).ok_or_else(|| wrong("a number"))?;
            if matches!(kind, Kind::Float) {
                Value::F32(x as f32)
            } else {
                Value::F64(x)
            }
        }
        integer => {
            let n = number(value).ok_or_else(|| wrong("an integer"))?;
            integer_value(integer, &n).ok_or_else(|| {
                field_error(path, format!("{n} is not an integer that fits {integer:?}"))
            })?
        }
    };
    Ok(Some(parsed))
}

/// Standard base64, read as leniently as stout's decoder: whitespace is
/// skipped, everything from the first `=` on is ignored, and the unused
/// bits of the last character need not be zero. Anything else outside
/// the alphabet is an error.
fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        general_purpose::NO_PAD
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    let before_padding = s.split('=').next().unwrap_or_default();
    let mut symbols: Vec<u8> = before_padding
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    // A lone last symbol holds no whole byte: stout drops it.
    if symbols.len() % 4 == 1 {
        symbols.pop();
    }
    LENIENT
        .decode(&symbols)
        .map_err(|e| format!("not valid base64: {e}"))
}

/// A JSON number, or a string holding one (stout accepts both).
fn number(value: &Json) -> Option<serde_json::Number> {
    match value {
        Json::Number(n) => Some(n.clone()),
        Json::String(s) => serde_json::from_str::<serde_json::Number>(s.trim()).ok(),
        _ => None,
    }
}

fn floating(value: &Json) -> Option<f64> {
    if let Json::String(s) = value {
        match s.trim() {
            "Infinity" => return Some(f64::INFINITY),
            "-Infinity" => return Some(f64::NEG_INFINITY),
            "NaN" => return Some(f64::NAN),
            _ => {}
        }
    }
    number(value)?.as_f64()
}

/// `n` as the integer `kind`, if it is integral and in range.
fn integer_value(kind: &Kind, n: &serde_json::Number) -> Option<Value> {
    let as_i128 = if let Some(i) = n.as_i64() {
        i128::from(i)
    } else if let Some(u) = n.as_u64() {
        i128::from(u)
    } else {
        let x = n.as_f64()?;
        // Integral floats ("1e3", 5.0) within the 64-bit range.
        if x.fract() != 0.0 || !x.is_finite() || x.abs() > 1.8e19 {
            return None;
        }
        x as i128
    };
    Some(match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(i32::try_from(as_i128).ok()?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(i64::try_from(as_i128).ok()?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(u32::try_from(as_i128).ok()?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(u64::try_from(as_i128).ok()?),
        _ => return None,
    })
}

/// Appends the path of every required field missing in `message` or in
/// any message it holds (`task_id.value`, `resources[1].name`).
pub(super) fn missing_required(message: &DynamicMessage, prefix: &str, out: &mut Vec<String>) {
    for field in message.descriptor().fields() {
        let path = join(prefix, field.name());
        if field.is_required() && !message.has_field(&field) {
            out.push(path);
            continue;
        }
        if !matches!(field.kind(), Kind::Message(_)) || !message.has_field(&field) {
            continue;
        }
        match message.get_field(&field).as_ref() {
            Value::Message(inner) => missing_required(inner, &path, out),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(inner) = item {
                        missing_required(inner, &format!("{path}[{i}]"), out);
                    }
                }
            }
            Value::Map(entries) => {
                let mut keys: Vec<&MapKey> = entries.keys().collect();
                keys.sort();
                for key in keys {
                    if let Some(Value::Message(inner)) = entries.get(key) {
                        missing_required(inner, &format!("{path}[{}]", map_key_text(key)), out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn map_key_text(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}
