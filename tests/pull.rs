//! The pull's walk over the registered skills: a window of reads in flight,
//! every skill read at most once a run, and a cursor that never skips one,
//! whatever cuts a run short.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use integration_tests::*;
use serde_json::{json, Value};
use shared::config::SyncSettings;

/// Settings with pulling off: for the runs that only set a test up.
fn push_only() -> SyncSettings {
    SyncSettings {
        pull_skills_per_run: 0,
        ..SyncSettings::default()
    }
}

/// Registers `count` skills with no local ratings, as earlier runs would
/// have; their ids, in the order the pull walks them.
async fn registered_skills(env: &TestEnv, count: usize) -> Vec<String> {
    let skills: BTreeSet<String> = (0..count)
        .map(|i| format!("{}pull-{i:04}", env.prefix))
        .collect();
    env.store()
        .register_skills(&skills)
        .await
        .expect("register skills");
    skills.into_iter().collect()
}

/// The marketplace's skill reads, in arrival order, from the `from`-th
/// request of the log on.
async fn skill_reads(env: &TestEnv, from: usize) -> Vec<Value> {
    let stats = env.stats().await;
    let all = stats["requests"].as_array().cloned().unwrap_or_default();
    all.into_iter()
        .skip(from)
        .filter(|r| r["method"] == "GET")
        .collect()
}

/// How many requests the log holds so far.
async fn logged(env: &TestEnv) -> usize {
    env.stats().await["requests"].as_array().map_or(0, Vec::len)
}

/// Each skill read with a 200 answer, with how many times.
fn read_counts(reads: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for read in reads.iter().filter(|r| r["status"] == 200) {
        let skill = read["skill_id"].as_str().unwrap_or_default().to_owned();
        *counts.entry(skill).or_insert(0) += 1;
    }
    counts
}

/// The most requests the marketplace was answering at one time, from the
/// arrival (`at`, seconds) and duration (`took_ms`) of each.
fn most_at_once(reads: &[Value]) -> usize {
    let mut events: Vec<(f64, i32)> = Vec::new();
    for read in reads {
        let at = read["at"].as_f64().expect("at");
        let took = read["took_ms"].as_f64().expect("took_ms") / 1000.0;
        events.push((at, 1));
        events.push((at + took, -1));
    }
    // An end and a start at the same instant do not overlap.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or_default()
}

#[tokio::test]
async fn a_pull_of_two_hundred_skills_keeps_reads_in_flight_and_reads_each_once() {
    let env = TestEnv::new().await;
    // Three skills with a synced rating each, edited at the marketplace.
    let ratings = env.ratings(3, 0);
    env.put(&ratings).await;
    let pushed = env.engine_with(push_only()).run(generous_deadline()).await;
    assert_eq!(pushed.created, 3, "{pushed:?}");
    let newer = shared::store::timestamp(Utc::now());
    for (user, remote_id) in env.remote_ids_by_user().await {
        assert!(ratings.iter().any(|r| r.user_id == user));
        env.simulator
            .edit_rating(
                &remote_id,
                json!({"comment": "edited at the marketplace", "updated_at": newer}),
            )
            .await
            .unwrap();
    }
    let empty = registered_skills(&env, 200).await;
    env.configure(json!({"latency_ms": 50})).await;
    let from = logged(&env).await;

    let settings = SyncSettings {
        max_concurrency: 10,
        ..SyncSettings::default()
    };
    let report = env.engine_with(settings).run(generous_deadline()).await;

    assert_eq!(
        (report.skills_pulled, report.pulled),
        (203, 3),
        "{report:?}"
    );
    for rating in &ratings {
        assert_eq!(
            text(&env.item(&rating.id).await, "review"),
            "edited at the marketplace"
        );
    }
    let reads = skill_reads(&env, from).await;
    let counts = read_counts(&reads);
    assert_eq!(reads.len(), 203, "one request per skill");
    for skill in empty.iter().chain(ratings.iter().map(|r| &r.skill_id)) {
        assert_eq!(counts.get(skill), Some(&1), "{skill} read exactly once");
    }
    let most = most_at_once(&reads);
    assert!(most > 1, "skill reads overlap: at most {most} at once");
    assert!(most <= 10, "{most} skill reads at once, over the cap of 10");
    let max_in_flight = env.stats().await["max_in_flight"].as_u64().unwrap_or(0);
    assert!(max_in_flight <= 10, "{max_in_flight} in flight");
}

