//! The operator's command line (`atom-rating-sync`, the built binary)
//! against the admin API served over HTTP on loopback with API Gateway's
//! routes and the authorizer in front (`local_stack::api`), over each
//! test's own tables and simulator: status, sync, failed (every page with
//! `--all`), retry, `--json` parsed, the tokens it mints or is given, and
//! the API's refusals as one line with their exit code.

use std::collections::BTreeSet;

use integration_tests::admin::{failed_once, token_with, SECRET};
use integration_tests::cli::CliWorld;
use integration_tests::host::create_secret;
use integration_tests::*;
use local_stack::seed;
use serde_json::{json, Value};
use shared::rating::SyncState;
use shared::store::{sync_state, timestamp, Item, DEAD, RETRYING};
use shared::sync::LEASE_NAME;

fn ids(items: &Value) -> BTreeSet<String> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["rating_id"].as_str().expect("rating_id").to_owned())
        .collect()
}

#[tokio::test]
async fn failed_all_follows_the_cursors_and_status_counts_the_same_failures() {
    let world = CliWorld::new().await;
    let base = chrono::Utc::now() - chrono::Duration::days(1);
    // Seven failures, the first two parked.
    let items: Vec<Item> = (0..7)
        .map(|i| {
            let at = timestamp(base + chrono::Duration::seconds(i as i64));
            let status = if i < 2 { DEAD } else { RETRYING };
            world.admin.dead_letter(i, status, &at)
        })
        .collect();
    let expected: BTreeSet<String> = items.iter().map(|item| text(item, "rating_id")).collect();
    seed::put_items(
        &world.admin.env.client,
        &world.admin.env.tables.failed_uploads,
        items,
    )
    .await
    .unwrap();

    let all = world
        .run_as_admin(&["--json", "failed", "--all", "--limit", "2"])
        .await
        .json();
    assert_eq!(all["pages"], 4, "{all}");
    assert_eq!(all["count"], 7, "{all}");
    assert_eq!(ids(&all["items"]), expected);
    assert_eq!(all["next_cursor"], Value::Null);
    let dead = world
        .run_as_admin(&[
            "--json", "failed", "--all", "--limit", "1", "--status", "dead",
        ])
        .await
        .json();
    assert_eq!(
        (dead["pages"].as_u64(), dead["count"].as_u64()),
        (Some(2), Some(2)),
        "{dead}"
    );

    // One page without --all: two items and the way on.
    let page = world
        .run_as_admin(&["failed", "--limit", "2", "--status", "retrying"])
        .await;
    assert_eq!(page.code, 0, "{page:?}");
    assert!(page.stdout.starts_with("RATING ID"), "{}", page.stdout);
    assert_eq!(page.stdout.lines().count(), 1 + 2 + 1, "{}", page.stdout);
    assert!(
        page.stdout.contains("more follow: --all"),
        "{}",
        page.stdout
    );

    // The human listing of every page shows each failure once, one header.
    let human = world
        .run_as_admin(&["failed", "--all", "--limit", "2"])
        .await;
    assert_eq!(human.code, 0, "{human:?}");
    for id in &expected {
        assert_eq!(
            human.stdout.matches(id.as_str()).count(),
            1,
            "{}",
            human.stdout
        );
    }
    assert_eq!(human.stdout.matches("RATING ID").count(), 1);
    assert_eq!(human.stdout.lines().count(), 1 + 7, "{}", human.stdout);

    let status = world.run_as_admin(&["--json", "status"]).await.json();
    assert_eq!(status["failed_count"], 7, "{status}");
    assert_eq!(status["parked_count"], 2, "{status}");
    let human = world.run_as_admin(&["status"]).await;
    assert_eq!(human.code, 0, "{human:?}");
    assert!(
        human
            .stdout
            .contains("7 in the dead-letter table (2 parked)"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("no runs yet"), "{}", human.stdout);

    // After a run, its report is a row of the table.
    world.run_as_admin(&["sync"]).await;
    let human = world.run_as_admin(&["status"]).await;
    assert!(
        human.stdout.contains("recent runs\nSTARTED"),
        "{}",
        human.stdout
    );
}

#[tokio::test]
async fn sync_uploads_the_backlog_and_says_so() {
    let world = CliWorld::new().await;
    let ratings = world.admin.env.ratings(4, 0);
    world.admin.env.put(&ratings).await;

    let answer = world.run_as_admin(&["--json", "sync"]).await.json();
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["uploaded"], 4, "{answer}");
    assert_eq!(answer["pending_count"], 0, "{answer}");
    for rating in &ratings {
        let item = world.admin.env.item(&rating.id).await;
        assert_eq!(sync_state(&item), SyncState::Synced);
    }
    assert_eq!(world.admin.env.stats().await["creates"], 4);

    let again = world.run_as_admin(&["sync", "--upload-all"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains("re-push: 4 put back now"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("the pass reached the end"),
        "{}",
        again.stdout
    );
}

#[tokio::test]
async fn a_sync_while_a_run_holds_the_lease_is_exit_code_5_and_status_shows_the_lease() {
    let world = CliWorld::new().await;
    let until = chrono::Utc::now() + chrono::Duration::seconds(600);
    world
        .admin
        .env
        .store()
        .acquire_lease(LEASE_NAME, "scheduled-run-1", until, chrono::Utc::now())
        .await
        .unwrap();

    let busy = world.run_as_admin(&["sync"]).await;
    assert_eq!(busy.code, 5, "{busy:?}");
    assert_eq!(busy.stderr.lines().count(), 1, "{busy:?}");
    assert!(
        busy.stderr.contains("503 RATING_SYNC_IN_PROGRESS")
            && busy.stderr.contains("a sync is running now"),
        "{busy:?}"
    );
    let status = world.run_as_admin(&["status"]).await;
    assert!(
        status.stdout.contains("held by scheduled-run-1 until"),
        "{}",
        status.stdout
    );
}

#[tokio::test]
async fn retry_uploads_one_failed_rating_and_an_unknown_id_is_exit_code_4() {
    let world = CliWorld::new().await;
    let ratings = failed_once(&world.admin, 2).await;
    let id = ratings[0].id.as_str();

    // Still failing at the marketplace: the retry runs and does not sync.
    let failing = world.run_as_admin(&["retry", id]).await;
    assert_eq!(failing.code, 7, "{failing:?}");
    assert!(failing.stdout.starts_with("Retry failed:"), "{failing:?}");
    assert!(
        failing.stderr.contains("the rating was not uploaded"),
        "{failing:?}"
    );

    world.admin.env.configure(json!({ "fail_rate": 0.0 })).await;
    let answer = world.run_as_admin(&["--json", "retry", id]).await.json();
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["retry_triggered"], true);
    assert_eq!(
        sync_state(&world.admin.env.item(id).await),
        SyncState::Synced
    );
    let left = world.admin.env.dead_letters().await;
    assert_eq!(left.len(), 1, "only the other rating's failure is left");
    assert_eq!(text(&left[0], "rating_id"), ratings[1].id);

    let unknown = world.run_as_admin(&["retry", "no-such-rating"]).await;
    assert_eq!(unknown.code, 4, "{unknown:?}");
    assert!(unknown.stdout.is_empty(), "{unknown:?}");
    assert_eq!(unknown.stderr.lines().count(), 1, "{unknown:?}");
    assert!(unknown.stderr.contains("404 NOT_FOUND"), "{unknown:?}");

    let bad = world.run_as_admin(&["retry", "not/an/id"]).await;
    assert_ne!(bad.code, 0, "{bad:?}");
}

#[tokio::test]
async fn a_refused_token_is_one_line_with_exit_code_3_and_changes_nothing() {
    let world = CliWorld::new().await;
    failed_once(&world.admin, 1).await;
    let before = world.admin.snapshot().await;

    let forged = shared::auth::sign_token(
        &shared::config::Secret::new("another-secret-of-more-than-32-bytes!"),
        &integration_tests::admin::claims(json!({})),
    )
    .unwrap();
    let expired = token_with(json!({
        "iat": admin_now() - 4000,
        "exp": admin_now() - 3600,
    }));
    for (token, what) in [
        ("not-a-token", "garbage"),
        (forged.as_str(), "another secret"),
        (expired.as_str(), "expired"),
    ] {
        let refused = world.run(&["sync", "--token", token], &[]).await;
        assert_eq!(refused.code, 3, "{what}: {refused:?}");
        assert_eq!(refused.stderr.lines().count(), 1, "{what}: {refused:?}");
        assert!(
            refused.stderr.contains("403") && refused.stderr.contains("authorizer refused"),
            "{what}: {refused:?}"
        );
        assert!(
            !refused.stderr.contains(token),
            "{what}: the token is never shown"
        );
    }
    // Valid, signed with the secret, but not an admin: the function's 403.
    let member = token_with(json!({ "role": "member" }));
    let refused = world.run(&["status", "--token", &member], &[]).await;
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("super_admin"), "{refused:?}");

    // No token and no secret to mint one with.
    let nothing = world.run(&["status"], &[]).await;
    assert_eq!(nothing.code, 1, "{nothing:?}");
    assert!(nothing.stderr.contains("no admin token"), "{nothing:?}");

    // Nobody listening.
    let gone = world
        .run(
            &["status", "--api", "http://127.0.0.1:9", "--token", "x"],
            &[],
        )
        .await;
    assert_eq!(gone.code, 6, "{gone:?}");
    assert!(gone.stderr.contains("could not reach"), "{gone:?}");

    assert_eq!(world.admin.snapshot().await, before);
}

