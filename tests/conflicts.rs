//! Both directions: edits travel as updates, duplicates and remote changes
//! are reconciled newest-wins, and every real conflict is logged.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use integration_tests::*;
use serde_json::{json, Value};
use shared::config::SyncSettings;
use shared::conflict::{parse_time, INVALID_REMOTE_TIMESTAMP, NO_REMOTE_TIMESTAMP};
use shared::rating::{Rating, SyncState};
use shared::store::sync_state;

/// Settings with pulling off: for the runs that only set a test up.
fn push_only() -> SyncSettings {
    SyncSettings {
        pull_skills_per_run: 0,
        ..SyncSettings::default()
    }
}

/// `count` ratings in skills of their own, synced; their remote ids.
async fn synced(env: &TestEnv, count: usize) -> (Vec<Rating>, Vec<String>) {
    // sample_ratings puts rating i in skill i % 25: distinct skills below 25.
    let ratings = env.ratings(count, 0);
    env.put(&ratings).await;
    let report = env.engine_with(push_only()).run(generous_deadline()).await;
    assert_eq!(report.created, count as u64, "{report:?}");
    let mut remote_ids = Vec::new();
    for rating in &ratings {
        remote_ids.push(text(&env.item(&rating.id).await, "remote_rating_id"));
    }
    (ratings, remote_ids)
}

fn at(rating: &Rating) -> DateTime<Utc> {
    parse_time(&rating.updated_at).unwrap()
}

fn rfc3339(time: DateTime<Utc>) -> String {
    shared::store::timestamp(time)
}

async fn remote(env: &TestEnv, id: &str) -> Value {
    env.simulator
        .ratings()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r["id"] == id)
        .expect("remote rating")
}

/// The logged conflicts of a rating, as (strategy, type, severity, by).
async fn conflicts(env: &TestEnv, rating_id: &str) -> Vec<(String, String, String, String)> {
    env.store()
        .conflicts_of(rating_id)
        .await
        .unwrap()
        .iter()
        .map(|c| {
            (
                text(c, "strategy"),
                text(c, "type"),
                text(c, "severity"),
                text(c, "resolved_by"),
            )
        })
        .collect()
}

