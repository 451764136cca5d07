//! The sync's events on the local EventBridge (moto's, with a rule to an
//! SQS queue): one per outcome, from every path, and none of them able to
//! fail or hold up a sync.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use integration_tests::*;
use serde_json::Value;
use shared::config::SyncSettings;
use shared::events::{EventSink, EVENT_SOURCE};
use shared::rating::Rating;
use shared::store::timestamp;
use shared::sync::SyncEngine;
use shared::triggers::stream::handle;

/// Keeps `event`, as EventBridge delivered it, in `target/published-events/`
/// (or `$PUBLISHED_EVENTS_DIR`) for `tests/checks/test_published_events.py`,
/// which validates each against the schema the template registers.
fn record_published(event: &Value) {
    let dir = std::env::var_os("PUBLISHED_EVENTS_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/published-events"),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("published events dir");
    let name = format!("{}.json", uuid::Uuid::new_v4().simple());
    std::fs::write(dir.join(name), event.to_string()).expect("record the event");
}

/// A bus of the test's own, with a rule sending every event of the sync's
/// source to a queue.
struct Bus {
    name: String,
    eventbridge: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Bus {
    async fn new(env: &TestEnv) -> Self {
        let aws = shared::triggers::clients::aws_config()
            .await
            .expect("AWS configuration");
        let eventbridge = aws_sdk_eventbridge::Client::new(&aws);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let name = format!("{}bus", env.prefix);
        eventbridge
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .expect("create bus");
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{}events", env.prefix))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("queue arn");
        eventbridge
            .put_rule()
            .name("sync-events")
            .event_bus_name(&name)
            .event_pattern(serde_json::json!({"source": [EVENT_SOURCE]}).to_string())
            .send()
            .await
            .expect("put rule");
        eventbridge
            .put_targets()
            .rule("sync-events")
            .event_bus_name(&name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("put targets");
        Self {
            name,
            eventbridge,
            sqs,
            queue_url,
        }
    }

    fn sink(&self) -> EventSink {
        EventSink::new(self.eventbridge.clone(), self.name.clone())
    }

    /// The events the queue received, until `count` have come (or the
    /// deadline passes, failing the test), then whatever else arrives
    /// within a second more.
    async fn received(&self, count: usize) -> Vec<Value> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut quiet_until = None;
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            for message in out.messages() {
                let body: Value = serde_json::from_str(message.body().unwrap_or("{}")).unwrap();
                record_published(&body);
                events.push(body);
                if let Some(handle) = message.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete");
                }
            }
            let now = tokio::time::Instant::now();
            if events.len() >= count {
                let until = *quiet_until.get_or_insert(now + Duration::from_secs(1));
                if now >= until {
                    return events;
                }
            }
            assert!(
                now < deadline,
                "{} of {count} events arrived: {events:?}",
                events.len()
            );
        }
    }
}

fn publishing(env: &TestEnv, bus: &Bus, fast: bool) -> SyncEngine {
    let settings = SyncSettings::default();
    let engine = if fast {
        env.stream_engine(settings)
    } else {
        env.engine_with(settings)
    };
    engine.publishing_to(bus.sink())
}

fn of_type<'a>(events: &'a [Value], detail_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["detail-type"] == detail_type)
        .collect()
}

#[tokio::test]
async fn each_synced_rating_publishes_one_rating_synced_and_each_parked_one_rating_parked() {
    let env = TestEnv::new().await;
    let bus = Bus::new(&env).await;
    let ratings = env.ratings(6, 2);
    env.put(&ratings).await;

    let report = publishing(&env, &bus, false).run(generous_deadline()).await;
    assert_eq!((report.uploaded, report.parked), (4, 2), "{report:?}");
    assert_eq!((report.events_published, report.events_failed), (7, 0));

    let events = bus.received(7).await;
    assert_eq!(events.len(), 7, "one per outcome, no more: {events:?}");
    assert!(events.iter().all(|e| e["source"] == EVENT_SOURCE));
    let synced = of_type(&events, "RatingSynced");
    let mut synced_ids: Vec<&str> = synced
        .iter()
        .map(|e| e["detail"]["rating_id"].as_str().unwrap())
        .collect();
    synced_ids.sort();
    let expected: Vec<&str> = ratings[..4].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(synced_ids, expected);
    for event in &synced {
        let detail = &event["detail"];
        assert_eq!(detail["path"], "scheduled");
        assert!(detail["freshness_seconds"].as_f64().unwrap() > 0.0);
        assert!(!detail["remote_rating_id"].as_str().unwrap().is_empty());
    }
    let parked = of_type(&events, "RatingParked");
    assert_eq!(parked.len(), 2);
    assert!(parked.iter().all(|e| e["detail"]["error"]
        .as_str()
        .unwrap()
        .contains("Invalid rating value")));
    let completed = of_type(&events, "SyncRunCompleted");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["detail"]["run_id"], report.run_id.as_str());
    assert_eq!(completed[0]["detail"]["uploaded"], 4);
    // No secret in any event.
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(TOKEN));
}

