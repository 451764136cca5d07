//! Stream records in the shape Lambda hands them to a function: the
//! DynamoDB stream event (`{"Records": [...]}`), each record with
//! `eventID`, `eventName`, `eventVersion` "1.1", `eventSource`
//! "aws:dynamodb", `awsRegion`, `eventSourceARN` (the stream) and `dynamodb`
//! (`ApproximateCreationDateTime` in epoch seconds, `Keys`, `NewImage`,
//! `OldImage` in DynamoDB JSON, `SequenceNumber`, `SizeBytes`,
//! `StreamViewType`). The filter matches the same JSON.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("a stream record without {0}")]
    Missing(&'static str),
}

/// One record of a shard, as the poller carries it from the stream to the
/// function.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub sequence_number: String,
    /// When DynamoDB wrote it (the record's age counts from here).
    pub created: DateTime<Utc>,
    /// The record in Lambda's event shape.
    pub event: Value,
}

impl ChangeRecord {
    /// Converts a record read with GetRecords.
    pub fn from_stream(
        record: &Record,
        stream_arn: &str,
        default_region: &str,
    ) -> Result<Self, RecordError> {
        let change = record.dynamodb().ok_or(RecordError::Missing("dynamodb"))?;
        let sequence_number = change
            .sequence_number()
            .ok_or(RecordError::Missing("SequenceNumber"))?
            .to_owned();
        let event_name = record
            .event_name()
            .ok_or(RecordError::Missing("eventName"))?;
        let created = change
            .approximate_creation_date_time()
            .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?))
            .unwrap_or_else(Utc::now);
        let mut dynamodb = Map::new();
        // Lambda's events carry whole seconds here.
        dynamodb.insert(
            "ApproximateCreationDateTime".into(),
            json!(created.timestamp()),
        );
        for (name, image) in [
            ("Keys", change.keys()),
            ("NewImage", change.new_image()),
            ("OldImage", change.old_image()),
        ] {
            if let Some(image) = image {
                dynamodb.insert(name.into(), item_json(image));
            }
        }
        dynamodb.insert("SequenceNumber".into(), json!(sequence_number));
        if let Some(size) = change.size_bytes() {
            dynamodb.insert("SizeBytes".into(), json!(size));
        }
        if let Some(view) = change.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
        let mut event = json!({
            "eventID": record.event_id().unwrap_or(&sequence_number),
            "eventName": event_name.as_str(),
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": record.aws_region().unwrap_or(default_region),
            "dynamodb": Value::Object(dynamodb),
            "eventSourceARN": stream_arn,
        });
        if let Some(identity) = record.user_identity() {
            event["userIdentity"] = json!({
                "type": identity.r#type(),
                "principalId": identity.principal_id(),
            });
        }
        Ok(Self {
            sequence_number,
            created,
            event,
        })
    }
}

/// The event one invocation receives.
pub fn lambda_event(records: &[ChangeRecord]) -> Value {
    json!({ "Records": records.iter().map(|r| r.event.clone()).collect::<Vec<_>>() })
}

/// An item (or key) in DynamoDB JSON: `{"name": {"S": "..."}}`.
pub fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(name, value)| (name.clone(), attribute_json(value)))
            .collect(),
    )
}