/// Edits a local rating the way the Atom app does.
async fn edit_locally(env: &TestEnv, id: &str, stars: u8, review: &str) {
    env.client
        .update_item()
        .table_name(&env.tables.ratings)
        .key("id", AttributeValue::S(id.into()))
        .update_expression(
            "SET rating = :r, review = :c, version = version + :one, updated_at = :u, synced_to_saas = :p",
        )
        .expression_attribute_values(":r", AttributeValue::N(stars.to_string()))
        .expression_attribute_values(":c", AttributeValue::S(review.into()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":u", AttributeValue::S(rfc3339(Utc::now())))
        .expression_attribute_values(":p", AttributeValue::S("false".into()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_newer_remote_rating_wins_and_the_conflict_is_logged() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 1).await;
    let rating = &ratings[0];
    let an_hour_newer = rfc3339(at(rating) + chrono::Duration::hours(1));
    env.simulator
        .edit_rating(
            &remote_ids[0],
            json!({"rating": 5, "comment": "Updated comment", "updated_at": an_hour_newer}),
        )
        .await
        .unwrap();

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!((report.pulled, report.conflicts), (1, 1), "{report:?}");
    let item = env.item(&rating.id).await;
    assert_eq!(text(&item, "rating"), "5");
    assert_eq!(text(&item, "review"), "Updated comment");
    assert_eq!(text(&item, "remote_rating_id"), remote_ids[0]);
    assert_eq!(
        sync_state(&item),
        SyncState::Synced,
        "synced, not left pending"
    );
    assert_eq!(
        conflicts(&env, &rating.id).await,
        [(
            "remote_wins".into(),
            "CONTENT_MISMATCH".into(),
            "LOW".into(),
            "system".into()
        )]
    );
    assert_eq!(
        requests(&env.stats().await, "PUT").len(),
        0,
        "nothing pushed back"
    );
}

#[tokio::test]
async fn a_newer_local_rating_wins_with_one_update() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 1).await;
    let rating = &ratings[0];
    let an_hour_older = rfc3339(at(rating) - chrono::Duration::hours(1));
    env.simulator
        .edit_rating(
            &remote_ids[0],
            json!({"rating": 1, "comment": "stale", "updated_at": an_hour_older}),
        )
        .await
        .unwrap();

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!(
        (report.updated, report.conflicts, report.pulled),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(
        requests(&env.stats().await, "PUT").len(),
        1,
        "exactly one update"
    );
    let theirs = remote(&env, &remote_ids[0]).await;
    assert_eq!(theirs["rating"].to_string(), rating.rating);
    assert_eq!(theirs["comment"].as_str(), rating.review.as_deref());
    assert_eq!(text(&env.item(&rating.id).await, "rating"), rating.rating);
    assert_eq!(conflicts(&env, &rating.id).await[0].0, "local_wins");
}

#[tokio::test]
async fn an_update_the_pull_could_not_send_is_recorded_as_the_push_records_one() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 1).await;
    let rating = &ratings[0];
    let an_hour_older = rfc3339(at(rating) - chrono::Duration::hours(1));
    env.simulator
        .edit_rating(
            &remote_ids[0],
            json!({"rating": 1, "comment": "stale", "updated_at": an_hour_older}),
        )
        .await
        .unwrap();
    // Every attempt at the update is refused for now.
    let unavailable = json!({"status": 503, "match": {"method": "PUT"}});
    let attempts = retry_at_once().request_attempts as usize;
    env.configure(json!({"script": vec![unavailable; attempts]}))
        .await;

    let report = env
        .engine_with(retry_at_once())
        .run(generous_deadline())
        .await;

    // `failed` means what it means after a push: one dead-letter item each,
    // and the rating waits for the push of a later run.
    assert_eq!((report.failed, report.updated), (1, 0), "{report:?}");
    assert!(report.success, "{report:?}");
    assert_eq!(env.dead_letters().await.len(), 1);
    assert_eq!(env.waiting_ids().await, std::slice::from_ref(&rating.id));

    let report = env
        .engine_with(retry_at_once())
        .run(generous_deadline())
        .await;

    assert_eq!((report.updated, report.failed), (1, 0), "{report:?}");
    let theirs = remote(&env, &remote_ids[0]).await;
    assert_eq!(theirs["comment"].as_str(), rating.review.as_deref());
    assert!(env.dead_letters().await.is_empty());
}

#[tokio::test]
async fn equal_times_change_nothing_whatever_their_zone() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 1).await;
    let rating = &ratings[0];
    // The same instant, written with a +02:00 offset.
    let same_instant = (at(rating) + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%S%.3f+02:00")
        .to_string();
    env.simulator
        .edit_rating(
            &remote_ids[0],
            json!({"rating": 1, "comment": "different", "updated_at": same_instant}),
        )
        .await
        .unwrap();

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!(
        (report.pulled, report.conflicts, report.updated),
        (0, 0, 0),
        "{report:?}"
    );
    assert_eq!(text(&env.item(&rating.id).await, "rating"), rating.rating);
    assert_eq!(remote(&env, &remote_ids[0]).await["rating"], 1);
    assert!(conflicts(&env, &rating.id).await.is_empty());
}

#[tokio::test]
async fn a_remote_rating_without_a_usable_time_is_skipped_with_its_reason() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 2).await;
    env.simulator
        .edit_rating(
            &remote_ids[0],
            json!({"rating": 1, "updated_at": null, "created_at": null}),
        )
        .await
        .unwrap();
    env.simulator
        .edit_rating(
            &remote_ids[1],
            json!({"rating": 1, "updated_at": "last tuesday"}),
        )
        .await
        .unwrap();

    let report = env.engine().run(generous_deadline()).await;

    let skips = report.resolution_skips.join("\n");
    assert!(
        skips.contains(&format!("rating {}: {NO_REMOTE_TIMESTAMP}", ratings[0].id)),
        "{skips}"
    );
    assert!(
        skips.contains(&format!(
            "rating {}: {INVALID_REMOTE_TIMESTAMP}",
            ratings[1].id
        )),
        "{skips}"
    );
    for rating in &ratings {
        assert_eq!(
            text(&env.item(&rating.id).await, "rating"),
            rating.rating,
            "left as it was"
        );
    }
    assert_eq!(report.conflicts, 0);
}

