//! `atom-rating-sync import`: the Python service's SQLite files of both
//! shapes and a real PostgreSQL, into this test's own tables on the local
//! DynamoDB server, and the sync run over what was imported.

use std::collections::BTreeMap;

use atom_rating_sync::import::{import, ImportArgs, ImportError, Summary};
use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::python_db::{lit, sqlite_file, Postgres, Shape};
use integration_tests::{generous_deadline, text, TestEnv};
use shared::rating::SyncState;
use shared::store::{rating_from_item, sync_state, FailureStatus};

/// One `skill_ratings` row.
#[derive(Clone)]
struct Row {
    id: String,
    rating: &'static str,
    review: Option<&'static str>,
    created: &'static str,
    updated: Option<&'static str>,
    synced: bool,
    remote: Option<String>,
}

fn row(id: &str, rating: &'static str) -> Row {
    Row {
        id: id.to_owned(),
        rating,
        review: Some("fine skill"),
        created: "2026-03-01 10:00:00",
        updated: Some("2026-03-02 11:30:00.250"),
        synced: false,
        remote: None,
    }
}

/// The SQL that inserts `rows` in `shape`; `zone` is appended to every
/// time ("" for SQLite's naive times, "+00" for PostgreSQL).
fn insert(shape: Shape, zone: &str, rows: &[Row]) -> String {
    let time = |t: &str| lit(Some(&format!("{t}{zone}")));
    rows.iter()
        .map(|r| {
            let common = format!(
                "{}, {}, {}, {}, {}, {}, {}, {}, {}",
                lit(Some(&r.id)),
                lit(Some(&format!("skill-{}", r.id))),
                lit(Some(&format!("user-{}", r.id))),
                r.rating,
                lit(r.review),
                time(r.created),
                if r.synced {
                    time("2026-03-03 09:00:00")
                } else {
                    "NULL".into()
                },
                r.synced,
                lit(r.remote.as_deref()),
            );
            match shape {
                Shape::Early => format!(
                    "INSERT INTO skill_ratings (id, skill_id, user_id, rating, comment, \
                     created_at, synced_at, synced_to_saas, remote_rating_id) VALUES ({common});"
                ),
                Shape::Later => format!(
                    "INSERT INTO skill_ratings (id, skill_id, user_id, rating, review, \
                     created_at, synced_at, synced_to_saas, remote_rating_id, tenant_id, \
                     updated_at) VALUES ({common}, 'tenant-a', {});",
                    r.updated.map_or("NULL".into(), time)
                ),
            }
        })
        .collect()
}

/// A `failed_rating_uploads` row.
fn failure(zone: &str, id: &str, rating_id: &str, message: &str, at: &str, count: u32) -> String {
    format!(
        "INSERT INTO failed_rating_uploads (id, rating_id, error_message, failed_at, \
         last_retry_at, retry_count) VALUES ({}, {}, {}, '{at}{zone}', NULL, {count});",
        lit(Some(id)),
        lit(Some(rating_id)),
        lit(Some(message))
    )
}

fn conflict(zone: &str, id: &str, rating_id: &str) -> String {
    let local = format!(
        r#"{{"id": "{rating_id}", "user_id": "user-{rating_id}", "rating": 3, "comment": "ok", "updated_at": "2026-03-02T11:30:00Z"}}"#
    );
    let remote = r#"{"id": "remote-9", "rating": 5, "comment": "great", "updated_at": "2026-03-04T08:00:00Z"}"#;
    format!(
        "INSERT INTO conflict_log (id, conflict_type, severity, local_data, remote_data, \
         resolution_strategy, resolved_at, skill_id, created_at) VALUES ({}, 'rating_mismatch', \
         'medium', {}, {}, 'newest_wins', '2026-03-04 08:00:05{zone}', {}, \
         '2026-03-04 08:00:05{zone}');",
        lit(Some(id)),
        lit(Some(&local)),
        lit(Some(remote)),
        lit(Some(&format!("skill-{rating_id}")))
    )
}

fn args(from: String) -> ImportArgs {
    ImportArgs {
        from,
        dry_run: false,
        tenant: "tenant-early".into(),
        page_size: 500,
        stop_after_pages: None,
        progress: false,
    }
}