/// One attribute value in DynamoDB JSON (binary as base64, as Lambda sends it).
pub fn attribute_json(value: &AttributeValue) -> Value {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Ss(list) => json!({ "SS": list }),
        AttributeValue::Ns(list) => json!({ "NS": list }),
        AttributeValue::Bs(list) => {
            json!({ "BS": list.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::M(map) => json!({ "M": item_json(map) }),
        AttributeValue::L(list) => {
            json!({ "L": list.iter().map(attribute_json).collect::<Vec<_>>() })
        }
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        // A type newer than this SDK: nothing to carry.
        _ => json!({ "NULL": true }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::{Blob, DateTime as SmithyTime};
    use aws_sdk_dynamodbstreams::types::{OperationType, StreamRecord, StreamViewType};

    pub(crate) const STREAM_ARN: &str =
        "arn:aws:dynamodb:us-east-1:123456789012:table/ratings/stream/2026-12-02T00:39:28.823592";

    /// A record as moto's GetRecords returns it (see LOCAL-TOOLING.md).
    pub(crate) fn stream_record(
        name: OperationType,
        sequence: &str,
        new_image: Option<HashMap<String, AttributeValue>>,
    ) -> Record {
        let mut change = StreamRecord::builder()
            .approximate_creation_date_time(SmithyTime::from_millis(1_764_635_968_954))
            .keys("id", AttributeValue::S("r1".into()))
            .old_image("id", AttributeValue::S("r1".into()))
            .old_image("synced_to_saas", AttributeValue::S("false".into()))
            .sequence_number(sequence)
            .size_bytes(244)
            .stream_view_type(StreamViewType::NewAndOldImages);
        if let Some(image) = new_image {
            change = change.set_new_image(Some(image));
        }
        Record::builder()
            .event_id(format!("event-{sequence}"))
            .event_name(name)
            .event_version("1.0")
            .event_source("aws:dynamodb")
            .aws_region("us-east-1")
            .dynamodb(change.build())
            .build()
    }

    fn pending_image() -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("id".to_owned(), AttributeValue::S("r1".into())),
            (
                "synced_to_saas".to_owned(),
                AttributeValue::S("false".into()),
            ),
            ("rating".to_owned(), AttributeValue::N("4".into())),
            (
                "blob".to_owned(),
                AttributeValue::B(Blob::new(vec![0u8, 1, 42, 65])),
            ),
            (
                "tags".to_owned(),
                AttributeValue::Ss(vec!["a".into(), "b".into()]),
            ),
            (
                "nested".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "list".to_owned(),
                    AttributeValue::L(vec![
                        AttributeValue::Bool(true),
                        AttributeValue::Null(true),
                        AttributeValue::Ns(vec!["1".into()]),
                    ]),
                )])),
            ),
        ])
    }

    #[test]
    fn the_event_deserializes_as_the_functions_dynamodb_event() {
        use aws_lambda_events::event::dynamodb::Event;
        let insert = stream_record(
            OperationType::Insert,
            "1100000000017454423009",
            Some(pending_image()),
        );
        let remove = stream_record(OperationType::Remove, "1100000000017454423010", None);
        let records: Vec<ChangeRecord> = [insert, remove]
            .iter()
            .map(|r| ChangeRecord::from_stream(r, STREAM_ARN, "eu-west-1").unwrap())
            .collect();
        let event: Event = serde_json::from_value(lambda_event(&records)).unwrap();

        assert_eq!(event.records.len(), 2);
        let first = &event.records[0];
        assert_eq!(first.event_name, "INSERT");
        assert_eq!(first.event_id, "event-1100000000017454423009");
        assert_eq!(first.event_version.as_deref(), Some("1.1"));
        assert_eq!(first.event_source.as_deref(), Some("aws:dynamodb"));
        assert_eq!(first.event_source_arn.as_deref(), Some(STREAM_ARN));
        assert_eq!(first.aws_region, "us-east-1");
        assert_eq!(
            first.change.sequence_number.as_deref(),
            Some("1100000000017454423009")
        );
        assert_eq!(first.change.size_bytes, 244);
        assert_eq!(
            first.change.approximate_creation_date_time.timestamp(),
            1_764_635_968
        );
        let image: serde_json::Value = serde_json::to_value(&first.change.new_image).unwrap();
        assert_eq!(image["synced_to_saas"], json!({"S": "false"}));
        assert_eq!(image["rating"], json!({"N": "4"}));
        assert_eq!(
            records[0].event["dynamodb"]["NewImage"]["blob"],
            json!({"B": "AAEqQQ=="})
        );
        assert_eq!(
            records[0].event["dynamodb"]["NewImage"]["nested"],
            json!({"M": {"list": {"L": [{"BOOL": true}, {"NULL": true}, {"NS": ["1"]}]}}})
        );
        assert_eq!(event.records[1].event_name, "REMOVE");
        assert!(event.records[1].change.new_image.is_empty());
        assert_eq!(
            records[1].event["dynamodb"]["OldImage"]["synced_to_saas"],
            json!({"S": "false"})
        );
        // Keys and the creation time as the poller keeps them.
        assert_eq!(records[0].created.timestamp_millis(), 1_764_635_968_954);
        assert_eq!(records[0].sequence_number, "1100000000017454423009");
    }

    #[test]
    fn a_record_without_a_sequence_number_is_refused() {
        let record = Record::builder()
            .event_name(OperationType::Insert)
            .dynamodb(StreamRecord::builder().build())
            .build();
        assert_eq!(
            ChangeRecord::from_stream(&record, STREAM_ARN, "us-east-1"),
            Err(RecordError::Missing("SequenceNumber"))
        );
        let bare = Record::builder().build();
        assert_eq!(
            ChangeRecord::from_stream(&bare, STREAM_ARN, "us-east-1"),
            Err(RecordError::Missing("dynamodb"))
        );
    }
}
