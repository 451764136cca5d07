//! The mapping's retry rules with a scripted function and fake records.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::{json, Value};

use super::*;
use crate::stream_poller::invoker::invoker_fn;
use crate::stream_poller::on_failure::OnFailure;
use crate::stream_poller::settings::tests::FIXTURE;
use crate::stream_poller::stats::StatsSnapshot;

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:stream-rating-sync";

/// Keeps every on-failure message.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<Value>>>);

impl FailureDestination for Recorded {
    async fn send(&self, message: Value) -> Result<bool, String> {
        self.0.lock().map_err(|e| e.to_string())?.push(message);
        Ok(true)
    }
}

impl Recorded {
    fn messages(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

fn shard() -> ShardInfo {
    ShardInfo {
        stream_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/s".into(),
        shard_id: "shardId-0001".into(),
    }
}

/// Sequence number of record `n` (1-based).
fn seq(n: usize) -> String {
    format!("{}", 1000 + n)
}

fn records(range: std::ops::RangeInclusive<usize>) -> Vec<ChangeRecord> {
    range
        .map(|n| ChangeRecord {
            sequence_number: seq(n),
            created: Utc::now(),
            event: json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": seq(n)}}),
        })
        .collect()
}

/// The template's settings (batch 10, bisect, 3 retries, 300 s, item failures).
fn settings() -> MappingSettings {
    MappingSettings::from_template(FIXTURE).unwrap()
}

/// The sequence numbers each call received, by record number.
type Calls = Arc<Mutex<Vec<Vec<usize>>>>;

/// A function answering `script(call index, record numbers)`.
fn scripted<F>(
    settings: MappingSettings,
    script: F,
) -> (BatchHandler<impl Invoker, Recorded>, Calls, Recorded)
where
    F: Fn(usize, &[usize]) -> Result<Value, InvokeError> + Send + Sync + 'static,
{
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let invoker = invoker_fn(move |event: Value| {
        let numbers: Vec<usize> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
                    - 1000
            })
            .collect();
        let answer = {
            let mut calls = seen.lock().unwrap();
            calls.push(numbers.clone());
            script(calls.len() - 1, &numbers)
        };
        async move { answer }
    });
    let destination = Recorded::default();
    let handler = BatchHandler::new(
        settings,
        invoker,
        destination.clone(),
        Arc::default(),
        FUNCTION_ARN.into(),
    )
    .with_backoff(Backoff {
        first: Duration::ZERO,
        max: Duration::ZERO,
    });
    (handler, calls, destination)
}

fn failures(numbers: &[usize]) -> Value {
    json!({"batchItemFailures": numbers.iter().map(|n| json!({"itemIdentifier": seq(*n)})).collect::<Vec<_>>()})
}

fn calls(calls: &Calls) -> Vec<Vec<usize>> {
    calls.lock().unwrap().clone()
}

fn stats<I: Invoker>(handler: &BatchHandler<I, Recorded>) -> StatsSnapshot {
    handler.stats().snapshot()
}

#[tokio::test]
async fn every_success_answer_takes_the_whole_batch() {
    for answer in [
        Value::Null,
        json!({}),
        json!({"batchItemFailures": []}),
        json!({"batchItemFailures": null}),
    ] {
        let (handler, seen, destination) = scripted(settings(), move |_, _| Ok(answer.clone()));
        handler.handle(&shard(), records(1..=5)).await;
        assert_eq!(calls(&seen), [vec![1, 2, 3, 4, 5]]);
        let stats = stats(&handler);
        assert_eq!((stats.invocations, stats.records_delivered), (1, 5));
        assert!(destination.messages().is_empty());
    }
}

#[tokio::test]
async fn a_failed_item_is_retried_with_the_records_after_it_and_not_before() {
    let (handler, seen, destination) = scripted(settings(), |call, _| {
        Ok(if call == 0 { failures(&[3]) } else { json!({}) })
    });
    handler.handle(&shard(), records(1..=5)).await;
    assert_eq!(calls(&seen), [vec![1, 2, 3, 4, 5], vec![3, 4, 5]]);
    let stats = stats(&handler);
    assert_eq!(stats.records_delivered, 5);
    assert_eq!(stats.batch_item_failures, 1);
    assert_eq!(stats.function_errors, 0);
    assert!(destination.messages().is_empty());
}

