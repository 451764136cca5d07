//! What an operator relies on: secrets read from Secrets Manager and never
//! written to a log, JSON log lines with the run id, and the run's metrics.

use std::process::Stdio;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use integration_tests::host::create_secret;
use integration_tests::*;
use serde_json::{json, Value};
use shared::config::SyncSettings;

/// A secret in the local Secrets Manager (moto); its ARN.
async fn put_secret(name: &str, value: &str) -> String {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let client = aws_sdk_secretsmanager::Client::new(&aws);
    create_secret(&client, name, value).await.0
}

/// Runs one sync in a process of its own; its whole output and report.
async fn sync_in_a_process(env: &TestEnv, vars: &[(&str, &str)]) -> (String, Value) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-once"));
    command
        .env("RATINGS_TABLE", &env.tables.ratings)
        .env("FAILED_UPLOADS_TABLE", &env.tables.failed_uploads)
        .env("SYNC_STATE_TABLE", &env.tables.sync_state)
        .env("ATOM_SAAS_API_URL", env.simulator.base_url())
        .env("ATOM_INSTANCE_ID", "ops-test")
        .env_remove("ATOM_SAAS_API_TOKEN")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().await.expect("run sync-once");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "sync-once failed:\n{text}");
    let report = text
        .lines()
        .rev()
        .find_map(|line| {
            serde_json::from_str::<Value>(line).ok().filter(|v| {
                v.get("run_id").is_some() && v.get("uploaded").is_some() && v.get("_aws").is_none()
            })
        })
        .expect("the report line");
    (text, report)
}

#[tokio::test]
async fn the_token_comes_from_secrets_manager_and_never_reaches_a_log() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(20, 2)).await;
    let arn = put_secret(&format!("{}marketplace-token", env.prefix), TOKEN).await;

    let (output, report) =
        sync_in_a_process(&env, &[("ATOM_SAAS_API_TOKEN_SECRET_ARN", &arn)]).await;

    // The simulator accepts only TOKEN: the uploads prove it was read.
    assert_eq!(report["uploaded"], 18, "{report}");
    assert!(!output.contains(TOKEN), "the token appears in the output");
    // JSON lines, each carrying the run id once the run has begun.
    let run_id = report["run_id"].as_str().unwrap();
    let finished = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["level"] == "INFO" && line["uploaded"] == 18)
        .expect("the report's log line");
    assert_eq!(finished["spans"][0]["run_id"], run_id);
    // And one EMF document with the run's numbers.
    let emf = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line.get("_aws").is_some())
        .expect("an EMF line");
    assert_eq!(emf["Uploaded"], 18);
    assert_eq!(emf["Parked"], 2);
    assert_eq!(emf["RunSucceeded"], 1);
    assert_eq!(emf["ConsecutiveFailedRuns"], 0);
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "AtomRatingSync"
    );
}

#[tokio::test]
async fn a_rejected_token_is_not_logged_either() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(5, 0)).await;
    let wrong = "wrong-token-7c0ffee";
    let arn = put_secret(&format!("{}wrong-token", env.prefix), wrong).await;
    env.configure(json!({})).await;

    let (output, report) = sync_in_a_process(
        &env,
        &[
            ("ATOM_SAAS_API_TOKEN_SECRET_ARN", &arn),
            ("RATING_SYNC_METRICS_NAMESPACE", "OpsTest"),
        ],
    )
    .await;

    assert_eq!(report["breaker_open"], true, "{report}");
    assert!(
        output.contains("rejected our credentials"),
        "the reason is logged"
    );
    assert!(!output.contains(wrong), "the token appears in the output");
    assert!(output.contains("\"Namespace\":\"OpsTest\""));
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_stops_the_function_with_a_clear_error() {
    let env = TestEnv::new().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-once"))
        .env("ATOM_SAAS_API_URL", env.simulator.base_url())
        .env("ATOM_INSTANCE_ID", "ops-test")
        .env_remove("ATOM_SAAS_API_TOKEN")
        .env(
            "ATOM_SAAS_API_TOKEN_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf",
        )
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(text.contains("ATOM_SAAS_API_TOKEN"), "{text}");
    assert!(
        text.contains("could not be read from Secrets Manager"),
        "{text}"
    );
}

/// Ratings `from..to`, new and pending.
async fn put_new(env: &TestEnv, from: usize, to: usize) {
    let start = chrono::Utc::now();
    let ratings: Vec<_> = (from..to)
        .map(|i| local_stack::seed::sample_rating(&env.prefix, i, start))
        .collect();
    env.put(&ratings).await;
}

