//! The admin sync trigger (`POST /api/admin/sync/ratings`): a run and its
//! report, the due failures it takes, the whole backlog's count, the lease it
//! shares with the scheduled run (503 while another run holds it), and the
//! full re-push (`upload_all`), continued over calls and raced by a second
//! call.
//!
//! Every answer is also written to `target/admin-api-responses/` (or
//! `$ADMIN_API_RESPONSES_DIR`), where `tests/checks/test_openapi.py` checks each one
//! against `openapi.yaml`.

use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::admin::*;
use integration_tests::*;
use local_stack::seed;
use serde_json::json;
use shared::rating::SyncState;
use shared::store::{sync_state, Item, DEAD};
use shared::sync::LEASE_NAME;
use shared::triggers::http::{admin_sync_ratings as sync_ratings, SyncApi};

#[tokio::test]
async fn an_admin_sync_runs_the_engine_and_answers_its_report() {
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(30, 2);
    admin.env.put(&ratings).await;

    let answer = admin.call(Endpoint::Sync.request().admin()).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["success"], true);
    assert_eq!(body["uploaded"], 28);
    assert_eq!(body["failed"], 2);
    assert_eq!(body["skipped"], 0);
    assert_eq!(body["pending_count"], 0);
    assert!(body["error"].is_null());
    assert!(body["requeue"].is_null());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Uploaded 28 of 30"),
        "{body}"
    );
    assert_eq!(admin.env.stats().await["creates"], 28);
    // The same run as a scheduled one: its report is stored, its lease gone.
    let reports = admin.env.store().recent_reports(5).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].run_id, body["run_id"].as_str().unwrap());
    let lease = admin
        .env
        .store()
        .lease_state(LEASE_NAME, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(lease, None, "the lease was released");
}

#[tokio::test]
async fn an_admin_sync_takes_due_failures_and_records_them_as_a_scheduled_run_does() {
    let admin = Admin::new().await;
    let ratings = failed_once(&admin, 2).await;
    assert_eq!(admin.env.waiting_ids().await.len(), 2);
    // Now the first one's skill is unknown at the marketplace (404: parked),
    // and the second uploads.
    admin
        .env
        .configure(json!({ "fail_rate": 0.0, "unknown_skills": [ratings[0].skill_id] }))
        .await;

    let answer = admin.call(Endpoint::Sync.request().admin()).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["uploaded"], 1, "{}", answer.body);
    assert_eq!(answer.body["failed"], 1, "{}", answer.body);
    let store = admin.env.store();
    assert_eq!(
        store.failed_upload(&ratings[1].id).await.unwrap(),
        None,
        "the uploaded rating's failure is removed"
    );
    let parked = store.failed_upload(&ratings[0].id).await.unwrap().unwrap();
    assert_eq!((parked.retry_count, parked.status.as_str()), (2, DEAD));
}