#[tokio::test]
async fn several_failed_items_retry_from_the_earliest() {
    let (handler, seen, _) = scripted(settings(), |call, _| {
        Ok(if call == 0 {
            // Neither the first nor the last named is the earliest.
            failures(&[4, 2, 5])
        } else {
            json!({})
        })
    });
    handler.handle(&shard(), records(1..=5)).await;
    assert_eq!(calls(&seen), [vec![1, 2, 3, 4, 5], vec![2, 3, 4, 5]]);
    assert_eq!(stats(&handler).batch_item_failures, 3);
}

#[tokio::test]
async fn an_answer_naming_no_valid_record_fails_the_whole_batch() {
    for bad in [
        json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
        json!({"batchItemFailures": [{"itemIdentifier": null}]}),
        json!({"batchItemFailures": [{"itemIdentifier": "999999"}]}),
        json!({"batchItemFailures": [{"id": seq(2)}]}),
        json!({"batchItemFailures": "all"}),
        json!("done"),
    ] {
        let (handler, seen, _) = scripted(settings(), move |call, _| {
            Ok(if call == 0 { bad.clone() } else { json!({}) })
        });
        handler.handle(&shard(), records(1..=3)).await;
        assert_eq!(calls(&seen), [vec![1, 2, 3], vec![1, 2, 3]]);
        assert_eq!(stats(&handler).records_delivered, 3);
    }
}

#[tokio::test]
async fn without_report_batch_item_failures_the_answer_is_ignored() {
    let mut plain = settings();
    plain.report_batch_item_failures = false;
    let (handler, seen, _) = scripted(plain, |_, _| Ok(failures(&[1])));
    handler.handle(&shard(), records(1..=5)).await;
    assert_eq!(calls(&seen).len(), 1);
    assert_eq!(stats(&handler).records_delivered, 5);
}