#[tokio::test]
async fn the_fast_path_publishes_its_ratings_with_their_freshness() {
    let env = TestEnv::new().await;
    let bus = Bus::new(&env).await;
    let now = timestamp(Utc::now());
    let ratings: Vec<Rating> = env
        .ratings(3, 0)
        .into_iter()
        .map(|mut r| {
            r.updated_at = now.clone();
            r
        })
        .collect();
    env.put(&ratings).await;
    let ids: Vec<String> = ratings.iter().map(|r| r.id.clone()).collect();
    let event = env.stream_event(&ids, 1).await;
    let (response, batch) =
        handle(&publishing(&env, &bus, true), &event, generous_deadline()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(batch.report.events_published, 3);

    let events = bus.received(3).await;
    assert_eq!(events.len(), 3);
    let by_id: HashMap<&str, &Value> = events
        .iter()
        .map(|e| (e["detail"]["rating_id"].as_str().unwrap(), &e["detail"]))
        .collect();
    for rating in &ratings {
        let detail = by_id[rating.id.as_str()];
        assert_eq!(detail["path"], "fast_path");
        let seconds = detail["freshness_seconds"].as_f64().unwrap();
        assert!((0.0..30.0).contains(&seconds), "{seconds}");
    }
}

#[tokio::test]
async fn an_eventbridge_that_fails_or_hangs_neither_fails_nor_holds_up_a_sync() {
    // One that refuses every connection, one that takes it and never answers.
    let refusing = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    };
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}", hanging.local_addr().unwrap());
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            open.push(socket);
        }
    });

    for endpoint in [refusing, hanging_url] {
        let env = TestEnv::new().await;
        let ratings = env.ratings(20, 0);
        env.put(&ratings).await;
        let aws = shared::triggers::clients::aws_config()
            .await
            .expect("AWS configuration");
        let client = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&aws)
                .endpoint_url(&endpoint)
                .build(),
        );
        let engine = env
            .engine_with(SyncSettings::default())
            .publishing_to(EventSink::new(client, "default".into()));
        let started = tokio::time::Instant::now();
        let report = engine.run(generous_deadline()).await;
        let took = started.elapsed();
        assert!(report.success, "{endpoint}: {report:?}");
        assert_eq!(report.uploaded, 20);
        assert_eq!(report.events_published, 0);
        assert!(env.pending_ids().await.is_empty());
        // The flush waits 2 s at most, whatever EventBridge does.
        assert!(
            took < Duration::from_secs(8),
            "{endpoint}: the run took {took:?}"
        );
    }
}

#[tokio::test]
async fn a_newer_remote_edit_the_pull_applies_publishes_one_remote_rating_applied() {
    let env = TestEnv::new().await;
    let bus = Bus::new(&env).await;
    let ratings = env.ratings(1, 0);
    env.put(&ratings).await;
    let first = env
        .engine_with(SyncSettings::default())
        .run(generous_deadline())
        .await;
    assert_eq!(first.created, 1, "{first:?}");
    let remote_id = text(&env.item(&ratings[0].id).await, "remote_rating_id");
    let local_time = shared::conflict::parse_time(&ratings[0].updated_at).expect("a time");
    let newer = timestamp(local_time + chrono::Duration::hours(1));
    env.simulator
        .edit_rating(
            &remote_id,
            serde_json::json!({"rating": 5, "comment": "edited there", "updated_at": newer}),
        )
        .await
        .expect("edit the remote rating");

    let report = publishing(&env, &bus, false).run(generous_deadline()).await;
    assert_eq!((report.pulled, report.conflicts), (1, 1), "{report:?}");

    let events = bus.received(2).await;
    let applied = of_type(&events, "RemoteRatingApplied");
    assert_eq!(applied.len(), 1, "{events:?}");
    let detail = &applied[0]["detail"];
    assert_eq!(detail["rating_id"], ratings[0].id.as_str());
    assert_eq!(detail["remote_rating_id"], remote_id.as_str());
    assert_eq!(detail["rating"], 5);
    assert_eq!(detail["source"], "pull");
    assert_eq!(of_type(&events, "SyncRunCompleted").len(), 1, "{events:?}");
}
