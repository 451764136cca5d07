//! The fast path's side of the harness: an engine whose DynamoDB requests
//! are recorded as `stream-rating-sync`'s, and stream events made from the
//! table's items as the event source mapping would deliver them.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Map, Value};
use shared::config::SyncSettings;
use shared::store::Item;
use shared::sync::{FastPathReport, SyncEngine};
use shared::triggers::stream::{BatchResponse, StreamEvent};

use crate::access::AccessRecorder;
use crate::TestEnv;

impl TestEnv {
    /// The engine as `stream-rating-sync` builds it.
    pub fn stream_engine(&self, sync: SyncSettings) -> SyncEngine {
        shared::triggers::clients::sync_engine(&self.config(sync), self.stream_client())
            .expect("engine")
    }

    /// A DynamoDB client whose requests are recorded as
    /// `stream-rating-sync`'s.
    pub fn stream_client(&self) -> aws_sdk_dynamodb::Client {
        AccessRecorder::new(&self.tables, Some("stream-rating-sync")).client(&self.client)
    }

    /// The records of `ids` (sequence numbers from `first` on) delivered to
    /// `engine` as one batch, with a deadline a test never reaches.
    pub async fn deliver(
        &self,
        engine: &SyncEngine,
        ids: &[String],
        first: u64,
    ) -> (BatchResponse, FastPathReport) {
        let event = self.stream_event(ids, first).await;
        shared::triggers::stream::handle(engine, &event, crate::generous_deadline()).await
    }

    /// A stream event of one MODIFY record per id, with the item as it is
    /// now as its new image; sequence numbers from `first` on.
    pub async fn stream_event(&self, ids: &[String], first: u64) -> StreamEvent {
        let mut records = Vec::new();
        for (at, id) in ids.iter().enumerate() {
            let item = self.item(id).await;
            records.push(stream_record("MODIFY", &item, first + at as u64));
        }
        StreamEvent { records }
    }
}

/// One stream record of `item`, in the Lambda event's shape.
pub fn stream_record(event_name: &str, item: &Item, sequence_number: u64) -> Value {
    json!({
        "eventID": format!("event-{sequence_number}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"id": item.get("id").map_or(Value::Null, dynamodb_json)},
            "NewImage": image(item),
            "SequenceNumber": sequence_number.to_string(),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    })
}

/// An item in DynamoDB JSON, as a stream record carries it.
pub fn image(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(name, value)| (name.clone(), dynamodb_json(value)))
            .collect::<Map<_, _>>(),
    )
}

fn dynamodb_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(text) => json!({"S": text}),
        AttributeValue::N(number) => json!({"N": number}),
        AttributeValue::Bool(flag) => json!({"BOOL": flag}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        other => json!({"S": format!("{other:?}")}),
    }
}