#[tokio::test]
async fn bisecting_isolates_the_record_that_makes_the_function_fail() {
    let (handler, seen, destination) = scripted(settings(), |_, numbers| {
        if numbers.contains(&2) {
            Err(InvokeError::function("record 2 is poison"))
        } else {
            Ok(json!({}))
        }
    });
    handler.handle(&shard(), records(1..=4)).await;
    assert_eq!(
        calls(&seen),
        [
            vec![1, 2, 3, 4],
            vec![1, 2],
            vec![1],
            // The first try of [2] and its three retries.
            vec![2],
            vec![2],
            vec![2],
            vec![2],
            vec![3, 4],
        ]
    );
    let messages = destination.messages();
    assert_eq!(messages.len(), 1);
    let info = &messages[0]["DDBStreamBatchInfo"];
    assert_eq!(info["batchSize"], 1);
    assert_eq!(info["startSequenceNumber"], seq(2));
    assert_eq!(info["endSequenceNumber"], seq(2));
    assert_eq!(info["shardId"], "shardId-0001");
    assert_eq!(
        messages[0]["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    // [1,2,3,4], [1,2] and the four tries of [2].
    assert_eq!(messages[0]["requestContext"]["approximateInvokeCount"], 6);
    assert_eq!(messages[0]["responseContext"]["functionError"], "Unhandled");
    let stats = stats(&handler);
    assert_eq!(stats.records_delivered, 3);
    assert_eq!(stats.function_errors, 6);
    assert_eq!(stats.records_given_up, 1);
    assert_eq!(stats.batches_sent_to_on_failure, 1);
}

#[tokio::test]
async fn without_bisecting_the_whole_batch_is_retried_then_given_up_together() {
    let mut whole = settings();
    whole.bisect_batch_on_function_error = false;
    let (handler, seen, destination) = scripted(whole, |_, _| Err(InvokeError::function("always")));
    handler.handle(&shard(), records(1..=3)).await;
    assert_eq!(calls(&seen), vec![vec![1, 2, 3]; 4]);
    let messages = destination.messages();
    assert_eq!(messages.len(), 1);
    let info = &messages[0]["DDBStreamBatchInfo"];
    assert_eq!(
        (
            &info["batchSize"],
            &info["startSequenceNumber"],
            &info["endSequenceNumber"]
        ),
        (&json!(3), &json!(seq(1)), &json!(seq(3)))
    );
    assert_eq!(messages[0]["requestContext"]["approximateInvokeCount"], 4);
}

#[tokio::test]
async fn an_item_that_keeps_failing_uses_up_the_retries_of_what_is_left() {
    let (handler, seen, destination) = scripted(settings(), |_, _| Ok(failures(&[3])));
    handler.handle(&shard(), records(1..=5)).await;
    assert_eq!(
        calls(&seen),
        [
            vec![1, 2, 3, 4, 5],
            vec![3, 4, 5],
            vec![3, 4, 5],
            vec![3, 4, 5]
        ]
    );
    let messages = destination.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["DDBStreamBatchInfo"]["batchSize"], 3);
    assert_eq!(
        messages[0]["DDBStreamBatchInfo"]["startSequenceNumber"],
        seq(3)
    );
    assert!(messages[0]["responseContext"]
        .get("functionError")
        .is_none());
    assert_eq!(stats(&handler).records_delivered, 2);
}

#[tokio::test]
async fn records_too_old_are_given_up_without_being_invoked() {
    let mut batch = records(1..=4);
    for record in &mut batch[..2] {
        record.created = Utc::now() - chrono::Duration::minutes(10);
    }
    let (handler, seen, destination) = scripted(settings(), |_, _| Ok(json!({})));
    handler.handle(&shard(), batch).await;
    assert_eq!(calls(&seen), [vec![3, 4]]);
    let messages = destination.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["requestContext"]["condition"],
        "RecordAgeExceeded"
    );
    assert_eq!(messages[0]["requestContext"]["approximateInvokeCount"], 0);
    assert_eq!(messages[0]["DDBStreamBatchInfo"]["batchSize"], 2);
    assert_eq!(
        messages[0]["DDBStreamBatchInfo"]["endSequenceNumber"],
        seq(2)
    );
    assert!(messages[0].get("responseContext").is_none());
}

#[tokio::test]
async fn an_unreachable_function_is_waited_for_without_spending_retries() {
    let mut no_retries = settings();
    no_retries.maximum_retry_attempts = Some(0);
    let (handler, seen, destination) = scripted(no_retries, |call, _| {
        if call < 2 {
            Err(InvokeError::Unavailable("connection refused".into()))
        } else {
            Ok(json!({}))
        }
    });
    handler.handle(&shard(), records(1..=2)).await;
    assert_eq!(calls(&seen).len(), 3);
    let stats = stats(&handler);
    assert_eq!(stats.invoke_unavailable, 2);
    assert_eq!(stats.invocations, 1);
    assert_eq!(stats.records_delivered, 2);
    assert!(destination.messages().is_empty());
}

#[tokio::test]
async fn without_a_destination_given_up_records_are_only_counted() {
    let mut once = settings();
    once.maximum_retry_attempts = Some(0);
    let handler = BatchHandler::new(
        once,
        invoker_fn(|_| async { Err(InvokeError::function("no")) }),
        OnFailure::Discard,
        Arc::default(),
        FUNCTION_ARN.into(),
    );
    handler.handle(&shard(), records(1..=1)).await;
    let stats = handler.stats().snapshot();
    assert_eq!(stats.invocations, 1);
    assert_eq!(stats.records_given_up, 1);
    assert_eq!(stats.batches_sent_to_on_failure, 0);
}

#[test]
fn the_backoff_doubles_from_100_ms_to_2_s() {
    let backoff = Backoff::default();
    let delays: Vec<u128> = (0..8).map(|n| backoff.delay(n).as_millis()).collect();
    assert_eq!(delays, [0, 100, 200, 400, 800, 1600, 2000, 2000]);
    assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(2));
}
