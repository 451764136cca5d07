//! The stream trigger, the `stream-rating-sync` function (the fast path):
//! the ratings table's DynamoDB stream invokes it through an event source
//! mapping with a small batch of records; a DynamoDB stream event in, the
//! records to deliver again (`batchItemFailures`) out; the work in between
//! is [`SyncEngine::sync_changes`], the scheduled run's per-rating path.
//!
//! The event is read leniently, record by record: a record that needs no
//! upload (a remove, an image that is not pending, one without an id or a
//! version) is counted and left, never an error that would make the stream
//! deliver the whole batch again. The filter on the event source mapping
//! keeps such records out already; this check holds without it, so the
//! function's own "mark synced" writes never make work.

use std::time::SystemTime;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::clients::{aws_config, counted_publishing_sync_engine};
use crate::config::{Config, FromEnvironment};
use crate::store::SYNCED_TO_SAAS_PENDING;
use crate::sync::{Change, FastPathReport, SyncEngine};

/// The function's name in its metrics.
const FUNCTION: &str = "stream-rating-sync";

/// The stream event, as much of it as the fast path reads.
#[derive(Debug, Default, Deserialize)]
pub struct StreamEvent {
    /// The records, each read on its own.
    #[serde(rename = "Records", default)]
    pub records: Vec<Value>,
}

/// The answer to the event source mapping: the records to deliver again.
/// Empty: the whole batch is done.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One entry per record to deliver again.
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One record to deliver again, by its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFailure {
    /// The record's `dynamodb.SequenceNumber`.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// The change a record asks for, or `None` if it needs no upload.
pub fn change_of(record: &Value) -> Option<Change> {
    if !matches!(record["eventName"].as_str(), Some("INSERT" | "MODIFY")) {
        return None;
    }
    let stream = &record["dynamodb"];
    let image = &stream["NewImage"];
    if image["synced_to_saas"]["S"].as_str() != Some(SYNCED_TO_SAAS_PENDING) {
        return None;
    }
    Some(Change {
        sequence_number: stream["SequenceNumber"].as_str()?.to_owned(),
        rating_id: image["id"]["S"]
            .as_str()
            .filter(|id| !id.is_empty())?
            .to_owned(),
        version: image["version"]["N"].as_str()?.trim().parse().ok()?,
    })
}

/// Handles one batch: the changes that need an upload go to the engine; the
/// answer names the records it did not finish.
pub async fn handle(
    engine: &SyncEngine,
    event: &StreamEvent,
    deadline: SystemTime,
) -> (BatchResponse, FastPathReport) {
    let changes: Vec<Change> = event.records.iter().filter_map(change_of).collect();
    let mut report = engine.sync_changes(&changes, deadline).await;
    report.ignored += (event.records.len() - changes.len()) as u64;
    let response = BatchResponse {
        batch_item_failures: report
            .retry
            .iter()
            .map(|sequence_number| ItemFailure {
                item_identifier: sequence_number.clone(),
            })
            .collect(),
    };
    (response, report)
}

/// The whole life of the stream function: JSON logs, the configuration and
/// the engine built once per cold start (a DynamoDB client that counts its
/// requests, the marketplace client, the event sink), then every batch
/// through [`handle`], bounded by its invocation's deadline, with its
/// metrics.
pub async fn run() -> Result<(), Error> {
    crate::traces::init();
    let aws = aws_config().await?;
    let config = Config::load(&aws).await?;
    let engine = counted_publishing_sync_engine(&aws, &config)?;
    lambda_runtime::run(service_fn(|event| invoke(&engine, event))).await
}

/// One invocation: one batch of records, its metrics, the answer.
async fn invoke(
    engine: &SyncEngine,
    event: LambdaEvent<StreamEvent>,
) -> Result<BatchResponse, Error> {
    let deadline = crate::sync::run_deadline(event.context.deadline(), SystemTime::now());
    let trace = event.context.xray_trace_id.as_deref();
    let work = handle(engine, &event.payload, deadline);
    let (response, report) = crate::traces::invocation(trace, FUNCTION, "datasource", work).await;
    crate::metrics::emit_fast_path_metrics(&report, FUNCTION);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(event: &str, image: Value) -> Value {
        json!({
            "eventName": event,
            "dynamodb": {"SequenceNumber": "100", "NewImage": image, "Keys": {"id": {"S": "r1"}}},
        })
    }

    fn pending() -> Value {
        json!({"id": {"S": "r1"}, "version": {"N": "3"}, "synced_to_saas": {"S": "false"}})
    }

    #[test]
    fn a_pending_insert_or_modify_is_a_change() {
        let expected = Change {
            sequence_number: "100".into(),
            rating_id: "r1".into(),
            version: 3,
        };
        assert_eq!(
            change_of(&record("INSERT", pending())),
            Some(expected.clone())
        );
        assert_eq!(change_of(&record("MODIFY", pending())), Some(expected));
    }

    #[test]
    fn records_that_need_no_upload_are_not_changes() {
        let synced = json!({"id": {"S": "r1"}, "version": {"N": "3"}, "synced_at": {"S": "2026-01-01T00:00:00Z"}});
        let waiting =
            json!({"id": {"S": "r1"}, "version": {"N": "3"}, "sync_retry": {"S": "waiting"}});
        let cases = [
            ("a remove", record("REMOVE", pending())),
            ("our own mark-synced write", record("MODIFY", synced)),
            ("a failure recorded", record("MODIFY", waiting)),
            (
                "no new image",
                json!({"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "1"}}),
            ),
            (
                "no sequence number",
                json!({"eventName": "INSERT", "dynamodb": {"NewImage": pending()}}),
            ),
            (
                "a version that is not a number",
                record(
                    "INSERT",
                    json!({"id": {"S": "r1"}, "version": {"N": "x"}, "synced_to_saas": {"S": "false"}}),
                ),
            ),
            (
                "an empty id",
                record(
                    "INSERT",
                    json!({"id": {"S": ""}, "version": {"N": "1"}, "synced_to_saas": {"S": "false"}}),
                ),
            ),
            (
                "pending written as a boolean",
                record(
                    "INSERT",
                    json!({"id": {"S": "r1"}, "version": {"N": "1"}, "synced_to_saas": {"BOOL": false}}),
                ),
            ),
            ("not an object", json!("INSERT")),
        ];
        for (what, record) in cases {
            assert_eq!(change_of(&record), None, "{what}");
        }
    }

    #[test]
    fn the_answer_has_the_shape_the_event_source_mapping_reads() {
        let response = BatchResponse {
            batch_item_failures: vec![ItemFailure {
                item_identifier: "42".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "42"}]})
        );
        let event: StreamEvent = serde_json::from_value(json!({})).unwrap();
        assert!(event.records.is_empty());
    }
}