#[tokio::test]
async fn a_pull_cut_short_by_the_deadline_leaves_no_skill_behind() {
    let env = TestEnv::new().await;
    let skills = registered_skills(&env, 40).await;
    env.configure(json!({"latency_ms": 200})).await;
    let settings = SyncSettings {
        max_concurrency: 2,
        deadline_margin: Duration::from_millis(500),
        ..SyncSettings::default()
    };

    // About 2.5 s of work at two reads of 200 ms at a time: far from 40.
    let deadline = SystemTime::now() + Duration::from_secs(3);
    let first = env.engine_with(settings.clone()).run(deadline).await;

    assert!(
        first.skills_pulled > 0 && first.skills_pulled < 40,
        "{first:?}"
    );
    let first_reads = read_counts(&skill_reads(&env, 0).await);
    assert_eq!(first_reads.len() as u64, first.skills_pulled);
    let cursor = env
        .store()
        .pull_cursor()
        .await
        .unwrap()
        .expect("a cursor part-way through");
    // Every skill up to the cursor was read: the next run may start after it.
    for skill in skills.iter().filter(|s| **s <= cursor) {
        assert!(first_reads.contains_key(skill), "{skill} skipped");
    }

    // The next run, capped to what is left after the cursor, reads exactly
    // that: across the two runs, every skill is read.
    let left = skills.iter().filter(|s| **s > cursor).count();
    let from = logged(&env).await;
    let rest = SyncSettings {
        pull_skills_per_run: u32::try_from(left).unwrap(),
        ..settings
    };
    let second = env.engine_with(rest).run(generous_deadline()).await;

    assert_eq!(second.skills_pulled, left as u64, "{second:?}");
    let second_reads = read_counts(&skill_reads(&env, from).await);
    for skill in &skills {
        let read = if *skill <= cursor {
            &first_reads
        } else {
            &second_reads
        };
        assert_eq!(read.get(skill), Some(&1), "{skill}");
    }
    assert_eq!(
        env.store().pull_cursor().await.unwrap().as_ref(),
        skills.last(),
        "the next run goes on from the first skill"
    );
}

#[tokio::test]
async fn a_skill_that_cannot_be_read_holds_the_cursor_before_it() {
    let env = TestEnv::new().await;
    let skills = registered_skills(&env, 30).await;
    let broken = &skills[12];
    env.configure(json!({
        "latency_ms": 50,
        "script": [{"status": 500, "match": {"method": "GET", "path_prefix": format!("/skills/{broken}")}}],
    }))
    .await;
    let settings = SyncSettings {
        max_concurrency: 10,
        request_attempts: 1,
        ..SyncSettings::default()
    };
    let engine = env.engine_with(settings.clone());

    let first = engine.run(generous_deadline()).await;

    let first_reads = read_counts(&skill_reads(&env, 0).await);
    assert!(!first_reads.contains_key(broken), "{first:?}");
    assert_eq!(first_reads.len() as u64, first.skills_pulled, "{first:?}");
    for skill in &skills[..12] {
        assert!(first_reads.contains_key(skill), "{skill} read before it");
    }
    assert!(first.skills_pulled < 30, "the pull stopped: {first:?}");
    assert_eq!(
        env.store().pull_cursor().await.unwrap().as_ref(),
        Some(&skills[11]),
        "skills read after the broken one do not move the cursor past it"
    );

    // The next run starts with the skill that failed, and reads every skill
    // once: on to the last, then from the first back to the cursor.
    // A new engine (a cold start), so that its slow start holds: an engine
    // that heard the marketplace within a minute starts at full
    // concurrency, and which of its first reads arrives first is a race.
    let from = logged(&env).await;
    let second = env.engine_with(settings).run(generous_deadline()).await;

    assert_eq!(second.skills_pulled, 30, "{second:?}");
    let reads = skill_reads(&env, from).await;
    // The gate's slow start sends the first request alone.
    assert_eq!(
        reads[0]["skill_id"],
        broken.as_str(),
        "starts where it stopped"
    );
    let counts = read_counts(&reads);
    assert!(
        skills.iter().all(|s| counts.get(s) == Some(&1)),
        "{counts:?}"
    );
    assert_eq!(
        env.store().pull_cursor().await.unwrap().as_ref(),
        Some(&skills[11]),
        "a whole pass leaves the cursor where the run found it"
    );
}

#[tokio::test]
async fn the_cap_walks_a_few_skills_a_run_and_wraps_and_zero_turns_the_pull_off() {
    let env = TestEnv::new().await;
    let skills = registered_skills(&env, 5).await;
    let two_a_run = env.engine_with(SyncSettings {
        pull_skills_per_run: 2,
        ..SyncSettings::default()
    });
    for (run, expected) in [[0, 1], [2, 3], [4, 0], [1, 2]].iter().enumerate() {
        let from = logged(&env).await;
        let report = two_a_run.run(generous_deadline()).await;
        assert_eq!(report.skills_pulled, 2, "run {run}: {report:?}");
        let counts = read_counts(&skill_reads(&env, from).await);
        let read: BTreeSet<&String> = counts.keys().collect();
        let wanted: BTreeSet<&String> = expected.iter().map(|i| &skills[*i]).collect();
        assert_eq!(read, wanted, "run {run}");
    }

    let cursor = env.store().pull_cursor().await.unwrap();
    let from = logged(&env).await;
    let off = env.engine_with(push_only()).run(generous_deadline()).await;
    assert_eq!(off.skills_pulled, 0, "{off:?}");
    assert!(skill_reads(&env, from).await.is_empty(), "no skill read");
    assert_eq!(
        env.store().pull_cursor().await.unwrap(),
        cursor,
        "left as it was"
    );
}
