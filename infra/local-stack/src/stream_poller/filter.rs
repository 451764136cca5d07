//! The event source mapping's filter, for the subset of Lambda's pattern
//! syntax the template uses: objects that nest, and arrays of exact values
//! at the leaves.
//!
//! The semantics are Lambda's (and EventBridge's): a record matches when
//! every key of the pattern is present in the record and, at a leaf, the
//! record's value equals one of the listed values (when the record's value
//! is itself an array, one of its elements must). A missing key never
//! matches. Several filters match when any one does; no filter lets
//! everything through. Content filters (`{"prefix": ...}`, `{"exists": ...}`,
//! `{"anything-but": ...}`, numeric ranges) are refused when the pattern is
//! read, rather than silently matched differently from Lambda.

use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("the filter pattern is not JSON: {0}")]
    NotJson(String),
    #[error("the filter pattern must be a JSON object, at {0}")]
    NotAnObject(String),
    #[error("the filter pattern's value at {0} must be an array of values or an object")]
    BareValue(String),
    #[error("the filter pattern's array at {0} is empty: it would match nothing")]
    EmptyArray(String),
    #[error(
        "the filter pattern at {0} uses a content filter; the local poller matches exact values only"
    )]
    Unsupported(String),
}

/// One filter's pattern, checked when read.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPattern {
    fields: Vec<(String, Node)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// The record's value must equal one of these.
    Values(Vec<Value>),
    /// The record's value must be an object matching these fields.
    Object(Vec<(String, Node)>),
}

impl FilterPattern {
    /// Reads a pattern as the template writes it: a JSON string.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| FilterError::NotJson(e.to_string()))?;
        Self::from_json(&value)
    }

    /// Reads a pattern already parsed as JSON.
    pub fn from_json(value: &Value) -> Result<Self, FilterError> {
        match value {
            Value::Object(_) => Ok(Self {
                fields: object_fields(value, "")?,
            }),
            _ => Err(FilterError::NotAnObject("the top".into())),
        }
    }

    /// Whether `record` (a Lambda event record, as JSON) matches.
    pub fn matches(&self, record: &Value) -> bool {
        fields_match(&self.fields, record)
    }
}

/// Lambda's rule for a mapping's filters: any one matching lets the record
/// through; no filters at all let everything through.
pub fn matches_any(filters: &[FilterPattern], record: &Value) -> bool {
    filters.is_empty() || filters.iter().any(|filter| filter.matches(record))
}

fn object_fields(value: &Value, path: &str) -> Result<Vec<(String, Node)>, FilterError> {
    let Value::Object(map) = value else {
        return Err(FilterError::NotAnObject(path.to_owned()));
    };
    map.iter()
        .map(|(key, value)| {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let node = match value {
                Value::Object(_) => Node::Object(object_fields(value, &at)?),
                Value::Array(values) if values.is_empty() => {
                    return Err(FilterError::EmptyArray(at))
                }
                Value::Array(values) => {
                    if values.iter().any(|v| v.is_object() || v.is_array()) {
                        return Err(FilterError::Unsupported(at));
                    }
                    Node::Values(values.clone())
                }
                _ => return Err(FilterError::BareValue(at)),
            };
            Ok((key.clone(), node))
        })
        .collect()
}

fn fields_match(fields: &[(String, Node)], record: &Value) -> bool {
    let Value::Object(map) = record else {
        return false;
    };
    fields.iter().all(|(key, node)| match map.get(key) {
        None => false,
        Some(value) => node_matches(node, value),
    })
}

fn node_matches(node: &Node, value: &Value) -> bool {
    match node {
        Node::Object(fields) => fields_match(fields, value),
        Node::Values(allowed) => match value {
            Value::Array(items) => items.iter().any(|item| one_of(allowed, item)),
            _ => one_of(allowed, value),
        },
    }
}

