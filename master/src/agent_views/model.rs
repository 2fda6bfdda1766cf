//! Mesos's v0 "model" of resources and attributes (`common/http.cpp`): one
//! flat object, scalars as numbers, ranges as `"[31000-32000, 33000-34000]"`,
//! sets as `"{a, b}"`. The v0 endpoints (`/master/slaves`, `/master/state`)
//! show agents this way.

use std::collections::BTreeMap;

use mesoraft_proto::mesos::v1::{value, Attribute, Resource};
use serde::Serialize;

/// One value of a model: a number or Mesos's text form.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ModelValue {
    Number(f64),
    Text(String),
}

/// A model object, by resource or attribute name.
pub type Model = BTreeMap<String, ModelValue>;

/// The resources model: scalars summed, ranges merged, sets united, per
/// name. `cpus`, `gpus`, `mem` and `disk` are always present (0 when
/// absent), as Mesos keeps them for old clients.
pub fn resources(resources: &[Resource]) -> Model {
    let mut scalars: BTreeMap<&str, f64> = ["cpus", "gpus", "mem", "disk"]
        .into_iter()
        .map(|name| (name, 0.0))
        .collect();
    let mut ranges: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    let mut sets: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in resources {
        match r.r#type() {
            value::Type::Scalar => {
                let x = r.scalar.as_ref().map_or(0.0, |s| s.value);
                *scalars.entry(&r.name).or_default() += x;
            }
            value::Type::Ranges => ranges.entry(&r.name).or_default().extend(
                r.ranges
                    .iter()
                    .flat_map(|rs| rs.range.iter().map(|x| (x.begin, x.end))),
            ),
            value::Type::Set => {
                let items = sets.entry(&r.name).or_default();
                for item in r.set.iter().flat_map(|s| s.item.iter()) {
                    if !items.contains(&item.as_str()) {
                        items.push(item);
                    }
                }
            }
            value::Type::Text => {}
        }
    }
    let mut model = Model::new();
    for (name, x) in scalars {
        model.insert(name.to_string(), ModelValue::Number(fixed(x)));
    }
    for (name, list) in ranges {
        model.insert(
            name.to_string(),
            ModelValue::Text(ranges_text(&coalesce(list))),
        );
    }
    for (name, items) in sets {
        model.insert(
            name.to_string(),
            ModelValue::Text(set_text(items.into_iter())),
        );
    }
    model
}

/// The attributes model: each attribute by name, in its own type.
pub fn attributes(attributes: &[Attribute]) -> Model {
    attributes
        .iter()
        .map(|a| {
            let v = match a.r#type() {
                value::Type::Scalar => {
                    ModelValue::Number(a.scalar.as_ref().map_or(0.0, |s| s.value))
                }
                value::Type::Ranges => ModelValue::Text(ranges_text(
                    &a.ranges
                        .iter()
                        .flat_map(|rs| rs.range.iter().map(|x| (x.begin, x.end)))
                        .collect::<Vec<_>>(),
                )),
                value::Type::Set => ModelValue::Text(set_text(
                    a.set.iter().flat_map(|s| s.item.iter().map(String::as_str)),
                )),
                value::Type::Text => {
                    ModelValue::Text(a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default())
                }
            };
            (a.name.clone(), v)
        })
        .collect()
}

/// Mesos keeps scalar resources to three decimals.
fn fixed(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Sorted, overlapping and adjacent ranges merged.
fn coalesce(mut list: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    list.retain(|(b, e)| b <= e);
    list.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(list.len());
    for (b, e) in list {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

fn ranges_text(list: &[(u64, u64)]) -> String {
    let parts: Vec<String> = list.iter().map(|(b, e)| format!("{b}-{e}")).collect();
    format!("[{}]", parts.join(", "))
}

fn set_text<'a>(items: impl Iterator<Item = &'a str>) -> String {
    format!("{{{}}}", items.collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use mesoraft_proto::mesos::v1::value::{Range, Ranges, Scalar, Set, Text};

    use super::*;

    fn scalar(name: &str, x: f64) -> Resource {
        Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(Scalar { value: x }),
            ..Resource::default()
        }
    }

    fn ports(list: &[(u64, u64)]) -> Resource {
        Resource {
            name: "ports".into(),
            r#type: value::Type::Ranges as i32,
            ranges: Some(Ranges {
                range: list
                    .iter()
                    .map(|&(begin, end)| Range { begin, end })
                    .collect(),
            }),
            ..Resource::default()
        }
    }

    fn json(model: &Model) -> serde_json::Value {
        serde_json::to_value(model).unwrap()
    }

    #[test]
    fn resources_as_mesos_models_them() {
        let model = resources(&[
            scalar("cpus", 2.0),
            scalar("cpus", 0.5),
            scalar("mem", 1024.0001),
            ports(&[(32001, 33000), (31000, 32000)]),
            ports(&[(40000, 40010)]),
            Resource {
                name: "zones".into(),
                r#type: value::Type::Set as i32,
                set: Some(Set {
                    item: vec!["a".into(), "b".into()],
                }),
                ..Resource::default()
            },
        ]);
        assert_eq!(
            json(&model),
            serde_json::json!({
                "cpus": 2.5, "gpus": 0.0, "mem": 1024.0, "disk": 0.0,
                "ports": "[31000-33000, 40000-40010]",
                "zones": "{a, b}"
            })
        );
        assert_eq!(
            json(&resources(&[])),
            serde_json::json!({"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0})
        );
    }

    #[test]
    fn attributes_keep_their_types() {
        let attribute = |name: &str, t: value::Type| Attribute {
            name: name.into(),
            r#type: t as i32,
            ..Attribute::default()
        };
        let model = attributes(&[
            Attribute {
                text: Some(Text { value: "r1".into() }),
                ..attribute("rack", value::Type::Text)
            },
            Attribute {
                scalar: Some(Scalar { value: 3.0 }),
                ..attribute("level", value::Type::Scalar)
            },
            Attribute {
                ranges: Some(Ranges {
                    range: vec![Range { begin: 1, end: 2 }, Range { begin: 5, end: 9 }],
                }),
                ..attribute("span", value::Type::Ranges)
            },
            Attribute {
                set: Some(Set {
                    item: vec!["x".into()],
                }),
                ..attribute("tags", value::Type::Set)
            },
        ]);
        assert_eq!(
            json(&model),
            serde_json::json!({"rack": "r1", "level": 3.0, "span": "[1-2, 5-9]", "tags": "{x}"})
        );
    }
}
