//! Each invocation one X-Ray trace, with its marketplace and DynamoDB calls
//! inside: the functions run as deployed (`lambda-function NAME`) against a
//! Runtime API here that hands each event a trace header as Lambda does
//! (`Root=…;Parent=<the function's segment>;Sampled=1`), and a UDP socket
//! here plays the X-Ray daemon (`AWS_XRAY_DAEMON_ADDRESS`). The segment
//! documents it gets must make one tree under the function's segment.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use integration_tests::runtime_api::{
    answer_of, function_process, http_api_event, runtime_api, Invocation,
};
use integration_tests::*;
use serde_json::{json, Value};
use shared::config::Secret;
use tokio::net::UdpSocket;

/// The function's segment, which Lambda records; ours hang under it.
const FACADE: &str = "53995c3f42cd8ad8";
const ADMIN_SECRET: &str = "tracing-test-admin-secret-0123456789";

/// A trace id of now (X-Ray takes none older than 30 days), unique.
fn new_root() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "1-{now:08x}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    )
}

/// What one traced invocation left: the function's answer, the documents
/// the daemon got for its trace, everything it logged.
struct Traced {
    answer: Value,
    documents: Vec<Value>,
    output: String,
}

/// Runs `function` for `event` under a sampled trace `root`, its settings
/// those of `env` and `vars`, until it answers and the daemon has the
/// documents `enough` wants (10 s at most after the answer).
async fn traced(
    env: &TestEnv,
    function: &str,
    event: Value,
    root: &str,
    vars: &[(&str, &str)],
    enough: impl Fn(&[Value]) -> bool,
) -> Traced {
    let daemon = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let trace = format!("Root={root};Parent={FACADE};Sampled=1");
    let (address, mut posted) = runtime_api(function, vec![Invocation::new(&event, &trace)]).await;
    let child = function_process(env!("CARGO_BIN_EXE_lambda-function"), function, &address)
        .env(
            "AWS_XRAY_DAEMON_ADDRESS",
            daemon.local_addr().unwrap().to_string(),
        )
        .envs(env.function_settings())
        .env("ATOM_INSTANCE_ID", "tracing-test")
        .env("RUST_LOG", "info")
        .envs(vars.iter().copied())
        .spawn()
        .expect("start lambda-function");
    let (answer, output) = answer_of(child, &mut posted).await;
    let mut documents = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = vec![0; 65_536];
    while !enough(&documents) && Instant::now() < deadline {
        let wait = deadline.saturating_duration_since(Instant::now());
        let Ok(Ok(size)) = tokio::time::timeout(wait, daemon.recv(&mut buffer)).await else {
            break;
        };
        let text = String::from_utf8_lossy(&buffer[..size]).into_owned();
        let (header, body) = text.split_once('\n').expect("the daemon's header line");
        assert_eq!(header, r#"{"format": "json", "version": 1}"#);
        let document: Value = serde_json::from_str(body).expect("a JSON segment document");
        if document["trace_id"] == root {
            documents.push(document);
        }
    }
    assert!(answer.path.ends_with("/response"), "{answer:?}\n{output}");
    let answer = serde_json::from_slice(&answer.body).expect("a JSON answer");
    Traced {
        answer,
        documents,
        output,
    }
}

fn named<'a>(documents: &'a [Value], name: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["name"] == name).collect()
}

/// The marketplace's subsegments of uploads (POST) among `documents`.
fn uploads_in(documents: &[Value]) -> usize {
    named(documents, "atom-marketplace")
        .into_iter()
        .filter(|call| call["http"]["request"]["method"] == "POST")
        .count()
}

/// The documents make one tree: one invocation subsegment named `name`
/// under the function's segment, every other document under it. Returns
/// each document's chain of names up to the invocation.
fn one_tree(traced: &Traced, name: &str) -> HashMap<String, Vec<String>> {
    let Traced {
        documents, output, ..
    } = traced;
    let by_id: HashMap<&str, &Value> = documents
        .iter()
        .map(|d| (d["id"].as_str().expect("an id"), d))
        .collect();
    assert_eq!(by_id.len(), documents.len(), "an id twice: {documents:#?}");
    let roots: Vec<&&Value> = by_id
        .values()
        .filter(|d| d["parent_id"] == FACADE)
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "one subsegment under the function's: {documents:#?}\n{output}"
    );
    assert_eq!(roots[0]["name"], name, "{}", roots[0]);
    // The process's first invocation, as Powertools annotates it.
    assert_eq!(roots[0]["annotations"]["ColdStart"], true, "{}", roots[0]);
    let mut chains = HashMap::new();
    for document in documents {
        assert_eq!(document["type"], "subsegment", "{document}");
        let mut chain = vec![];
        let mut at: &Value = document;
        while at["parent_id"] != FACADE {
            chain.push(at["name"].as_str().unwrap_or("").to_owned());
            let parent = at["parent_id"].as_str().expect("a parent");
            at = by_id
                .get(parent)
                .copied()
                .unwrap_or_else(|| panic!("{document} hangs under {parent}, not in the trace"));
            assert!(chain.len() < 10, "a loop: {chain:?}");
        }
        chain.push(name.to_owned());
        chains.insert(document["id"].as_str().unwrap_or("").to_owned(), chain);
    }
    chains
}

