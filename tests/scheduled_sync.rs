//! The scheduled sync against a real DynamoDB server (moto) and the
//! marketplace simulator: every behaviour the foundation promises.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::*;
use serde_json::json;
use shared::config::SyncSettings;
use shared::report::{ALREADY_RUNNING, NOTHING_PENDING};

#[tokio::test]
async fn a_backlog_of_250_is_uploaded_in_one_run_each_exactly_once() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(250, 0);
    env.put(&ratings).await;

    let report = env.engine().run(generous_deadline()).await;

    assert!(report.success, "{report:?}");
    assert_eq!(report.uploaded, 250);
    assert_eq!(report.created, 250);
    assert_eq!(report.failed, 0);
    assert_eq!(report.pending_count, Some(0));

    let stats = env.stats().await;
    let posts = requests(&stats, "POST");
    assert_eq!(posts.len(), 250, "one request per rating");
    assert_eq!(stats["creates"], 250);
    let distinct: HashSet<_> = posts.iter().map(|r| r["user_id"].to_string()).collect();
    assert_eq!(distinct.len(), 250, "no rating sent twice");

    let remote = env.remote_ids_by_user().await;
    for rating in &ratings {
        let item = env.item(&rating.id).await;
        assert!(
            !item.contains_key("synced_to_saas"),
            "{} still pending",
            rating.id
        );
        assert!(!text(&item, "synced_at").is_empty());
        assert_eq!(text(&item, "remote_rating_id"), remote[&rating.user_id]);
    }
    assert!(
        env.pending_ids().await.is_empty(),
        "the index holds the backlog only"
    );
}

#[tokio::test]
async fn only_pending_ratings_are_uploaded() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(100, 0);
    env.put(&ratings).await;
    // Half of them were synced earlier: no synced_to_saas, a remote id.
    for rating in ratings.iter().step_by(2) {
        env.client
            .update_item()
            .table_name(&env.tables.ratings)
            .key("id", AttributeValue::S(rating.id.clone()))
            .update_expression("SET remote_rating_id = :r, synced_at = :t REMOVE synced_to_saas")
            .expression_attribute_values(":r", AttributeValue::S(format!("old-{}", rating.id)))
            .expression_attribute_values(":t", AttributeValue::S("2026-01-01T00:00:00.000Z".into()))
            .send()
            .await
            .unwrap();
    }

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!(report.uploaded, 50, "{report:?}");
    let sent: HashSet<String> = requests(&env.stats().await, "POST")
        .iter()
        .map(|r| r["user_id"].as_str().unwrap().to_owned())
        .collect();
    let expected: HashSet<String> = ratings
        .iter()
        .skip(1)
        .step_by(2)
        .map(|r| r.user_id.clone())
        .collect();
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn the_oldest_ratings_are_uploaded_first() {
    let env = TestEnv::new().await;
    let mut ratings = env.ratings(30, 0);
    // Written in shuffled order: the index, not the insertion, decides.
    ratings.reverse();
    ratings.swap(3, 17);
    env.put(&ratings).await;

    let one_at_a_time = SyncSettings {
        max_concurrency: 1,
        batch_size: 7,
        ..SyncSettings::default()
    };
    let report = env
        .engine_with(one_at_a_time)
        .run(generous_deadline())
        .await;
    assert_eq!(report.uploaded, 30, "{report:?}");

    let sent: Vec<String> = requests(&env.stats().await, "POST")
        .iter()
        .map(|r| r["user_id"].as_str().unwrap().to_owned())
        .collect();
    let mut by_age = ratings.clone();
    by_age.sort_by(|a, b| a.updated_at.cmp(&b.updated_at));
    let oldest_first: Vec<String> = by_age.iter().map(|r| r.user_id.clone()).collect();
    assert_eq!(sent, oldest_first);
}

#[tokio::test]
async fn never_more_requests_in_flight_than_the_cap() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(120, 0)).await;
    env.configure(json!({"latency_ms": 40})).await;

    let capped = SyncSettings {
        max_concurrency: 4,
        batch_size: 25,
        ..SyncSettings::default()
    };
    let report = env.engine_with(capped).run(generous_deadline()).await;
    assert_eq!(report.uploaded, 120, "{report:?}");
    // The cap is reached (the run is concurrent) and never passed, also
    // across page boundaries.
    assert_eq!(env.stats().await["max_in_flight"], 4);
}

