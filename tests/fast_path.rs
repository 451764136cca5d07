//! The fast path: batches of stream records through `stream-rating-sync`'s
//! handler, against the local DynamoDB server and the simulator; and its
//! coexistence with the scheduled run.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use integration_tests::stream::stream_record;
use integration_tests::*;
use serde_json::json;
use shared::config::{RateLimit, SyncSettings};
use shared::rating::{Rating, SyncState};
use shared::store::{sync_state, timestamp};
use shared::triggers::stream::{handle, StreamEvent};
use tokio::io::AsyncWriteExt;

fn ids(ratings: &[Rating]) -> Vec<String> {
    ratings.iter().map(|r| r.id.clone()).collect()
}

/// `count` ratings written just now (younger than any grace period).
fn fresh(env: &TestEnv, count: usize, from: usize) -> Vec<Rating> {
    let now = timestamp(Utc::now());
    env.ratings(from + count, 0)
        .into_iter()
        .skip(from)
        .map(|mut rating| {
            rating.updated_at = now.clone();
            rating
        })
        .collect()
}

/// Every rating synced, each exactly once at the simulator.
async fn assert_each_at_the_marketplace_once(env: &TestEnv, ratings: &[Rating]) {
    let mut by_user: HashMap<String, usize> = HashMap::new();
    for remote in env.simulator.ratings().await.unwrap() {
        *by_user
            .entry(remote["user_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for rating in ratings {
        assert_eq!(by_user.get(&rating.user_id), Some(&1), "{}", rating.id);
        let item = env.item(&rating.id).await;
        assert_eq!(sync_state(&item), SyncState::Synced, "{}", rating.id);
    }
}

#[tokio::test]
async fn a_batch_is_uploaded_once_and_the_same_batch_again_sends_nothing() {
    let env = TestEnv::new().await;
    let ratings = fresh(&env, 5, 0);
    env.put(&ratings).await;
    let engine = env.stream_engine(SyncSettings::default());
    let event = env.stream_event(&ids(&ratings), 100).await;

    let (response, batch) = handle(&engine, &event, generous_deadline()).await;
    assert!(response.batch_item_failures.is_empty(), "{batch:?}");
    assert_eq!(batch.report.created, 5);
    assert_eq!(batch.report.freshness_seconds.len(), 5);
    assert!(batch
        .report
        .freshness_seconds
        .iter()
        .all(|seconds| (0.0..60.0).contains(seconds)));
    assert_each_at_the_marketplace_once(&env, &ratings).await;

    // Delivered again (the stream's at-least-once): the table says synced.
    let requests_before = env.stats().await["requests"].as_array().unwrap().len();
    let (response, batch) = handle(&engine, &event, generous_deadline()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((batch.report.uploaded, batch.ignored), (0, 5));
    let requests_after = env.stats().await["requests"].as_array().unwrap().len();
    assert_eq!(requests_after, requests_before, "nothing sent");
}

#[tokio::test]
async fn the_functions_own_writes_make_no_work() {
    let env = TestEnv::new().await;
    let ratings = fresh(&env, 3, 0);
    env.put(&ratings).await;
    let engine = env.stream_engine(SyncSettings::default());
    let event = env.stream_event(&ids(&ratings), 1).await;
    handle(&engine, &event, generous_deadline()).await;

    // The records the mark-synced writes produce: synced new images.
    let own = env.stream_event(&ids(&ratings), 10).await;
    assert!(own
        .records
        .iter()
        .all(|r| r["dynamodb"]["NewImage"].get("synced_to_saas").is_none()));
    let before = env.stats().await["requests"].as_array().unwrap().len();
    let (response, batch) = handle(&engine, &own, generous_deadline()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(batch.ignored, 3);
    assert_eq!(
        env.stats().await["requests"].as_array().unwrap().len(),
        before
    );
}

#[tokio::test]
async fn a_record_older_than_the_item_uploads_nothing_and_the_newer_one_its_content() {
    let env = TestEnv::new().await;
    let ratings = fresh(&env, 1, 0);
    env.put(&ratings).await;
    let id = ratings[0].id.clone();
    let old = env.stream_event(std::slice::from_ref(&id), 1).await;
    env.edit_locally(&id, 2).await;
    let engine = env.stream_engine(SyncSettings::default());

    let (response, batch) = handle(&engine, &old, generous_deadline()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((batch.report.uploaded, batch.ignored), (0, 1));
    assert!(env.simulator.ratings().await.unwrap().is_empty());
    assert_eq!(sync_state(&env.item(&id).await), SyncState::Pending);

    let newer = env.stream_event(std::slice::from_ref(&id), 2).await;
    let (_, batch) = handle(&engine, &newer, generous_deadline()).await;
    assert_eq!(batch.report.created, 1);
    let remote = env.simulator.ratings().await.unwrap();
    assert_eq!(
        remote[0]["rating"], 2,
        "the table's version, not the record's"
    );
}

#[tokio::test]
async fn an_edit_after_a_sync_travels_as_one_update() {
    let env = TestEnv::new().await;
    let ratings = fresh(&env, 1, 0);
    env.put(&ratings).await;
    let id = ratings[0].id.clone();
    let engine = env.stream_engine(SyncSettings::default());
    let event = env.stream_event(std::slice::from_ref(&id), 1).await;
    handle(&engine, &event, generous_deadline()).await;
    let remote_id = text(&env.item(&id).await, "remote_rating_id");

    env.edit_locally(&id, 4).await;
    let edit = env.stream_event(std::slice::from_ref(&id), 2).await;
    let (response, batch) = handle(&engine, &edit, generous_deadline()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(batch.report.updated, 1);
    let stats = env.stats().await;
    assert_eq!(requests(&stats, "POST").len(), 1, "one create in all");
    let puts = requests(&stats, "PUT");
    assert_eq!(puts.len(), 1, "one update");
    assert!(puts[0]["path"].as_str().unwrap().ends_with(&remote_id));
    let item = env.item(&id).await;
    assert_eq!(sync_state(&item), SyncState::Synced);
    assert_eq!(text(&item, "remote_rating_id"), remote_id);
}

#[tokio::test]
async fn a_refused_rating_is_parked_as_a_run_parks_it_and_not_delivered_again() {
    let env = TestEnv::new().await;
    let mut ratings = fresh(&env, 2, 0);
    ratings[1].rating = "9".into();
    env.put(&ratings).await;
    let engine = env.stream_engine(SyncSettings::default());
    let event = env.stream_event(&ids(&ratings), 1).await;
    let (response, batch) = handle(&engine, &event, generous_deadline()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((batch.report.created, batch.report.parked), (1, 1));
    assert_eq!(
        sync_state(&env.item(&ratings[1].id).await),
        SyncState::Parked
    );
    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert!(text(&dead[0], "error_message").contains("Invalid rating value: 9"));
}

/// Four fresh ratings pending, the marketplace answering 503 to every
/// request, and settings whose breaker opens after two failures.
async fn four_pending_with_the_marketplace_down(env: &TestEnv) -> (Vec<Rating>, SyncSettings) {
    let ratings = fresh(env, 4, 0);
    env.put(&ratings).await;
    env.configure(json!({"fail_rate": 1.0, "fail_status": 503}))
        .await;
    let settings = SyncSettings {
        breaker_threshold: 2,
        ..retry_at_once()
    };
    (ratings, settings)
}

#[tokio::test]
async fn with_the_marketplace_down_every_record_is_delivered_again_then_the_schedule_syncs_them() {
    let env = TestEnv::new().await;
    let (ratings, settings) = four_pending_with_the_marketplace_down(&env).await;
    let engine = env.stream_engine(settings.clone());
    let event = env.stream_event(&ids(&ratings), 7).await;
    let (response, batch) = handle(&engine, &event, generous_deadline()).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["7", "8", "9", "10"], "{batch:?}");
    assert!(batch.report.breaker_open);
    assert_eq!(env.pending_ids().await.len(), 4, "still pending");
    assert!(
        env.dead_letters().await.is_empty(),
        "an outage is not recorded"
    );

    // Back up: the scheduled run (the fast path's retries given up) takes them.
    env.configure(json!({"fail_rate": 0.0})).await;
    let report = env.engine_with(settings).run(generous_deadline()).await;
    assert_eq!(report.created, 4, "{report:?}");
    assert_each_at_the_marketplace_once(&env, &ratings).await;
}

#[tokio::test]
async fn a_batch_that_meets_an_open_breaker_reports_an_error_as_a_run_does() {
    let env = TestEnv::new().await;
    let (ratings, settings) = four_pending_with_the_marketplace_down(&env).await;
    let engine = env.stream_engine(settings.clone());
    let event = env.stream_event(&ids(&ratings), 1).await;
    let (_, batch) = handle(&engine, &event, generous_deadline()).await;
    let run = env.engine_with(settings).run(generous_deadline()).await;

    // The same outage, read the same way on both paths.
    for (path, report) in [("fast path", &batch.report), ("run", &run)] {
        assert!(report.breaker_open, "{path}: {report:?}");
        assert!(!report.success, "{path}: {report:?}");
        let error = report.error.as_deref().unwrap_or_default();
        assert!(!error.is_empty(), "{path}: {report:?}");
        assert_eq!(report.stopped_early.as_deref(), Some(error), "{path}");
        assert_eq!(report.message, format!("Sync stopped: {error}"), "{path}");
        assert_eq!(report.failed, 0, "{path}: an outage is not a failure");
    }
    assert_eq!(env.pending_ids().await.len(), 4, "still pending");
}

#[tokio::test]
async fn a_scheduled_run_leaves_ratings_younger_than_the_grace_period_to_the_fast_path() {
    let env = TestEnv::new().await;
    let old = env.ratings(6, 0);
    let young = fresh(&env, 4, 6);
    env.put(&old).await;
    env.put(&young).await;
    let with_grace = SyncSettings {
        fast_path_grace: Duration::from_secs(300),
        ..SyncSettings::default()
    };
    let report = env
        .engine_with(with_grace.clone())
        .run(generous_deadline())
        .await;
    assert_eq!(report.created, 6, "{report:?}");
    let mut pending = env.pending_ids().await;
    pending.sort();
    let mut expected = ids(&young);
    expected.sort();
    assert_eq!(pending, expected, "the young ones are left");

    // An admin's run asks for everything now: no grace.
    let report = env
        .engine_with(with_grace)
        .run_on_request(generous_deadline())
        .await;
    assert_eq!(report.created, 4, "{report:?}");
    assert!(env.pending_ids().await.is_empty());
}

#[tokio::test]
async fn a_burst_on_the_fast_path_while_a_run_drains_a_backlog_reaches_the_marketplace_once_each() {
    let env = TestEnv::new().await;
    let backlog = env.ratings(2000, 0);
    let burst = fresh(&env, 500, 2000);
    env.put(&backlog).await;
    let settings = SyncSettings {
        fast_path_grace: Duration::from_secs(300),
        pull_skills_per_run: 0,
        ..SyncSettings::default()
    };
    let scheduled = env.engine_with(settings.clone());
    let fast = env.stream_engine(settings);

    // Some stream records of the backlog arrive late, while the run has
    // them: both paths meet on those ratings.
    let late: Vec<String> = ids(&backlog[..20]);
    let late_event = env.stream_event(&late, 1).await;
    let stream = async {
        env.put(&burst).await;
        let (_, batch) = handle(&fast, &late_event, generous_deadline()).await;
        let mut retried = batch.retry.len();
        for (at, chunk) in burst.chunks(10).enumerate() {
            let mut records = Vec::new();
            for (offset, rating) in chunk.iter().enumerate() {
                let item = env.item(&rating.id).await;
                records.push(stream_record(
                    "INSERT",
                    &item,
                    1000 + (at * 10 + offset) as u64,
                ));
            }
            let (_, batch) = handle(&fast, &StreamEvent { records }, generous_deadline()).await;
            retried += batch.retry.len();
        }
        retried
    };
    let (report, retried) = tokio::join!(scheduled.run(generous_deadline()), stream);
    assert_eq!(retried, 0);
    assert!(report.success, "{report:?}");

    let all: Vec<Rating> = backlog.iter().chain(&burst).cloned().collect();
    assert_each_at_the_marketplace_once(&env, &all).await;
    let stats = env.stats().await;
    assert_eq!(stats["creates"], 2500);
    let posts = requests(&stats, "POST").len() as f64;
    assert!(posts / 2500.0 <= 1.02, "{posts} requests for 2,500 ratings");
}

#[tokio::test]
async fn the_rate_ceiling_holds_across_the_scheduled_run_and_the_fast_path_together() {
    let env = TestEnv::new().await;
    let backlog = env.ratings(24, 0);
    let burst = fresh(&env, 24, 24);
    env.put(&backlog).await;
    env.put(&burst).await;
    let window = Duration::from_secs(2);
    let settings = SyncSettings {
        rate_limit: Some(RateLimit {
            max: 8,
            per: window,
        }),
        fast_path_grace: Duration::from_secs(300),
        pull_skills_per_run: 0,
        ..SyncSettings::default()
    };
    let scheduled = env.engine_with(settings.clone());
    let fast = env.stream_engine(settings);
    let stream = async {
        let mut sent = 0;
        for (at, chunk) in burst.chunks(6).enumerate() {
            let event = env.stream_event(&ids(chunk), (at * 10) as u64).await;
            let (response, batch) = handle(&fast, &event, generous_deadline()).await;
            assert!(response.batch_item_failures.is_empty(), "{batch:?}");
            sent += batch.report.uploaded;
        }
        sent
    };
    let (report, fast_uploaded) = tokio::join!(scheduled.run(generous_deadline()), stream);
    assert_eq!((report.uploaded, fast_uploaded), (24, 24), "{report:?}");

    // Both paths were sending at once, and no window of the marketplace's
    // saw more than the ceiling.
    let stats = env.stats().await;
    let sent = stats["requests"].as_array().unwrap();
    let times: Vec<f64> = sent.iter().map(|r| r["at"].as_f64().unwrap()).collect();
    assert_eq!(times.len(), 48);
    let span_of = |ratings: &[Rating]| {
        let at: Vec<f64> = sent
            .iter()
            .filter(|r| {
                let key = r["idempotency_key"].as_str().unwrap_or_default();
                ratings.iter().any(|rating| key.contains(&rating.id))
            })
            .map(|r| r["at"].as_f64().unwrap())
            .collect();
        (
            at.iter().cloned().fold(f64::MAX, f64::min),
            at.iter().cloned().fold(f64::MIN, f64::max),
        )
    };
    let (scheduled_from, scheduled_to) = span_of(&backlog);
    let (fast_from, fast_to) = span_of(&burst);
    assert!(
        scheduled_from < fast_to && fast_from < scheduled_to,
        "the paths overlapped: {scheduled_from}..{scheduled_to} and {fast_from}..{fast_to}"
    );
    let most = most_in_any_window(&times, window);
    assert!(most <= 8, "{most} requests in one window");
    assert!(most >= 6, "the ceiling was used: {most}");
}

#[tokio::test]
async fn a_fast_path_process_killed_mid_batch_leaves_nothing_lost_or_duplicated() {
    let env = TestEnv::new().await;
    env.configure(json!({"latency_ms": 10})).await;
    let fast = env.stream_engine(SyncSettings::default());
    let mut all = Vec::new();
    for trial in 0..12u64 {
        // Each trial's ratings have ids and users of their own.
        let ratings: Vec<Rating> = local_stack::seed::sample_ratings(
            &format!("{}k{trial}_", env.prefix),
            10,
            0,
            Utc::now(),
        );
        env.put(&ratings).await;
        let event = env.stream_event(&ids(&ratings), trial * 100).await;
        all.extend(ratings);

        let mut process = env
            .function_process(env!("CARGO_BIN_EXE_stream-once"))
            .stdin(Stdio::piped())
            .spawn()
            .expect("start stream-once");
        let mut stdin = process.stdin.take().expect("stdin");
        let body = serde_json::to_vec(&json!({"Records": event.records})).unwrap();
        stdin.write_all(&body).await.unwrap();
        drop(stdin);
        // Anywhere from before the first upload to after the last.
        let kill_at = Duration::from_millis((uuid::Uuid::new_v4().as_u128() % 400) as u64);
        tokio::time::sleep(kill_at).await;
        process.start_kill().ok();
        process.wait().await.unwrap();

        // A function that dies is answered by the stream with the whole
        // batch again.
        let (response, batch) = handle(&fast, &event, generous_deadline()).await;
        assert!(response.batch_item_failures.is_empty(), "{batch:?}");
    }
    assert_each_at_the_marketplace_once(&env, &all).await;
    assert_eq!(env.stats().await["creates"], all.len());
    assert!(env.pending_ids().await.is_empty());
    assert!(env.dead_letters().await.is_empty());
}

/// A rating whose first upload failed (a 503 with the marketplace
/// otherwise up): waiting, with a dead-letter item.
async fn failed_once_on_the_fast_path(env: &TestEnv, from: usize) -> Rating {
    let rating = fresh(env, 1, from).remove(0);
    env.put(std::slice::from_ref(&rating)).await;
    env.configure(json!({"fail_rate": 1.0, "fail_status": 503}))
        .await;
    let settings = SyncSettings {
        request_attempts: 1,
        breaker_threshold: 100,
        ..retry_at_once()
    };
    let engine = env.stream_engine(settings);
    let (response, batch) = env
        .deliver(&engine, std::slice::from_ref(&rating.id), 1)
        .await;
    assert!(response.batch_item_failures.is_empty(), "{batch:?}");
    assert_eq!(batch.report.failed, 1, "{batch:?}");
    assert_eq!(sync_state(&env.item(&rating.id).await), SyncState::Waiting);
    assert_eq!(env.dead_letters().await.len(), 1);
    env.configure(json!({"fail_rate": 0.0})).await;
    rating
}

#[tokio::test]
async fn a_rating_that_failed_before_loses_its_dead_letter_item_when_the_fast_path_syncs_it() {
    let env = TestEnv::new().await;
    let rating = failed_once_on_the_fast_path(&env, 0).await;
    env.edit_locally(&rating.id, 4).await;
    let engine = env.stream_engine(SyncSettings::default());
    let (response, batch) = env
        .deliver(&engine, std::slice::from_ref(&rating.id), 2)
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(batch.report.created, 1, "{batch:?}");
    assert_eq!(sync_state(&env.item(&rating.id).await), SyncState::Synced);
    assert!(env.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_rating_that_fails_again_on_the_fast_path_has_its_failure_counted_again() {
    let env = TestEnv::new().await;
    let rating = failed_once_on_the_fast_path(&env, 0).await;
    env.edit_locally(&rating.id, 9).await;
    let engine = env.stream_engine(SyncSettings::default());
    let (_, batch) = env
        .deliver(&engine, std::slice::from_ref(&rating.id), 2)
        .await;
    assert_eq!(batch.report.parked, 1, "{batch:?}");
    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(text(&dead[0], "retry_count"), "2");
    assert!(text(&dead[0], "error_message").contains("Invalid rating value: 9"));
}

#[tokio::test]
async fn a_409_on_the_fast_path_takes_a_newer_remote_rating_and_logs_the_conflict() {
    let env = TestEnv::new().await;
    // Written a day ago; the marketplace's copy an hour after that.
    let rating = env.ratings(1, 0).remove(0);
    let newer =
        shared::conflict::parse_time(&rating.updated_at).unwrap() + chrono::Duration::hours(1);
    env.simulator
        .insert_rating(json!({
            "skill_id": rating.skill_id,
            "user_id": rating.user_id,
            "rating": 5,
            "comment": "from elsewhere",
            "updated_at": timestamp(newer),
        }))
        .await
        .unwrap();
    env.put(std::slice::from_ref(&rating)).await;
    let event = env.stream_event(std::slice::from_ref(&rating.id), 1).await;
    let (response, batch) = handle(
        &env.stream_engine(SyncSettings::default()),
        &event,
        generous_deadline(),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(batch.report.pulled, 1, "{batch:?}");
    let item = env.item(&rating.id).await;
    assert_eq!(sync_state(&item), SyncState::Synced);
    assert_eq!(text(&item, "rating"), "5");
    assert_eq!(env.store().conflicts_of(&rating.id).await.unwrap().len(), 1);
    assert_eq!(env.stats().await["creates"], 0);
}