/// The no-successful-run alarm watches ConsecutiveFailedRuns: the scheduled
/// runs that failed since a run last succeeded, kept in the state table
/// across engines (cold starts); an admin success resets it, an admin
/// failure does not count.
#[tokio::test]
async fn each_scheduled_run_reports_the_scheduled_runs_failed_since_a_success() {
    let env = TestEnv::new().await;
    // A wrong token: one 401 opens the breaker, the run fails.
    let failing = || env.engine_with_token(SyncSettings::default(), "wrong-token");
    let working = || env.engine_with(SyncSettings::default());
    let failed_scheduled_run = || async {
        let report = failing().run(generous_deadline()).await;
        assert!(!report.success, "{report:?}");
        report.consecutive_failed_runs
    };
    env.put(&env.ratings(3, 0)).await;

    let mut counts = Vec::new();
    for _ in 0..3 {
        counts.push(failed_scheduled_run().await);
    }
    assert_eq!(counts, [Some(1), Some(2), Some(3)]);
    let health = env.store().sync_health().await.unwrap().unwrap();
    assert_eq!(health.last_success_at, None);

    let admin_failure = failing().run_on_request(generous_deadline()).await;
    assert!(!admin_failure.success);
    assert_eq!(
        admin_failure.consecutive_failed_runs, None,
        "not a scheduled run"
    );
    let health = env.store().sync_health().await.unwrap().unwrap();
    assert_eq!(
        health.consecutive_failed_runs, 3,
        "an admin failure is not counted"
    );

    let success = working().run(generous_deadline()).await;
    assert!(success.success && success.uploaded == 3, "{success:?}");
    assert_eq!(success.consecutive_failed_runs, Some(0));
    let health = env.store().sync_health().await.unwrap().unwrap();
    assert_eq!(health.consecutive_failed_runs, 0);
    let since = chrono::Utc::now() - health.last_success_at.expect("a success");
    assert!(since < chrono::Duration::minutes(1), "{since}");

    put_new(&env, 100, 102).await;
    assert_eq!(failed_scheduled_run().await, Some(1));
    // An admin success resets the count for the scheduled runs.
    let admin = working().run_on_request(generous_deadline()).await;
    assert!(admin.success && admin.uploaded == 2, "{admin:?}");
    assert_eq!(admin.consecutive_failed_runs, None);
    put_new(&env, 200, 201).await;
    assert_eq!(failed_scheduled_run().await, Some(1));

    // A tick that finds another run going is no failure of the sync.
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    env.store()
        .acquire_lease(
            shared::sync::LEASE_NAME,
            "admin-run",
            until,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let blocked = working().run(generous_deadline()).await;
    assert_eq!(
        blocked.error.as_deref(),
        Some(shared::report::ALREADY_RUNNING)
    );
    assert_eq!(blocked.consecutive_failed_runs, None);
    let health = env.store().sync_health().await.unwrap().unwrap();
    assert_eq!(health.consecutive_failed_runs, 1);
}

/// Refuses the health item's writes, as DynamoDB would refuse a throttled
/// or denied request; every other request goes through.
#[derive(Debug)]
struct RefuseHealthWrites;

impl Intercept for RefuseHealthWrites {
    fn name(&self) -> &'static str {
        "RefuseHealthWrites"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if shared::store::requests::dynamodb_operation(context) == "UpdateItem"
            && body["Key"]["pk"]["S"] == "health"
        {
            return Err("the health item's write is refused (test)".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_health_item_that_cannot_be_written_loses_no_report() {
    let env = TestEnv::new().await;
    env.put(&env.ratings(3, 0)).await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        env.client
            .config()
            .to_builder()
            .interceptor(RefuseHealthWrites)
            .build(),
    );
    let engine = |token: &str| {
        let mut config = env.config(SyncSettings::default());
        config.marketplace.api_token = shared::config::Secret::new(token);
        shared::triggers::clients::sync_engine(&config, client.clone()).expect("engine")
    };

    // A failure that cannot be counted reports no count (its RunFailed
    // metric still says it failed) ...
    let failed = engine("wrong-token").run(generous_deadline()).await;
    assert!(!failed.success);
    assert_eq!(failed.consecutive_failed_runs, None);
    // ... and a success is 0 whatever the item says.
    let succeeded = engine(TOKEN).run(generous_deadline()).await;
    assert!(
        succeeded.success && succeeded.uploaded == 3,
        "{succeeded:?}"
    );
    assert_eq!(succeeded.consecutive_failed_runs, Some(0));
    // The reports are stored all the same; the item was never written.
    let stored = env.store().recent_reports(5).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].run_id, succeeded.run_id);
    assert_eq!(env.store().sync_health().await.unwrap(), None);
}
