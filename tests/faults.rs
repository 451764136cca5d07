//! Delivery under every fault the simulator can produce: no rating lost,
//! none duplicated, and the dead-letter table holding real problems only.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::*;
use serde_json::json;
use shared::config::{RateLimit, SyncSettings};
use shared::rating::SyncState;
use shared::report::NOTHING_PENDING;
use shared::store::{sync_state, DEAD, RETRYING};

#[tokio::test]
async fn under_errors_timeouts_and_rate_limits_every_rating_arrives_exactly_once() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(150, 0);
    env.put(&ratings).await;
    env.configure(json!({
        "fail_rate": 0.3,
        "fail_status": 500,
        "accept_then_delay_rate": 0.1,
        "accept_then_delay_ms": 1500,
        "script": [
            {"status": 429, "headers": {"Retry-After": "1"}},
            {"status": 429, "headers": {"Retry-After": "1"}},
            {"status": 429, "headers": {"Retry-After": "1"}}
        ]
    }))
    .await;
    let mut config = env.config(SyncSettings {
        breaker_threshold: 1000,
        max_attempts: 100,
        ..retry_at_once()
    });
    config.marketplace.request_timeout = Duration::from_secs(1);
    let engine = shared::triggers::clients::sync_engine(&config, env.client.clone()).unwrap();

    for _ in 0..2 {
        let report = engine.run(generous_deadline()).await;
        assert!(report.success, "{report:?}");
    }
    // The faults stop; the next runs finish the work.
    env.configure(json!({"fail_rate": 0.0, "accept_then_delay_rate": 0.0, "script": []}))
        .await;
    for _ in 0..3 {
        let report = engine.run(generous_deadline()).await;
        if report.pending_count == Some(0) {
            break;
        }
    }
    env.assert_each_synced_once(&ratings).await;
    assert!(
        env.dead_letters().await.is_empty(),
        "nothing fails any more"
    );
    let by_status = &env.stats().await["by_status"];
    assert!(
        by_status["500"].as_u64().unwrap_or(0) > 0,
        "faults happened: {by_status}"
    );
    assert!(by_status["429"].as_u64().unwrap_or(0) == 3, "{by_status}");
}

#[tokio::test]
async fn a_rating_stored_but_answered_after_the_timeout_is_not_created_twice() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(5, 0);
    env.put(&ratings).await;
    env.configure(json!({"accept_then_delay_rate": 1.0, "accept_then_delay_ms": 1500}))
        .await;
    let mut config = env.config(retry_at_once());
    config.marketplace.request_timeout = Duration::from_secs(1);
    let report = shared::triggers::clients::sync_engine(&config, env.client.clone())
        .unwrap()
        .run(generous_deadline())
        .await;

    assert_eq!(report.created, 5, "{report:?}");
    let posts = requests(&env.stats().await, "POST");
    assert_eq!(posts.len(), 10, "each timed out once, then was replayed");
    env.assert_each_synced_once(&ratings).await;
}

#[tokio::test]
async fn a_marketplace_that_is_down_opens_the_breaker_and_leaves_the_dead_letter_table_alone() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(50, 0)).await;
    env.configure(json!({"fail_rate": 1.0, "fail_status": 503}))
        .await;

    let report = env
        .engine_with(retry_at_once())
        .run(generous_deadline())
        .await;

    assert!(!report.success);
    assert!(report.breaker_open, "{report:?}");
    let error = report.error.clone().unwrap();
    assert!(error.contains("Marketplace unavailable"), "{error}");
    assert_eq!(report.uploaded + report.failed, 0);
    // One request at a time until the first answer, and no more than the
    // breaker's threshold of them.
    let stats = env.stats().await;
    assert_eq!(
        stats["requests_total"],
        SyncSettings::default().breaker_threshold
    );
    assert_eq!(stats["max_in_flight"], 1);
    assert!(env.dead_letters().await.is_empty());
    assert_eq!(
        env.pending_ids().await.len(),
        50,
        "every rating still pending"
    );

    // The next run tries again, and works once the marketplace is back.
    env.configure(json!({"fail_rate": 0.0})).await;
    let next = env.engine().run(generous_deadline()).await;
    assert_eq!(next.uploaded, 50, "{next:?}");
}

