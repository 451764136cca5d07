//! The traces as the X-Ray daemon gets them: a UDP socket here plays the
//! daemon, and each test reads the segment documents sent to it.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

use super::*;

const FACADE: &str = "53995c3f42cd8ad8";

/// A trace id of now: X-Ray takes no trace older than 30 days.
fn root() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("1-{now:08x}-1de4d666d4dd26aced652b6c")
}

/// A daemon on loopback and a subscriber sending to it, for this thread.
fn daemon() -> (
    UdpSocket,
    tracing::subscriber::DefaultGuard,
    SdkTracerProvider,
) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (layer, provider) = exporting_to(socket.local_addr().unwrap()).unwrap();
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (socket, guard, provider)
}

/// The documents the daemon got until `done` holds of them, or 10 s.
fn received(socket: &UdpSocket, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut documents = Vec::new();
    let mut buffer = vec![0; 65_536];
    while !done(&documents) && Instant::now() < deadline {
        let Ok(size) = socket.recv(&mut buffer) else {
            continue;
        };
        let text = std::str::from_utf8(&buffer[..size]).unwrap();
        let (header, body) = text.split_once('\n').expect("a header line");
        assert_eq!(header, r#"{"format": "json", "version": 1}"#);
        documents.push(serde_json::from_str(body).unwrap());
    }
    documents
}

fn lambda_header(root: &str, sampled: bool) -> String {
    format!("Root={root};Parent={FACADE};Sampled={}", u8::from(sampled))
}

fn named<'a>(documents: &'a [Value], name: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["name"] == name).collect()
}

#[test]
fn the_daemon_address_is_read_as_lambda_and_the_xray_sdks_write_it() {
    assert_eq!(
        daemon_address("169.254.79.129:2000").unwrap().to_string(),
        "169.254.79.129:2000"
    );
    assert_eq!(
        daemon_address(" tcp:127.0.0.1:2000 udp:127.0.0.2:2001 ")
            .unwrap()
            .to_string(),
        "127.0.0.2:2001"
    );
    assert!(daemon_address("localhost:2000").unwrap().ip().is_loopback());
    for (bad, named) in [
        ("tcp:127.0.0.1:2000", "tcp:127.0.0.1:2000"),
        ("127.0.0.1", "127.0.0.1"),
        ("two words", "two words"),
        ("udp:nowhere", "nowhere"),
    ] {
        let problem = daemon_address(bad).unwrap_err();
        assert!(problem.contains(named), "{problem}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_invocation_is_one_trace_under_the_function_segment_with_its_calls_inside() {
    let (daemon, _guard, _provider) = daemon();
    let found =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let missing = mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
        PutItemError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("no table")
                .build(),
        )
    });
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::Sequential,
        [&found, &missing],
        |builder| builder.interceptor(AwsCallSpans)
    );
    let root = root();
    let header = lambda_header(&root, true);
    invocation(Some(&header), "scheduled-rating-sync", "timer", async {
        let run = tracing::info_span!("sync_run", run_id = "run-42");
        async {
            client.get_item().table_name("t").send().await.unwrap();
            client.put_item().table_name("t").send().await.unwrap_err();
            let call = client_span("atom-marketplace", "POST", "https://m.example/api/ratings");
            assert!(super::header(&call).is_some_and(|h| h.contains(&root)));
            record_answer(&call, Some(503), Some(&"marketplace server error (503)"));
        }
        .instrument(run)
        .await;
    })
    .await;

    let documents = received(&daemon, |d| d.len() >= 5);
    assert_eq!(documents.len(), 5, "{documents:#?}");
    for document in &documents {
        assert_eq!(document["trace_id"], root.as_str(), "{document}");
        assert_eq!(document["type"], "subsegment", "{document}");
    }
    let root = &named(&documents, "scheduled-rating-sync")[..];
    assert_eq!(root.len(), 1, "{documents:#?}");
    assert_eq!(root[0]["parent_id"], FACADE);
    assert!(
        root[0]["annotations"]["ColdStart"].is_boolean(),
        "{}",
        root[0]
    );
    let run = named(&documents, "sync_run");
    assert_eq!(run.len(), 1, "{documents:#?}");
    assert_eq!(run[0]["parent_id"], root[0]["id"]);
    assert_eq!(run[0]["annotations"]["run_id"], "run-42", "{}", run[0]);

    let calls = named(&documents, "DynamoDB");
    assert_eq!(calls.len(), 2, "{documents:#?}");
    for call in &calls {
        assert_eq!(call["namespace"], "aws", "{call}");
        assert_eq!(call["parent_id"], run[0]["id"], "{call}");
    }
    let operations: Vec<&Value> = calls.iter().map(|c| &c["aws"]["operation"]).collect();
    assert!(operations.contains(&&Value::from("GetItem")), "{calls:#?}");
    let failed = calls
        .iter()
        .find(|c| c["aws"]["operation"] == "PutItem")
        .expect("the PutItem call");
    assert!(
        failed["fault"] == true || failed["error"] == true,
        "a failed call is marked: {failed}"
    );

    let marketplace = named(&documents, "atom-marketplace");
    assert_eq!(marketplace.len(), 1, "{documents:#?}");
    assert_eq!(marketplace[0]["namespace"], "remote");
    assert_eq!(marketplace[0]["parent_id"], run[0]["id"]);
    assert_eq!(marketplace[0]["http"]["response"]["status"], 503);
    assert_eq!(marketplace[0]["fault"], true, "{}", marketplace[0]);
}

#[tokio::test(flavor = "current_thread")]
async fn an_invocation_lambda_did_not_sample_sends_nothing() {
    let (daemon, _guard, _provider) = daemon();
    for (sampled, name) in [(false, "not sampled"), (true, "sampled")] {
        let header = lambda_header(&root(), sampled);
        invocation(Some(&header), name, "timer", async {
            let call = client_span("atom-marketplace", "GET", "https://m.example/");
            assert_eq!(super::header(&call).is_some(), sampled);
        })
        .await;
    }
    // Datagrams from one socket arrive in order: once the sampled
    // invocation's two are in, the other's would have been before them.
    let documents = received(&daemon, |d| d.len() >= 2);
    let names: Vec<&Value> = documents.iter().map(|d| &d["name"]).collect();
    assert_eq!(names, ["atom-marketplace", "sampled"], "{documents:#?}");
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_trace_header_an_invocation_starts_a_trace_of_its_own() {
    let (daemon, _guard, _provider) = daemon();
    invocation(None, "local", "timer", async {}).await;
    let documents = received(&daemon, |d| !d.is_empty());
    assert_eq!(documents.len(), 1, "{documents:#?}");
    let trace = documents[0]["trace_id"].as_str().unwrap();
    assert!(trace.starts_with("1-"), "{trace}");
    assert!(documents[0].get("parent_id").is_none(), "{}", documents[0]);
    assert_ne!(documents[0]["type"], "subsegment", "{}", documents[0]);
}
