//! The marketplace as an attacker or a broken server would be: redirects,
//! answers of tens of megabytes, `Retry-After` of any size and form, and
//! remote ratings that no honest server lists. The sync must stop cleanly or
//! skip with a reason, and never lose, duplicate or corrupt a rating.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use integration_tests::*;
use local_stack::simulator::Simulator;
use serde_json::{json, Value};
use shared::config::SyncSettings;
use shared::rating::{Rating, SyncState};
use shared::report::SyncReport;
use shared::store::{sync_state, DEAD};

/// A deadline that leaves a run 10 s of work (the default margin is 20 s).
fn ten_seconds_of_work() -> SystemTime {
    SystemTime::now() + Duration::from_secs(30)
}

/// One pending rating, run once; its report.
async fn one_rating_run(env: &TestEnv, settings: SyncSettings) -> (Rating, SyncReport) {
    let rating = env.ratings(1, 0).remove(0);
    env.put(std::slice::from_ref(&rating)).await;
    let report = env.engine_with(settings).run(ten_seconds_of_work()).await;
    (rating, report)
}

/// Still pending, with no dead-letter item: nothing was lost or parked.
async fn assert_still_pending(env: &TestEnv, rating: &Rating) {
    assert_eq!(sync_state(&env.item(&rating.id).await), SyncState::Pending);
    assert!(env.dead_letters().await.is_empty(), "nothing parked");
}

#[tokio::test]
async fn a_redirect_to_another_host_is_never_followed_and_stops_the_run() {
    let env = TestEnv::new().await;
    let elsewhere = Simulator::start_on("127.0.0.2", TOKEN)
        .await
        .expect("a second simulator on 127.0.0.2");
    let rating = env.ratings(1, 0).remove(0);
    env.put(std::slice::from_ref(&rating)).await;
    for status in [301, 302, 307, 308] {
        let location = format!("{}/skills/{}/rate", elsewhere.base_url(), rating.skill_id);
        env.configure(json!({"script": [{"status": status, "headers": {"Location": location}}]}))
            .await;
        let report = env
            .engine_with(retry_at_once())
            .run(ten_seconds_of_work())
            .await;

        let error = report.error.clone().unwrap_or_default();
        assert!(report.breaker_open, "{status}: {report:?}");
        assert!(
            error.contains(&format!("answered {status}"))
                && error.contains("host 127.0.0.2")
                && error.contains("ATOM_SAAS_API_URL"),
            "{status}: {error}"
        );
        assert_eq!((report.uploaded, report.failed, report.parked), (0, 0, 0));
        assert_still_pending(&env, &rating).await;
    }
    let reached = elsewhere.stats().await.unwrap();
    assert_eq!(
        reached["requests_total"], 0,
        "the token never left for the other host: {reached}"
    );
    assert_eq!(env.stats().await["creates"], 0);
}

#[tokio::test]
async fn a_303_on_create_is_not_a_success() {
    let env = TestEnv::new().await;
    let rating = env.ratings(1, 0).remove(0);
    env.put(std::slice::from_ref(&rating)).await;
    // Followed as a GET, this would answer 200 with the skill's own id,
    // which a client that follows redirects takes as the new rating's id.
    env.configure(json!({"script": [{
        "status": 303,
        "headers": {"Location": format!("/skills/{}", rating.skill_id)}
    }]}))
    .await;
    let report = env
        .engine_with(retry_at_once())
        .run(ten_seconds_of_work())
        .await;

    assert!(report.breaker_open && !report.success, "{report:?}");
    assert_still_pending(&env, &rating).await;
    let stats = env.stats().await;
    assert_eq!(requests(&stats, "GET").len(), 0, "not followed");
    assert_eq!(stats["creates"], 0);
}

#[tokio::test]
async fn retry_after_values_that_fit_the_run_are_honoured_and_garbage_falls_back() {
    for value in [
        "1",
        "0",
        "-5",
        "soon",
        "1.5",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "Wednesday, 21-Oct-15 07:28:00 GMT",
        "Wed Oct 21 07:28:00 2015",
    ] {
        let env = TestEnv::new().await;
        env.configure(json!({"script": [{"status": 429, "headers": {"Retry-After": value}}]}))
            .await;
        let (rating, report) = one_rating_run(&env, retry_at_once()).await;
        assert!(report.success, "{value}: {report:?}");
        assert_eq!(report.created, 1, "{value}: {report:?}");
        assert_eq!(sync_state(&env.item(&rating.id).await), SyncState::Synced);
        assert_eq!(
            requests(&env.stats().await, "POST").len(),
            2,
            "{value}: the 429, then one retry"
        );
    }
}

