//! The admin functions' logs at the most verbose level anyone can ask for
//! hold neither the caller's token nor the secret that signs tokens.
//!
//! `admin-once` (`tests/bin/admin_once.rs`, the `admin-sync-status`
//! function's `main`) runs in a process of its own against a Lambda
//! Runtime API played here: a loopback HTTP/1.1 server that hands out one
//! API Gateway HTTP API event carrying `Authorization: Bearer <token>` and
//! takes the function's answer. The runtime underneath logs the raw event
//! at trace level; `shared::logging` caps the crates underneath at info.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use integration_tests::*;
use serde_json::{json, Value};
use shared::config::Secret;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const ROUTE: &str = "/api/admin/sync/ratings/status";

/// A request the function sent to the Runtime API.
#[derive(Debug)]
struct Posted {
    path: String,
    body: Vec<u8>,
}

/// One HTTP/1.1 request from `reader`; `None` once the peer closes.
async fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> Option<(String, String, Vec<(String, String)>, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await.ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = header("content-length") {
        body.resize(length.parse().ok()?, 0);
        reader.read_exact(&mut body).await.ok()?;
    }
    Some((method, path, headers, body))
}

/// Serves one connection: the first `next` gets the event, a later one is
/// never answered; every POST is passed on and answered 202.
async fn serve(
    stream: TcpStream,
    event: Arc<(String, Vec<u8>)>,
    handed_out: Arc<AtomicBool>,
    posted: mpsc::UnboundedSender<Posted>,
) {
    stream.set_nodelay(true).ok();
    let mut reader = BufReader::new(stream);
    while let Some((method, path, _, body)) = read_request(&mut reader).await {
        let answer = if method == "GET" && path == NEXT {
            if handed_out.swap(true, Ordering::SeqCst) {
                // The function waits for its next event until it is killed.
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest).await;
                return;
            }
            let (request_id, payload) = &*event;
            let deadline = SystemTime::now() + Duration::from_secs(60);
            let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
            let head = format!(
                "HTTP/1.1 200 OK\r\n\
                 content-type: application/json\r\n\
                 content-length: {}\r\n\
                 lambda-runtime-aws-request-id: {request_id}\r\n\
                 lambda-runtime-deadline-ms: {deadline_ms}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:admin-sync-status\r\n\
                 lambda-runtime-trace-id: Root=1-5e9f0c65-1de4d666d4dd26aced652b6c;Parent=53995c3f42cd8ad8;Sampled=0\r\n\
                 \r\n",
                payload.len()
            );
            [head.into_bytes(), payload.clone()].concat()
        } else if method == "POST" {
            let _ = posted.send(Posted { path, body });
            let body = r#"{"status":"OK"}"#;
            format!(
                "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        } else {
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec()
        };
        if reader.get_mut().write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// A Runtime API on loopback handing out `payload` once, as invocation
/// `request_id`: its address and what the function posts to it.
async fn runtime_api(
    request_id: &str,
    payload: Vec<u8>,
) -> (String, mpsc::UnboundedReceiver<Posted>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (sender, receiver) = mpsc::unbounded_channel();
    let event = Arc::new((request_id.to_owned(), payload));
    let handed_out = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(
                stream,
                event.clone(),
                handed_out.clone(),
                sender.clone(),
            ));
        }
    });
    (address, receiver)
}

/// An API Gateway HTTP API (payload 2.0) event for the status page.
fn status_event(authorization: &str) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    json!({
        "version": "2.0",
        "routeKey": format!("GET {ROUTE}"),
        "rawPath": ROUTE,
        "rawQueryString": "",
        "headers": {
            "authorization": authorization,
            "content-length": "0",
            "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "user-agent": "log-secrets-test",
            "x-forwarded-for": "203.0.113.9",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": "GET",
                "path": ROUTE,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "log-secrets-test",
            },
            "requestId": "Ab1Cd2Ef3Gh4=",
            "routeKey": format!("GET {ROUTE}"),
            "stage": "$default",
            "time": "01/Dec/2026:12:00:00 +0000",
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": false,
    })
}

/// What one invocation of `admin-once` produced.
struct Invocation {
    /// The answer the function posted, as API Gateway would get it.
    response: Value,
    /// Everything it wrote, stdout and stderr.
    output: String,
    token: String,
    /// The secrets the function may know: none may be in its output.
    secrets: Vec<String>,
}

/// Runs `admin-once` under `rust_log` for one status request with a valid
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

/// Runs `admin-once` under `rust_log` with `vars`, for one status request
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
    let request_id = uuid::Uuid::new_v4().to_string();
    let event = status_event(&format!("Bearer {token}"));
    let (address, mut posted) = runtime_api(&request_id, event.to_string().into_bytes()).await;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_admin-once"))
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "admin-sync-status")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/12/01/[$LATEST]0123456789abcdef",
        )
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/admin-sync-status")
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start admin-once");
    let drain = |mut pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        tokio::spawn(async move {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes).await;
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));

    let outcome = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::select! {
            answer = posted.recv() => Ok(answer.expect("the Runtime API runs")),
            exit = child.wait() => Err(exit),
        }
    })
    .await;
    child.start_kill().ok();
    child.wait().await.expect("admin-once ends");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout.await.unwrap()),
        String::from_utf8_lossy(&stderr.await.unwrap())
    );
    let answer = match outcome {
        Ok(Ok(answer)) => answer,
        Ok(Err(exit)) => panic!("admin-once ended before answering ({exit:?}):\n{output}"),
        Err(_) => panic!("admin-once did not answer within 60 s:\n{output}"),
    };
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

    assert!(!output.trim().is_empty(), "admin-once wrote nothing");
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
