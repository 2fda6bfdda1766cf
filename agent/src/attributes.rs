//! `--attributes`: Mesos's text form of an agent's attributes
//! (`rack:r1;zone:a;level:3;slots:[1-4];tags:{x,y}`) into
//! `mesos.v1.Attribute`s. As in Mesos's `Attributes::parse`, items are
//! separated by `;` (or newlines) and split at their first `:`, so a value
//! may itself contain `:` (`url:http://x`); a value is a scalar, ranges or
//! a set when it parses as one, else text.
//!
//! Refused, with the item named: an item without `:`, an empty name, an
//! empty or malformed value, and a name given twice (Mesos would keep both,
//! which leaves constraints on that name ambiguous).

use mesoraft_proto::mesos::v1::value::{self, Scalar, Text};
use mesoraft_proto::mesos::v1::Attribute;

use crate::value::{format_ranges, format_set, parse_value, ParsedValue, ValueError};

/// The right form, shown with syntax errors.
pub const ATTRIBUTES_FORM: &str =
    "write NAME:VALUE items separated by ';', e.g. rack:r1;zone:a;level:3;slots:[1-4];tags:{x,y}";

/// Why `--attributes` was refused; each names the item.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttributesError {
    #[error("attribute {item:?} is not NAME:VALUE; {ATTRIBUTES_FORM}")]
    Syntax { item: String },
    #[error("attribute {item:?} has no name; {ATTRIBUTES_FORM}")]
    EmptyName { item: String },
    #[error("attribute {item:?} has a bad name: {c:?} is not allowed in a name")]
    BadName { item: String, c: char },
    #[error("attribute {item:?}: {source}")]
    Value { item: String, source: ValueError },
    #[error("attribute {name:?} is given twice ({first:?} and {second:?}); give each name once")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
}

/// Parses `--attributes` text (see the module doc). Empty items are
/// skipped.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, AttributesError> {
    let mut parsed: Vec<(Attribute, String)> = Vec::new();
    for item in text
        .split([';', '\n'])
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        let attribute = parse_item(item)?;
        if let Some((_, first)) = parsed.iter().find(|(a, _)| a.name == attribute.name) {
            return Err(AttributesError::Duplicate {
                name: attribute.name,
                first: first.clone(),
                second: item.to_string(),
            });
        }
        parsed.push((attribute, item.to_string()));
    }
    Ok(parsed.into_iter().map(|(a, _)| a).collect())
}

fn parse_item(item: &str) -> Result<Attribute, AttributesError> {
    let (name, value_text) = item
        .split_once(':')
        .ok_or_else(|| AttributesError::Syntax { item: item.into() })?;
    let name = name.trim();
    if name.is_empty() {
        return Err(AttributesError::EmptyName { item: item.into() });
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "()[]{}:;,".contains(*c))
    {
        return Err(AttributesError::BadName {
            item: item.into(),
            c,
        });
    }
    let value = parse_value(value_text).map_err(|source| AttributesError::Value {
        item: item.into(),
        source,
    })?;
    let mut attribute = Attribute {
        name: name.to_string(),
        ..Attribute::default()
    };
    match value {
        ParsedValue::Scalar(v) => {
            attribute.set_type(value::Type::Scalar);
            attribute.scalar = Some(Scalar { value: v });
        }
        ParsedValue::Ranges(range) => {
            attribute.set_type(value::Type::Ranges);
            attribute.ranges = Some(value::Ranges { range });
        }
        ParsedValue::Set(item) => {
            attribute.set_type(value::Type::Set);
            attribute.set = Some(value::Set { item });
        }
        ParsedValue::Text(value) => {
            attribute.set_type(value::Type::Text);
            attribute.text = Some(Text { value });
        }
    }
    Ok(attribute)
}

/// `rack:r1`, `slots:[1-4]`: Mesos's rendering, readable back by
/// [`parse_attributes`].
pub fn format_attribute(attribute: &Attribute) -> String {
    let value = match attribute.r#type() {
        value::Type::Scalar => attribute
            .scalar
            .map(|s| s.value.to_string())
            .unwrap_or_default(),
        value::Type::Ranges => format_ranges(
            attribute
                .ranges
                .as_ref()
                .map(|r| r.range.as_slice())
                .unwrap_or_default(),
        ),
        value::Type::Set => format_set(
            attribute
                .set
                .as_ref()
                .map(|s| s.item.as_slice())
                .unwrap_or_default(),
        ),
        value::Type::Text => attribute
            .text
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_default(),
    };
    format!("{}:{value}", attribute.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_value_gets_its_type() {
        let list = parse_attributes("rack:r1;zone:a;level:3;slots:[1-4];tags:{x,y}").unwrap();
        let types: Vec<value::Type> = list.iter().map(|a| a.r#type()).collect();
        assert_eq!(
            types,
            [
                value::Type::Text,
                value::Type::Text,
                value::Type::Scalar,
                value::Type::Ranges,
                value::Type::Set
            ]
        );
        let rendered: Vec<String> = list.iter().map(format_attribute).collect();
        assert_eq!(
            rendered,
            ["rack:r1", "zone:a", "level:3", "slots:[1-4]", "tags:{x, y}"]
        );
        assert_eq!(list[2].scalar.unwrap().value, 3.0);
    }

    #[test]
    fn values_may_hold_colons_and_be_negative_and_items_end_at_newlines() {
        let list = parse_attributes(" url : http://x:80 \n temp:-4.5;").unwrap();
        assert_eq!(list[0].name, "url");
        assert_eq!(list[0].text.as_ref().unwrap().value, "http://x:80");
        assert_eq!(list[1].scalar.unwrap().value, -4.5);
        assert_eq!(parse_attributes("").unwrap(), vec![]);
    }

    #[test]
    fn each_refusal_names_the_item() {
        for text in [
            "rack",
            ":r1",
            "my rack:r1",
            "rack:",
            "slots:[4-1]",
            "tags:{x,x}",
            "a:[1-2",
        ] {
            let message = parse_attributes(&format!("zone:a;{text}"))
                .unwrap_err()
                .to_string();
            assert!(message.contains(&format!("{text:?}")), "{text}: {message}");
        }
    }

    #[test]
    fn a_name_given_twice_is_refused() {
        assert_eq!(
            parse_attributes("rack:r1;rack:r2"),
            Err(AttributesError::Duplicate {
                name: "rack".into(),
                first: "rack:r1".into(),
                second: "rack:r2".into()
            })
        );
    }
}