#[tokio::test]
async fn bad_credentials_stop_the_run_with_one_clear_error() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(20, 0)).await;

    let report = env
        .engine_with_token(SyncSettings::default(), "not-the-token")
        .run(generous_deadline())
        .await;

    assert!(!report.success);
    assert!(report.breaker_open);
    let error = report.error.unwrap();
    assert!(error.contains("rejected our credentials (401)"), "{error}");
    assert!(!error.contains("not-the-token"), "the token never shows");
    assert_eq!(
        env.stats().await["requests_total"],
        1,
        "one request found it"
    );
    assert!(env.dead_letters().await.is_empty());
    assert_eq!(env.pending_ids().await.len(), 20);
}

#[tokio::test]
async fn a_permanent_error_parks_the_rating_at_once() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(4, 0);
    env.put(&ratings).await;
    let unknown = &ratings[1];
    env.configure(json!({"unknown_skills": [unknown.skill_id]}))
        .await;

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!(
        (report.uploaded, report.failed, report.parked),
        (3, 1, 1),
        "{report:?}"
    );
    let failed = env
        .store()
        .failed_upload(&unknown.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.status.as_str(), DEAD);
    assert!(!failed.retryable);
    assert!(
        failed.error_message.contains(&unknown.skill_id),
        "{}",
        failed.error_message
    );
    assert_eq!(sync_state(&env.item(&unknown.id).await), SyncState::Parked);
    let posts_before = requests(&env.stats().await, "POST").len();

    let next = env.engine().run(generous_deadline()).await;
    assert_eq!(next.message, NOTHING_PENDING, "{next:?}");
    assert_eq!(requests(&env.stats().await, "POST").len(), posts_before);
}

#[tokio::test]
async fn a_transient_failure_waits_and_is_parked_after_the_last_attempt() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(1, 0);
    let rating = &ratings[0];
    env.put(&ratings).await;
    env.configure(json!({"fail_rate": 1.0, "fail_status": 502}))
        .await;
    let engine = env.engine_with(SyncSettings {
        max_attempts: 3,
        request_attempts: 1,
        breaker_threshold: 100,
        ..retry_at_once()
    });

    for attempt in 1..=3u32 {
        let report = engine.run(generous_deadline()).await;
        assert_eq!(report.failed, 1, "run {attempt}: {report:?}");
        let failed = env
            .store()
            .failed_upload(&rating.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.retry_count, attempt);
        if attempt < 3 {
            assert_eq!(failed.status.as_str(), RETRYING);
            assert!(failed.next_retry_at.is_some());
            assert_eq!(sync_state(&env.item(&rating.id).await), SyncState::Waiting);
        } else {
            assert_eq!(
                failed.status.as_str(),
                DEAD,
                "parked after the last attempt"
            );
            assert_eq!(failed.next_retry_at, None);
            assert!(failed.retryable, "parked for its attempts, not its error");
            assert_eq!(report.parked, 1);
            assert_eq!(sync_state(&env.item(&rating.id).await), SyncState::Parked);
        }
    }
    let requests = env.stats().await["requests_total"].clone();
    assert_eq!(requests, 3);
    let after = engine.run(generous_deadline()).await;
    assert_eq!(after.message, NOTHING_PENDING, "{after:?}");
    assert_eq!(
        env.stats().await["requests_total"],
        requests,
        "a parked rating is not read"
    );
}

#[tokio::test]
async fn a_failed_rating_waits_for_its_backoff_and_costs_the_runs_before_nothing() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(3, 0);
    env.put(&ratings).await;
    env.configure(json!({"fail_rate": 1.0})).await;
    // The default backoff: the first retry is 7.5 to 15 minutes away.
    let engine = env.engine_with(SyncSettings {
        request_attempts: 1,
        breaker_threshold: 100,
        ..SyncSettings::default()
    });
    let first = engine.run(generous_deadline()).await;
    assert_eq!(first.failed, 3, "{first:?}");
    let now = chrono::Utc::now();
    for rating in &ratings {
        let failed = env
            .store()
            .failed_upload(&rating.id)
            .await
            .unwrap()
            .unwrap();
        let due =
            chrono::DateTime::parse_from_rfc3339(failed.next_retry_at.as_deref().unwrap()).unwrap();
        let wait = due.with_timezone(&chrono::Utc) - now;
        assert!(
            wait > chrono::Duration::minutes(7) && wait <= chrono::Duration::minutes(15),
            "{wait}"
        );
    }

    env.configure(json!({"fail_rate": 0.0})).await;
    let second = engine.run(generous_deadline()).await;
    assert_eq!(second.message, NOTHING_PENDING, "{second:?}");
    assert_eq!(second.waiting_count, Some(3));
    assert_eq!(
        second.pending_count,
        Some(3),
        "waiting ratings are still backlog"
    );
    assert_eq!(
        env.stats().await["requests_total"],
        3,
        "nothing sent before the due time"
    );
}

