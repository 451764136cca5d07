//! A fault-injecting proxy in front of the local DynamoDB server, for the
//! tests of DynamoDB as a dependency that fails (`tests/dynamo_faults.rs`).
//!
//! It listens on 127.0.0.1, reads each HTTP/1.1 request the SDK sends (a
//! `Content-Length` body, the operation in `X-Amz-Target`), and either
//! forwards it to the server named by `AWS_ENDPOINT_URL_DYNAMODB` or plays a
//! fault, chosen per request by a seeded generator at a configurable rate
//! and mix, optionally only for some operations:
//! - [`Fault::Throttle`]: 400 `ProvisionedThroughputExceededException`,
//!   the call not applied;
//! - [`Fault::ErrorBefore`]: 500 `InternalServerError`, not applied;
//! - [`Fault::ErrorAfter`]: applied, then 500: the answer is lost;
//! - [`Fault::DropAfter`]: applied, then the connection closed unanswered;
//! - [`Fault::Delay`]: forwarded after a wait;
//! - [`Fault::Hang`]: the connection held open, never answered.
//!
//! The test can switch at runtime: the mix, a full outage (every connection
//! closed at once), and the faults of the next few calls. It counts what it did, so
//! that a test can assert the faults happened.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    Throttle,
    ErrorBefore,
    ErrorAfter,
    DropAfter,
    Delay(Duration),
    Hang,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::Throttle => "throttle",
            Self::ErrorBefore => "error_before",
            Self::ErrorAfter => "error_after",
            Self::DropAfter => "drop_after",
            Self::Delay(_) => "delay",
            Self::Hang => "hang",
        }
    }
}

/// The four faults of a DynamoDB that misbehaves now and then.
pub const STEADY_MIX: [Fault; 4] = [
    Fault::Throttle,
    Fault::ErrorBefore,
    Fault::ErrorAfter,
    Fault::DropAfter,
];

struct State {
    rng: fastrand::Rng,
    rate: f64,
    mix: Vec<Fault>,
    /// Only these operations get faults (`None`: all).
    operations: Option<Vec<String>>,
    outage: bool,
    /// The faults of the next calls that may get faults, in order, before
    /// any chosen at random.
    script: std::collections::VecDeque<Fault>,
    counts: BTreeMap<String, u64>,
}

/// The proxy; it stops when dropped (its tasks end with the runtime).
#[derive(Clone)]
pub struct DynamoProxy {
    url: String,
    upstream: String,
    state: Arc<Mutex<State>>,
}