#[tokio::test]
async fn the_default_cap_is_ten_requests_in_flight() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(150, 0)).await;
    env.configure(json!({"latency_ms": 40})).await;

    let report = env.engine().run(generous_deadline()).await;
    assert_eq!(report.uploaded, 150, "{report:?}");
    assert_eq!(env.stats().await["max_in_flight"], 10);
}

#[tokio::test]
async fn an_invalid_rating_goes_to_the_dead_letter_table_without_a_request() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(10, 2); // the last two have 0 and 7 stars
    env.put(&ratings).await;

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!(report.uploaded, 8, "{report:?}");
    assert_eq!(report.failed, 2);
    let invalid = &ratings[8..];
    let sent: HashSet<String> = requests(&env.stats().await, "POST")
        .iter()
        .map(|r| r["user_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent.len(), 8);
    for rating in invalid {
        assert!(
            !sent.contains(&rating.user_id),
            "no request for {}",
            rating.id
        );
        let failed = env
            .store()
            .failed_upload(&rating.id)
            .await
            .unwrap()
            .expect("dead letter");
        assert_eq!(
            failed.error_message,
            format!("Invalid rating value: {}. Must be 1-5", rating.rating)
        );
        assert_eq!(failed.retry_count, 1);
        assert_eq!(failed.last_retry_at, None);
        assert_eq!(failed.tenant_id, rating.tenant_id);
        // Bad data does not heal by itself: parked at once, not retried.
        assert_eq!(failed.status.as_str(), shared::store::DEAD);
        assert!(!failed.retryable);
        let item = env.item(&rating.id).await;
        assert_eq!(
            shared::store::sync_state(&item),
            shared::rating::SyncState::Parked
        );
    }
    assert_eq!(report.parked, 2);
    assert!(env.pending_ids().await.is_empty());
    assert!(env.waiting_ids().await.is_empty());
    // The next run does not read them again.
    let next = env.engine().run(generous_deadline()).await;
    assert_eq!(next.message, NOTHING_PENDING, "{next:?}");
}

#[tokio::test]
async fn failures_are_counted_in_the_dead_letter_table_until_the_rating_syncs() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(60, 0);
    env.put(&ratings).await;
    env.configure(json!({"fail_rate": 0.3, "fail_status": 503}))
        .await;
    // One attempt per run, failures due again at once, no breaker: each run
    // counts one retry for each failing rating.
    let settings = SyncSettings {
        request_attempts: 1,
        breaker_threshold: 1000,
        ..retry_at_once()
    };
    let engine = env.engine_with(settings);

    // First run: some fail, the rest sync.
    let first = engine.run(generous_deadline()).await;
    assert!(first.failed > 0 && first.uploaded > 0, "{first:?}");
    assert_eq!(first.uploaded + first.failed, 60);
    let dead = env.dead_letters().await;
    assert_eq!(dead.len() as u64, first.failed);
    let waiting: HashSet<String> = env.waiting_ids().await.into_iter().collect();
    let dead_ids: HashSet<String> = dead.iter().map(|i| text(i, "rating_id")).collect();
    assert_eq!(
        waiting, dead_ids,
        "exactly the failures wait for another attempt"
    );
    assert!(env.pending_ids().await.is_empty());
    for item in &dead {
        assert_eq!(text(item, "retry_count"), "1");
        assert_eq!(text(item, "status"), "retrying");
        assert!(!text(item, "next_retry_at").is_empty());
        assert!(!item.contains_key("last_retry_at"));
        assert!(text(item, "error_message").contains("503"), "{item:?}");
    }
    let first_failed_at: HashMap<String, String> = dead
        .iter()
        .map(|i| (text(i, "id"), text(i, "failed_at")))
        .collect();

    // Second run, everything fails: each item counts a retry.
    env.configure(json!({"fail_rate": 1.0, "fail_status": 500}))
        .await;
    let second = engine.run(generous_deadline()).await;
    assert_eq!(second.failed, first.failed, "{second:?}");
    for item in env.dead_letters().await {
        assert_eq!(text(&item, "retry_count"), "2");
        assert!(!text(&item, "last_retry_at").is_empty());
        assert_eq!(
            text(&item, "failed_at"),
            first_failed_at[&text(&item, "id")],
            "failed_at kept"
        );
        assert!(
            text(&item, "error_message").contains("500"),
            "message replaced"
        );
    }

    // Third run, the marketplace is healthy: all synced, the table empty.
    env.configure(json!({"fail_rate": 0.0})).await;
    let third = engine.run(generous_deadline()).await;
    assert_eq!(third.uploaded, first.failed, "{third:?}");
    assert!(env.dead_letters().await.is_empty());
    assert!(env.pending_ids().await.is_empty());
    assert!(env.waiting_ids().await.is_empty());
    let stats = env.stats().await;
    assert_eq!(stats["creates"], 60, "each rating created exactly once");
    for rating in &ratings {
        let item = env.item(&rating.id).await;
        assert!(!item.contains_key("sync_failures"));
        assert_eq!(
            shared::store::sync_state(&item),
            shared::rating::SyncState::Synced
        );
    }
}

