//! The retry of one failed upload
//! (`POST /api/admin/ratings/failed-uploads/{id}/retry`): an unknown id, a
//! rating that is gone, a parked one that now uploads, one that fails again,
//! one the app rewrote since, one that finds a newer rating at the
//! marketplace, and one under a rate ceiling the other paths share.
//!
//! Every answer is also written to `target/admin-api-responses/` (or
//! `$ADMIN_API_RESPONSES_DIR`), where `tests/checks/test_openapi.py` checks each one
//! against `openapi.yaml`.

use std::time::Duration;

use integration_tests::admin::*;
use integration_tests::*;
use serde_json::json;
use shared::config::{RateLimit, SyncSettings};
use shared::rating::SyncState;
use shared::store::{sync_state, timestamp, DEAD};

fn retry_request(id: &str) -> Req {
    Req::new(
        Endpoint::Retry,
        &format!("/api/admin/ratings/failed-uploads/{id}/retry"),
    )
    .admin()
}

#[tokio::test]
async fn retrying_an_unknown_id_is_404() {
    let admin = Admin::new().await;
    let answer = admin.call(retry_request("no-such-rating")).await;
    answer.assert_error(404, "NOT_FOUND");
    assert_eq!(answer.body["error"]["details"]["id"], "no-such-rating");
    assert_eq!(admin.env.stats().await["requests_total"], 0);
}

#[tokio::test]
async fn retrying_a_rating_that_is_gone_removes_its_failure() {
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(1, 1);
    admin.env.put(&ratings).await;
    admin.env.engine().run(generous_deadline()).await;
    let id = &ratings[0].id;
    assert_eq!(admin.env.dead_letters().await.len(), 1);
    admin
        .env
        .client
        .delete_item()
        .table_name(&admin.env.tables.ratings)
        .key("id", s(id))
        .send()
        .await
        .unwrap();

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({
            "success": false,
            "message": "Rating no longer exists, failed record removed",
            "retry_triggered": false,
        })
    );
    assert!(admin.env.dead_letters().await.is_empty());
    assert_eq!(admin.env.stats().await["requests_total"], 0);
}

#[tokio::test]
async fn retrying_a_parked_rating_that_now_uploads_syncs_it_and_removes_its_failure() {
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(1, 0);
    admin.env.put(&ratings).await;
    let id = &ratings[0].id;
    // Refused for good: parked, out of every index.
    admin
        .env
        .configure(json!({ "fail_rate": 1.0, "fail_status": 422 }))
        .await;
    admin.env.engine().run(generous_deadline()).await;
    assert_eq!(sync_state(&admin.env.item(id).await), SyncState::Parked);
    assert_eq!(text(&admin.env.dead_letters().await[0], "status"), DEAD);
    admin.env.configure(json!({ "fail_rate": 0.0 })).await;

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let item = admin.env.item(id).await;
    assert_eq!(sync_state(&item), SyncState::Synced);
    let remote_id = text(&item, "remote_rating_id");
    assert_eq!(
        answer.body,
        json!({
            "success": true,
            "message": format!("Rating uploaded successfully (remote_id: {remote_id})"),
            "retry_triggered": true,
            "remote_id": remote_id,
        })
    );
    assert!(admin.env.dead_letters().await.is_empty());
    assert_eq!(admin.env.stats().await["creates"], 1);
}

