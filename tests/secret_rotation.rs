//! Secrets that change: the marketplace token and the admin secret rotated
//! in Secrets Manager (moto's, `AWS_ENDPOINT_URL_SECRETS_MANAGER`) take
//! effect in a warm function, without a new cold start.
//!
//! Each engine or admin context is built as its function builds it at a
//! cold start (an [`Environment`] read with its secrets, then the
//! configuration from it), and kept across the runs and requests of a test,
//! as a warm function keeps it.

use std::collections::HashMap;
use std::time::Duration;

use integration_tests::admin::{read_answer, Endpoint, Req, ADMIN};
use integration_tests::host::create_secret;
use integration_tests::*;
use local_stack::seed;
use serde_json::{json, Value};
use shared::config::{AdminConfig, Config, Environment, FromEnvironment, Secret};
use shared::store::{timestamp, DEAD};
use shared::sync::SyncEngine;
use shared::triggers::http::{admin_list_failed_uploads, admin_sync_status, AdminContext};
use tokio::time::Instant;

/// A Secrets Manager client on moto, and the configuration it comes from.
async fn secrets_manager() -> (aws_config::SdkConfig, aws_sdk_secretsmanager::Client) {
    let aws = shared::triggers::clients::aws_config()
        .await
        .expect("AWS configuration");
    let client = aws_sdk_secretsmanager::Client::new(&aws);
    (aws, client)
}

/// A rotation as Secrets Manager makes it: a new `AWSCURRENT` version, the
/// old one becoming `AWSPREVIOUS`.
async fn rotate(client: &aws_sdk_secretsmanager::Client, arn: &str, value: &str) {
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("put the new value");
}

