//! JSON objects from outside, read so that no key counts twice.
//!
//! serde_json keeps the last of two equal keys, other parsers the first:
//! `{"alg": "none", "alg": "HS256"}` in a token, or `{"upload_all": false,
//! "upload_all": true}` in a request, would mean one thing here and another
//! to whoever else reads it. So a key repeated at the top level is refused,
//! wherever an object comes from (keys are compared after JSON unescaping:
//! `"a\u006cg"` is `alg`). Nesting is bounded by serde_json's recursion
//! limit, so a deeply nested value is an error, not a stack overflow.

use std::fmt;

use serde_json::{Map, Value};
use thiserror::Error;

/// Why bytes are not one JSON object with distinct keys.
#[derive(Debug, Error)]
pub enum ObjectError {
    /// The bytes are not valid JSON.
    #[error("not valid JSON: {0}")]
    Invalid(serde_json::Error),
    /// What it is instead: "an array", "a string", ...
    #[error("a JSON object was expected, not {0}")]
    NotAnObject(&'static str),
    /// The object gives this key more than once.
    #[error("the key {0:?} is given more than once")]
    RepeatedKey(String),
}

/// The JSON object in `bytes`, if it is one and repeats no key.
pub fn unique_object(bytes: &[u8]) -> Result<Map<String, Value>, ObjectError> {
    match serde_json::from_slice::<UniqueKeys>(bytes) {
        Ok(UniqueKeys {
            object,
            repeated: None,
        }) => Ok(object),
        Ok(UniqueKeys {
            repeated: Some(key),
            ..
        }) => Err(ObjectError::RepeatedKey(key)),
        // Read again only to say what was wrong.
        Err(_) => match serde_json::from_slice::<Value>(bytes) {
            Err(e) => Err(ObjectError::Invalid(e)),
            Ok(value) => Err(ObjectError::NotAnObject(json_type(&value))),
        },
    }
}

/// "a string", "an array", ... for messages about wrong types.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object read entry by entry, noting the first key that came
/// twice. Anything but an object fails to deserialize.
struct UniqueKeys {
    object: Map<String, Value>,
    repeated: Option<String>,
}

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut entries: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut object = Map::new();
                let mut repeated = None;
                // Every entry is read, even after a repeat, so that the
                // parser still sees the whole object through to its end.
                while let Some((key, value)) = entries.next_entry::<String, Value>()? {
                    if object.contains_key(&key) && repeated.is_none() {
                        repeated = Some(key.clone());
                    }
                    object.insert(key, value);
                }
                Ok(UniqueKeys { object, repeated })
            }
        }

        deserializer.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_read_only_if_no_key_repeats() {
        assert_eq!(
            unique_object(br#"{"a": 1, "b": {"a": 2}}"#).unwrap().len(),
            2
        );
        for (bytes, says) in [
            (&br#"{"a": 1, "a": 2}"#[..], "\"a\" is given more than once"),
            (
                br#"{"a\u0062": 1, "ab": 2}"#,
                "\"ab\" is given more than once",
            ),
            (b"[1]", "not an array"),
            (b"\"x\"", "not a string"),
            (b"{", "not valid JSON"),
        ] {
            let error = unique_object(bytes).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            unique_object(deep.as_bytes()),
            Err(ObjectError::Invalid(_))
        ));
    }
}