#[tokio::test]
async fn a_rating_edited_during_its_upload_stays_pending_and_travels_as_an_update() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(1, 0);
    let rating = &ratings[0];
    env.put(&ratings).await;
    env.configure(json!({"latency_ms": 600})).await;

    let engine = env.engine();
    let run = engine.run(generous_deadline());
    let edit = async {
        eventually(
            Duration::from_secs(10),
            "the upload to be in flight",
            || async { (env.stats().await["in_flight"] == 1).then_some(()) },
        )
        .await;
        env.client
            .update_item()
            .table_name(&env.tables.ratings)
            .key("id", AttributeValue::S(rating.id.clone()))
            .update_expression(
                "SET rating = :r, review = :c, version = version + :one, updated_at = :u, synced_to_saas = :p",
            )
            .expression_attribute_values(":r", AttributeValue::N("2".into()))
            .expression_attribute_values(":c", AttributeValue::S("changed my mind".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":u", AttributeValue::S(shared::store::timestamp(chrono::Utc::now())))
            .expression_attribute_values(":p", AttributeValue::S("false".into()))
            .send()
            .await
            .unwrap();
    };
    let (report, ()) = tokio::join!(run, edit);

    assert_eq!(report.changed_during_upload, 1, "{report:?}");
    let item = env.item(&rating.id).await;
    assert_eq!(text(&item, "synced_to_saas"), "false", "still pending");
    assert_eq!(text(&item, "rating"), "2");
    assert_eq!(text(&item, "review"), "changed my mind");
    let remote_id = text(&item, "remote_rating_id");
    assert!(!remote_id.is_empty(), "the remote id is kept");

    // The next run sends the edit as an update of the same remote rating.
    env.configure(json!({"latency_ms": 0})).await;
    let next = env.engine().run(generous_deadline()).await;
    assert_eq!(next.updated, 1, "{next:?}");
    let stats = env.stats().await;
    assert_eq!(stats["creates"], 1);
    assert_eq!(stats["updates"], 1);
    let remote = env.simulator.ratings().await.unwrap();
    assert_eq!(remote.len(), 1, "still one remote rating");
    assert_eq!(remote[0]["id"], remote_id.as_str());
    assert_eq!(remote[0]["rating"], 2);
    assert_eq!(remote[0]["comment"], "changed my mind");
    assert!(!env.item(&rating.id).await.contains_key("synced_to_saas"));
}

#[tokio::test]
async fn of_two_runs_started_at_once_exactly_one_works() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(100, 0)).await;
    env.configure(json!({"latency_ms": 20})).await;

    // Two engines with their own clients, as two Lambda instances would have.
    let (a, b) = (env.engine(), env.engine());
    let (first, second) = tokio::join!(a.run(generous_deadline()), b.run(generous_deadline()));

    let (worked, refused) = if first.success {
        (first, second)
    } else {
        (second, first)
    };
    assert!(worked.success, "{worked:?}");
    assert_eq!(worked.uploaded, 100);
    assert!(!refused.success);
    assert_eq!(refused.error.as_deref(), Some(ALREADY_RUNNING));
    assert_eq!(
        (refused.uploaded, refused.failed, refused.skipped),
        (0, 0, 0)
    );
    let stats = env.stats().await;
    assert_eq!(
        requests(&stats, "POST").len(),
        100,
        "no rating uploaded twice"
    );
    assert_eq!(stats["creates"], 100);
}