impl DynamoProxy {
    /// A proxy to the local DynamoDB server, with no faults yet. Its
    /// choices follow `seed`, mixed with `DYNAMO_FAULTS_SEED` if set (to
    /// try other sequences of faults).
    pub async fn start(seed: u64) -> Self {
        let seed = std::env::var("DYNAMO_FAULTS_SEED")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(seed, |extra| {
                seed ^ extra.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            });
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("local DynamoDB");
        let upstream = endpoint
            .split("://")
            .nth(1)
            .unwrap_or(&endpoint)
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let proxy = Self {
            url,
            upstream,
            state: Arc::new(Mutex::new(State {
                rng: fastrand::Rng::with_seed(seed),
                rate: 0.0,
                mix: Vec::new(),
                operations: None,
                outage: false,
                script: std::collections::VecDeque::new(),
                counts: BTreeMap::new(),
            })),
        };
        let accepting = proxy.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let proxy = accepting.clone();
                tokio::spawn(async move { proxy.serve(stream).await });
            }
        });
        proxy
    }

    /// The endpoint to give the SDK.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Faults on `rate` of the calls, each one of `mix` at random.
    pub fn faults(&self, rate: f64, mix: &[Fault]) {
        let mut state = self.state();
        state.rate = rate;
        state.mix = mix.to_vec();
    }

    /// Faults only on these operations (`PutItem`, `Query`, ...).
    pub fn only_for(&self, operations: &[&str]) {
        self.state().operations = Some(operations.iter().map(|o| (*o).to_owned()).collect());
    }

    /// DynamoDB down (every connection closed at once) or back.
    pub fn outage(&self, on: bool) {
        self.state().outage = on;
    }

    /// The next calls that may get faults get these, one each, in order.
    pub fn next(&self, faults: &[Fault]) {
        self.state().script.extend(faults.iter().copied());
    }

    /// How often each fault was played, and `forwarded` / `requests` /
    /// `outage` counts.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.state().counts.clone()
    }

    /// How often `what` happened.
    pub fn count(&self, what: &str) -> u64 {
        self.state().counts.get(what).copied().unwrap_or(0)
    }

    fn note(&self, what: &str) {
        *self.state().counts.entry(what.to_owned()).or_default() += 1;
    }

    /// The fault for one call of `operation`, if any.
    fn choose(&self, operation: &str) -> Option<Fault> {
        let mut state = self.state();
        if let Some(only) = &state.operations {
            if !only.iter().any(|o| o == operation) {
                return None;
            }
        }
        if let Some(fault) = state.script.pop_front() {
            return Some(fault);
        }
        if state.mix.is_empty() || state.rng.f64() >= state.rate {
            return None;
        }
        let kinds = state.mix.len();
        let at = state.rng.usize(..kinds);
        Some(state.mix[at])
    }

    async fn serve(&self, mut client: TcpStream) {
        if self.state().outage {
            self.note("outage");
            return;
        }
        loop {
            let Some(request) = read_message(&mut client, true).await else {
                return;
            };
            self.note("requests");
            if self.state().outage {
                self.note("outage");
                return;
            }
            let operation = header(&request.head, "x-amz-target")
                .and_then(|t| t.rsplit('.').next().map(str::to_owned))
                .unwrap_or_default();
            let fault = self.choose(&operation);
            if let Some(fault) = fault {
                self.note(fault.name());
            }
            let answer = match fault {
                Some(Fault::Throttle) => error_answer(
                    400,
                    "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                ),
                Some(Fault::ErrorBefore) => {
                    error_answer(500, "com.amazonaws.dynamodb.v20120810#InternalServerError")
                }
                Some(Fault::Hang) => {
                    // Held open until the client gives up on it.
                    let mut sink = [0u8; 1024];
                    while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
                    return;
                }
                Some(Fault::Delay(wait)) => {
                    tokio::time::sleep(wait).await;
                    self.forward(&request).await
                }
                Some(Fault::ErrorAfter) => {
                    let _ = self.forward(&request).await;
                    error_answer(500, "com.amazonaws.dynamodb.v20120810#InternalServerError")
                }
                Some(Fault::DropAfter) => {
                    let _ = self.forward(&request).await;
                    return;
                }
                None => self.forward(&request).await,
            };
            let Some(answer) = answer else {
                return;
            };
            if client.write_all(&answer).await.is_err() {
                return;
            }
        }
    }

    /// The server's answer to `request`, re-framed for a kept-alive
    /// connection; `None` if the server could not be reached.
    async fn forward(&self, request: &Message) -> Option<Vec<u8>> {
        let mut server = TcpStream::connect(&self.upstream).await.ok()?;
        let mut head = String::new();
        for line in request.head.split("\r\n").filter(|l| !l.is_empty()) {
            if !line.to_ascii_lowercase().starts_with("connection:") {
                head.push_str(line);
                head.push_str("\r\n");
            }
        }
        head.push_str("Connection: close\r\n\r\n");
        server.write_all(head.as_bytes()).await.ok()?;
        server.write_all(&request.body).await.ok()?;
        let answer = read_message(&mut server, false).await?;
        self.note("forwarded");
        let mut out = String::new();
        for line in answer.head.split("\r\n").filter(|l| !l.is_empty()) {
            let lower = line.to_ascii_lowercase();
            if !lower.starts_with("connection:") && !lower.starts_with("content-length:") {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", answer.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&answer.body);
        Some(bytes)
    }
}

/// One HTTP/1.1 message: its head (start line and headers) and body.
struct Message {
    head: String,
    body: Vec<u8>,
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Reads one message; a request's body is its `Content-Length`, an
/// answer's (the server closes the connection) the rest if it gives none.
async fn read_message(stream: &mut TcpStream, request: bool) -> Option<Message> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let mut body = buffer[end + 4..].to_vec();
    match header(&head, "content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
        Some(length) if length <= MAX_BODY => {
            while body.len() < length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(length);
        }
        Some(_) => return None,
        None if request => body.clear(),
        None => {
            while body.len() <= MAX_BODY {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
    }
    Some(Message { head, body })
}

fn header(head: &str, name: &str) -> Option<String> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// An error answer as DynamoDB gives it.
fn error_answer(status: u16, error_type: &str) -> Option<Vec<u8>> {
    let body = format!(r#"{{"__type":"{error_type}","message":"injected by the test proxy"}}"#);
    let reason = if status == 400 {
        "Bad Request"
    } else {
        "Internal Server Error"
    };
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\n\
             x-amzn-RequestId: proxy\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// The test's timeouts: short, so that a hung call costs a fraction of a
/// second; the functions' defaults are a few seconds.
pub fn test_timeouts() -> shared::config::AwsCallTimeouts {
    shared::config::AwsCallTimeouts {
        attempt: Duration::from_millis(400),
        call: Duration::from_millis(2_500),
    }
}

impl crate::TestEnv {
    /// A DynamoDB client as the functions build it (the call timeouts and
    /// retries of [`shared::config::AwsCallTimeouts`]), through `proxy`. Its
    /// retry quota is its own, so one test's outage does not use up
    /// another's retries.
    pub fn client_through(
        &self,
        proxy: &DynamoProxy,
        timeouts: shared::config::AwsCallTimeouts,
    ) -> aws_sdk_dynamodb::Client {
        let config = self
            .client
            .config()
            .to_builder()
            .endpoint_url(proxy.url())
            .timeout_config(timeouts.timeout_config())
            .retry_config(shared::config::AwsCallTimeouts::retry_config())
            .retry_partition(aws_sdk_dynamodb::config::retry::RetryPartition::new(
                format!("{}dynamodb", self.prefix),
            ))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }
}