#[tokio::test]
async fn a_token_minted_by_the_cli_is_accepted_and_its_lifetime_bounded() {
    let world = CliWorld::new().await;
    let minted = world
        .run(
            &["token", "--sub", "ops@example.com", "--minutes", "5"],
            &[("ADMIN_JWT_SECRET", SECRET)],
        )
        .await;
    assert_eq!(minted.code, 0, "{minted:?}");
    let token = minted.stdout.trim();
    assert_eq!(token.split('.').count(), 3, "only the token: {minted:?}");

    // Given with --token, no secret in the environment.
    let status = world
        .run(&["--json", "status", "--token", token], &[])
        .await
        .json();
    assert_eq!(status["success"], true, "{status}");
    let audit = world.admin.audit().await;
    assert!(
        audit
            .iter()
            .any(|record| text(record, "sub") == "ops@example.com"),
        "the audit trail names the token's sub"
    );

    let claims = world
        .run(
            &[
                "--json",
                "token",
                "--sub",
                "ops@example.com",
                "--minutes",
                "5",
            ],
            &[("ADMIN_JWT_SECRET", SECRET)],
        )
        .await
        .json();
    let lifetime =
        claims["claims"]["exp"].as_u64().unwrap() - claims["claims"]["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 300);

    let too_long = world
        .run(
            &["token", "--sub", "ops@example.com", "--minutes", "61"],
            &[
                ("ADMIN_JWT_SECRET", SECRET),
                ("ADMIN_JWT_MAX_TTL_SECONDS", "3600"),
            ],
        )
        .await;
    assert_eq!(too_long.code, 1, "{too_long:?}");
    assert!(
        too_long.stderr.contains("at most 3600 s") && too_long.stderr.contains("3660 s"),
        "{too_long:?}"
    );
    assert!(too_long.stdout.is_empty());
}

#[tokio::test]
async fn the_secret_is_read_from_secrets_manager_as_the_functions_read_it() {
    let world = CliWorld::new().await;
    let aws = shared::triggers::clients::aws_config()
        .await
        .expect("AWS configuration");
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let (arn, _) = create_secret(
        &secrets,
        &format!("{}admin-jwt", world.admin.env.prefix),
        SECRET,
    )
    .await;

    let status = world
        .run(
            &["--json", "status", "--sub", "arn-reader@example.com"],
            &[("ADMIN_JWT_SECRET_SECRET_ARN", arn.as_str())],
        )
        .await
        .json();
    assert_eq!(status["success"], true, "{status}");
    assert!(world
        .admin
        .audit()
        .await
        .iter()
        .any(|record| text(record, "sub") == "arn-reader@example.com"));
}

#[tokio::test]
async fn stack_takes_the_api_url_and_the_secret_from_the_stack_outputs() {
    let world = CliWorld::new().await;
    let aws = shared::triggers::clients::aws_config()
        .await
        .expect("AWS configuration");
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let prefix = &world.admin.env.prefix;
    let (arn, _) = create_secret(&secrets, &format!("{prefix}stack-jwt"), SECRET).await;
    // moto serves CloudFormation on the port of every other service.
    let moto = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("the local stack");
    // Without the functions' short call timeouts: moto's first stack takes
    // a while, and a retried create would find the stack already made.
    let plain = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto)
        .load()
        .await;
    let cloudformation = aws_sdk_cloudformation::Client::new(&plain);
    let stack = format!("{}stack", prefix.replace('_', "-"));
    let template = json!({
        "Resources": { "Queue": { "Type": "AWS::SQS::Queue",
                                  "Properties": { "QueueName": format!("{prefix}queue") } } },
        "Outputs": {
            "AdminApiUrl": { "Value": world.server.url() },
            "AdminJwtSecretArn": { "Value": arn },
            "RatingsTableName": { "Value": world.admin.env.tables.ratings },
            "FailedUploadsTableName": { "Value": world.admin.env.tables.failed_uploads },
            "SyncStateTableName": { "Value": world.admin.env.tables.sync_state },
        },
    });
    cloudformation
        .create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .send()
        .await
        .expect("create the stack in moto");
    let env = [
        ("AWS_ENDPOINT_URL_CLOUDFORMATION", moto.as_str()),
        ("ATOM_RATING_SYNC_API_URL", ""),
    ];

    let status = world
        .run(
            &[
                "--json",
                "--stack",
                &stack,
                "status",
                "--sub",
                "stack@example.com",
            ],
            &env,
        )
        .await
        .json();
    assert_eq!(status["success"], true, "{status}");
    assert!(world
        .admin
        .audit()
        .await
        .iter()
        .any(|record| text(record, "sub") == "stack@example.com"));

    // The import writes to the stack's tables, whatever the environment
    // says.
    let rows = "INSERT INTO skill_ratings (id, skill_id, user_id, rating, review, created_at, \
                synced_to_saas, tenant_id, updated_at) VALUES ('stack-r1', 's1', 'u1', 4, 'ok', \
                '2026-03-01 10:00:00', 0, 't', '2026-03-01 10:00:00');";
    let path =
        integration_tests::python_db::sqlite_file(integration_tests::python_db::Shape::Later, rows);
    let from = format!("sqlite://{}", path.display());
    let mut with_wrong_tables = env.to_vec();
    with_wrong_tables.push(("RATINGS_TABLE", "no-such-table"));
    let imported = world
        .run(
            &["--json", "--stack", &stack, "import", "--from", &from],
            &with_wrong_tables,
        )
        .await;
    assert_eq!(imported.code, 0, "{imported:?}");
    assert_eq!(
        text(&world.admin.env.item("stack-r1").await, "synced_to_saas"),
        shared::store::SYNCED_TO_SAAS_PENDING
    );

    let missing = world
        .run(&["--stack", "no-such-stack", "status"], &env)
        .await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("--stack no-such-stack: its outputs could not be read"),
        "{missing:?}"
    );
}

