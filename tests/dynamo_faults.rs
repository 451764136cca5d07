//! DynamoDB as a dependency that fails: the engine's DynamoDB client goes
//! through a fault-injecting proxy (`support/dynamo_proxy.rs`) that
//! throttles, answers 500 before or after applying a call, drops the
//! connection after applying it, hangs, or is down altogether. The test's
//! own reads go straight to the server.
//!
//! Whatever it does: nothing is lost or doubled, no run is refused for a
//! lease that no running run holds, and a run ends in seconds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use integration_tests::dynamo_proxy::{test_timeouts, DynamoProxy, Fault, STEADY_MIX};
use integration_tests::*;
use serde_json::json;
use shared::config::{AwsCallTimeouts, SyncSettings};
use shared::rating::{Rating, SyncState};
use shared::report::ALREADY_RUNNING;
use shared::store::{sync_state, timestamp, Disposition};
use shared::sync::{RatingRetry, SyncEngine, LEASE_NAME};
use tokio::time::Instant;

/// The engine, its DynamoDB client through `proxy` with `timeouts`.
fn engine(
    env: &TestEnv,
    proxy: &DynamoProxy,
    settings: SyncSettings,
    timeouts: AwsCallTimeouts,
) -> SyncEngine {
    shared::triggers::clients::sync_engine(
        &env.config(settings),
        env.client_through(proxy, timeouts),
    )
    .expect("engine")
}

/// Nothing left to do, as the table says (read past the proxy).
async fn all_done(env: &TestEnv) -> bool {
    env.pending_ids().await.is_empty() && env.waiting_ids().await.is_empty()
}

/// No run holds the lease.
async fn lease_free(env: &TestEnv) -> bool {
    let state = env
        .store()
        .lease_state(LEASE_NAME, chrono::Utc::now())
        .await
        .unwrap();
    !state.is_some_and(|s| s.held)
}

#[tokio::test]
async fn under_a_quarter_of_calls_failing_runs_in_a_row_sync_every_rating_once() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(30, 0);
    env.put(&ratings).await;
    // The first uploads fail at the marketplace: their failures are written
    // to the dead-letter table under the faults too, and cleared later.
    env.configure(json!({"script": [{"status": 500}, {"status": 500}, {"status": 500}]}))
        .await;
    let proxy = DynamoProxy::start(17).await;
    proxy.faults(0.25, &STEADY_MIX);
    let settings = SyncSettings {
        request_attempts: 1,
        ..retry_at_once()
    };
    let engine = engine(&env, &proxy, settings, test_timeouts());

    // Runs go on after the work is done: each takes and gives back the
    // lease under the faults.
    let mut runs = 0;
    while runs < 16 {
        let report = engine.run(generous_deadline()).await;
        runs += 1;
        assert_ne!(report.message, ALREADY_RUNNING, "run {runs}: {report:?}");
        assert!(
            lease_free(&env).await,
            "run {runs} left the lease held: {report:?}"
        );
        if runs >= 8 && all_done(&env).await && env.dead_letters().await.is_empty() {
            break;
        }
    }
    assert!(all_done(&env).await, "work left after {runs} runs");
    env.assert_each_synced_once(&ratings).await;
    assert!(
        env.dead_letters().await.is_empty(),
        "{:?}",
        env.dead_letters().await
    );
    for fault in ["throttle", "error_before", "error_after", "drop_after"] {
        assert!(
            proxy.count(fault) > 0,
            "{fault} never played: {:?}",
            proxy.counts()
        );
    }
}

#[tokio::test]
async fn a_lease_write_whose_answer_is_lost_is_the_runs_own_and_is_released() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(3, 0);
    env.put(&ratings).await;
    let proxy = DynamoProxy::start(19).await;
    let engine = engine(&env, &proxy, retry_at_once(), test_timeouts());

    // The acquire lands and its answer is lost, then its release likewise:
    // the SDK's retry meets the run's own write each time.
    for lost in [Fault::ErrorAfter, Fault::DropAfter] {
        proxy.only_for(&["PutItem"]);
        proxy.next(&[lost]);
        let report = engine.run(generous_deadline()).await;
        assert!(report.success, "{lost:?}: {report:?}");
        proxy.only_for(&["DeleteItem"]);
        proxy.next(&[lost]);
        let report = engine.run(generous_deadline()).await;
        assert!(report.success, "{lost:?}: {report:?}");
        assert!(lease_free(&env).await, "{lost:?}");
    }
    assert_eq!(proxy.count("error_after"), 2, "{:?}", proxy.counts());
    assert_eq!(proxy.count("drop_after"), 2, "{:?}", proxy.counts());
    env.assert_each_synced_once(&ratings).await;
}