#[tokio::test]
async fn pending_count_is_the_whole_backlog_however_large() {
    let env_settings = retry_at_once();
    let admin = Admin::with(env_settings.clone()).await;
    admin.env.put(&admin.env.ratings(150, 0)).await;
    // Credentials the marketplace refuses: the breaker opens on the first
    // answer and the whole backlog stays.
    let context = admin.context.clone();
    let api = SyncApi::new(
        context,
        admin
            .env
            .engine_with_token(env_settings.clone(), "wrong-token"),
        &env_settings,
    );
    let answer = read_answer(
        Endpoint::Sync,
        sync_ratings::handle(
            &api,
            Endpoint::Sync.request().admin().build(),
            generous_deadline(),
        )
        .await,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], false);
    assert_eq!(answer.body["pending_count"], 150, "not capped at a page");
    assert_eq!(answer.body["uploaded"], 0);
    assert!(
        !answer.body["error"].as_str().unwrap_or_default().is_empty(),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn an_admin_sync_while_a_scheduled_run_holds_the_lease_is_503_and_changes_nothing() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(40, 0)).await;
    admin.env.configure(json!({ "latency_ms": 300 })).await;
    let scheduled = admin.env.engine_with(retry_at_once());
    let store = admin.env.store();

    let (report, (refused, refused_with_upload_all)) =
        tokio::join!(scheduled.run(generous_deadline()), async {
            eventually(
                Duration::from_secs(10),
                "the scheduled run's lease",
                || async {
                    store
                        .lease_state(LEASE_NAME, chrono::Utc::now())
                        .await
                        .unwrap()
                        .filter(|lease| lease.held)
                },
            )
            .await;
            let refused = admin.call(Endpoint::Sync.request().admin()).await;
            let with_upload_all = admin
                .call(
                    Endpoint::Sync
                        .request()
                        .admin()
                        .body(r#"{"upload_all": true}"#),
                )
                .await;
            (refused, with_upload_all)
        });

    for answer in [&refused, &refused_with_upload_all] {
        answer.assert_error(503, "RATING_SYNC_IN_PROGRESS");
        assert!(answer.body["error"]["details"]["lease_until"].is_string());
        assert!(answer.body["error"]["details"]["requeue"].is_null());
    }
    assert!(report.success, "{report:?}");
    assert_eq!(report.uploaded, 40, "the scheduled run did all the work");
    let stats = admin.env.stats().await;
    assert_eq!(stats["creates"], 40, "each rating once");
    assert_eq!(
        stats["updates"], 0,
        "upload_all requeued nothing to push again"
    );
    assert!(
        admin.env.pending_ids().await.is_empty(),
        "nothing was put back"
    );
    let reports = admin.env.store().recent_reports(5).await.unwrap();
    assert_eq!(reports.len(), 1, "only the scheduled run ran");
    let audit = admin.audit().await;
    assert!(audit
        .iter()
        .all(|r| text(r, "code") == "RATING_SYNC_IN_PROGRESS" && text(r, "outcome") == "rejected"));
}

/// `count` ratings stored as synced, the way the sync leaves them.
async fn put_synced(env: &TestEnv, count: usize) -> Vec<String> {
    let items: Vec<Item> = env
        .ratings(count, 0)
        .iter()
        .map(|rating| {
            let mut item = shared::store::new_rating_item(rating);
            item.remove("synced_to_saas");
            item.insert("synced_at".into(), s("2026-01-01T00:00:00.000Z"));
            item.insert(
                "remote_rating_id".into(),
                s(&format!("remote-{}", rating.id)),
            );
            item
        })
        .collect();
    let ids = items.iter().map(|item| text(item, "id")).collect();
    seed::put_items(&env.client, &env.tables.ratings, items)
        .await
        .unwrap();
    ids
}