#[tokio::test]
async fn retry_after_values_past_the_deadline_end_the_run_early_with_the_rating_pending() {
    let in_an_hour = httpdate_in(Duration::from_secs(3600));
    for (value, says) in [
        ("18446744073709551615", "18446744073709551615s"),
        ("99999999999999999999999999999", "18446744073709551615s"),
        ("3600", "3600s"),
        (in_an_hour.as_str(), "pause of 3"),
    ] {
        let env = TestEnv::new().await;
        env.configure(json!({"script": [{"status": 429, "headers": {"Retry-After": value}}]}))
            .await;
        let (rating, report) = one_rating_run(&env, retry_at_once()).await;

        let reason = report.stopped_early.clone().unwrap_or_default();
        assert!(
            reason.contains(says) && reason.contains("deadline"),
            "{value}: {report:?}"
        );
        assert!(report.error.is_none() && !report.breaker_open, "{report:?}");
        assert_eq!((report.failed, report.parked), (0, 0), "{value}");
        assert_still_pending(&env, &rating).await;
        assert_eq!(requests(&env.stats().await, "POST").len(), 1, "{value}");
    }
}

/// An IMF-fixdate `wait` from now.
fn httpdate_in(wait: Duration) -> String {
    (chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap())
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// What a hostile remote rating changes from an honest one, and what the
/// reason for skipping it must say.
fn hostile_remotes() -> Vec<(Value, &'static str)> {
    vec![
        (json!({"rating": 99}), "99 stars"),
        (json!({"rating": 0}), "0 stars"),
        (json!({"rating": 4.5}), "wrong shape"),
        (json!({"rating": "5"}), "wrong shape"),
        (json!({"comment": "x".repeat(2000)}), "2000 characters"),
        (json!({"id": "../x"}), "not '/'"),
        (json!({"id": ".."}), "dots alone"),
        (
            json!({"updated_at": "9999-12-31T23:59:59Z"}),
            "in the future",
        ),
        (
            json!({"updated_at": "next tuesday"}),
            "Invalid remote timestamp",
        ),
    ]
}

/// An honest remote rating of `local`'s user, newer than it, with
/// `changes` written over it.
fn remote_of(local: &Rating, id: &str, changes: &Value) -> Value {
    let mut remote = json!({
        "id": id,
        "skill_id": local.skill_id,
        "user_id": local.user_id,
        "rating": 1,
        "comment": "changed at the marketplace",
        "created_at": local.created_at,
        "updated_at": shared::store::timestamp(chrono::Utc::now()),
    });
    if let (Some(remote), Some(changes)) = (remote.as_object_mut(), changes.as_object()) {
        remote.extend(changes.clone());
    }
    remote
}

/// Case `i`'s remote rating of `local`'s user, as the marketplace lists it
/// (id `hx-<i>` unless the case changes the id).
async fn insert_remote(env: &TestEnv, local: &Rating, i: usize, changes: &Value) {
    let id = format!("hx-{i}");
    let id = changes["id"].as_str().unwrap_or(&id).to_owned();
    env.simulator
        .insert_raw_rating(remote_of(local, &id, changes))
        .await
        .expect("raw remote rating");
}

/// The local values a remote rating must not have touched.
async fn values(env: &TestEnv, id: &str) -> (String, String, String) {
    let item = env.item(id).await;
    (
        text(&item, "rating"),
        text(&item, "review"),
        text(&item, "updated_at"),
    )
}

async fn assert_skip_logged(env: &TestEnv, rating_id: &str, says: &str) {
    let conflicts = env.store().conflicts_of(rating_id).await.unwrap();
    assert_eq!(conflicts.len(), 1, "{rating_id}: {conflicts:?}");
    assert_eq!(text(&conflicts[0], "strategy"), "skipped");
    assert_eq!(text(&conflicts[0], "type"), "INVALID_REMOTE");
    let reason = text(&conflicts[0], "reason");
    assert!(reason.contains(says), "{rating_id}: {reason} lacks {says}");
}

#[tokio::test]
async fn hostile_remote_ratings_in_the_pull_are_skipped_with_their_reason() {
    let env = TestEnv::new().await;
    let cases = hostile_remotes();
    // One more than the cases: the last one's remote edit is honest, and is
    // taken, so the pull is known to run.
    let locals = env.ratings(cases.len() + 1, 0);
    env.put(&locals).await;
    let first = env.engine().run(generous_deadline()).await;
    assert_eq!(first.created, locals.len() as u64, "{first:?}");

    let by_user = env.remote_ids_by_user().await;
    let before: Vec<_> = local_values(&env, &locals).await;
    for (i, local) in locals.iter().enumerate() {
        let remote_id = &by_user[&local.user_id];
        env.simulator.delete_rating(remote_id).await.unwrap();
        let changes = cases
            .get(i)
            .map_or(json!({}), |(changes, _)| changes.clone());
        insert_remote(&env, local, i, &changes).await;
    }
    let report = env.engine().run(generous_deadline()).await;

    assert_eq!(report.pulled, 1, "the honest edit is taken: {report:?}");
    let honest = locals.last().unwrap();
    assert_eq!(values(&env, &honest.id).await.0, "1");
    for (i, (_, says)) in cases.iter().enumerate() {
        let local = &locals[i];
        assert_eq!(values(&env, &local.id).await, before[i], "{says}: touched");
        assert_eq!(sync_state(&env.item(&local.id).await), SyncState::Synced);
        assert!(
            report
                .resolution_skips
                .iter()
                .any(|skip| skip.starts_with(&format!("rating {}:", local.id))
                    && skip.contains(says)),
            "{says}: {:?}",
            report.resolution_skips
        );
        assert_skip_logged(&env, &local.id, says).await;
    }
    assert_eq!(env.stats().await["updates"], 0, "nothing pushed over them");
}

async fn local_values(env: &TestEnv, locals: &[Rating]) -> Vec<(String, String, String)> {
    let mut all = Vec::new();
    for local in locals {
        all.push(values(env, &local.id).await);
    }
    all
}

#[tokio::test]
async fn hostile_remote_ratings_met_on_a_409_are_skipped_and_the_rating_parked() {
    let env = TestEnv::new().await;
    let cases = hostile_remotes();
    let locals = env.ratings(cases.len() + 1, 0);
    for (i, local) in locals.iter().enumerate() {
        let changes = cases.get(i).map_or(
            // The control: the same content, older: linked, not parked.
            json!({
                "rating": local.stars().unwrap(),
                "comment": local.review,
                "updated_at": "2020-01-01T00:00:00Z",
            }),
            |(changes, _)| changes.clone(),
        );
        insert_remote(&env, local, i, &changes).await;
    }
    env.put(&locals).await;
    let report = env.engine().run(generous_deadline()).await;

    let control = locals.last().unwrap();
    let item = env.item(&control.id).await;
    assert_eq!(sync_state(&item), SyncState::Synced, "{report:?}");
    assert_eq!(
        text(&item, "remote_rating_id"),
        format!("hx-{}", cases.len())
    );
    let dead: HashMap<String, Item> = env
        .dead_letters()
        .await
        .into_iter()
        .map(|item| (text(&item, "id"), item))
        .collect();
    for (i, (_, says)) in cases.iter().enumerate() {
        let local = &locals[i];
        let item = env.item(&local.id).await;
        assert_eq!(sync_state(&item), SyncState::Parked, "{says}");
        assert_eq!(text(&item, "rating"), local.rating, "{says}");
        assert_eq!(
            text(&item, "remote_rating_id"),
            "",
            "{says}: no remote id taken"
        );
        let parked = &dead[&local.id];
        assert_eq!(text(parked, "status"), DEAD);
        assert!(
            text(parked, "error_message").contains(says),
            "{says}: {parked:?}"
        );
        assert_skip_logged(&env, &local.id, says).await;
    }
    assert_eq!(report.parked, cases.len() as u64, "{report:?}");
    assert_eq!(env.stats().await["creates"], 0);
}

#[tokio::test]
async fn a_local_review_over_the_marketplace_limit_is_parked_and_never_sent() {
    let env = TestEnv::new().await;
    let mut ratings = env.ratings(2, 0);
    ratings[0].review = Some("é".repeat(1001));
    ratings[1].review = Some("é".repeat(1000));
    env.put(&ratings).await;
    let report = env.engine().run(generous_deadline()).await;

    assert_eq!((report.created, report.parked), (1, 1), "{report:?}");
    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(text(&dead[0], "id"), ratings[0].id);
    assert!(
        text(&dead[0], "error_message").contains("1001 characters"),
        "{dead:?}"
    );
    let sent = requests(&env.stats().await, "POST");
    assert_eq!(sent.len(), 1, "only the rating within the limit is sent");
    assert_eq!(sent[0]["user_id"], ratings[1].user_id.as_str());
}

type Item = shared::store::Item;