#[tokio::test]
async fn times_with_no_zone_and_with_offsets_compare_as_instants() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 2).await;
    // Thirty minutes newer, written with no zone: UTC, so newer.
    let naive_newer = (at(&ratings[0]) + chrono::Duration::minutes(30))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    // Digits ninety minutes later, but at +02:00: thirty minutes older.
    let offset_older = (at(&ratings[1]) + chrono::Duration::minutes(90))
        .format("%Y-%m-%dT%H:%M:%S+02:00")
        .to_string();
    env.simulator
        .edit_rating(
            &remote_ids[0],
            json!({"rating": 5, "comment": "remote", "updated_at": naive_newer}),
        )
        .await
        .unwrap();
    env.simulator
        .edit_rating(
            &remote_ids[1],
            json!({"rating": 5, "comment": "remote", "updated_at": offset_older}),
        )
        .await
        .unwrap();

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!(
        (report.pulled, report.updated, report.conflicts),
        (1, 1, 2),
        "{report:?}"
    );
    assert_eq!(
        text(&env.item(&ratings[0].id).await, "review"),
        "remote",
        "remote won"
    );
    assert_eq!(conflicts(&env, &ratings[0].id).await[0].0, "remote_wins");
    assert_eq!(conflicts(&env, &ratings[1].id).await[0].0, "local_wins");
    assert_eq!(
        remote(&env, &remote_ids[1]).await["rating"].to_string(),
        ratings[1].rating
    );
}

#[tokio::test]
async fn a_duplicate_create_is_reconciled_each_way() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(3, 0);
    // The marketplace has a rating by each user already: newer, older, same.
    let mut existing = Vec::new();
    for (rating, (stars, shift)) in ratings.iter().zip([(5, 1), (1, -1), (0, 3)]) {
        let same = stars == 0;
        let body = json!({
            "skill_id": rating.skill_id,
            "user_id": rating.user_id,
            "rating": if same { rating.rating.parse::<i64>().unwrap() } else { stars },
            "comment": if same { json!(rating.review) } else { json!("from elsewhere") },
            "updated_at": rfc3339(at(rating) + chrono::Duration::hours(shift)),
        });
        existing.push(
            env.simulator.insert_rating(body).await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    env.put(&ratings).await;

    let report = env.engine_with(push_only()).run(generous_deadline()).await;

    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(
        (report.pulled, report.updated, report.uploaded),
        (1, 1, 2),
        "{report:?}"
    );
    assert_eq!(report.conflicts, 2);
    let stats = env.stats().await;
    assert_eq!(stats["creates"], 0, "no second remote rating");
    assert_eq!(requests(&stats, "PUT").len(), 1);
    for (rating, remote_id) in ratings.iter().zip(&existing) {
        let item = env.item(&rating.id).await;
        assert_eq!(sync_state(&item), SyncState::Synced, "{}", rating.id);
        assert_eq!(&text(&item, "remote_rating_id"), remote_id);
    }
    // Remote newer: the local rating took its values.
    assert_eq!(
        text(&env.item(&ratings[0].id).await, "review"),
        "from elsewhere"
    );
    // Local newer: the remote rating took the local values.
    assert_eq!(
        remote(&env, &existing[1]).await["rating"].to_string(),
        ratings[1].rating
    );
    // The same content: linked, nothing logged.
    assert!(conflicts(&env, &ratings[2].id).await.is_empty());
}

#[tokio::test]
async fn an_edit_after_sync_is_one_update_of_the_same_remote_rating() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 1).await;
    edit_locally(&env, &ratings[0].id, 2, "second thoughts").await;

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!((report.updated, report.created), (1, 0), "{report:?}");
    let stats = env.stats().await;
    assert_eq!(requests(&stats, "PUT").len(), 1);
    assert_eq!(stats["ratings_count"], 1, "still one remote rating");
    let theirs = remote(&env, &remote_ids[0]).await;
    assert_eq!(
        (theirs["rating"].clone(), theirs["comment"].clone()),
        (json!(2), json!("second thoughts"))
    );
    assert_eq!(
        sync_state(&env.item(&ratings[0].id).await),
        SyncState::Synced
    );
}

