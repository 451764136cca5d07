//! The local stream poller against moto: the ratings table's stream, the
//! mapping's filter, batching, batch item failures, and the on-failure
//! queue (moto's SQS). Each test makes its own tables (with a stream) and
//! its own queue, and stops its poller.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::eventually;
use local_stack::stream_poller::{
    self, invoker_fn, Backoff, FilterPattern, InvokeError, Invoker, MappingSettings, OnFailure,
    PollerHandle, PollerOptions, StartingPosition,
};
use local_stack::{seed, tables};
use serde_json::{json, Value};
use shared::config::TableNames;
use shared::rating::Rating;

/// The template's filter (issue 13): pending inserts and updates only.
const PENDING: &str = r#"{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"synced_to_saas": {"S": ["false"]}}}}"#;

const WITHIN: Duration = Duration::from_secs(30);

/// The template's mapping settings (batch 10, 1 s window, bisect, 3 retries).
fn settings(from: StartingPosition) -> MappingSettings {
    MappingSettings {
        batch_size: 10,
        batching_window: Duration::from_secs(1),
        maximum_retry_attempts: Some(3),
        maximum_record_age: Some(Duration::from_secs(300)),
        bisect_batch_on_function_error: true,
        report_batch_item_failures: true,
        starting_position: from,
        filters: vec![FilterPattern::parse(PENDING).unwrap()],
        ..MappingSettings::default()
    }
}

struct StreamEnv {
    dynamodb: aws_sdk_dynamodb::Client,
    tables: TableNames,
    prefix: String,
}

impl StreamEnv {
    /// Tables under a unique prefix, the ratings table with a stream (the
    /// template's stream lands on another branch: enabled here meanwhile).
    async fn new() -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("s{}_", &unique[..12]);
        let dynamodb = local_stack::dynamodb_client()
            .await
            .expect("local DynamoDB");
        let tables = TableNames::with_prefix(&prefix);
        tables::create_tables(&dynamodb, &tables)
            .await
            .expect("create tables");
        stream_poller::enable_stream(&dynamodb, &tables.ratings)
            .await
            .expect("enable the stream");
        Self {
            dynamodb,
            tables,
            prefix,
        }
    }

    fn ratings(&self, count: usize) -> Vec<Rating> {
        seed::sample_ratings(&self.prefix, count, 0, chrono::Utc::now())
    }

    async fn put(&self, ratings: &[Rating]) {
        seed::put_ratings(&self.dynamodb, &self.tables.ratings, ratings)
            .await
            .expect("put ratings");
    }

    async fn start(
        &self,
        settings: MappingSettings,
        invoker: impl Invoker,
        on_failure: OnFailure,
    ) -> PollerHandle {
        let mut options = PollerOptions::new(&self.tables.ratings, settings);
        options.backoff = Backoff {
            first: Duration::from_millis(10),
            max: Duration::from_millis(50),
        };
        stream_poller::start(
            &self.dynamodb,
            local_stack::streams_client().await.expect("streams client"),
            options,
            invoker,
            on_failure,
        )
        .await
        .expect("start the poller")
    }

    async fn finish(self, poller: PollerHandle) {
        poller.stop().await.expect("the poller stops cleanly");
        tables::delete_tables(&self.dynamodb, &self.tables).await;
    }
}

/// Each invocation's records as (rating id, sequence number).
type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A function that records what it receives and answers
/// `answer(invocation index, its records)`.
fn recording<F>(answer: F) -> (impl Invoker, Seen)
where
    F: Fn(usize, &[(String, String)]) -> Result<Value, InvokeError> + Send + Sync + 'static,
{
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let invoker = invoker_fn(move |event: Value| {
        let records: Vec<(String, String)> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["dynamodb"]["NewImage"]["id"]["S"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    r["dynamodb"]["SequenceNumber"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        let result = match log.lock() {
            Ok(mut calls) => {
                calls.push(records.clone());
                answer(calls.len() - 1, &records)
            }
            Err(e) => Err(InvokeError::function(e.to_string())),
        };
        async move { result }
    });
    (invoker, seen)
}

fn ids(seen: &Seen) -> Vec<Vec<String>> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|call| call.iter().map(|(id, _)| id.clone()).collect())
        .collect()
}

#[tokio::test]
async fn five_pending_ratings_reach_the_function_once_each_in_at_most_two_batches() {
    let env = StreamEnv::new().await;
    let (invoker, seen) = recording(|_, _| Ok(json!({"batchItemFailures": []})));
    let poller = env
        .start(
            settings(StartingPosition::Latest),
            invoker,
            OnFailure::Discard,
        )
        .await;
    let ratings = env.ratings(5);
    env.put(&ratings).await;

    eventually(WITHIN, "five records delivered", || async {
        (poller.stats().records_delivered >= 5).then_some(())
    })
    .await;
    let calls = ids(&seen);
    assert!(
        (1..=2).contains(&calls.len()),
        "{} invocations: {calls:?}",
        calls.len()
    );
    let delivered: Vec<String> = calls.concat();
    let written: Vec<String> = ratings.iter().map(|r| r.id.clone()).collect();
    assert_eq!(delivered, written, "each rating once, in the order written");
    let stats = poller.stats();
    assert_eq!(stats.records_delivered, 5);
    assert_eq!(stats.records_seen, 5);
    assert_eq!(stats.records_filtered_out, 0);
    assert_eq!(stats.invocations, calls.len() as u64);
    env.finish(poller).await;
}

