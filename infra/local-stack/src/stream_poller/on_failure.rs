//! Records given up: the message Lambda sends to a stream mapping's
//! on-failure destination, and where the poller sends it.

use std::future::Future;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::event::ChangeRecord;

/// Why records were given up (the message's `requestContext.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// How the last invocation of the records ended, for `responseContext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastResponse {
    pub status_code: u16,
    /// `Unhandled` for a function error; none when the function answered.
    pub function_error: Option<String>,
}

/// The shard the records came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub stream_arn: String,
    pub shard_id: String,
}

/// Lambda's on-failure record for a DynamoDB stream: metadata only, the
/// records themselves stay in the stream (for 24 hours) between
/// `startSequenceNumber` and `endSequenceNumber`.
pub fn on_failure_message(
    shard: &ShardInfo,
    function_arn: &str,
    records: &[ChangeRecord],
    condition: Condition,
    invoke_count: u32,
    last: Option<&LastResponse>,
) -> Value {
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let first = records.first();
    let last_record = records.last();
    let mut message = json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": invoke_count,
        },
        "version": "1.0",
        "timestamp": time(&Utc::now()),
        "DDBStreamBatchInfo": {
            "shardId": shard.shard_id,
            "startSequenceNumber": first.map(|r| r.sequence_number.as_str()),
            "endSequenceNumber": last_record.map(|r| r.sequence_number.as_str()),
            "approximateArrivalOfFirstRecord": first.map(|r| time(&r.created)),
            "approximateArrivalOfLastRecord": last_record.map(|r| time(&r.created)),
            "batchSize": records.len(),
            "streamArn": shard.stream_arn,
        },
    });
    if let Some(last) = last {
        let mut context = json!({
            "statusCode": last.status_code,
            "executedVersion": "$LATEST",
        });
        if let Some(error) = &last.function_error {
            context["functionError"] = json!(error);
        }
        message["responseContext"] = context;
    }
    message
}

/// Where given-up records are reported.
pub trait FailureDestination: Send + Sync + 'static {
    /// Sends one on-failure message; `Ok(false)` when there is nowhere to
    /// send it (the records are only dropped, as Lambda does without a
    /// destination).
    fn send(&self, message: Value) -> impl Future<Output = Result<bool, String>> + Send;
}

/// The mapping's on-failure destination, locally.
#[derive(Debug, Clone)]
pub enum OnFailure {
    /// No destination: given-up records are dropped.
    Discard,
    /// An SQS queue (moto's locally).
    Sqs {
        client: aws_sdk_sqs::Client,
        queue_url: String,
    },
}

impl FailureDestination for OnFailure {
    async fn send(&self, message: Value) -> Result<bool, String> {
        match self {
            Self::Discard => Ok(false),
            Self::Sqs { client, queue_url } => client
                .send_message()
                .queue_url(queue_url)
                .message_body(message.to_string())
                .send()
                .await
                .map(|_| true)
                .map_err(crate::sdk_message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_message_has_lambdas_on_failure_shape() {
        let created = |s: i64| Utc.timestamp_opt(1_764_635_968 + s, 0).unwrap();
        let record = |seq: &str, s: i64| ChangeRecord {
            sequence_number: seq.into(),
            created: created(s),
            event: json!({}),
        };
        let shard = ShardInfo {
            stream_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x".into(),
            shard_id: "shardId-1".into(),
        };
        let message = on_failure_message(
            &shard,
            "arn:aws:lambda:us-east-1:123456789012:function:stream-rating-sync",
            &[record("100", 0), record("101", 2)],
            Condition::RetryAttemptsExhausted,
            4,
            Some(&LastResponse {
                status_code: 200,
                function_error: Some("Unhandled".into()),
            }),
        );
        assert_eq!(
            message["requestContext"]["condition"],
            "RetryAttemptsExhausted"
        );
        assert_eq!(message["requestContext"]["approximateInvokeCount"], 4);
        assert_eq!(
            message["requestContext"]["functionArn"],
            "arn:aws:lambda:us-east-1:123456789012:function:stream-rating-sync"
        );
        assert!(message["requestContext"]["requestId"].is_string());
        assert_eq!(
            message["responseContext"],
            json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
        );
        assert_eq!(message["version"], "1.0");
        assert!(message["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            message["DDBStreamBatchInfo"],
            json!({
                "shardId": "shardId-1",
                "startSequenceNumber": "100",
                "endSequenceNumber": "101",
                "approximateArrivalOfFirstRecord": "2025-12-02T00:39:28.000Z",
                "approximateArrivalOfLastRecord": "2025-12-02T00:39:30.000Z",
                "batchSize": 2,
                "streamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
            })
        );
        let never_invoked = on_failure_message(
            &shard,
            "f",
            &[record("100", 0)],
            Condition::RecordAgeExceeded,
            0,
            None,
        );
        assert_eq!(
            never_invoked["requestContext"]["condition"],
            "RecordAgeExceeded"
        );
        assert!(never_invoked.get("responseContext").is_none());
    }
}