#[tokio::test]
async fn a_remote_rating_deleted_and_then_edited_locally_is_created_again() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 1).await;
    env.simulator.delete_rating(&remote_ids[0]).await.unwrap();
    edit_locally(&env, &ratings[0].id, 4, "back again").await;

    let report = env.engine().run(generous_deadline()).await;

    assert_eq!(report.created, 1, "{report:?}");
    let item = env.item(&ratings[0].id).await;
    let new_id = text(&item, "remote_rating_id");
    assert_ne!(new_id, remote_ids[0]);
    assert_eq!(remote(&env, &new_id).await["comment"], "back again");
    assert_eq!(sync_state(&item), SyncState::Synced);
}

#[tokio::test]
async fn the_pull_picks_up_remote_edits_a_bounded_number_of_skills_per_run() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 3).await;
    for (rating, remote_id) in ratings.iter().zip(&remote_ids) {
        let newer = rfc3339(at(rating) + chrono::Duration::minutes(10));
        env.simulator
            .edit_rating(
                remote_id,
                json!({"comment": "edited at the marketplace", "updated_at": newer}),
            )
            .await
            .unwrap();
    }
    let one_skill_a_run = SyncSettings {
        pull_skills_per_run: 1,
        ..SyncSettings::default()
    };
    let engine = env.engine_with(one_skill_a_run);

    // The skills are walked in order; the cursor carries across runs.
    let mut by_skill = ratings.clone();
    by_skill.sort_by(|a, b| a.skill_id.cmp(&b.skill_id));
    for (run, expected) in by_skill.iter().enumerate() {
        let report = engine.run(generous_deadline()).await;
        assert_eq!(
            (report.skills_pulled, report.pulled),
            (1, 1),
            "run {run}: {report:?}"
        );
        for (i, rating) in by_skill.iter().enumerate() {
            let review = text(&env.item(&rating.id).await, "review");
            assert_eq!(
                review == "edited at the marketplace",
                i <= run,
                "run {run}, {}",
                expected.id
            );
        }
    }
    let gets = requests(&env.stats().await, "GET").len();
    assert_eq!(gets, 3, "one skill read per run");
}

#[tokio::test]
async fn a_local_edit_during_a_pull_survives_an_older_remote_value() {
    let env = TestEnv::new().await;
    let (ratings, remote_ids) = synced(&env, 1).await;
    let rating = &ratings[0];
    let newer = rfc3339(at(rating) + chrono::Duration::minutes(10));
    env.simulator
        .edit_rating(
            &remote_ids[0],
            json!({"rating": 1, "comment": "remote value", "updated_at": newer}),
        )
        .await
        .unwrap();
    env.configure(json!({"latency_ms": 700})).await;

    let engine = env.engine();
    let run = engine.run(generous_deadline());
    let edit = async {
        // The pull's read of the skill is in flight: edit the rating now.
        eventually(Duration::from_secs(10), "the pull's request", || async {
            (env.stats().await["in_flight"] == 1).then_some(())
        })
        .await;
        edit_locally(&env, &rating.id, 2, "edited during the pull").await;
    };
    let (report, ()) = tokio::join!(run, edit);

    assert_eq!(report.pulled, 0, "{report:?}");
    let item = env.item(&rating.id).await;
    assert_eq!(text(&item, "rating"), "2");
    assert_eq!(text(&item, "review"), "edited during the pull");
    assert_eq!(
        sync_state(&item),
        SyncState::Pending,
        "the edit is pushed next"
    );

    env.configure(json!({"latency_ms": 0})).await;
    let next = engine.run(generous_deadline()).await;
    assert_eq!(next.updated, 1, "{next:?}");
    assert_eq!(
        remote(&env, &remote_ids[0]).await["comment"],
        "edited during the pull"
    );
}

#[tokio::test]
async fn every_re_push_an_admin_asks_for_is_applied_not_replayed() {
    let env = TestEnv::new().await;
    let (ratings, _) = synced(&env, 1).await;
    let store = env.store();
    for round in 1..=2u64 {
        assert!(store.requeue(&ratings[0].id).await.unwrap());
        let report = env.engine_with(push_only()).run(generous_deadline()).await;
        assert_eq!(report.updated, 1, "round {round}: {report:?}");
        // The simulator counts updates it applied, not answers it replayed.
        assert_eq!(env.stats().await["updates"], round, "round {round}");
    }
}
