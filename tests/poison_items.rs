//! Items no upload can carry, at the head of the queue: ids that would break
//! a header or change a URL's path, a user id of the wrong form, a 250 KB
//! attribute quoted by the failure message. Each is parked at once with its
//! reason and no request; the rest of the queue syncs in the same run; the
//! breaker never opens because of them, and later runs never send them.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use integration_tests::*;
use local_stack::seed::{put_items, sample_rating};
use serde_json::Value;
use shared::config::SyncSettings;
use shared::rating::{SyncState, MAX_MESSAGE_CHARS};
use shared::store::{new_rating_item, sync_state, timestamp, Item, DEAD};

/// The attribute quoted by a failure message: most of an item's 400 KB.
const HUGE: usize = 250_000;

/// One poison item, and what its parking reason says.
struct Poison {
    id: String,
    item: Item,
    says: &'static str,
}

/// Twenty items that break the rules in twenty ways, all older than any
/// good rating: they lead the backlog.
fn poison_items(env: &TestEnv) -> Vec<Poison> {
    let start = Utc::now() - chrono::Duration::days(2);
    let p = &env.prefix;
    // (what changes, its value, what the reason says)
    let cases: [(&str, String, &'static str); 20] = [
        ("id", format!("{p}ctl\u{1}id"), "Invalid id"),
        ("id", format!("{p}new\nline"), "Invalid id"),
        ("id", format!("{p}tab\tid"), "Invalid id"),
        ("id", format!("{p}sp ace"), "Invalid id"),
        ("id", format!("{p}{}", "x".repeat(300)), "Invalid id"),
        ("skill_id", "..".into(), "Invalid skill_id"),
        ("skill_id", ".\t.".into(), "Invalid skill_id"),
        ("skill_id", ".".into(), "Invalid skill_id"),
        ("skill_id", "../admin".into(), "Invalid skill_id"),
        ("skill_id", format!("{p}s%2F1"), "Invalid skill_id"),
        ("skill_id", format!("{p}s\u{0}"), "Invalid skill_id"),
        ("remote_rating_id", "..".into(), "Invalid remote_rating_id"),
        (
            "remote_rating_id",
            ".\t.".into(),
            "Invalid remote_rating_id",
        ),
        (
            "remote_rating_id",
            "rr/1".into(),
            "Invalid remote_rating_id",
        ),
        ("rating", "x".repeat(HUGE), "Invalid rating value: xxx"),
        (
            "user_id",
            " ".into(),
            "Missing or empty string field: user_id",
        ),
        ("user_id", "u\u{1}".into(), "Invalid user_id"),
        ("user_id", "..".into(), "Invalid user_id"),
        ("user_id", "u".repeat(300), "Invalid user_id"),
        ("review_and_id", format!("{p}bad/id"), "Invalid id"),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(i, (field, value, says))| {
            let mut rating = sample_rating(&format!("{p}poison-"), i, start);
            // Attributes the Rating cannot hold as written.
            let mut raw = None;
            match field {
                "id" => rating.id = value,
                "skill_id" => rating.skill_id = value,
                "user_id" => rating.user_id = value,
                "review_and_id" => {
                    // Two faults: the id is named, never the huge review.
                    rating.id = value;
                    rating.review = Some("r".repeat(HUGE));
                }
                // The reader takes a string rating too, and quotes it in
                // the reason.
                other => raw = Some((other, value)),
            }
            let mut item = new_rating_item(&rating);
            if let Some((name, value)) = raw {
                item.insert(name.to_owned(), AttributeValue::S(value));
            }
            Poison {
                id: rating.id,
                item,
                says,
            }
        })
        .collect()
}

/// Settings that make the poison matter if it were sent: pages of five
/// (four pages of poison first) and a breaker that opens on three transient
/// failures in a row.
fn strict() -> SyncSettings {
    SyncSettings {
        batch_size: 5,
        breaker_threshold: 3,
        ..retry_at_once()
    }
}

/// The marketplace requests (of any method) made so far.
fn all_requests(stats: &Value) -> Vec<Value> {
    stats["requests"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn poison_at_the_head_of_the_queue_is_parked_at_once_and_the_rest_syncs() {
    let env = TestEnv::new().await;
    let poison = poison_items(&env);
    put_items(
        &env.client,
        &env.tables.ratings,
        poison.iter().map(|p| p.item.clone()).collect(),
    )
    .await
    .expect("put poison items");
    let good = env.ratings(30, 0);
    env.put(&good).await;
    let pending = env.pending_ids().await;
    assert_eq!(pending.len(), 50);
    assert!(
        poison.iter().all(|p| pending[..20].contains(&p.id)),
        "the poison leads the backlog"
    );

    let report = env.engine_with(strict()).run(generous_deadline()).await;
    assert!(report.success && report.error.is_none(), "{report:?}");
    assert!(!report.breaker_open, "{report:?}");
    assert_eq!(report.created, 30, "the rest synced in the same run");
    assert_eq!((report.failed, report.parked), (20, 20), "{report:?}");
    for rating in &good {
        assert_eq!(sync_state(&env.item(&rating.id).await), SyncState::Synced);
    }

    // Parked with the reason, on the item and in the dead-letter table.
    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 20);
    for p in &poison {
        let item = env.item(&p.id).await;
        assert_eq!(sync_state(&item), SyncState::Parked, "{:?}", p.id);
        let on_item = text(&item, "last_sync_error");
        assert!(on_item.starts_with(p.says), "{:?}: {on_item}", p.id);
        assert!(on_item.chars().count() <= MAX_MESSAGE_CHARS);
        let letter = dead
            .iter()
            .find(|d| text(d, "id") == p.id)
            .unwrap_or_else(|| panic!("no dead letter for {:?}", p.id));
        assert_eq!(text(letter, "status"), DEAD);
        assert_eq!(letter["retryable"], AttributeValue::Bool(false));
        let message = text(letter, "error_message");
        assert_eq!(message, on_item);
    }
    let huge = poison
        .iter()
        .find(|p| p.says.starts_with("Invalid rating value"))
        .unwrap();
    let message = text(&env.item(&huge.id).await, "last_sync_error");
    assert_eq!(
        message.chars().count(),
        MAX_MESSAGE_CHARS,
        "cut, not dropped"
    );
    assert!(message.ends_with('…'));

    // Not one request for the poison: one create per good rating.
    let stats = env.stats().await;
    let sent = all_requests(&stats);
    let uploads: Vec<&Value> = sent.iter().filter(|r| r["method"] != "GET").collect();
    assert_eq!(uploads.len(), 30, "{uploads:?}");
    assert!(uploads.iter().all(|r| r["method"] == "POST"));
    assert!(sent
        .iter()
        .all(|r| !r["path"].as_str().unwrap_or_default().contains("poison")));

    // Later runs: the poison costs nothing; new work still flows.
    let late = env.ratings(31, 0).remove(30);
    env.put(std::slice::from_ref(&late)).await;
    for run in 0..2 {
        let before = all_requests(&env.stats().await).len();
        let report = env.engine_with(strict()).run(generous_deadline()).await;
        assert!(!report.breaker_open && report.success, "{report:?}");
        assert_eq!(report.failed, 0, "{report:?}");
        assert_eq!(report.created, u64::from(run == 0), "{report:?}");
        let after = all_requests(&env.stats().await);
        let new: Vec<&Value> = after[before..]
            .iter()
            .filter(|r| r["method"] != "GET")
            .collect();
        assert_eq!(new.len(), usize::from(run == 0), "{new:?}");
        if run == 0 {
            assert_eq!(new[0]["user_id"], late.user_id.as_str());
        }
    }
    assert_eq!(env.dead_letters().await.len(), 20);
    for p in &poison {
        let item = env.item(&p.id).await;
        assert_eq!(sync_state(&item), SyncState::Parked);
        assert_eq!(text(&item, "sync_failures"), "1", "tried once: {:?}", p.id);
    }
}

#[tokio::test]
async fn poison_in_a_fast_path_batch_is_parked_and_not_delivered_again() {
    let env = TestEnv::new().await;
    let mut poison = poison_items(&env);
    poison.truncate(8);
    let now = timestamp(Utc::now());
    let items: Vec<Item> = poison
        .iter()
        .map(|p| {
            let mut item = p.item.clone();
            item.insert("updated_at".into(), AttributeValue::S(now.clone()));
            item
        })
        .collect();
    put_items(&env.client, &env.tables.ratings, items)
        .await
        .expect("put poison items");
    let good = env.ratings(3, 0);
    env.put(&good).await;
    let mut ids: Vec<String> = poison.iter().map(|p| p.id.clone()).collect();
    ids.extend(good.iter().map(|r| r.id.clone()));

    let engine = env.stream_engine(strict());
    let (response, batch) = env.deliver(&engine, &ids, 1).await;
    assert!(response.batch_item_failures.is_empty(), "{batch:?}");
    assert!(!batch.report.breaker_open);
    assert_eq!(batch.report.created, 3, "{batch:?}");
    assert_eq!(batch.report.parked, 8, "{batch:?}");
    for p in &poison {
        let item = env.item(&p.id).await;
        assert_eq!(sync_state(&item), SyncState::Parked, "{:?}", p.id);
        assert!(text(&item, "last_sync_error").starts_with(p.says));
    }
    let uploads = all_requests(&env.stats().await)
        .into_iter()
        .filter(|r| r["method"] != "GET")
        .count();
    assert_eq!(uploads, 3);
}
