//! Answers of tens of megabytes, with and without a declared length, cost
//! the sync a bounded read and no memory to speak of. One test in its own
//! binary, so that the process's peak resident memory is this test's.

use integration_tests::host::peak_memory;
use integration_tests::*;
use serde_json::json;
use shared::marketplace::MAX_ANSWER_BYTES;
use shared::rating::SyncState;
use shared::store::{sync_state, DEAD};

/// Each answer is this large: several times what the client may keep.
const ANSWER_BYTES: u64 = 48 * 1024 * 1024;

#[tokio::test]
async fn answers_of_tens_of_megabytes_are_refused_and_memory_stays_flat() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(3, 0);
    env.put(&ratings[..2]).await;
    // A create answered with a declared length too large to read, then one
    // that streams without a length.
    env.configure(json!({"script": [
        {"status": 201, "body_bytes": ANSWER_BYTES},
        {"status": 201, "body_bytes": ANSWER_BYTES, "chunked": true},
    ]}))
    .await;
    let before = peak_memory();
    let report = env
        .engine_with(retry_at_once())
        .run(generous_deadline())
        .await;

    assert_eq!((report.failed, report.parked), (2, 2), "{report:?}");
    let dead = env.dead_letters().await;
    for item in &dead {
        assert_eq!(text(item, "status"), DEAD);
        let message = text(item, "error_message");
        assert!(
            message.contains(&format!("at most {MAX_ANSWER_BYTES}")),
            "{message}"
        );
    }

    // A skill whose ratings are far over the pull's cap (4 MiB by default).
    env.put(&ratings[2..]).await;
    let synced = env.engine().run(generous_deadline()).await;
    assert_eq!(synced.created, 1, "{synced:?}");
    env.configure(json!({"skill_padding_ratings": {ratings[2].skill_id.clone(): 300_000}}))
        .await;
    let pulled = env.engine().run(generous_deadline()).await;
    assert_eq!(
        pulled.skills_pulled, 0,
        "the oversized skill is not read: {pulled:?}"
    );
    assert_eq!(
        sync_state(&env.item(&ratings[2].id).await),
        SyncState::Synced
    );

    let grown = peak_memory().saturating_sub(before);
    println!(
        "peak memory grew by {} KiB over three answers of {} MiB or more",
        grown / 1024,
        ANSWER_BYTES >> 20
    );
    assert!(
        grown < 16 * 1024 * 1024,
        "peak memory grew by {grown} bytes for answers of {ANSWER_BYTES} bytes"
    );
}