async fn run(env: &TestEnv, args: &ImportArgs) -> Summary {
    import(args, env.client.clone(), env.tables.clone())
        .await
        .expect("import")
}

fn count(which: &BTreeMap<String, atom_rating_sync::import::Tally>, reason: &str) -> u64 {
    which.get(reason).map_or(0, |t| t.count)
}

/// Every item of the three tables, sorted, without the attributes an
/// import sets from its own clock.
async fn everything(env: &TestEnv) -> Vec<BTreeMap<String, AttributeValue>> {
    let mut all = Vec::new();
    for table in [
        &env.tables.ratings,
        &env.tables.failed_uploads,
        &env.tables.sync_state,
    ] {
        for mut item in integration_tests::admin::scan(env, table).await {
            // What an import sets from its own clock: when it parked a
            // rating, when a waiting one is due, when the conflict expires,
            // and an invalid value's failure (recorded by the import).
            for clock in [
                "sync_parked_at",
                "next_attempt_at",
                "next_retry_at",
                "expires_at",
            ] {
                item.remove(clock);
            }
            if item.get("retryable") == Some(&AttributeValue::Bool(false)) {
                item.remove("failed_at");
                item.remove("last_failed_at");
            }
            all.push(item.into_iter().collect());
        }
    }
    all.sort_by_key(|item: &BTreeMap<String, AttributeValue>| format!("{item:?}"));
    all
}

/// The rows every rule needs, ids prefixed with `p`.
fn rule_rows(p: &str) -> Vec<Row> {
    let mut synced = row(&format!("{p}synced"), "4");
    synced.synced = true;
    synced.remote = Some(format!("remote-{p}synced"));
    let mut no_remote = row(&format!("{p}noremote"), "5");
    no_remote.synced = true;
    vec![
        synced,
        row(&format!("{p}pending"), "3"),
        no_remote,
        row(&format!("{p}seven"), "7"),
        row(&format!("{p}failed"), "2"),
    ]
}

fn rule_failures(p: &str, zone: &str) -> String {
    [
        failure(
            zone,
            "f1",
            &format!("{p}failed"),
            "Connection reset",
            "2026-03-05 10:00:00",
            1,
        ),
        failure(
            zone,
            "f2",
            &format!("{p}failed"),
            "HTTP 503",
            "2026-03-06 10:00:00",
            1,
        ),
        failure(
            zone,
            "f3",
            &format!("{p}failed"),
            "Timeout",
            "2026-03-05 12:00:00",
            2,
        ),
        failure(
            zone,
            "f4",
            &format!("{p}synced"),
            "HTTP 500 long ago",
            "2026-03-01 12:00:00",
            1,
        ),
    ]
    .concat()
}

