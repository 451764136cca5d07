//! The status page (`GET /api/admin/sync/ratings/status`): its counts, the
//! lease and the last runs, and a fresh install's zeros.
//!
//! Every answer is also written to `target/admin-api-responses/` (or
//! `$ADMIN_API_RESPONSES_DIR`), where `tests/checks/test_openapi.py` checks each one
//! against `openapi.yaml`.

use std::collections::HashMap;

use integration_tests::admin::*;
use integration_tests::*;
use local_stack::seed;
use serde_json::json;
use shared::store::{timestamp, Item, RETRYING};
use shared::sync::LEASE_NAME;

#[tokio::test]
async fn the_status_page_counts_everything_and_shows_the_lease_and_the_last_runs() {
    let admin = Admin::new().await;
    let env = &admin.env;
    // A run: 8 synced, 2 parked.
    env.put(&env.ratings(10, 2)).await;
    let report = env.engine().run(generous_deadline()).await;
    assert_eq!((report.uploaded, report.parked), (8, 2));
    // 5 new ratings, and 3 failed ones waiting for a later attempt.
    let start = chrono::Utc::now();
    let fresh: Vec<_> = (100..105)
        .map(|i| seed::sample_rating(&env.prefix, i, start))
        .collect();
    env.put(&fresh).await;
    let waiting: Vec<Item> = (200..203)
        .map(|i| {
            let mut item =
                shared::store::new_rating_item(&seed::sample_rating(&env.prefix, i, start));
            item.remove("synced_to_saas");
            item.insert("sync_retry".into(), s("waiting"));
            item.insert("next_attempt_at".into(), s("2030-01-01T00:00:00.000Z"));
            item
        })
        .collect();
    seed::put_items(&env.client, &env.tables.ratings, waiting)
        .await
        .unwrap();
    let at = timestamp(start);
    let retrying: Vec<Item> = (200..203)
        .map(|i| admin.dead_letter(i, RETRYING, &at))
        .collect();
    seed::put_items(&env.client, &env.tables.failed_uploads, retrying)
        .await
        .unwrap();
    // Two logged conflicts, and a scheduled run holding the lease.
    let conflicts: Vec<Item> = (0..2)
        .map(|i| {
            HashMap::from([
                ("pk".to_owned(), s(shared::store::CONFLICT_PARTITION)),
                ("sk".to_owned(), s(&format!("{at}#r{i}"))),
            ])
        })
        .collect();
    seed::put_items(&env.client, &env.tables.sync_state, conflicts)
        .await
        .unwrap();
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    env.store()
        .acquire_lease(LEASE_NAME, "scheduled-run-1", until, chrono::Utc::now())
        .await
        .unwrap();
    let before = admin.snapshot().await;

    let answer = admin.call(Endpoint::Status.request().admin()).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["success"], true);
    assert_eq!(body["pending_count"], 8, "5 pending and 3 waiting");
    assert_eq!(body["waiting_count"], 3);
    assert_eq!(body["failed_count"], 5, "3 retrying and 2 parked");
    assert_eq!(body["parked_count"], 2);
    assert_eq!(body["conflict_count"], 2);
    assert_eq!(
        body["lease"],
        json!({ "held": true, "holder": "scheduled-run-1", "until": timestamp(until) })
    );
    assert!(body["requeue_pass"].is_null());
    let runs = body["recent_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_id"], report.run_id);
    assert_eq!(runs[0]["uploaded"], 8);
    // Recorded as the run ended (the same format orders as text).
    let last_success = body["last_success_at"].as_str().expect("a time");
    assert!(last_success >= report.finished_at.as_str(), "{body}");
    assert!(
        last_success <= body["checked_at"].as_str().unwrap(),
        "{body}"
    );
    assert_eq!(body["consecutive_failed_runs"], 0);
    assert_eq!(
        admin.snapshot().await,
        before,
        "the status page changes nothing"
    );
}

#[tokio::test]
async fn the_status_page_of_a_fresh_install_is_all_zeros() {
    let admin = Admin::new().await;
    let answer = admin.call(Endpoint::Status.request().admin()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for count in [
        "pending_count",
        "waiting_count",
        "failed_count",
        "parked_count",
        "conflict_count",
    ] {
        assert_eq!(answer.body[count], 0, "{count}");
    }
    assert_eq!(
        answer.body["lease"],
        json!({ "held": false, "holder": null, "until": null })
    );
    assert_eq!(answer.body["recent_runs"], json!([]));
    assert!(answer.body["last_success_at"].is_null());
    assert_eq!(answer.body["consecutive_failed_runs"], 0);
}