#[tokio::test]
async fn an_update_that_removes_synced_to_saas_invokes_nothing() {
    let env = StreamEnv::new().await;
    let ratings = env.ratings(2);
    // Written before the poller starts at LATEST: its INSERT is not read.
    env.put(&ratings[..1]).await;
    let (invoker, seen) = recording(|_, _| Ok(json!({})));
    let poller = env
        .start(
            settings(StartingPosition::Latest),
            invoker,
            OnFailure::Discard,
        )
        .await;

    env.dynamodb
        .update_item()
        .table_name(&env.tables.ratings)
        .key("id", AttributeValue::S(ratings[0].id.clone()))
        .update_expression("REMOVE synced_to_saas")
        .send()
        .await
        .expect("mark synced");
    eventually(WITHIN, "the MODIFY record filtered out", || async {
        (poller.stats().records_filtered_out >= 1).then_some(())
    })
    .await;
    let stats = poller.stats();
    assert_eq!((stats.records_seen, stats.records_filtered_out), (1, 1));
    assert_eq!(stats.invocations, 0);

    // A pending rating after it: the only invocation is for that one.
    env.put(&ratings[1..]).await;
    eventually(WITHIN, "the later rating delivered", || async {
        (poller.stats().records_delivered >= 1).then_some(())
    })
    .await;
    assert_eq!(ids(&seen), [vec![ratings[1].id.clone()]]);
    env.finish(poller).await;
}

#[tokio::test]
async fn a_batch_item_failure_for_record_3_sends_records_3_onwards_again() {
    let env = StreamEnv::new().await;
    let ratings = env.ratings(5);
    // All five are in the stream before the poller reads it from the start:
    // one read, one batch.
    env.put(&ratings).await;
    let third = ratings[2].id.clone();
    let (invoker, seen) = recording(move |call, records| {
        if call > 0 {
            return Ok(json!({}));
        }
        let failed: Vec<Value> = records
            .iter()
            .filter(|(id, _)| *id == third)
            .map(|(_, sequence)| json!({"itemIdentifier": sequence}))
            .collect();
        Ok(json!({ "batchItemFailures": failed }))
    });
    let poller = env
        .start(
            settings(StartingPosition::TrimHorizon),
            invoker,
            OnFailure::Discard,
        )
        .await;

    eventually(WITHIN, "all five delivered", || async {
        (poller.stats().records_delivered >= 5).then_some(())
    })
    .await;
    let written: Vec<String> = ratings.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids(&seen), [written.clone(), written[2..].to_vec()]);
    let stats = poller.stats();
    assert_eq!(stats.batch_item_failures, 1);
    assert_eq!(stats.invocations, 2);
    assert_eq!(stats.records_delivered, 5);
    env.finish(poller).await;
}

#[tokio::test]
async fn a_rating_the_function_always_fails_on_ends_in_the_on_failure_queue_once() {
    let env = StreamEnv::new().await;
    let sqs = local_stack::sqs_client().await.expect("sqs client");
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{}failures", env.prefix))
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    let ratings = env.ratings(2);
    let poison = ratings[0].id.clone();
    let (invoker, seen) = recording(move |_, records| {
        if records.iter().any(|(id, _)| *id == poison) {
            Err(InvokeError::function("this rating breaks the function"))
        } else {
            Ok(json!({}))
        }
    });
    let poller = env
        .start(
            settings(StartingPosition::Latest),
            invoker,
            OnFailure::Sqs {
                client: sqs.clone(),
                queue_url: queue_url.clone(),
            },
        )
        .await;
    env.put(&ratings[..1]).await;

    let receive = || async {
        sqs.receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    };
    let messages = eventually(WITHIN, "the on-failure message", || async {
        Some(receive().await).filter(|m| !m.is_empty())
    })
    .await;
    assert_eq!(messages.len(), 1);
    let message: Value =
        serde_json::from_str(messages[0].body().unwrap_or_default()).expect("JSON body");
    sqs.delete_message()
        .queue_url(&queue_url)
        .set_receipt_handle(messages[0].receipt_handle().map(str::to_owned))
        .send()
        .await
        .expect("delete the message");
    let calls = seen.lock().unwrap().clone();
    // The first attempt and MaximumRetryAttempts (3) retries.
    assert_eq!(calls.len(), 4, "{calls:?}");
    let sequence = &calls[0][0].1;
    assert!(calls.iter().all(|c| c.len() == 1 && &c[0].1 == sequence));
    assert_eq!(
        message["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(message["requestContext"]["approximateInvokeCount"], 4);
    assert_eq!(
        message["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:stream-rating-sync"
    );
    let info = &message["DDBStreamBatchInfo"];
    assert_eq!(info["batchSize"], 1);
    assert_eq!(&info["startSequenceNumber"], &json!(sequence));
    assert_eq!(&info["endSequenceNumber"], &json!(sequence));
    assert_eq!(info["streamArn"], poller.stream_arn());
    let stats = poller.stats();
    assert_eq!(stats.function_errors, 4);
    assert_eq!(stats.batches_sent_to_on_failure, 1);

    // The shard moves on: the next rating is delivered, nothing else is
    // given up.
    env.put(&ratings[1..]).await;
    eventually(WITHIN, "the next rating delivered", || async {
        (poller.stats().records_delivered >= 1).then_some(())
    })
    .await;
    assert!(receive().await.is_empty());
    assert_eq!(poller.stats().batches_sent_to_on_failure, 1);
    let _ = sqs.delete_queue().queue_url(&queue_url).send().await;
    env.finish(poller).await;
}