/// The marketplace's and DynamoDB's subsegments, and no secret anywhere.
fn calls_inside(traced: &Traced, uploads: usize) -> (Vec<&Value>, Vec<&Value>) {
    let marketplace = named(&traced.documents, "atom-marketplace");
    let posts: Vec<&Value> = marketplace
        .iter()
        .copied()
        .filter(|c| c["http"]["request"]["method"] == "POST")
        .collect();
    assert_eq!(posts.len(), uploads, "{:#?}", traced.documents);
    for call in &marketplace {
        assert_eq!(call["namespace"], "remote", "{call}");
        let url = call["http"]["request"]["url"].as_str().unwrap_or("");
        assert!(
            url.starts_with("http://127.0.0.1:") && !url.contains('?'),
            "{call}"
        );
        assert!(call["http"]["response"]["status"].is_u64(), "{call}");
    }
    for post in &posts {
        assert_eq!(post["http"]["response"]["status"], 201, "{post}");
    }
    let dynamodb = named(&traced.documents, "DynamoDB");
    assert!(dynamodb.len() >= uploads, "{:#?}", traced.documents);
    for call in &dynamodb {
        assert_eq!(call["namespace"], "aws", "{call}");
        assert!(call["aws"]["operation"].is_string(), "{call}");
    }
    let all = serde_json::to_string(&traced.documents).unwrap();
    for secret in [TOKEN, ADMIN_SECRET] {
        assert!(!all.contains(secret), "a secret in the trace: {all}");
    }
    (posts, dynamodb)
}

#[tokio::test]
async fn a_scheduled_run_is_one_trace_with_its_marketplace_and_dynamodb_calls_inside() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(3, 0);
    env.put(&ratings).await;
    let root = new_root();
    let event = json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-01T12:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {},
    });
    let run = traced(&env, "scheduled-rating-sync", event, &root, &[], |d| {
        uploads_in(d) >= 3 && !named(d, "scheduled-rating-sync").is_empty()
    })
    .await;
    assert_eq!(run.answer["uploaded"], 3, "{}\n{}", run.answer, run.output);

    let chains = one_tree(&run, "scheduled-rating-sync");
    let (marketplace, dynamodb) = calls_inside(&run, 3);
    let sync_run = named(&run.documents, "sync_run");
    assert_eq!(sync_run.len(), 1, "{:#?}", run.documents);
    assert_eq!(sync_run[0]["annotations"]["run_id"], run.answer["run_id"]);
    for call in marketplace.iter().chain(&dynamodb) {
        let chain = &chains[call["id"].as_str().unwrap()];
        assert!(chain.contains(&"sync_run".to_owned()), "{chain:?}");
    }
    let operations: Vec<&str> = dynamodb
        .iter()
        .filter_map(|c| c["aws"]["operation"].as_str())
        .collect();
    assert!(
        operations.contains(&"Query"),
        "the backlog's pages: {operations:?}"
    );
    assert!(
        operations.contains(&"UpdateItem"),
        "marked synced: {operations:?}"
    );
    assert!(
        run.output.contains(&root),
        "the logs carry the trace id:\n{}",
        run.output
    );
}

#[tokio::test]
async fn a_stream_batch_is_one_trace_with_its_marketplace_and_dynamodb_calls_inside() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(2, 0);
    env.put(&ratings).await;
    let ids: Vec<String> = ratings.iter().map(|r| r.id.clone()).collect();
    let batch = env.stream_event(&ids, 1).await;
    let root = new_root();
    let event = json!({ "Records": batch.records });
    let batch = traced(&env, "stream-rating-sync", event, &root, &[], |d| {
        uploads_in(d) >= 2 && !named(d, "stream-rating-sync").is_empty()
    })
    .await;
    assert_eq!(
        batch.answer["batchItemFailures"],
        json!([]),
        "{}",
        batch.output
    );

    let chains = one_tree(&batch, "stream-rating-sync");
    let (marketplace, dynamodb) = calls_inside(&batch, 2);
    for call in marketplace.iter().chain(&dynamodb) {
        let chain = &chains[call["id"].as_str().unwrap()];
        assert!(chain.contains(&"fast_path".to_owned()), "{chain:?}");
    }
    env.assert_each_synced_once(&ratings).await;
}

#[tokio::test]
async fn an_admin_call_is_one_trace_with_the_sync_it_ran_inside() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(2, 0);
    env.put(&ratings).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims =
        json!({"sub": "ops@example.com", "role": "super_admin", "iat": now, "exp": now + 300});
    let token = shared::auth::sign_token(&Secret::new(ADMIN_SECRET), &claims).unwrap();
    let event = http_api_event(
        "POST",
        "/api/admin/sync/ratings",
        &format!("Bearer {token}"),
    );
    let root = new_root();
    let vars = [("ADMIN_JWT_SECRET", ADMIN_SECRET)];
    let call = traced(&env, "admin-sync-ratings", event, &root, &vars, |d| {
        uploads_in(d) >= 2 && !named(d, "sync_ratings").is_empty()
    })
    .await;
    assert_eq!(
        call.answer["statusCode"], 200,
        "{}\n{}",
        call.answer, call.output
    );

    let chains = one_tree(&call, "sync_ratings");
    let (marketplace, _) = calls_inside(&call, 2);
    for upload in &marketplace {
        let chain = &chains[upload["id"].as_str().unwrap()];
        assert!(chain.contains(&"sync_run".to_owned()), "{chain:?}");
    }
    let all = serde_json::to_string(&call.documents).unwrap();
    assert!(!all.contains(&token), "the caller's token in the trace");
    let audit = named(&call.documents, "DynamoDB")
        .into_iter()
        .filter(|c| c["aws"]["operation"] == "PutItem")
        .count();
    assert!(
        audit >= 1,
        "the audit record's write: {:#?}",
        call.documents
    );
}