fn one_of(allowed: &[Value], value: &Value) -> bool {
    allowed.iter().any(|candidate| match (candidate, value) {
        // 5 and 5.0 are the same number to Lambda's filter.
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => candidate == value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The template's pattern (see settings.rs's fixture).
    const PENDING: &str = r#"{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"synced_to_saas": {"S": ["false"]}}}}"#;

    fn record(event_name: &str, new_image: Option<Value>) -> Value {
        let mut dynamodb = json!({
            "Keys": {"id": {"S": "r1"}},
            "SequenceNumber": "100",
            "OldImage": {"id": {"S": "r1"}, "synced_to_saas": {"S": "false"}},
        });
        if let Some(image) = new_image {
            dynamodb["NewImage"] = image;
        }
        json!({"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb})
    }

    #[test]
    fn a_pending_insert_or_modify_passes() {
        let filter = FilterPattern::parse(PENDING).unwrap();
        let pending = json!({"id": {"S": "r1"}, "synced_to_saas": {"S": "false"}});
        assert!(filter.matches(&record("INSERT", Some(pending.clone()))));
        assert!(filter.matches(&record("MODIFY", Some(pending))));
    }

    #[test]
    fn a_modify_without_the_flag_a_remove_and_a_synced_image_do_not() {
        let filter = FilterPattern::parse(PENDING).unwrap();
        let removed = json!({"id": {"S": "r1"}});
        assert!(!filter.matches(&record("MODIFY", Some(removed))));
        // A REMOVE has no NewImage, and its name is not listed either.
        assert!(!filter.matches(&record("REMOVE", None)));
        let synced = json!({"id": {"S": "r1"}, "synced_to_saas": {"S": "true"}});
        assert!(!filter.matches(&record("MODIFY", Some(synced))));
        // The same value under another type is another value.
        let as_bool = json!({"id": {"S": "r1"}, "synced_to_saas": {"BOOL": false}});
        assert!(!filter.matches(&record("INSERT", Some(as_bool))));
    }

    #[test]
    fn a_listed_name_with_a_pending_old_image_only_does_not_pass() {
        // The pattern looks at NewImage: OldImage's flag must not count.
        let filter = FilterPattern::parse(PENDING).unwrap();
        assert!(!filter.matches(&record("MODIFY", None)));
    }

    #[test]
    fn arrays_in_the_record_match_when_one_element_does_and_numbers_by_value() {
        let filter = FilterPattern::parse(r#"{"tags": ["a"], "n": [5]}"#).unwrap();
        assert!(filter.matches(&json!({"tags": ["b", "a"], "n": 5.0})));
        assert!(!filter.matches(&json!({"tags": ["b"], "n": 5})));
        assert!(!filter.matches(&json!({"tags": ["a"], "n": 6})));
    }

    #[test]
    fn any_filter_lets_a_record_through_and_none_lets_all_through() {
        let inserts = FilterPattern::parse(r#"{"eventName": ["INSERT"]}"#).unwrap();
        let removes = FilterPattern::parse(r#"{"eventName": ["REMOVE"]}"#).unwrap();
        let filters = [inserts, removes];
        assert!(matches_any(&filters, &json!({"eventName": "REMOVE"})));
        assert!(!matches_any(&filters, &json!({"eventName": "MODIFY"})));
        assert!(matches_any(&[], &json!({"eventName": "MODIFY"})));
    }

    #[test]
    fn patterns_outside_the_subset_are_refused_when_read() {
        assert_eq!(
            FilterPattern::parse(r#"{"dynamodb": {"NewImage": {"x": {"S": [{"prefix": "a"}]}}}}"#),
            Err(FilterError::Unsupported("dynamodb.NewImage.x.S".into()))
        );
        assert_eq!(
            FilterPattern::parse(r#"{"eventName": "INSERT"}"#),
            Err(FilterError::BareValue("eventName".into()))
        );
        assert_eq!(
            FilterPattern::parse(r#"{"eventName": []}"#),
            Err(FilterError::EmptyArray("eventName".into()))
        );
        assert!(matches!(
            FilterPattern::parse("[1]"),
            Err(FilterError::NotAnObject(_))
        ));
        assert!(matches!(
            FilterPattern::parse("{"),
            Err(FilterError::NotJson(_))
        ));
    }
}