#[tokio::test]
async fn calls_that_hang_are_abandoned_and_retried_and_a_run_takes_seconds() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(20, 0);
    env.put(&ratings).await;
    let proxy = DynamoProxy::start(23).await;
    proxy.faults(0.2, &[Fault::Hang]);
    let engine = engine(&env, &proxy, retry_at_once(), test_timeouts());

    // A call may hang on every attempt now and then: the run then stops
    // and the next one finishes; each takes seconds, not tens.
    let mut runs = 0;
    while !all_done(&env).await {
        assert!(runs < 4, "work left after {runs} runs");
        let started = Instant::now();
        let report = engine.run(generous_deadline()).await;
        let took = started.elapsed();
        runs += 1;
        assert!(took < Duration::from_secs(8), "took {took:?}: {report:?}");
        assert!(report.success || report.error.is_some(), "{report:?}");
    }
    assert!(proxy.count("hang") > 0, "{:?}", proxy.counts());
    env.assert_each_synced_once(&ratings).await;
}

#[tokio::test]
async fn a_wrap_up_call_that_hangs_is_abandoned_before_the_invocation_deadline() {
    let env = TestEnv::new().await;
    let proxy = DynamoProxy::start(29).await;
    // The SDK would wait 20 s for the lease's release; the run may not.
    proxy.only_for(&["DeleteItem"]);
    proxy.faults(1.0, &[Fault::Hang]);
    let slow = AwsCallTimeouts {
        attempt: Duration::from_secs(20),
        call: Duration::from_secs(20),
    };
    let settings = SyncSettings {
        deadline_margin: Duration::from_secs(2),
        ..retry_at_once()
    };
    let engine = engine(&env, &proxy, settings, slow);

    let deadline = SystemTime::now() + Duration::from_secs(4);
    let report = engine.run(deadline).await;

    assert!(
        SystemTime::now() < deadline,
        "the run outlived its deadline"
    );
    assert!(report.success, "{report:?}");
    assert!(proxy.count("hang") > 0, "{:?}", proxy.counts());
    // Not released: it expires by itself, as the warning says.
    let lease = env
        .store()
        .lease_state(LEASE_NAME, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(lease.map(|l| l.holder), Some(report.run_id));
}

#[tokio::test]
async fn with_dynamodb_down_a_run_ends_quickly_and_says_so() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(5, 0);
    env.put(&ratings).await;
    let proxy = DynamoProxy::start(31).await;
    proxy.outage(true);
    let engine = engine(&env, &proxy, retry_at_once(), test_timeouts());

    let started = Instant::now();
    let report = engine.run(generous_deadline()).await;
    let took = started.elapsed();

    assert!(!report.success, "{report:?}");
    assert!(
        report
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("DynamoDB"),
        "{report:?}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(proxy.count("outage") > 0);
    assert_eq!(env.stats().await["creates"], 0, "nothing uploaded blind");

    proxy.outage(false);
    let report = engine.run(generous_deadline()).await;
    assert!(report.success, "{report:?}");
    env.assert_each_synced_once(&ratings).await;
}

#[tokio::test]
async fn dynamodb_down_in_the_middle_of_a_run_loses_and_doubles_nothing() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(40, 0);
    env.put(&ratings).await;
    let proxy = DynamoProxy::start(37).await;
    let settings = SyncSettings {
        max_concurrency: 2,
        lease_ttl: Duration::from_secs(3),
        ..retry_at_once()
    };
    let engine = Arc::new(engine(&env, &proxy, settings, test_timeouts()));

    let running = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run(generous_deadline()).await }
    });
    eventually(Duration::from_secs(20), "the first uploads", || async {
        (env.stats().await["creates"].as_u64().unwrap_or(0) >= 8).then_some(())
    })
    .await;
    proxy.outage(true);
    let interrupted = running.await.unwrap();
    assert!(!interrupted.success, "{interrupted:?}");
    proxy.outage(false);

    // The lease the interrupted run could not give back expires (3 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !all_done(&env).await {
        assert!(Instant::now() < deadline, "work left");
        let report = engine.run(generous_deadline()).await;
        if report.message == ALREADY_RUNNING {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    env.assert_each_synced_once(&ratings).await;
    assert!(env.dead_letters().await.is_empty());
}

