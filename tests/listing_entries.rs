//! A skill listing of millions of tiny entries (`[1,1,1,…]`, 4 MiB: under
//! the byte cap) is refused at the entry cap on every path that reads
//! listings, the pull, a create answered 409 and the fast path, and costs
//! no memory to speak of. One test in its own binary, so that the process's
//! peak resident memory is this test's.

use integration_tests::host::peak_memory;
use integration_tests::*;
use serde_json::json;
use shared::config::{SyncSettings, DEFAULT_MAX_SKILL_RESPONSE_BYTES};
use shared::marketplace::max_entries;
use shared::rating::SyncState;
use shared::store::{sync_state, DEAD};

/// Entries of two bytes each (`1,`): 4,000,000 bytes, within 4 MiB.
const TINY_ENTRIES: u64 = 2_000_000;

#[tokio::test]
async fn millions_of_tiny_entries_are_refused_at_the_cap_on_every_path() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(3, 0);
    let cap = max_entries(DEFAULT_MAX_SKILL_RESPONSE_BYTES);
    let says = format!("more than {cap} ratings");

    // Synced, so that its skill is pulled.
    env.put(&ratings[..1]).await;
    let synced = env.engine().run(generous_deadline()).await;
    assert_eq!((synced.created, synced.skills_pulled), (1, 1), "{synced:?}");
    // The other two users rated their skills at the marketplace already:
    // their creates are answered 409, and the listing is read.
    for rating in &ratings[1..] {
        env.simulator
            .insert_rating(json!({
                "skill_id": rating.skill_id,
                "user_id": rating.user_id,
                "rating": 5,
            }))
            .await
            .unwrap();
    }
    let tiny: serde_json::Map<String, serde_json::Value> = ratings
        .iter()
        .map(|r| (r.skill_id.clone(), json!(TINY_ENTRIES)))
        .collect();
    env.configure(json!({ "skill_tiny_entries": tiny })).await;
    let before = peak_memory();

    // The pull: the skill is not read, the rating stays as it was.
    let pulled = env.engine().run(generous_deadline()).await;
    assert!(pulled.success, "{pulled:?}");
    assert_eq!(pulled.skills_pulled, 0, "{pulled:?}");
    assert_eq!(
        sync_state(&env.item(&ratings[0].id).await),
        SyncState::Synced
    );

    // The 409 path of a run: the answer is invalid, the rating parked with
    // a reason that names the cap.
    env.put(&ratings[1..2]).await;
    let conflicted = env
        .engine_with(retry_at_once())
        .run(generous_deadline())
        .await;
    assert_eq!(conflicted.parked, 1, "{conflicted:?}");
    assert!(!conflicted.breaker_open);

    // The fast path's 409: the same.
    env.put(&ratings[2..]).await;
    let (response, batch) = env
        .deliver(
            &env.stream_engine(SyncSettings::default()),
            std::slice::from_ref(&ratings[2].id),
            1,
        )
        .await;
    assert!(response.batch_item_failures.is_empty(), "{batch:?}");
    assert_eq!(batch.report.parked, 1, "{batch:?}");

    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 2);
    for item in &dead {
        assert_eq!(text(item, "status"), DEAD);
        let message = text(item, "error_message");
        assert!(
            message.contains(&says) && message.contains("ATOM_SAAS_MAX_SKILL_RESPONSE_BYTES"),
            "{message}"
        );
    }
    let gets = env.stats().await["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "GET" && r["status"] == 200)
        .count();
    assert!(gets >= 3, "each path read a listing: {gets}");

    let grown = peak_memory().saturating_sub(before);
    println!(
        "peak memory grew by {} KiB over {gets} listings of {TINY_ENTRIES} entries",
        grown / 1024
    );
    assert!(
        grown < 32 * 1024 * 1024,
        "peak memory grew by {grown} bytes"
    );
}
