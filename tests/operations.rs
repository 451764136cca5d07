//! What an operator relies on: secrets read from Secrets Manager and never
//! written to a log, JSON log lines with the run id, and the run's metrics.

use std::process::Stdio;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
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
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create the secret in moto");
    created.arn().expect("an ARN").to_owned()
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

    let (output, report) = sync_in_a_process(
        &env,
        &[
            ("ATOM_SAAS_API_TOKEN_SECRET_ARN", &arn),
            ("RATING_SYNC_INTERVAL_MINUTES", "30"),
        ],
    )
    .await;

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
    assert_eq!(emf["IntervalsSinceSuccess"], 0, "the interval was given");
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

/// Moves a time of the health item `ago` into the past: the test cannot
/// wait for schedule intervals to pass, so it makes them have passed.
async fn backdate(env: &TestEnv, attribute: &str, ago: chrono::Duration) {
    let at = (chrono::Utc::now() - ago).timestamp_millis();
    env.client
        .update_item()
        .table_name(&env.tables.sync_state)
        .key("pk", AttributeValue::S("health".into()))
        .key("sk", AttributeValue::S("sync".into()))
        .update_expression("SET #at = :at")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_names("#at", attribute)
        .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
        .send()
        .await
        .expect("backdate the health item");
}

/// Ratings `from..to`, new and pending.
async fn put_new(env: &TestEnv, from: usize, to: usize) {
    let start = chrono::Utc::now();
    let ratings: Vec<_> = (from..to)
        .map(|i| local_stack::seed::sample_rating(&env.prefix, i, start))
        .collect();
    env.put(&ratings).await;
}

/// The no-successful-run alarm watches IntervalsSinceSuccess, which each
/// scheduled run computes from the health item: counted from the last
/// success, or from the first run before any, whichever engine ran.
#[tokio::test]
async fn each_scheduled_run_reports_the_intervals_since_a_run_last_succeeded() {
    let env = TestEnv::new().await;
    let every_30_minutes = SyncSettings {
        schedule_interval: Some(Duration::from_secs(30 * 60)),
        ..SyncSettings::default()
    };
    // A wrong token: one 401 opens the breaker, the run fails.
    let failing = env.engine_with_token(every_30_minutes.clone(), "wrong-token");
    let working = env.engine_with(every_30_minutes);
    env.put(&env.ratings(3, 0)).await;

    let first = failing.run(generous_deadline()).await;
    assert!(!first.success, "{first:?}");
    assert_eq!(first.intervals_since_success, Some(0), "the first run");
    assert_eq!(
        env.store()
            .sync_health()
            .await
            .unwrap()
            .unwrap()
            .last_success_at,
        None
    );

    backdate(&env, "first_run_ms", chrono::Duration::minutes(61)).await;
    let never = failing.run(generous_deadline()).await;
    assert_eq!(never.intervals_since_success, Some(2), "no success yet");

    let success = working.run(generous_deadline()).await;
    assert!(success.success && success.uploaded == 3, "{success:?}");
    assert_eq!(success.intervals_since_success, Some(0));

    put_new(&env, 100, 102).await;
    for (minutes_ago, expected) in [(31, 1), (59, 2), (95, 3)] {
        backdate(
            &env,
            "last_success_ms",
            chrono::Duration::minutes(minutes_ago),
        )
        .await;
        let failed = failing.run(generous_deadline()).await;
        assert!(!failed.success);
        assert_eq!(
            failed.intervals_since_success,
            Some(expected),
            "{minutes_ago} minutes after the last success"
        );
    }

    // The admin function has no interval: it records its outcome, and a
    // success there counts for the scheduled runs too.
    let admin = env
        .engine_with(SyncSettings::default())
        .run(generous_deadline())
        .await;
    assert!(admin.success && admin.uploaded == 2, "{admin:?}");
    assert_eq!(admin.intervals_since_success, None);
    let health = env.store().sync_health().await.unwrap().unwrap();
    let since = chrono::Utc::now() - health.last_success_at.expect("a success");
    assert!(since < chrono::Duration::minutes(1), "{since}");
    put_new(&env, 200, 201).await;
    let next = failing.run(generous_deadline()).await;
    assert_eq!(next.intervals_since_success, Some(0));
}