#[tokio::test]
async fn the_fast_path_hands_back_the_records_whose_work_failed() {
    let env = TestEnv::new().await;
    let now = timestamp(chrono::Utc::now());
    let ratings: Vec<Rating> = env
        .ratings(20, 0)
        .into_iter()
        .map(|mut r| {
            r.updated_at = now.clone();
            r
        })
        .collect();
    env.put(&ratings).await;
    let proxy = DynamoProxy::start(41).await;
    proxy.faults(0.25, &STEADY_MIX);
    let engine = engine(&env, &proxy, retry_at_once(), test_timeouts());

    let mut ids: Vec<String> = ratings.iter().map(|r| r.id.clone()).collect();
    let mut first = 100;
    for _ in 0..10 {
        if ids.is_empty() {
            break;
        }
        let event = env.stream_event(&ids, first).await;
        let (response, _) =
            shared::triggers::stream::handle(&engine, &event, generous_deadline()).await;
        let again: BTreeSet<u64> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.parse().unwrap())
            .collect();
        let mut next = Vec::new();
        for (at, id) in ids.iter().enumerate() {
            let sequence = first + at as u64;
            let synced = sync_state(&env.item(id).await) == SyncState::Synced;
            if again.contains(&sequence) {
                next.push(id.clone());
            } else {
                assert!(synced, "{id} was not handed back, yet is not synced");
            }
        }
        ids = next;
        first += 100;
    }
    assert!(ids.is_empty(), "still handed back: {ids:?}");
    env.assert_each_synced_once(&ratings).await;
    assert!(env.dead_letters().await.is_empty());
    let played: u64 = ["throttle", "error_before", "error_after", "drop_after"]
        .iter()
        .map(|fault| proxy.count(fault))
        .sum();
    assert!(played > 0, "{:?}", proxy.counts());
}

#[tokio::test]
async fn the_admin_retry_under_faults_syncs_a_parked_rating_once() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(10, 0);
    env.put(&ratings).await;
    let store = env.store();
    for rating in &ratings {
        let failure = rating.failure("refused by the marketplace", false);
        store
            .record_failure(&failure, Disposition::Park, chrono::Utc::now())
            .await
            .unwrap();
    }
    assert_eq!(env.dead_letters().await.len(), ratings.len());
    let proxy = DynamoProxy::start(43).await;
    proxy.faults(0.25, &STEADY_MIX);
    let engine = engine(&env, &proxy, retry_at_once(), test_timeouts());

    for rating in &ratings {
        let mut synced = None;
        for _ in 0..6 {
            // An error or "changed meanwhile" (a mark that failed) is an
            // answer the admin retries; only a sync ends it.
            if let Ok(RatingRetry::Synced { remote_id }) = engine
                .sync_rating_now(&rating.id, generous_deadline())
                .await
            {
                synced = Some(remote_id);
                break;
            }
        }
        let remote_id = synced.unwrap_or_else(|| panic!("{} never synced", rating.id));
        assert_eq!(
            text(&env.item(&rating.id).await, "remote_rating_id"),
            remote_id
        );
    }
    env.assert_each_synced_once(&ratings).await;
    assert!(
        env.dead_letters().await.is_empty(),
        "{:?}",
        env.dead_letters().await
    );
    assert!(
        proxy.count("requests") > 0 && proxy.counts().len() > 2,
        "{:?}",
        proxy.counts()
    );
}

#[tokio::test]
async fn a_function_takes_its_call_timeouts_from_the_environment_and_logs_a_lease_it_could_not_release(
) {
    let env = TestEnv::new().await;
    env.put(&env.ratings(2, 0)).await;
    let proxy = DynamoProxy::start(47).await;
    proxy.only_for(&["DeleteItem"]);
    proxy.faults(1.0, &[Fault::Hang]);

    // The process as the scheduled function is configured, its DynamoDB
    // behind the proxy: each release attempt hangs until 300 ms pass.
    let started = Instant::now();
    let output = env
        .function_process(env!("CARGO_BIN_EXE_sync-once"))
        .env("AWS_ENDPOINT_URL_DYNAMODB", proxy.url())
        .env("RATING_SYNC_AWS_ATTEMPT_TIMEOUT_MS", "300")
        .env("RATING_SYNC_AWS_CALL_TIMEOUT_MS", "1000")
        .env("RATING_SYNC_PULL_SKILLS_PER_RUN", "0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .output()
        .await
        .expect("run sync-once");
    let took = started.elapsed();

    assert!(output.status.success(), "{output:?}");
    // Three release calls of at most 1 s each, not the SDK's wait forever.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(proxy.count("hang") >= 3, "{:?}", proxy.counts());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let warning = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line.to_string().contains("could not release the run lease"))
        .unwrap_or_else(|| panic!("no warning in {stdout}"));
    assert_eq!(warning["level"], "WARN", "{warning}");
    let lease = env
        .store()
        .lease_state(LEASE_NAME, chrono::Utc::now())
        .await
        .unwrap()
        .expect("the lease stays");
    let fields = warning.to_string();
    assert!(fields.contains(&lease.holder), "{warning}");
    assert!(fields.contains(&lease.until), "{warning}");
    assert_eq!(env.stats().await["creates"], 2);
}