/// One raw HTTP/1.1 exchange with the local API: the status and the body.
async fn raw(world: &CliWorld, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(world.server.address())
        .await
        .unwrap();
    // The server may answer (and close) before it has read everything.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_local_api_refuses_as_api_gateway_does_before_any_function() {
    let world = CliWorld::new().await;
    let token = integration_tests::admin::admin_token();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            b"POST /api/admin/sync/ratings HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"
                .to_vec(),
            401,
            r#"{"message":"Unauthorized"}"#,
        ),
        (
            b"GET /api/admin/sync/ratings/status HTTP/1.1\r\nauthorization:  \r\n\r\n".to_vec(),
            401,
            r#"{"message":"Unauthorized"}"#,
        ),
        (
            format!(
                "GET /api/admin/sync/ratings HTTP/1.1\r\nauthorization: Bearer {token}\r\n\r\n"
            )
            .into_bytes(),
            404,
            r#"{"message":"Not Found"}"#,
        ),
        (
            b"GET /api/admin/sync/ratings/status HTTP/1.1\r\nauthorization: Bearer x.y.z\r\n\r\n"
                .to_vec(),
            403,
            r#"{"message":"Forbidden"}"#,
        ),
        (
            format!(
                "POST /api/admin/sync/ratings HTTP/1.1\r\nauthorization: Bearer {token}\r\n\
                 transfer-encoding: chunked\r\n\r\n0\r\n\r\n"
            )
            .into_bytes(),
            411,
            r#"{"message":"Length Required"}"#,
        ),
        (
            format!(
                "POST /api/admin/sync/ratings HTTP/1.1\r\nauthorization: Bearer {token}\r\n\
                 content-length: 2000000\r\n\r\n"
            )
            .into_bytes(),
            413,
            r#"{"message":"Request Entity Too Large"}"#,
        ),
        (
            format!("GET / HTTP/1.1\r\nx-long: {}\r\n\r\n", "a".repeat(20_000)).into_bytes(),
            431,
            r#"{"message":"Request Header Fields Too Large"}"#,
        ),
        (
            b"NOT HTTP\r\n\r\n".to_vec(),
            400,
            r#"{"message":"Bad Request"}"#,
        ),
    ];
    let before = world.admin.snapshot().await;
    for (request, status, body) in cases {
        assert_eq!(raw(&world, &request).await, (status, body.to_owned()));
    }
    assert_eq!(
        world.admin.snapshot().await,
        before,
        "no function was called"
    );
    assert!(
        world.admin.audit().await.is_empty(),
        "no function was called"
    );

    // Past the gateway, the function's own limit: a 400 in its envelope.
    let big = format!(
        "{{\"upload_all\": false, \"pad\": \"{}\"}}",
        "a".repeat(17_000)
    );
    let request = format!(
        "POST /api/admin/sync/ratings HTTP/1.1\r\nauthorization: Bearer {token}\r\n\
         content-length: {}\r\n\r\n{big}",
        big.len()
    );
    let (status, body) = raw(&world, request.as_bytes()).await;
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE", "{body}");
}

fn admin_now() -> u64 {
    integration_tests::admin::now_seconds()
}
