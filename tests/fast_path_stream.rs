//! The fast path end to end on the local stack: the ratings table's stream
//! (moto), the poller playing the event source mapping with the template's
//! settings (filter, batches, retries, the on-failure queue), and the
//! function's handler. No scheduled run unless a test says so.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use integration_tests::*;
use local_stack::stream_poller::{
    self, invoker_fn, Backoff, InvokeError, MappingSettings, OnFailure, PollerHandle, PollerOptions,
};
use serde_json::{json, Value};
use shared::config::SyncSettings;
use shared::rating::{Rating, SyncState};
use shared::store::{sync_state, timestamp};
use shared::sync::SyncEngine;
use shared::triggers::stream::{handle, StreamEvent};

const WITHIN: Duration = Duration::from_secs(20);

/// The poller, with the mapping the template declares, invoking the
/// function's handler in this process.
async fn poller(env: &TestEnv, engine: SyncEngine, on_failure: OnFailure) -> PollerHandle {
    let settings = MappingSettings::from_template_file(&local_stack::tables::template_path())
        .expect("the template's mapping");
    let mut options = PollerOptions::new(&env.tables.ratings, settings);
    options.backoff = Backoff {
        first: Duration::from_millis(10),
        max: Duration::from_millis(50),
    };
    let engine = Arc::new(engine);
    let invoker = invoker_fn(move |event: Value| {
        let engine = engine.clone();
        async move {
            let event: StreamEvent =
                serde_json::from_value(event).map_err(|e| InvokeError::function(e.to_string()))?;
            let deadline = SystemTime::now() + Duration::from_secs(60);
            let (response, _) = handle(&engine, &event, deadline).await;
            serde_json::to_value(response).map_err(|e| InvokeError::function(e.to_string()))
        }
    });
    stream_poller::start(
        &env.client,
        local_stack::streams_client().await.expect("streams client"),
        options,
        invoker,
        on_failure,
    )
    .await
    .expect("start the poller")
}

/// The rating `id` once it is synced (polled for at most [`WITHIN`]).
async fn synced_item(env: &TestEnv, id: &str) -> shared::store::Item {
    eventually(WITHIN, "the rating marked synced", || async {
        let item = env.item(id).await;
        (sync_state(&item) == SyncState::Synced).then_some(item)
    })
    .await
}

/// `count` ratings written now.
fn fresh(env: &TestEnv, count: usize) -> Vec<Rating> {
    let now = timestamp(Utc::now());
    env.ratings(count, 0)
        .into_iter()
        .map(|mut rating| {
            rating.updated_at = now.clone();
            rating
        })
        .collect()
}

#[tokio::test]
async fn a_rating_written_reaches_the_marketplace_in_seconds_and_its_sync_invokes_nothing_more() {
    let env = TestEnv::new().await;
    let poller = poller(
        &env,
        env.stream_engine(SyncSettings::default()),
        OnFailure::Discard,
    )
    .await;
    let rating = &fresh(&env, 1)[0];
    let written = tokio::time::Instant::now();
    env.put(std::slice::from_ref(rating)).await;

    eventually(WITHIN, "the rating at the marketplace", || async {
        (env.simulator.ratings().await.unwrap().len() == 1).then_some(())
    })
    .await;
    let took = written.elapsed();
    synced_item(&env, &rating.id).await;
    // The mark-synced write reaches the stream too, and is filtered out:
    // the one invocation stays the only one.
    let stats = eventually(WITHIN, "the mark-synced record read", || async {
        let stats = poller.stats();
        (stats.records_seen >= 2).then_some(stats)
    })
    .await;
    assert_eq!(stats.invocations, 1, "{stats:?}");
    assert!(stats.records_filtered_out >= 1, "{stats:?}");
    assert!(took < WITHIN, "{took:?}");
    assert_eq!(env.stats().await["creates"], 1);
    poller.stop().await.expect("stop");
}

#[tokio::test]
async fn an_edit_after_a_sync_travels_through_the_stream_as_one_update() {
    let env = TestEnv::new().await;
    let poller = poller(
        &env,
        env.stream_engine(SyncSettings::default()),
        OnFailure::Discard,
    )
    .await;
    let rating = &fresh(&env, 1)[0];
    env.put(std::slice::from_ref(rating)).await;
    let synced = synced_item(&env, &rating.id).await;
    let remote_id = text(&synced, "remote_rating_id");
    let edited = if rating.rating == "5" { 4 } else { 5 };

    env.edit_locally(&rating.id, edited).await;
    eventually(WITHIN, "the edit at the marketplace", || async {
        let remote = env.simulator.ratings().await.unwrap();
        (remote.len() == 1 && remote[0]["rating"] == edited).then_some(())
    })
    .await;
    let stats = env.stats().await;
    assert_eq!(requests(&stats, "POST").len(), 1);
    let puts = requests(&stats, "PUT");
    assert_eq!(puts.len(), 1, "one update");
    assert!(puts[0]["path"].as_str().unwrap().ends_with(&remote_id));
    synced_item(&env, &rating.id).await;
    assert_eq!(poller.stats().invocations, 2);
    poller.stop().await.expect("stop");
}

#[tokio::test]
async fn with_the_marketplace_down_the_batch_ends_in_the_failure_queue_and_the_schedule_syncs_it() {
    let env = TestEnv::new().await;
    env.configure(json!({"fail_rate": 1.0, "fail_status": 503}))
        .await;
    let sqs = local_stack::sqs_client().await.expect("sqs client");
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{}failures", env.prefix))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url");
    let settings = SyncSettings {
        breaker_threshold: 2,
        ..retry_at_once()
    };
    let on_failure = OnFailure::Sqs {
        client: sqs.clone(),
        queue_url: queue_url.clone(),
    };
    let poller = poller(&env, env.stream_engine(settings.clone()), on_failure).await;
    let ratings = fresh(&env, 3);
    env.put(&ratings).await;

    let message = eventually(WITHIN, "the batch in the failure queue", || async {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .send()
            .await
            .expect("receive");
        out.messages()
            .first()
            .and_then(|m| m.body().map(str::to_owned))
    })
    .await;
    let message: Value = serde_json::from_str(&message).unwrap();
    assert_eq!(message["DDBStreamBatchInfo"]["batchSize"], 3, "{message}");
    let stats = poller.stats();
    assert!(stats.batch_item_failures >= 3, "{stats:?}");
    assert_eq!(stats.batches_sent_to_on_failure, 1, "{stats:?}");
    poller.stop().await.expect("stop");
    assert_eq!(
        env.pending_ids().await.len(),
        3,
        "still pending in the table"
    );
    assert!(
        env.dead_letters().await.is_empty(),
        "an outage is not recorded"
    );

    // The marketplace is back; past the grace period, the scheduled run
    // syncs them, once each.
    env.configure(json!({"fail_rate": 0.0})).await;
    let report = env.engine_with(settings).run(generous_deadline()).await;
    assert_eq!(report.created, 3, "{report:?}");
    assert!(env.pending_ids().await.is_empty());
    assert_eq!(env.stats().await["creates"], 3);
}
