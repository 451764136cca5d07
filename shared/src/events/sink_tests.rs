//! The sink against an EventBridge client whose every call is answered by
//! an `aws-smithy-mocks` rule (or, for the deadline, never answered): how
//! events are batched, what is counted, what is retried, what is logged.
//!
//! The tests run on tokio's current-thread runtime unless they say
//! otherwise: a spawned send runs only when the test awaits, so "emit does
//! not send" can be asserted, and the log subscriber of the test's thread
//! sees the sends' lines.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::config::timeout::TimeoutConfig;
use aws_sdk_eventbridge::error::ErrorMetadata;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use aws_sdk_eventbridge::Client;
use aws_smithy_http_client::test_util::NeverClient;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use serde_json::Value;
use tokio::time::Instant;

use super::*;
use crate::logging::captured::Captured;

const BUS: &str = "atom-test-bus";

/// A client answering from `rules`, without retries of its own: what the
/// sink counts is then what each call answered.
fn client(mode: RuleMode, rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_eventbridge, mode, rules, |builder| {
        builder.retry_config(RetryConfig::disabled())
    })
}

fn sink(mode: RuleMode, rules: &[&Rule]) -> EventSink {
    EventSink::new(client(mode, rules), BUS.into())
}

/// A deadline no test reaches.
fn later() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn synced(id: &str) -> SyncEvent {
    SyncEvent::RatingSynced(RatingSynced {
        rating_id: id.into(),
        skill_id: "skill-1".into(),
        user_id: "user-1".into(),
        remote_rating_id: format!("mkt-{id}"),
        version: 1,
        freshness_seconds: Some(1.5),
        path: SyncPath::Scheduled,
        synced_at: "2026-11-29T09:00:08.112Z".into(),
    })
}

fn parked(id: &str, error: &str) -> SyncEvent {
    SyncEvent::RatingParked(RatingParked {
        rating_id: id.into(),
        skill_id: Some("skill-1".into()),
        user_id: Some("user-1".into()),
        error: error.into(),
        attempts: 5,
        path: SyncPath::Admin,
        parked_at: "2026-11-29T09:00:08.112Z".into(),
    })
}

/// The `rating_id` of an entry's detail.
fn rating_id(entry: &PutEventsRequestEntry) -> String {
    let detail: Value = serde_json::from_str(entry.detail().expect("a detail")).expect("JSON");
    detail["rating_id"]
        .as_str()
        .expect("a rating id")
        .to_owned()
}

/// EventBridge's answer accepting every entry of `input`.
fn accept_all(input: &PutEventsInput) -> PutEventsOutput {
    answer(input.entries().iter().map(|_| None).collect())
}

/// An answer with one result per entry: `None` accepted, `Some(code)`
/// refused with that code.
fn answer(results: Vec<Option<&str>>) -> PutEventsOutput {
    let failed = results.iter().filter(|r| r.is_some()).count();
    let mut output = PutEventsOutput::builder().failed_entry_count(failed as i32);
    for (i, result) in results.into_iter().enumerate() {
        let entry = match result {
            None => PutEventsResultEntry::builder().event_id(format!("event-{i}")),
            Some(code) => PutEventsResultEntry::builder()
                .error_code(code)
                .error_message("refused"),
        };
        output = output.entries(entry.build());
    }
    output.build()
}

/// Every call's entries, in the order the calls came.
type Calls = Arc<Mutex<Vec<Vec<PutEventsRequestEntry>>>>;

/// A rule for any number of calls that accepts everything and records the
/// entries of each call (`RuleMode::MatchAny`).
fn accepting(calls: &Calls) -> Rule {
    let calls = Arc::clone(calls);
    mock!(Client::put_events).then_compute_output(move |input| {
        calls.lock().unwrap().push(input.entries().to_vec());
        accept_all(input)
    })
}

fn ids(calls: &Calls) -> Vec<Vec<String>> {
    let calls = calls.lock().unwrap();
    calls
        .iter()
        .map(|entries| entries.iter().map(rating_id).collect())
        .collect()
}

#[tokio::test]
async fn twenty_five_events_are_three_calls_of_ten_ten_and_five() {
    let calls = Calls::default();
    let rule = accepting(&calls);
    let sink = sink(RuleMode::MatchAny, &[&rule]);
    let events: Vec<SyncEvent> = (0..25).map(|i| synced(&format!("r{i:02}"))).collect();
    for event in &events {
        sink.emit(event.clone());
    }
    assert_eq!(rule.num_calls(), 0, "emit only spawns: nothing sent yet");
    assert_eq!(sink.counts(), PublishCounts::default());

    let counts = sink.flush(later()).await;

    assert_eq!(
        counts,
        PublishCounts {
            published: 25,
            failed: 0
        }
    );
    assert_eq!(rule.num_calls(), 3);
    // The three sends run concurrently: their calls may come in any order.
    let ids = ids(&calls);
    let mut sizes: Vec<usize> = ids.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [5, 10, 10]);
    let mut sent_ids = ids.concat();
    sent_ids.sort();
    let expected: Vec<String> = (0..25).map(|i| format!("r{i:02}")).collect();
    assert_eq!(sent_ids, expected, "each event once");

    let mut sent = calls.lock().unwrap().concat();
    sent.sort_by_key(rating_id);
    for (entry, event) in sent.iter().zip(&events) {
        assert_eq!(entry.source(), Some(EVENT_SOURCE));
        assert_eq!(entry.detail_type(), Some("RatingSynced"));
        assert_eq!(entry.event_bus_name(), Some(BUS));
        assert!(entry.time().is_some(), "Time is set");
        let detail: Value = serde_json::from_str(entry.detail().unwrap()).unwrap();
        assert_eq!(detail, event.detail());
    }
    assert_eq!(sink.counts(), counts, "flush answers the totals");
}

