//! A strict JSON tree for policy documents: members keep their order, and the same member twice
//! in one object is an error (serde_json's `Value` silently keeps the last one, which would let
//! a second `"Effect"` change what a statement means without anyone noticing).
//!
//! This module owns reading text into [`Json`]; it knows nothing of the policy grammar.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value as written. Numbers keep a textual form, since conditions compare text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Reads a whole document; the error is a sentence naming the line and column.
    pub(crate) fn parse(text: &str) -> Result<Json, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// What kind of value this is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        // A set, so that an object with thousands of members costs linear time, not quadratic.
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(de::Error::custom(format_args!(
                    "the member \"{name}\" appears twice in one object"
                )));
            }
            let value = map.next_value()?;
            members.push((name, value));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_types() {
        let json = Json::parse(r#"{"b": [1, 2.5, true, null], "a": "x"}"#).unwrap();
        assert_eq!(
            json,
            Json::Object(vec![
                (
                    "b".into(),
                    Json::Array(vec![
                        Json::Number("1".into()),
                        Json::Number("2.5".into()),
                        Json::Bool(true),
                        Json::Null
                    ])
                ),
                ("a".into(), Json::String("x".into())),
            ])
        );
    }

    #[test]
    fn refuses_duplicate_members_at_any_depth() {
        let err = Json::parse(r#"{"S": {"Effect": "Allow", "Effect": "Deny"}}"#).unwrap_err();
        assert!(err.contains("\"Effect\" appears twice"), "{err}");
        assert!(Json::parse(r#"{"a": 1, "a": 1}"#).is_err());
    }

    #[test]
    fn refuses_malformed_and_trailing_text() {
        assert!(Json::parse(r#"{"a": }"#).is_err());
        assert!(Json::parse(r#"{"a": 1} x"#).is_err());
        assert!(Json::parse("").is_err());
    }
}