/// The variables of a function of this test, with `extra` added.
fn variables(env: &TestEnv, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut variables: HashMap<String, String> = [
        ("RATINGS_TABLE", env.tables.ratings.as_str()),
        ("FAILED_UPLOADS_TABLE", &env.tables.failed_uploads),
        ("SYNC_STATE_TABLE", &env.tables.sync_state),
        ("AUDIT_TABLE", &env.tables.audit),
        ("ATOM_SAAS_API_URL", env.simulator.base_url()),
        ("ATOM_INSTANCE_ID", "rotation-test"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    variables.retain(|_, value| !value.is_empty());
    variables
}

/// The engine as a function builds it at a cold start (its DynamoDB
/// client recorded as that function's: `dynamodb`), its
/// token in Secrets Manager under `arn`, kept `ttl` seconds.
async fn warm_engine(
    env: &TestEnv,
    aws: &aws_config::SdkConfig,
    arn: &str,
    ttl: &str,
    dynamodb: aws_sdk_dynamodb::Client,
) -> SyncEngine {
    let variables = variables(
        env,
        &[
            ("ATOM_SAAS_API_TOKEN_SECRET_ARN", arn),
            ("SECRETS_MANAGER_TTL", ttl),
        ],
    );
    let environment = Environment::load_from(aws, variables)
        .await
        .expect("the secrets read");
    let config = Config::from_environment(&environment).expect("the configuration");
    shared::triggers::clients::publishing_sync_engine(aws, &config, dynamodb).expect("engine")
}

/// Ratings `from..to`, new and pending: their ids.
async fn put_new(env: &TestEnv, from: usize, to: usize) -> Vec<String> {
    let start = chrono::Utc::now();
    let ratings: Vec<_> = (from..to)
        .map(|i| seed::sample_rating(&env.prefix, i, start))
        .collect();
    env.put(&ratings).await;
    ratings.into_iter().map(|r| r.id).collect()
}

/// The marketplace's answers of each status, over every request so far.
async fn statuses(env: &TestEnv) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for request in env.stats().await["requests"]
        .as_array()
        .into_iter()
        .flatten()
    {
        *counts
            .entry(request["status"].as_u64().unwrap_or(0))
            .or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_warm_engine_syncs_with_a_token_rotated_in_secrets_manager_and_at_the_marketplace() {
    let env = TestEnv::new().await;
    let (aws, secrets) = secrets_manager().await;
    let (arn, _) = create_secret(&secrets, &format!("{}token", env.prefix), TOKEN).await;
    // A TTL longer than the test: only the marketplace's 401 makes the
    // engine read the token again.
    let engine = warm_engine(&env, &aws, &arn, "3600", env.scheduled_client.clone()).await;
    put_new(&env, 0, 4).await;
    let first = engine.run(generous_deadline()).await;
    assert_eq!(
        (first.uploaded, first.breaker_open),
        (4, false),
        "{first:?}"
    );

    let rotated = format!("rotated-{}", uuid::Uuid::new_v4().simple());
    rotate(&secrets, &arn, &rotated).await;
    env.configure(json!({ "token": rotated })).await;
    put_new(&env, 4, 9).await;
    let second = engine.run(generous_deadline()).await;

    assert!(second.success, "{second:?}");
    assert_eq!(
        (second.uploaded, second.breaker_open),
        (5, false),
        "{second:?}"
    );
    assert!(env.pending_ids().await.is_empty());
    assert!(env.dead_letters().await.is_empty());
    let refused = statuses(&env).await.get(&401).copied().unwrap_or(0);
    // The requests in flight when the token changed were refused once
    // each, then sent again with the token read again.
    assert!((1..=5).contains(&refused), "{refused} refused");
}

#[tokio::test]
async fn a_token_refused_before_secrets_manager_has_the_new_one_stops_the_run_then_the_next_run_syncs(
) {
    let env = TestEnv::new().await;
    let (aws, secrets) = secrets_manager().await;
    let (arn, _) = create_secret(&secrets, &format!("{}token", env.prefix), TOKEN).await;
    let engine = warm_engine(&env, &aws, &arn, "3600", env.scheduled_client.clone()).await;
    let rotated = format!("rotated-{}", uuid::Uuid::new_v4().simple());
    // The marketplace has the new token; Secrets Manager not yet.
    env.configure(json!({ "token": rotated })).await;
    let ids = put_new(&env, 0, 3).await;

    let stopped = engine.run(generous_deadline()).await;
    assert!(stopped.breaker_open, "{stopped:?}");
    assert_eq!(stopped.uploaded, 0);
    let mut pending = env.pending_ids().await;
    pending.sort();
    assert_eq!(pending, ids, "the ratings wait for the next run");
    assert_eq!(
        statuses(&env).await.get(&401),
        Some(&1),
        "one refused request: the token read again was the same, the run stopped"
    );

    rotate(&secrets, &arn, &rotated).await;
    let next = engine.run(generous_deadline()).await;
    assert_eq!((next.uploaded, next.breaker_open), (3, false), "{next:?}");
    assert!(env.pending_ids().await.is_empty());
}

#[tokio::test]
async fn a_fast_path_batch_reads_the_token_again_after_a_401() {
    let env = TestEnv::new().await;
    let (aws, secrets) = secrets_manager().await;
    let (arn, _) = create_secret(&secrets, &format!("{}token", env.prefix), TOKEN).await;
    let engine = warm_engine(&env, &aws, &arn, "3600", env.stream_client()).await;
    let ids = put_new(&env, 0, 3).await;
    let (response, report) = env.deliver(&engine, &ids, 1).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(report.report.uploaded, 3);

    let rotated = format!("rotated-{}", uuid::Uuid::new_v4().simple());
    rotate(&secrets, &arn, &rotated).await;
    env.configure(json!({ "token": rotated })).await;
    let ids = put_new(&env, 3, 6).await;
    let (response, report) = env.deliver(&engine, &ids, 10).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(report.report.uploaded, 3, "{report:?}");
    assert!(!report.report.breaker_open);
    assert!(env.pending_ids().await.is_empty());
}

/// A bearer token for the admin API signed with `secret`.
fn token_signed_with(secret: &str) -> String {
    let claims = integration_tests::admin::claims(json!({ "sub": ADMIN }));
    shared::auth::sign_token(&Secret::new(secret), &claims).unwrap()
}

async fn status_with(context: &AdminContext, token: &str) -> u16 {
    let request = Req::new(Endpoint::Status, Endpoint::Status.route().1).token(token);
    let response = admin_sync_status::handle(context, request.build()).await;
    read_answer(Endpoint::Status, response).status
}

async fn list_with(context: &AdminContext, token: &str, query: &str) -> (u16, Value) {
    let uri = format!("/api/admin/ratings/failed-uploads?{query}");
    let request = Req::new(Endpoint::List, &uri).token(token);
    let answer = read_answer(
        Endpoint::List,
        admin_list_failed_uploads::handle(context, request.build()).await,
    );
    (answer.status, answer.body)
}

#[tokio::test]
async fn an_admin_secret_rotation_takes_effect_within_the_ttl_and_the_previous_secret_stays_good() {
    let admin = integration_tests::admin::Admin::new().await;
    let env = &admin.env;
    let at = timestamp(chrono::Utc::now());
    let items = (0..3).map(|i| admin.dead_letter(i, DEAD, &at)).collect();
    seed::put_items(&env.client, &env.tables.failed_uploads, items)
        .await
        .unwrap();
    let (aws, secrets) = secrets_manager().await;
    let old = format!("old-admin-secret-{}", uuid::Uuid::new_v4().simple());
    let new = format!("new-admin-secret-{}", uuid::Uuid::new_v4().simple());
    let (arn, old_version) = create_secret(&secrets, &format!("{}admin", env.prefix), &old).await;
    let variables = variables(
        env,
        &[
            ("ADMIN_JWT_SECRET_SECRET_ARN", arn.as_str()),
            ("SECRETS_MANAGER_TTL", "1"),
            ("ATOM_SAAS_API_URL", ""),
        ],
    );
    let environment = Environment::load_from(&aws, variables).await.unwrap();
    let config = AdminConfig::from_environment(&environment).unwrap();
    let context = AdminContext::from_config(&aws, &config).unwrap();

    assert_eq!(status_with(&context, &token_signed_with(&old)).await, 200);
    let (status, page) = list_with(&context, &token_signed_with(&old), "limit=1").await;
    assert_eq!(status, 200, "{page}");
    let old_cursor = page["next_cursor"].as_str().expect("a cursor").to_owned();
    assert_eq!(status_with(&context, &token_signed_with(&new)).await, 401);

    rotate(&secrets, &arn, &new).await;
    let rotated_at = Instant::now();
    let new_token = token_signed_with(&new);
    eventually(
        Duration::from_secs(10),
        "the new secret to be accepted",
        || async { (status_with(&context, &new_token).await == 200).then_some(()) },
    )
    .await;
    let took = rotated_at.elapsed();
    println!("the new admin secret was accepted {took:?} after the rotation (TTL 1 s)");
    assert!(took < Duration::from_secs(3), "{took:?}");

    // The grace period: what the old secret signed is still good.
    assert_eq!(status_with(&context, &token_signed_with(&old)).await, 200);
    let (status, page) = list_with(
        &context,
        &new_token,
        &format!("limit=1&cursor={old_cursor}"),
    )
    .await;
    assert_eq!(status, 200, "a cursor sealed before the rotation: {page}");
    assert_eq!(page["count"], 1);
    let third = format!("third-admin-secret-{}", uuid::Uuid::new_v4().simple());
    assert_eq!(status_with(&context, &token_signed_with(&third)).await, 401);

    // The previous version revoked: its tokens are refused within the TTL.
    secrets
        .update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSPREVIOUS")
        .remove_from_version_id(&old_version)
        .send()
        .await
        .expect("revoke the previous version");
    let old_token = token_signed_with(&old);
    eventually(
        Duration::from_secs(10),
        "the old secret to be refused",
        || async { (status_with(&context, &old_token).await == 401).then_some(()) },
    )
    .await;

    // Secrets Manager gone: the last good value is kept.
    secrets
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete the secret");
    let until = Instant::now() + Duration::from_millis(2500);
    let mut calls = 0;
    while Instant::now() < until {
        assert_eq!(
            status_with(&context, &new_token).await,
            200,
            "after {calls} calls"
        );
        calls += 1;
        // Observing for two TTLs, not waiting for a state.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(calls > 1);
}