/// A JSON log subscriber for this thread, writing to `log`.
fn install(log: &Captured) -> tracing::subscriber::DefaultGuard {
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    guard
}

#[tokio::test]
async fn a_failed_call_is_counted_per_entry_and_logged_without_the_details() {
    let rule = mock!(Client::put_events).then_error(|| {
        PutEventsError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: events:PutEvents")
                .build(),
        )
    });
    let sink = sink(RuleMode::Sequential, &[&rule]);
    let log = Captured::default();
    let _guard = install(&log);

    sink.emit(parked("rating-secretive-1", "the detail-only text"));
    sink.emit(parked("rating-secretive-2", "the detail-only text"));
    sink.emit(synced("rating-secretive-3"));
    let counts = sink.flush(later()).await;

    assert_eq!(
        counts,
        PublishCounts {
            published: 0,
            failed: 3
        }
    );
    assert_eq!(rule.num_calls(), 1, "a failed call is not sent again");
    let log = log.text();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "one warning for the call: {log}");
    assert!(lines[0].contains(r#""level":"WARN""#), "{log}");
    assert!(lines[0].contains("AccessDeniedException"), "{log}");
    assert!(lines[0].contains("RatingParked,RatingSynced"), "{log}");
    for detail in ["rating-secretive", "detail-only", "skill-1", "user-1"] {
        assert!(!log.contains(detail), "{detail} in {log}");
    }
}

#[tokio::test]
async fn entries_refused_in_a_call_are_sent_once_more_and_then_published() {
    let calls = Calls::default();
    let first_calls = Arc::clone(&calls);
    let first = mock!(Client::put_events).then_compute_output(move |input| {
        first_calls.lock().unwrap().push(input.entries().to_vec());
        answer(vec![
            None,
            Some("ThrottlingException"),
            None,
            Some("InternalFailure"),
        ])
    });
    let retry = accepting(&calls);
    let sink = sink(RuleMode::Sequential, &[&first, &retry]);
    for id in ["a", "b", "c", "d"] {
        sink.emit(synced(id));
    }

    let counts = sink.flush(later()).await;

    assert_eq!(ids(&calls), [vec!["a", "b", "c", "d"], vec!["b", "d"]]);
    assert_eq!(
        counts,
        PublishCounts {
            published: 4,
            failed: 0
        }
    );
}

#[tokio::test]
async fn entries_refused_twice_are_counted_failed_and_not_sent_a_third_time() {
    let calls = Calls::default();
    let (first_calls, retry_calls) = (Arc::clone(&calls), Arc::clone(&calls));
    let first = mock!(Client::put_events).then_compute_output(move |input| {
        first_calls.lock().unwrap().push(input.entries().to_vec());
        answer(vec![
            Some("ThrottlingException"),
            None,
            Some("ThrottlingException"),
        ])
    });
    let retry = mock!(Client::put_events).then_compute_output(move |input| {
        retry_calls.lock().unwrap().push(input.entries().to_vec());
        answer(vec![None, Some("ThrottlingException")])
    });
    let sink = sink(RuleMode::Sequential, &[&first, &retry]);
    let log = Captured::default();
    let _guard = install(&log);
    for id in ["a", "b", "c"] {
        sink.emit(synced(id));
    }

    let counts = sink.flush(later()).await;

    assert_eq!(ids(&calls), [vec!["a", "b", "c"], vec!["a", "c"]]);
    assert_eq!(
        counts,
        PublishCounts {
            published: 2,
            failed: 1
        }
    );
    let log = log.text();
    assert_eq!(log.lines().count(), 2, "a warning per refusal: {log}");
    assert!(log.contains("sending them once more"), "{log}");
    assert!(log.contains("not published"), "{log}");
}

#[tokio::test]
async fn an_answer_that_does_not_say_which_entries_failed_resends_them_all_once() {
    let calls = Calls::default();
    let first_calls = Arc::clone(&calls);
    let first = mock!(Client::put_events).then_compute_output(move |input| {
        first_calls.lock().unwrap().push(input.entries().to_vec());
        PutEventsOutput::builder().failed_entry_count(1).build()
    });
    let retry = accepting(&calls);
    let sink = sink(RuleMode::Sequential, &[&first, &retry]);
    sink.emit(synced("a"));
    sink.emit(synced("b"));

    let counts = sink.flush(later()).await;

    assert_eq!(ids(&calls), [vec!["a", "b"], vec!["a", "b"]]);
    assert_eq!(counts.published, 2);
    assert_eq!(counts.failed, 0);
}

#[tokio::test(start_paused = true)]
async fn flush_returns_at_its_deadline_while_a_call_hangs() {
    let never = NeverClient::new();
    let config = aws_sdk_eventbridge::Config::builder()
        .with_test_defaults_v2()
        .http_client(never.clone())
        .retry_config(RetryConfig::disabled())
        .timeout_config(TimeoutConfig::disabled())
        .build();
    let sink = EventSink::new(Client::from_conf(config), BUS.into());
    sink.emit(synced("a"));

    let by = Instant::now() + Duration::from_secs(3);
    let counts = sink.flush(by).await;

    assert_eq!(Instant::now(), by, "waited until the deadline, not past it");
    assert_eq!(counts, PublishCounts::default(), "neither sent nor failed");
    assert_eq!(never.num_calls(), 1, "the call was made and hangs");

    // A deadline already past: flush looks once and returns.
    let again = sink.flush(Instant::now()).await;
    assert_eq!(Instant::now(), by);
    assert_eq!(again, PublishCounts::default());
    assert_eq!(never.num_calls(), 1, "nothing sent twice");
}

#[tokio::test]
async fn batches_stay_under_the_byte_limit_and_an_oversized_event_is_not_sent() {
    let calls = Calls::default();
    let rule = accepting(&calls);
    let sink = sink(RuleMode::MatchAny, &[&rule]);
    // About 30 KiB each: eight fit under 256 KiB, nine do not.
    let big = |i: u32| match synced("short") {
        SyncEvent::RatingSynced(event) => SyncEvent::RatingSynced(RatingSynced {
            rating_id: format!("{i}{}", "x".repeat(30 * 1024)),
            ..event
        }),
        _ => unreachable!("synced() makes a RatingSynced"),
    };
    for i in 0..10 {
        sink.emit(big(i));
    }
    sink.emit(synced(&"y".repeat(MAX_BATCH_BYTES)));

    let counts = sink.flush(later()).await;

    assert_eq!(
        counts,
        PublishCounts {
            published: 10,
            failed: 1
        }
    );
    let calls = calls.lock().unwrap();
    let mut sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [2, 8], "eight of about 30 KiB fill a call");
    for call in calls.iter() {
        let bytes: usize = call
            .iter()
            .map(|e| {
                14 + e.source().unwrap().len()
                    + e.detail_type().unwrap().len()
                    + e.detail().unwrap().len()
            })
            .sum();
        assert!(bytes < MAX_BATCH_BYTES, "{bytes} bytes in one call");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_emitting_from_many_tasks_publish_every_event_once() {
    let calls = Calls::default();
    let rule = accepting(&calls);
    let sink = sink(RuleMode::MatchAny, &[&rule]);
    let mut tasks = Vec::new();
    for task in 0..4 {
        let sink = sink.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                sink.emit(synced(&format!("t{task}-{i}")));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let counts = sink.flush(later()).await;

    assert_eq!(
        counts,
        PublishCounts {
            published: 100,
            failed: 0
        }
    );
    let mut ids = ids(&calls).concat();
    assert!(calls.lock().unwrap().iter().all(|c| c.len() <= 10));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100, "each event once");
}

#[tokio::test]
async fn a_disabled_sink_sends_and_counts_nothing() {
    let sink = EventSink::disabled();
    assert!(!sink.is_enabled());
    for i in 0..25 {
        sink.emit(synced(&format!("r{i}")));
    }
    assert_eq!(sink.flush(later()).await, PublishCounts::default());
    assert_eq!(sink.counts(), PublishCounts::default());
}

#[tokio::test]
async fn the_sink_from_the_configuration_is_disabled_without_a_bus() {
    let aws = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    for bus in [None, Some(""), Some("  ")] {
        let sink = event_sink_from(&aws, bus.map(str::to_owned));
        assert!(!sink.is_enabled(), "{bus:?}");
    }
    let sink = event_sink_from(&aws, Some("atom-events".into()));
    assert!(sink.is_enabled());
    assert_eq!(sink.bus(), Some("atom-events"));
}

#[test]
fn emit_without_a_runtime_keeps_the_batch_for_flush() {
    let calls = Calls::default();
    let rule = accepting(&calls);
    let sink = sink(RuleMode::MatchAny, &[&rule]);
    for i in 0..10 {
        sink.emit(synced(&format!("r{i}")));
    }
    assert_eq!(rule.num_calls(), 0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let counts = runtime.block_on(sink.flush(later()));
    assert_eq!(counts.published, 10);
    assert_eq!(rule.num_calls(), 1);
}
