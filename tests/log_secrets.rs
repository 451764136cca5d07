//! The admin functions' logs at the most verbose level anyone can ask for
//! hold neither the caller's token nor the secret that signs tokens.
//!
//! `lambda-function admin-sync-status` (`tests/bin/lambda_function.rs`,
//! the function's `main`) runs in a process of its own against a Lambda
//! Runtime API played here (`tests/support/runtime_api.rs`) that hands out
//! one API Gateway HTTP API event carrying `Authorization: Bearer <token>`
//! and takes the function's answer. The runtime underneath logs the raw event
//! at trace level; `shared::logging` caps the crates underneath at info.

use std::time::{SystemTime, UNIX_EPOCH};

use integration_tests::runtime_api::{
    answer_of, function_process, http_api_event, runtime_api, Invocation as Event,
};
use integration_tests::*;
use serde_json::{json, Value};
use shared::config::Secret;

const ROUTE: &str = "/api/admin/sync/ratings/status";

/// What one invocation of `lambda-function admin-sync-status` produced.
struct Invocation {
    /// The answer the function posted, as API Gateway would get it.
    response: Value,
    /// Everything it wrote, stdout and stderr.
    output: String,
    token: String,
    /// The secrets the function may know: none may be in its output.
    secrets: Vec<String>,
}

/// Runs `lambda-function admin-sync-status` under `rust_log` for one status request with a valid
/// admin token, then kills it.
async fn invoke_once(env: &TestEnv, rust_log: &str) -> Invocation {
    let secret = format!("log-secrets-{}", uuid::Uuid::new_v4().simple());
    invoke(
        env,
        rust_log,
        &[("ADMIN_JWT_SECRET", &secret)],
        &secret,
        vec![secret.clone()],
    )
    .await
}

/// Runs `lambda-function admin-sync-status` under `rust_log` with `vars`, for one status request
/// with an admin token signed with `signing`, then kills it.
async fn invoke(
    env: &TestEnv,
    rust_log: &str,
    vars: &[(&str, &str)],
    signing: &str,
    secrets: Vec<String>,
) -> Invocation {
    let claims = json!({
        "sub": "ops@example.com",
        "role": "super_admin",
        "iat": SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs(),
        "exp": SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 300,
    });
    let token = shared::auth::sign_token(&Secret::new(signing), &claims).unwrap();
    let event = http_api_event("GET", ROUTE, &format!("Bearer {token}"));
    let invocation = Event::new(
        &event,
        "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c;Parent=53995c3f42cd8ad8;Sampled=0",
    );
    let request_id = invocation.request_id.clone();
    let (address, mut posted) = runtime_api("admin-sync-status", vec![invocation]).await;

    let child = function_process(
        env!("CARGO_BIN_EXE_lambda-function"),
        "admin-sync-status",
        &address,
    )
    .env("RUST_LOG", rust_log)
    .env_remove("ADMIN_JWT_SECRET")
    .envs(vars.iter().copied())
    .env("RATINGS_TABLE", &env.tables.ratings)
    .env("FAILED_UPLOADS_TABLE", &env.tables.failed_uploads)
    .env("SYNC_STATE_TABLE", &env.tables.sync_state)
    .env("AUDIT_TABLE", &env.tables.audit)
    .env_remove("ADMIN_JWT_ISSUER")
    .env_remove("ADMIN_JWT_AUDIENCE")
    .env_remove("ATOM_SAAS_API_TOKEN")
    .env_remove("AWS_XRAY_DAEMON_ADDRESS")
    .spawn()
    .expect("start lambda-function admin-sync-status");
    let (answer, output) = answer_of(child, &mut posted).await;
    assert_eq!(
        answer.path,
        format!("/2018-06-01/runtime/invocation/{request_id}/response"),
        "{}\n{output}",
        String::from_utf8_lossy(&answer.body)
    );
    let response = serde_json::from_slice(&answer.body).expect("a JSON answer");
    Invocation {
        response,
        output,
        token,
        secrets,
    }
}

/// The status page answered, the log says so, and neither the token, any
/// of its parts, nor the secret is in it.
fn check(invocation: &Invocation) {
    let Invocation {
        response,
        output,
        token,
        secrets,
    } = invocation;
    assert_eq!(response["statusCode"], 200, "{response}\n{output}");
    let body: Value =
        serde_json::from_str(response["body"].as_str().expect("a text body")).unwrap();
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["pending_count"], 0, "{body}");

    assert!(!output.trim().is_empty(), "the function wrote nothing");
    let lines: Vec<Value> = output
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let done = lines
        .iter()
        .find(|line| line["message"] == "admin request done")
        .unwrap_or_else(|| panic!("no line for the request:\n{output}"));
    assert_eq!(done["level"], "INFO");
    assert_eq!(done["action"], "sync_status", "{done}");
    assert_eq!(done["status"], 200, "{done}");

    let segments: Vec<&str> = token.split('.').collect();
    assert_eq!(segments.len(), 3);
    for (what, needle) in [
        ("the token", token.as_str()),
        ("the token's header", segments[0]),
        ("the token's claims", segments[1]),
        ("the token's signature", segments[2]),
    ]
    .into_iter()
    .chain(secrets.iter().map(|s| ("a secret", s.as_str())))
    {
        assert!(!output.contains(needle), "{what} is in the log:\n{output}");
    }
}

#[tokio::test]
async fn rust_log_trace_never_writes_the_admin_token_or_the_signing_secret() {
    let env = TestEnv::new().await;
    let invocation = invoke_once(&env, "trace").await;
    check(&invocation);
}

#[tokio::test]
async fn asking_the_crates_underneath_for_trace_by_name_changes_nothing() {
    let env = TestEnv::new().await;
    let invocation = invoke_once(
        &env,
        "lambda_runtime=trace,lambda_http=trace,aws_smithy_runtime=trace,trace",
    )
    .await;
    check(&invocation);
}

#[tokio::test]
async fn an_admin_secret_read_again_from_secrets_manager_after_a_rotation_is_not_logged() {
    let env = TestEnv::new().await;
    let aws = shared::triggers::clients::aws_config()
        .await
        .expect("AWS configuration");
    let client = aws_sdk_secretsmanager::Client::new(&aws);
    let old = format!("log-secrets-old-{}", uuid::Uuid::new_v4().simple());
    let new = format!("log-secrets-new-{}", uuid::Uuid::new_v4().simple());
    let created = client
        .create_secret()
        .name(format!("{}admin", env.prefix))
        .secret_string(&old)
        .send()
        .await
        .expect("create the secret in moto");
    let arn = created.arn().unwrap().to_owned();
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(&new)
        .send()
        .await
        .expect("rotate it");
    // Signed with the previous secret: accepted only if the function read
    // AWSPREVIOUS again, which it does at its first request.
    let invocation = invoke(
        &env,
        "trace",
        &[
            ("ADMIN_JWT_SECRET_SECRET_ARN", &arn),
            ("SECRETS_MANAGER_TTL", "1"),
        ],
        &old,
        vec![old.clone(), new.clone()],
    )
    .await;
    check(&invocation);
}
