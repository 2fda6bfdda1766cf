//! What a nemesis record of the history holds (the `value` of an `info`
//! record on the nemesis process): which nemesis acted, when the action
//! began, whether the fault was put in place, and what it did.
//!
//! The runner and the workloads' own final faults write these records; the
//! report's fault windows and the checkers that excuse faults read them.
//! Reading is lenient, field by field: a history written by an older
//! harness, or a malformed one, reads as what it holds (a field of the
//! wrong type reads as absent) and never panics.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NemesisRecord {
    /// The nemesis (`heal` for the harness's heal at the end; `?` when
    /// a malformed record does not say).
    #[serde(default = "unnamed", deserialize_with = "lenient_name")]
    pub nemesis: String,
    /// The schedule step's seed.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub seed: Option<u64>,
    /// When the action began; the record is written when it is done.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub began_ns: Option<u64>,
    /// For a start: whether the fault was put in place (absent in records
    /// of older harnesses, which then count as injected unless the record
    /// carries an error).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub injected: Option<bool>,
    /// Why a start changed nothing.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
    /// A workload's own final fault (durability's kill-all after the run),
    /// not part of the schedule.
    #[serde(
        rename = "final",
        default,
        deserialize_with = "lenient_flag",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub final_phase: bool,
    /// What the action did, in the nemesis's own terms.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

fn unnamed() -> String {
    "?".to_string()
}

fn lenient<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

fn lenient_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(lenient::<D, String>(d)?.unwrap_or_else(unnamed))
}

fn lenient_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(lenient::<D, bool>(d)?.unwrap_or(false))
}

impl NemesisRecord {
    pub fn new(nemesis: &str) -> Self {
        NemesisRecord {
            nemesis: nemesis.to_string(),
            ..Default::default()
        }
    }

    pub fn with_value(mut self, value: Value) -> Self {
        self.value = value;
        self
    }

    pub fn began_at(mut self, began_ns: u64) -> Self {
        self.began_ns = Some(began_ns);
        self
    }

    /// Marks a workload's own final fault.
    pub fn final_phase(mut self) -> Self {
        self.final_phase = true;
        self
    }

    /// The record a nemesis op's value holds (see the module doc for
    /// malformed ones).
    pub fn of(value: &Value) -> NemesisRecord {
        NemesisRecord::deserialize(value).unwrap_or_else(|_| NemesisRecord::new("?"))
    }

    /// As the history stores it.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::history::{Op, OpType, Process};

    fn op(value: Value) -> Op {
        Op {
            index: 0,
            process: Process::Nemesis,
            kind: OpType::Info,
            f: "start".into(),
            key: None,
            value,
            time: 5,
            node: None,
            error: None,
        }
    }

    #[test]
    fn records_round_trip_and_keep_their_layout() {
        let r = NemesisRecord {
            seed: Some(3),
            injected: Some(true),
            ..NemesisRecord::new("kill")
                .began_at(4)
                .with_value(json!({"killed": [1]}))
        };
        let v = r.to_value();
        assert_eq!(
            v,
            json!({"nemesis": "kill", "seed": 3, "began_ns": 4, "injected": true,
                   "value": {"killed": [1]}})
        );
        assert_eq!(NemesisRecord::of(&op(v).value), r);
        let f = NemesisRecord::new("kill-all").final_phase().to_value();
        assert_eq!(f, json!({"nemesis": "kill-all", "final": true}));
    }

    #[test]
    fn malformed_fields_read_as_absent() {
        let r = NemesisRecord::of(
            &op(json!({"nemesis": "pause", "began_ns": "soon",
                                             "injected": 1, "final": "yes"}))
            .value,
        );
        assert_eq!(r, NemesisRecord::new("pause"));
        assert_eq!(NemesisRecord::of(&op(json!([1, 2])).value).nemesis, "?");
        assert_eq!(
            NemesisRecord::of(&op(json!({"nemesis": 7})).value).nemesis,
            "?"
        );
    }
}