#[tokio::test]
async fn a_retry_that_fails_again_counts_the_attempt() {
    let admin = Admin::new().await;
    let ratings = failed_once(&admin, 1).await;
    let id = &ratings[0].id;
    let before = admin.env.store().failed_upload(id).await.unwrap().unwrap();
    assert_eq!(before.retry_count, 1);
    assert_eq!(before.last_retry_at, None);

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], false);
    assert_eq!(answer.body["retry_triggered"], true);
    let message = answer.body["message"].as_str().unwrap();
    assert!(message.starts_with("Retry failed: "), "{message}");
    assert!(message.contains("500"), "{message}");
    let after = admin.env.store().failed_upload(id).await.unwrap().unwrap();
    assert_eq!(after.retry_count, 2);
    assert_eq!(after.failed_at, before.failed_at);
    let retried_at = after.last_retry_at.expect("last_retry_at set");
    assert!(retried_at.ends_with('Z'), "UTC: {retried_at}");
    let retried_at = chrono::DateTime::parse_from_rfc3339(&retried_at).unwrap();
    assert!(
        chrono::Utc::now() - retried_at.with_timezone(&chrono::Utc) < chrono::Duration::seconds(60)
    );
    assert_eq!(
        after.last_failed_at,
        Some(timestamp(retried_at.with_timezone(&chrono::Utc)))
    );
}

#[tokio::test]
async fn a_retry_of_a_rating_the_app_rewrote_since_it_failed_adds_to_its_failure() {
    let admin = Admin::new().await;
    let ratings = failed_once(&admin, 1).await;
    let id = &ratings[0].id;
    // The Atom app writes the whole item again: its failure count is gone,
    // the dead-letter item stays.
    admin.env.put(&ratings).await;

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], false, "{}", answer.body);
    let letters = admin.env.dead_letters().await;
    assert_eq!(letters.len(), 1, "still one item");
    let failure = admin.env.store().failed_upload(id).await.unwrap().unwrap();
    assert_eq!(failure.retry_count, 2, "counted on, not started again");
}

#[tokio::test]
async fn a_retry_that_finds_a_newer_rating_by_the_user_at_the_marketplace_takes_it() {
    let admin = Admin::new().await;
    let ratings = failed_once(&admin, 1).await;
    let rating = &ratings[0];
    // Meanwhile the user rated the skill at the marketplace, an hour later.
    let rated_at = chrono::DateTime::parse_from_rfc3339(&rating.updated_at).unwrap();
    let existing = admin
        .env
        .simulator
        .insert_rating(json!({
            "skill_id": rating.skill_id,
            "user_id": rating.user_id,
            "rating": 5,
            "comment": "from elsewhere",
            "updated_at": timestamp(rated_at.to_utc() + chrono::Duration::hours(1)),
        }))
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin.env.configure(json!({ "fail_rate": 0.0 })).await;

    let answer = admin.call(retry_request(&rating.id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], true, "{}", answer.body);
    assert_eq!(answer.body["remote_id"], existing);
    let item = admin.env.item(&rating.id).await;
    assert_eq!(sync_state(&item), SyncState::Synced);
    assert_eq!(text(&item, "review"), "from elsewhere", "newest wins");
    assert!(admin.env.dead_letters().await.is_empty());
    let logged = admin.env.store().conflicts_of(&rating.id).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(text(&logged[0], "strategy"), "remote_wins");
    assert_eq!(
        admin.env.stats().await["creates"],
        0,
        "no second remote rating"
    );
}

#[tokio::test]
async fn a_retry_under_a_rate_ceiling_takes_its_share_of_the_ceiling_every_path_shares() {
    let admin = Admin::with(SyncSettings {
        rate_limit: Some(RateLimit {
            max: 5,
            per: Duration::from_secs(60),
        }),
        ..retry_at_once()
    })
    .await;
    let ratings = admin.env.ratings(1, 0);
    admin.env.put(&ratings).await;
    let id = &ratings[0].id;
    admin
        .env
        .configure(json!({ "fail_rate": 1.0, "fail_status": 422 }))
        .await;
    admin.env.engine().run(generous_deadline()).await;
    admin.env.configure(json!({ "fail_rate": 0.0 })).await;

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(sync_state(&admin.env.item(id).await), SyncState::Synced);
    let grants = admin
        .env
        .client
        .get_item()
        .table_name(&admin.env.tables.sync_state)
        .key("pk", s("rate"))
        .key("sk", s("marketplace"))
        .send()
        .await
        .unwrap()
        .item
        .expect("the retry took a grant");
    assert!(!text(&grants, "grants").is_empty());
}