/// What every rule leaves, checked on the tables; `p` the ids' prefix.
async fn assert_rules(env: &TestEnv, p: &str) {
    let store = env.store();
    let synced = env.item(&format!("{p}synced")).await;
    assert_eq!(sync_state(&synced), SyncState::Synced);
    // Its skill is registered for the pull, as the sync registers the
    // skills it syncs; no other skill is.
    let (skills, _) = store.skills_after(None, 100).await.unwrap();
    assert_eq!(skills, [format!("skill-{p}synced")]);
    assert_eq!(
        text(&synced, "remote_rating_id"),
        format!("remote-{p}synced")
    );
    assert!(store
        .failed_upload(&format!("{p}synced"))
        .await
        .unwrap()
        .is_none());

    let pending = env.item(&format!("{p}pending")).await;
    assert_eq!(sync_state(&pending), SyncState::Pending);
    let rating = rating_from_item(&pending).expect("reads as a rating");
    assert_eq!(rating.review.as_deref(), Some("fine skill"));
    assert_eq!(rating.updated_at, "2026-03-02T11:30:00.250Z");
    assert_eq!(rating.created_at, "2026-03-01T10:00:00.000Z");

    let no_remote = env.item(&format!("{p}noremote")).await;
    assert_eq!(sync_state(&no_remote), SyncState::Pending);
    assert!(!no_remote.contains_key("remote_rating_id"));

    let seven = env.item(&format!("{p}seven")).await;
    assert_eq!(sync_state(&seven), SyncState::Parked);
    let dead = store
        .failed_upload(&format!("{p}seven"))
        .await
        .unwrap()
        .expect("dead letter");
    assert_eq!(dead.error_message, "Invalid rating value: 7. Must be 1-5");
    assert_eq!(dead.status, FailureStatus::Dead);
    assert!(!dead.retryable);

    let failed = env.item(&format!("{p}failed")).await;
    assert_eq!(sync_state(&failed), SyncState::Waiting);
    assert_eq!(text(&failed, "last_sync_error"), "HTTP 503");
    let dead = store
        .failed_upload(&format!("{p}failed"))
        .await
        .unwrap()
        .expect("dead letter");
    assert_eq!(dead.retry_count, 2, "the highest retry count");
    assert_eq!(
        dead.error_message, "HTTP 503",
        "the latest failure's message"
    );
    assert_eq!(dead.failed_at, "2026-03-05T10:00:00.000Z");
    assert_eq!(
        dead.last_failed_at.as_deref(),
        Some("2026-03-06T10:00:00.000Z")
    );
    assert_eq!(dead.status, FailureStatus::Retrying);
    assert_eq!(dead.tenant_id, "tenant-a");
}