#[tokio::test]
async fn a_lease_held_by_a_live_run_blocks_and_an_expired_one_does_not() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(5, 0)).await;
    let store = env.store();
    let now = chrono::Utc::now();

    store
        .acquire_lease(
            shared::sync::LEASE_NAME,
            "other-run",
            now + chrono::Duration::minutes(5),
            now,
        )
        .await
        .unwrap();
    let blocked = env.engine().run(generous_deadline()).await;
    assert_eq!(blocked.error.as_deref(), Some(ALREADY_RUNNING));
    assert_eq!(env.stats().await["requests_total"], 0, "touched nothing");
    assert_eq!(env.pending_ids().await.len(), 5);

    // A run that died long ago left its lease behind; it has expired.
    store
        .release_lease(shared::sync::LEASE_NAME, "other-run")
        .await
        .unwrap();
    let past = now - chrono::Duration::minutes(20);
    store
        .acquire_lease(
            shared::sync::LEASE_NAME,
            "dead-run",
            past + chrono::Duration::minutes(15),
            past,
        )
        .await
        .unwrap();
    let report = env.engine().run(generous_deadline()).await;
    assert!(report.success, "{report:?}");
    assert_eq!(report.uploaded, 5);
}

#[tokio::test]
async fn an_empty_backlog_is_a_successful_run_with_nothing_uploaded() {
    let env = TestEnv::new().await;
    let report = env.engine().run(generous_deadline()).await;
    assert!(report.success, "{report:?}");
    assert_eq!(report.uploaded, 0);
    assert_eq!(report.message, NOTHING_PENDING);
    assert_eq!(report.pending_count, Some(0));
    assert_eq!(env.stats().await["requests_total"], 0);
}

#[tokio::test]
async fn a_run_stops_starting_uploads_near_its_deadline_and_loses_nothing() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(40, 0);
    env.put(&ratings).await;
    env.configure(json!({"latency_ms": 100})).await;

    let settings = SyncSettings {
        max_concurrency: 1,
        deadline_margin: Duration::from_secs(1),
        ..SyncSettings::default()
    };
    // About 1.5 s of work time at 100 ms per rating: far fewer than 40.
    let deadline = SystemTime::now() + Duration::from_millis(2500);
    let report = env.engine_with(settings).run(deadline).await;

    assert!(report.success, "{report:?}");
    assert_eq!(report.stopped_early.as_deref(), Some("Deadline reached"));
    assert!(report.uploaded > 0 && report.uploaded < 40, "{report:?}");
    assert_eq!(report.pending_count, Some(40 - report.uploaded));
    assert_eq!(env.pending_ids().await.len() as u64, 40 - report.uploaded);

    // The next run finishes the work.
    let rest = env.engine().run(generous_deadline()).await;
    assert_eq!(report.uploaded + rest.uploaded, 40, "{rest:?}");
    assert_eq!(env.stats().await["creates"], 40);
}

#[tokio::test]
async fn each_run_stores_its_report() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(3, 0)).await;
    let first = env.engine().run(generous_deadline()).await;
    let second = env.engine().run(generous_deadline()).await;

    let stored = env.store().recent_reports(10).await.unwrap();
    let ids: Vec<&str> = stored.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(
        ids,
        [second.run_id.as_str(), first.run_id.as_str()],
        "newest first"
    );
    assert_eq!(stored[1].uploaded, 3);
}

#[tokio::test]
async fn a_synced_rating_costs_one_write_and_a_small_share_of_reads() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(300, 0)).await;

    let report = env
        .counting_engine(SyncSettings::default())
        .run(generous_deadline())
        .await;

    assert_eq!(report.uploaded, 300, "{report:?}");
    let requests = report.dynamodb_requests.expect("counted");
    // One UpdateItem per rating, plus the run's own few: the lease, the
    // skills registered for the pull, the pull's cursor.
    assert!(requests.writes >= 300, "{requests:?}");
    assert!(requests.writes <= 300 + 10, "{requests:?}");
    // Reads grow with pages (100 ratings each) and with skills (the pull
    // reads each synced skill's local ratings once), not with ratings: 3
    // pages and an empty one, the retry index, two backlog counts, the pull's
    // cursor and skill list, and one query for each of the 25 skills.
    let skills = 25;
    assert!(requests.reads <= 4 + 1 + 2 + 2 + skills + 1, "{requests:?}");
}