#[tokio::test]
async fn thousands_of_waiting_ratings_are_not_read_by_a_run() {
    let env = TestEnv::new().await;
    // Waiting ratings, due in an hour, written directly.
    let later = shared::store::timestamp(chrono::Utc::now() + chrono::Duration::hours(1));
    let items: Vec<_> = env
        .ratings(1000, 0)
        .iter()
        .map(|rating| {
            let mut item = shared::store::new_rating_item(rating);
            item.remove("synced_to_saas");
            item.insert("sync_retry".into(), AttributeValue::S("waiting".into()));
            item.insert("next_attempt_at".into(), AttributeValue::S(later.clone()));
            item.insert("sync_failures".into(), AttributeValue::N("1".into()));
            item
        })
        .collect();
    local_stack::seed::put_items(&env.client, &env.tables.ratings, items)
        .await
        .unwrap();
    let fresh = TestEnv::ratings(&env, 1001, 0).pop().unwrap();
    env.put(std::slice::from_ref(&fresh)).await;

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!(report.uploaded, 1, "only the new rating: {report:?}");
    assert_eq!(report.skipped, 0);
    assert_eq!(report.waiting_count, Some(1000));
    assert_eq!(requests(&env.stats().await, "POST").len(), 1);
}

#[tokio::test]
async fn the_rate_ceiling_holds_in_every_window() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(30, 0)).await;
    let window = Duration::from_secs(2);
    let settings = SyncSettings {
        rate_limit: Some(RateLimit {
            max: 8,
            per: window,
        }),
        ..SyncSettings::default()
    };

    let report = env.engine_with(settings).run(generous_deadline()).await;
    assert_eq!(report.uploaded, 30, "{report:?}");

    // The simulator's arrival times, in any window of that length.
    let times: Vec<f64> = env.stats().await["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["at"].as_f64().unwrap())
        .collect();
    let most = most_in_any_window(&times, window);
    assert_eq!(most, 8, "the ceiling is reached and never passed");
}

#[tokio::test]
async fn a_sync_killed_at_random_points_loses_and_duplicates_nothing() {
    let env = TestEnv::new().await;
    env.configure(json!({"latency_ms": 10})).await;
    // The pull is off: it would read a growing list of skills every run,
    // and what is crash-tested here is the push.
    let settings = SyncSettings {
        lease_ttl: Duration::from_secs(1),
        pull_skills_per_run: 0,
        ..retry_at_once()
    };
    let engine = env.engine_with(settings);
    let mut all = Vec::new();
    for trial in 0..20 {
        // Each trial's ratings have ids and users of their own.
        let start = chrono::Utc::now() - chrono::Duration::days(1);
        let ratings =
            local_stack::seed::sample_ratings(&format!("{}k{trial}_", env.prefix), 30, 0, start);
        env.put(&ratings).await;
        all.extend(ratings);

        let mut process = env
            .function_process(env!("CARGO_BIN_EXE_sync-once"))
            .env("RATING_SYNC_LEASE_SECONDS", "1")
            .env("RATING_SYNC_PULL_SKILLS_PER_RUN", "0")
            .spawn()
            .expect("start sync-once");
        // The kill point: anywhere from before the lease to after the end.
        tokio::time::sleep(random_kill_point()).await;
        process.start_kill().ok();
        process.wait().await.unwrap();

        // A normal run finishes the work, once the dead run's lease expires.
        eventually(
            Duration::from_secs(10),
            "a run that gets the lease",
            || async {
                let report = engine.run(generous_deadline()).await;
                report.success.then_some(())
            },
        )
        .await;
    }

    env.assert_each_synced_once(&all).await;
    assert!(env.pending_ids().await.is_empty());
    assert!(env.dead_letters().await.is_empty());
    // No lease left behind.
    let lease = env
        .client
        .get_item()
        .table_name(&env.tables.sync_state)
        .key("pk", AttributeValue::S("lease".into()))
        .key("sk", AttributeValue::S(shared::sync::LEASE_NAME.into()))
        .send()
        .await
        .unwrap();
    assert!(lease.item.is_none());
    let users: HashSet<_> = all.iter().map(|r| &r.user_id).collect();
    assert_eq!(
        users.len(),
        all.len(),
        "every trial rated by users of its own"
    );
}

/// Anywhere in 0..900 ms: the whole life of a short run, start to end.
fn random_kill_point() -> Duration {
    Duration::from_millis((uuid::Uuid::new_v4().as_u128() % 900) as u64)
}