#[tokio::test]
async fn each_rule_from_a_later_shape_sqlite_file_then_the_sync_takes_over() {
    let env = TestEnv::new().await;
    let p = env.prefix.clone();
    let mut rows = rule_rows(&p);
    rows.push(row(&format!("{p}half"), "4.5"));
    rows.push(row(&format!("{p}gaveup"), "3"));
    let sql = insert(Shape::Later, "", &rows)
        + &rule_failures(&p, "")
        + &failure(
            "",
            "f8",
            &format!("{p}gaveup"),
            "HTTP 500",
            "2026-03-01 00:00:00",
            3,
        )
        + &failure("", "f9", "nobody", "orphan", "2026-03-01 00:00:00", 1)
        + &conflict("", "c1", &format!("{p}pending"));
    let path = sqlite_file(Shape::Later, &sql);
    let summary = run(&env, &args(format!("sqlite://{}", path.display()))).await;

    assert_eq!(summary.read.ratings, 7);
    assert_eq!(summary.read.failure_rows, 6);
    assert_eq!(summary.read.conflicts, 1);
    assert_rules(&env, &p).await;
    let half = env
        .store()
        .failed_upload(&format!("{p}half"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(half.error_message, "Invalid rating value: 4.5. Must be 1-5");
    assert_eq!(
        count(
            &summary.parked,
            "Invalid rating value (outside 1..5 or fractional)"
        ),
        2
    );
    assert_eq!(count(&summary.written, "dead-letter items"), 4);
    // retry_count reached max_retries (3 by default): the Python service
    // had given up, so the rating is parked, its item dead.
    assert_eq!(
        sync_state(&env.item(&format!("{p}gaveup")).await),
        SyncState::Parked
    );
    let gave_up = env
        .store()
        .failed_upload(&format!("{p}gaveup"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (gave_up.status, gave_up.retry_count),
        (FailureStatus::Dead, 3)
    );
    assert_eq!(
        count(
            &summary.parked,
            "failed max_retries times in the Python service"
        ),
        1
    );
    assert_eq!(count(&summary.written, "conflicts"), 1);
    assert_eq!(
        count(
            &summary.skipped,
            "failure rows of a rating not in skill_ratings"
        ),
        1
    );
    assert_eq!(count(&summary.skipped, atom_rating_sync_synced_since()), 1);
    let logged = env
        .store()
        .conflicts_of(&format!("{p}pending"))
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(text(&logged[0], "type"), "rating_mismatch");
    assert_eq!(text(&logged[0], "strategy"), "newest_wins");
    assert_eq!(text(&logged[0], "remote_rating_id"), "remote-9");

    // The sync takes the imported ratings as its own: the pending ones are
    // uploaded (the one marked synced without a remote id too), the waiting
    // one is retried at once, the parked ones stay parked.
    let report = env
        .engine_with(integration_tests::retry_at_once())
        .run(generous_deadline())
        .await;
    assert!(report.success, "{report:?}");
    for id in ["pending", "noremote", "failed"] {
        let item = env.item(&format!("{p}{id}")).await;
        assert_eq!(sync_state(&item), SyncState::Synced, "{id}");
    }
    assert!(env
        .store()
        .failed_upload(&format!("{p}failed"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        sync_state(&env.item(&format!("{p}seven")).await),
        SyncState::Parked
    );
}

fn atom_rating_sync_synced_since() -> &'static str {
    "failure rows of a rating synced since (nothing to retry)"
}

#[tokio::test]
async fn the_early_shape_reads_comment_naive_times_as_utc_and_the_tenant_from_the_flag() {
    let env = TestEnv::new().await;
    let p = env.prefix.clone();
    let mut early = row(&format!("{p}early"), "5");
    early.created = "2026-01-15 23:59:59.5";
    early.review = Some("from comment");
    let path = sqlite_file(Shape::Early, &insert(Shape::Early, "", &[early]));
    let summary = run(&env, &args(format!("sqlite://{}", path.display()))).await;
    assert_eq!(summary.shape, "early (comment)");
    let rating = rating_from_item(&env.item(&format!("{p}early")).await).unwrap();
    assert_eq!(rating.review.as_deref(), Some("from comment"));
    assert_eq!(rating.created_at, "2026-01-15T23:59:59.500Z");
    assert_eq!(
        rating.updated_at, rating.created_at,
        "no updated_at: created_at"
    );
    assert_eq!(rating.tenant_id, "tenant-early");
    assert_eq!(rating.version, 1);
}

#[tokio::test]
async fn a_second_import_writes_nothing_and_a_newer_dynamodb_copy_wins() {
    let env = TestEnv::new().await;
    let p = env.prefix.clone();
    let mut rows = rule_rows(&p);
    rows.push(row(&format!("{p}older"), "4"));
    let sql = insert(Shape::Later, "", &rows)
        + &rule_failures(&p, "")
        + &conflict("", "c1", &format!("{p}pending"));
    let path = sqlite_file(Shape::Later, &sql);
    let from = args(format!("sqlite://{}", path.display()));
    let first = run(&env, &from).await;
    assert_eq!(Summary::total(&first.written), 9, "{first:#?}");

    // Edited in DynamoDB since: newer, so the import leaves it.
    env.edit_locally(&format!("{p}pending"), 1).await;
    let edited = env.item(&format!("{p}pending")).await;
    // Older in DynamoDB than in SQL: replaced, one version on.
    env.client
        .update_item()
        .table_name(&env.tables.ratings)
        .key("id", AttributeValue::S(format!("{p}older")))
        .update_expression("SET updated_at = :old, rating = :one")
        .expression_attribute_values(":old", AttributeValue::S("2020-01-01T00:00:00.000Z".into()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let before = everything(&env).await;

    let second = run(&env, &from).await;
    assert_eq!(Summary::total(&second.written), 1, "{second:#?}");
    assert_eq!(
        count(
            &second.written,
            "ratings, pending, in place of an older copy"
        ),
        1
    );
    assert_eq!(
        env.item(&format!("{p}pending")).await,
        edited,
        "the newer copy stays"
    );
    let older = env.item(&format!("{p}older")).await;
    assert_eq!(text(&older, "updated_at"), "2026-03-02T11:30:00.250Z");
    assert_eq!(older["rating"].as_n().unwrap(), "4");
    assert_eq!(older["version"].as_n().unwrap(), "2");

    let third = run(&env, &from).await;
    assert_eq!(Summary::total(&third.written), 0, "{third:#?}");
    assert_eq!(
        Summary::total(&third.unchanged),
        Summary::total(&first.written)
    );
    let after = everything(&env).await;
    assert_eq!(after.len(), before.len());
}

#[tokio::test]
async fn an_import_stopped_halfway_and_run_again_equals_one_clean_import() {
    let stopped = TestEnv::new().await;
    let clean = TestEnv::new().await;
    // The same ids in both: each env has its own tables.
    let mut rows = Vec::new();
    let mut sql = String::new();
    for i in 0..23 {
        let id = format!("r{i:02}");
        rows.push(row(&id, if i % 7 == 3 { "9" } else { "4" }));
        if i % 5 == 1 {
            sql += &failure(
                "",
                &format!("f{i}a"),
                &id,
                "HTTP 502",
                "2026-03-05 10:00:00",
                1,
            );
            sql += &failure(
                "",
                &format!("f{i}b"),
                &id,
                "HTTP 504",
                "2026-03-05 11:00:00",
                2,
            );
        }
    }
    let sql = insert(Shape::Later, "", &rows) + &sql + &conflict("", "c1", "r05");
    let path = sqlite_file(Shape::Later, &sql);
    let mut from = args(format!("sqlite://{}", path.display()));
    from.page_size = 4;

    let mut halfway = from.clone();
    halfway.stop_after_pages = Some(3);
    let partial = run(&stopped, &halfway).await;
    assert_eq!(partial.stopped_after_pages, Some(3));
    assert_eq!(partial.read.ratings, 12);
    run(&stopped, &from).await;
    run(&clean, &from).await;

    let resumed = everything(&stopped).await;
    // 23 ratings, 8 dead-letter items (5 failed, 3 invalid), 1 conflict.
    assert_eq!(resumed.len(), 23 + 8 + 1);
    assert_eq!(resumed, everything(&clean).await);
}

#[tokio::test]
async fn a_database_of_another_shape_is_refused_by_name_before_anything_is_written() {
    let env = TestEnv::new().await;
    // A later shape without updated_at.
    let path = std::env::temp_dir().join(format!("shape-{}.db", env.prefix));
    let db = rusqlite::Connection::open(&path).unwrap();
    let schema =
        integration_tests::python_db::schema(Shape::Later).replace("updated_at timestamptz, ", "");
    db.execute_batch(&schema).unwrap();
    db.execute(
        "INSERT INTO skill_ratings (id, skill_id, user_id, rating, review, created_at, tenant_id) \
         VALUES ('x', 's', 'u', 3, NULL, '2026-01-01 00:00:00', 't')",
        [],
    )
    .unwrap();
    let from = args(format!("sqlite://{}", path.display()));
    let err = import(&from, env.client.clone(), env.tables.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::Shape(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "table skill_ratings lacks column updated_at; nothing was written"
    );

    db.execute_batch(
        "ALTER TABLE skill_ratings ADD COLUMN updated_at timestamptz; DROP TABLE conflict_log;",
    )
    .unwrap();
    let err = import(&from, env.client.clone(), env.tables.clone())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the database has no table conflict_log; nothing was written"
    );
    assert!(everything(&env).await.is_empty(), "nothing written");
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_counts_what_would_be_written() {
    let env = TestEnv::new().await;
    let p = env.prefix.clone();
    let sql = insert(Shape::Later, "", &rule_rows(&p)) + &rule_failures(&p, "");
    let path = sqlite_file(Shape::Later, &sql);
    let mut from = args(format!("sqlite://{}", path.display()));
    from.dry_run = true;
    let dry = run(&env, &from).await;
    assert!(dry.dry_run);
    assert!(
        everything(&env).await.is_empty(),
        "a dry run writes nothing"
    );
    assert!(dry.table().starts_with("Dry run (nothing written)"));
    from.dry_run = false;
    let real = run(&env, &from).await;
    assert_eq!(dry.written, real.written);
    assert_eq!(dry.parked, real.parked);
}

#[tokio::test]
async fn postgres_of_the_later_shape_follows_every_rule_and_imports_once() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let env = TestEnv::new().await;
    let p = env.prefix.clone();
    let sql = insert(Shape::Later, "+00", &rule_rows(&p))
        + &rule_failures(&p, "+00")
        + &conflict("+00", "c1", &format!("{p}pending"));
    postgres.load(Shape::Later, &sql).await;
    // With a password (trust authentication ignores it): never shown.
    let from = args(postgres.url.replace("postgres@", "postgres:s3cret-pw@"));
    let first = run(&env, &from).await;
    assert_eq!(first.read.ratings, 5);
    assert!(
        first.source.starts_with("postgres://postgres@127.0.0.1:"),
        "{}",
        first.source
    );
    assert!(!format!("{first:?}").contains("s3cret-pw"));
    assert_rules(&env, &p).await;
    assert_eq!(count(&first.written, "conflicts"), 1);
    let second = run(&env, &from).await;
    assert_eq!(Summary::total(&second.written), 0, "{second:#?}");
}

#[tokio::test]
async fn postgres_of_the_early_shape_imports_in_pages() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let env = TestEnv::new().await;
    let rows: Vec<Row> = (0..11)
        .map(|i| row(&format!("{}e{i:02}", env.prefix), "3"))
        .collect();
    postgres
        .load(Shape::Early, &insert(Shape::Early, "+00", &rows))
        .await;
    let mut from = args(postgres.url.clone());
    from.page_size = 3;
    let summary = run(&env, &from).await;
    assert_eq!(summary.read.ratings, 11);
    assert_eq!(count(&summary.written, "ratings, pending"), 11);
    let rating = rating_from_item(&env.item(&format!("{}e07", env.prefix)).await).unwrap();
    assert_eq!(rating.review.as_deref(), Some("fine skill"));
    assert_eq!(rating.created_at, "2026-03-01T10:00:00.000Z");
}

/// `import` of `url`, the error's text.
async fn import_error(env: &TestEnv, url: String) -> String {
    import(&args(url), env.client.clone(), env.tables.clone())
        .await
        .expect_err("the import should fail")
        .to_string()
}

#[tokio::test]
async fn postgres_that_requires_tls_imports_with_require_verify_ca_and_verify_full() {
    let Some(postgres) = Postgres::start_tls() else {
        return;
    };
    let env = TestEnv::new().await;
    let rows: Vec<Row> = (0..4)
        .map(|i| row(&format!("{}t{i}", env.prefix), "5"))
        .collect();
    postgres
        .load(Shape::Later, &insert(Shape::Later, "+00", &rows))
        .await;
    let password = postgres.password.clone().unwrap();
    let root = postgres.cert.clone().unwrap();
    let root = root.display();
    let at = |host: &str, query: &str| {
        format!(
            "postgres://postgres:{password}@{host}:{}/postgres?{query}",
            postgres.port
        )
    };

    // require: TLS, the self-signed certificate taken as it is.
    let first = run(&env, &args(at("127.0.0.1", "sslmode=require"))).await;
    assert_eq!(first.read.ratings, 4);
    assert_eq!(count(&first.written, "ratings, pending"), 4);
    assert!(!format!("{first:?}").contains(&password));
    // verify-full against the certificate as root, by the name it holds;
    // channel_binding=require (passed through to tokio-postgres) fails
    // unless SCRAM bound the TLS channel and the server agreed.
    let full = at(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={root}&channel_binding=require"),
    );
    let second = run(&env, &args(full)).await;
    assert_eq!(second.read.ratings, 4);
    assert_eq!(Summary::total(&second.written), 0, "{second:#?}");
    // verify-ca checks the chain, not the name: 127.0.0.1 is not in the
    // certificate, and verify-full refuses it for that.
    let ca = run(
        &env,
        &args(at(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={root}"),
        )),
    )
    .await;
    assert_eq!(ca.read.ratings, 4);
    let e = import_error(
        &env,
        at(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={root}"),
        ),
    )
    .await;
    assert!(
        e.contains("sslmode=verify-full") && e.contains("not valid for name \"127.0.0.1\""),
        "{e}"
    );
    assert!(!e.contains(&password), "{e}");
    // A Unix socket has no host name to check: the default, prefer, goes
    // plain there (the server trusts its socket).
    let socket = postgres
        .cert
        .as_ref()
        .unwrap()
        .parent()
        .unwrap()
        .display()
        .to_string();
    let socket = format!(
        "postgres://postgres@{}:{}/postgres",
        socket.replace('/', "%2F"),
        postgres.port
    );
    assert_eq!(run(&env, &args(socket)).await.read.ratings, 4);
}

#[tokio::test]
async fn postgres_that_requires_tls_refuses_an_unknown_certificate_and_plain_tcp_clearly() {
    let Some(postgres) = Postgres::start_tls() else {
        return;
    };
    let env = TestEnv::new().await;
    postgres.load(Shape::Later, "").await;
    let password = postgres.password.clone().unwrap();
    let at = |query: &str| {
        format!(
            "postgres://postgres:{password}@localhost:{}/postgres?{query}",
            postgres.port
        )
    };
    // verify-full without sslrootcert: the system's roots, which do not
    // hold the test's self-signed certificate (UnknownIssuer, or
    // BadSignature where a root of the same name is installed).
    let e = import_error(&env, at("sslmode=verify-full")).await;
    assert!(
        e.contains("cannot connect to postgres://postgres@localhost:"),
        "{e}"
    );
    assert!(
        e.contains("sslmode=verify-full")
            && (e.contains("invalid peer certificate")
                || e.contains("no system root certificates")),
        "{e}"
    );
    // disable: the server's pg_hba.conf turns plain TCP away, and says so.
    let e = import_error(&env, at("sslmode=disable")).await;
    assert!(
        e.contains("sslmode=disable") && e.contains("no encryption"),
        "{e}"
    );
    // A value libpq does not know is named before any connection.
    let e = import_error(&env, at("sslmode=verify")).await;
    assert!(e.contains("sslmode=verify is not a libpq sslmode"), "{e}");
    assert!(!e.contains(&password), "{e}");
}

#[tokio::test]
async fn a_large_import_of_pending_ratings_drains_at_the_ceiling_each_once_whichever_path_takes_it()
{
    use shared::config::{RateLimit, SyncSettings};
    use shared::triggers::stream::handle;
    use std::time::Duration;

    let env = TestEnv::new().await;
    let p = env.prefix.clone();
    let rows: Vec<Row> = (0..48).map(|i| row(&format!("{p}r{i:02}"), "4")).collect();
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let path = sqlite_file(Shape::Later, &insert(Shape::Later, "", &rows));
    run(&env, &args(format!("sqlite://{}", path.display()))).await;
    assert_eq!(env.pending_ids().await.len(), 48, "imported pending");

    // The import's writes reach the stream as pending new images: the fast
    // path takes them in batches while a scheduled run drains the same
    // backlog, both under one ceiling.
    let window = Duration::from_secs(2);
    let settings = SyncSettings {
        rate_limit: Some(RateLimit {
            max: 8,
            per: window,
        }),
        pull_skills_per_run: 0,
        ..SyncSettings::default()
    };
    let scheduled = env.engine_with(settings.clone());
    let fast = env.stream_engine(settings);
    let stream = async {
        for (at, chunk) in ids.chunks(12).enumerate() {
            let event = env.stream_event(chunk, (at * 100) as u64).await;
            let (response, batch) = handle(&fast, &event, generous_deadline()).await;
            assert!(response.batch_item_failures.is_empty(), "{batch:?}");
        }
    };
    let (report, ()) = tokio::join!(scheduled.run(generous_deadline()), stream);
    assert!(report.success, "{report:?}");

    let ratings: Vec<_> = {
        let mut all = Vec::new();
        for id in &ids {
            all.push(rating_from_item(&env.item(id).await).expect("a rating"));
        }
        all
    };
    env.assert_each_synced_once(&ratings).await;
    let stats = env.stats().await;
    let times: Vec<f64> = stats["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(|r| r["at"].as_f64())
        .collect();
    let most = integration_tests::most_in_any_window(&times, window);
    assert!(most <= 8, "{most} requests in one window");
    assert!(most >= 6, "the ceiling was used: {most}");
}

#[tokio::test]
async fn an_import_killed_while_it_writes_and_run_again_equals_one_clean_import() {
    let killed = TestEnv::new().await;
    let clean = TestEnv::new().await;
    let mut rows = Vec::new();
    let mut sql = String::new();
    for i in 0..3000 {
        let id = format!("k{i:04}");
        rows.push(row(&id, if i % 100 == 3 { "0" } else { "5" }));
        if i % 50 == 7 {
            sql += &failure(
                "",
                &format!("f{i}"),
                &id,
                "HTTP 503",
                "2026-03-05 10:00:00",
                2,
            );
        }
    }
    let sql = insert(Shape::Later, "", &rows) + &sql;
    let path = sqlite_file(Shape::Later, &sql);
    let from = format!("sqlite://{}", path.display());

    // The real process, killed (SIGKILL: no chance to finish a page) once
    // some of its writes have landed and before it is done.
    let mut process = tokio::process::Command::new(integration_tests::cli::cli_binary())
        .args(["--json", "import", "--from", &from, "--page-size", "25"])
        .env("RATINGS_TABLE", &killed.tables.ratings)
        .env("FAILED_UPLOADS_TABLE", &killed.tables.failed_uploads)
        .env("SYNC_STATE_TABLE", &killed.tables.sync_state)
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start atom-rating-sync");
    let written = integration_tests::eventually(
        std::time::Duration::from_secs(60),
        "some of the import's writes",
        || async {
            let count = killed
                .client
                .scan()
                .table_name(&killed.tables.ratings)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .send()
                .await
                .map(|out| out.count)
                .unwrap_or(0);
            (count >= 200).then_some(count)
        },
    )
    .await;
    assert!(
        process.try_wait().expect("the process").is_none(),
        "the import finished before it could be killed ({written} ratings written)"
    );
    process.kill().await.expect("kill the import");

    let mut again = args(from);
    again.page_size = 25;
    run(&killed, &again).await;
    run(&clean, &again).await;

    let resumed = everything(&killed).await;
    // 3000 ratings; 60 failed and 30 invalid (none both), one dead-letter
    // item each.
    assert_eq!(resumed.len(), 3000 + 60 + 30);
    assert_eq!(resumed, everything(&clean).await);
}

#[tokio::test]
async fn ratings_hidden_or_flagged_in_the_python_service_are_imported_parked_not_uploaded() {
    use atom_rating_sync::import::{FLAGGED, HIDDEN};

    let env = TestEnv::new().await;
    let p = env.prefix.clone();
    let mut at_marketplace = row(&format!("{p}published"), "4");
    at_marketplace.synced = true;
    at_marketplace.remote = Some("rr-published".into());
    let rows = [
        row(&format!("{p}hidden"), "4"),
        row(&format!("{p}flagged"), "2"),
        row(&format!("{p}shown"), "5"),
        at_marketplace,
    ];
    let sql = insert(Shape::Later, "", &rows)
        + &format!(
            "UPDATE skill_ratings SET is_visible = 0 WHERE id IN ('{p}hidden', '{p}published');"
        )
        + &format!("UPDATE skill_ratings SET is_flagged = 1 WHERE id = '{p}flagged';");
    let path = sqlite_file(Shape::Later, &sql);
    let summary = run(&env, &args(format!("sqlite://{}", path.display()))).await;

    assert_eq!(
        count(&summary.parked, "Hidden or flagged in the Python service"),
        2,
        "{summary:?}"
    );
    let store = env.store();
    for (id, message) in [("hidden", HIDDEN), ("flagged", FLAGGED)] {
        let id = format!("{p}{id}");
        assert_eq!(sync_state(&env.item(&id).await), SyncState::Parked, "{id}");
        let dead = store
            .failed_upload(&id)
            .await
            .unwrap()
            .expect("dead letter");
        assert_eq!(dead.error_message, message);
        assert_eq!(dead.status, FailureStatus::Dead);
    }
    // Already at the marketplace: hiding it here changes nothing there.
    let published = env.item(&format!("{p}published")).await;
    assert_eq!(sync_state(&published), SyncState::Synced);
    assert_eq!(
        sync_state(&env.item(&format!("{p}shown")).await),
        SyncState::Pending
    );

    // A run uploads the shown rating and leaves the withheld ones.
    let report = env.engine().run(generous_deadline()).await;
    assert_eq!(report.created, 1, "{report:?}");
}