#[tokio::test]
async fn upload_all_pushes_every_rating_again_as_an_update() {
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(40, 0);
    admin.env.put(&ratings).await;
    let first = admin.call(Endpoint::Sync.request().admin()).await;
    assert_eq!(first.body["uploaded"], 40, "{}", first.body);

    let answer = admin
        .call(
            Endpoint::Sync
                .request()
                .admin()
                .body(r#"{"upload_all": true}"#),
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["requeue"],
        json!({ "requeued": 40, "pass_requeued": 40, "finished": true })
    );
    assert_eq!(answer.body["uploaded"], 40);
    assert_eq!(answer.body["pending_count"], 0);
    let stats = admin.env.stats().await;
    assert_eq!(stats["creates"], 40, "nothing created twice");
    assert_eq!(stats["updates"], 40, "each rating sent again as an update");
    for rating in &ratings {
        assert_eq!(
            sync_state(&admin.env.item(&rating.id).await),
            SyncState::Synced
        );
    }
    assert!(admin.env.store().requeue_pass().await.unwrap().is_none());
}

#[tokio::test]
async fn a_re_push_too_large_for_one_call_goes_on_where_the_last_one_stopped() {
    let admin = Admin::new().await;
    let ids = put_synced(&admin.env, 250).await;
    let store = admin.env.store();
    let spent = tokio::time::Instant::now();

    // No time left: each call does its one page of 100.
    let mut progress = Vec::new();
    for _ in 0..3 {
        let step = sync_ratings::requeue_all(&store, spent, 100).await.unwrap();
        progress.push((step.requeued, step.pass_requeued, step.finished));
        if !step.finished {
            let pass = store.requeue_pass().await.unwrap().expect("progress kept");
            assert_eq!(pass.requeued, step.pass_requeued);
            let shown = admin.call(Endpoint::Status.request().admin()).await;
            assert_eq!(shown.body["requeue_pass"]["requeued"], step.pass_requeued);
        }
    }
    assert_eq!(
        progress,
        [(100, 100, false), (100, 200, false), (50, 250, true)]
    );
    assert_eq!(
        admin
            .env
            .pending_ids()
            .await
            .into_iter()
            .collect::<BTreeSet<_>>(),
        ids.into_iter().collect::<BTreeSet<_>>(),
        "every rating is back in the backlog, each once"
    );
    assert!(
        store.requeue_pass().await.unwrap().is_none(),
        "the pass is over"
    );
    // A new pass reads every page again but skips what is already pending.
    let mut calls = 0;
    loop {
        calls += 1;
        let again = sync_ratings::requeue_all(&store, spent, 100).await.unwrap();
        assert_eq!(again.pass_requeued, 0);
        if again.finished {
            break;
        }
        assert!(calls < 3, "three pages of 100 cover 250 ratings");
    }
}

#[tokio::test]
async fn two_upload_all_calls_at_once_one_runs_and_the_other_is_503_having_changed_nothing() {
    const COUNT: usize = 40;
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(COUNT, 0);
    admin.env.put(&ratings).await;
    let seeded = admin
        .env
        .engine_with(retry_at_once())
        .run(generous_deadline())
        .await;
    assert_eq!(seeded.uploaded, COUNT as u64, "{seeded:?}");
    // A slow marketplace: the first run still holds the lease when the
    // second call asks for it.
    admin.env.configure(json!({ "latency_ms": 50 })).await;
    let upload_all = || {
        Endpoint::Sync
            .request()
            .admin()
            .body(r#"{"upload_all": true}"#)
    };

    // Boxed: two handler futures side by side overflow a test thread's
    // stack in a debug build.
    let (first, second) = tokio::join!(
        Box::pin(admin.call(upload_all())),
        Box::pin(admin.call(upload_all()))
    );

    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 503],
        "one runs, one is refused:\n{}\n{}",
        first.body,
        second.body
    );
    let (ran, refused) = if first.status == 200 {
        (&first, &second)
    } else {
        (&second, &first)
    };
    refused.assert_error(503, "RATING_SYNC_IN_PROGRESS");
    assert!(
        refused.body["error"]["details"]["requeue"].is_null(),
        "the refused call requeued nothing: {}",
        refused.body
    );
    assert_eq!(ran.body["success"], true, "{}", ran.body);
    assert_eq!(
        ran.body["requeue"],
        json!({ "requeued": COUNT, "pass_requeued": COUNT, "finished": true }),
        "the pass counts each rating once"
    );
    assert_eq!(ran.body["uploaded"], COUNT, "{}", ran.body);
    assert_eq!(ran.body["pending_count"], 0, "{}", ran.body);
    let stats = admin.env.stats().await;
    assert_eq!(stats["creates"], COUNT, "nothing created twice");
    assert_eq!(stats["updates"], COUNT, "each rating pushed again once");
    assert!(
        admin.env.pending_ids().await.is_empty(),
        "nothing left over"
    );
    for rating in &ratings {
        assert_eq!(
            sync_state(&admin.env.item(&rating.id).await),
            SyncState::Synced
        );
    }
    let store = admin.env.store();
    assert!(store.requeue_pass().await.unwrap().is_none());
    let reports = store.recent_reports(5).await.unwrap();
    assert_eq!(
        reports.len(),
        2,
        "the seeding run and the re-push; the refused call ran nothing"
    );
    let lease = store
        .lease_state(LEASE_NAME, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(lease, None, "the lease was released");
}
