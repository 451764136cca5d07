//! A Lambda Runtime API on loopback, for a function run as deployed
//! (`lambda-function NAME`, `tests/bin/lambda_function.rs`) in a process of
//! its own: it hands out the events given, in order, each with its request
//! id, deadline and trace header as Lambda does, passes on what the
//! function posts, and never answers the `next` after the last (the
//! function waits there until the test kills it).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// One event for the function.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Its `lambda-runtime-aws-request-id`.
    pub request_id: String,
    /// The event.
    pub payload: Vec<u8>,
    /// Its `lambda-runtime-trace-id`: `Root=…;Parent=…;Sampled=…`.
    pub trace: String,
}

impl Invocation {
    /// `payload` under a new request id, with `trace` as its trace header.
    pub fn new(payload: &serde_json::Value, trace: &str) -> Self {
        Self {
            request_id: uuid::Uuid::new_v4().to_string(),
            payload: payload.to_string().into_bytes(),
            trace: trace.to_owned(),
        }
    }
}

/// A request the function sent to the Runtime API.
#[derive(Debug)]
pub struct Posted {
    /// `/2018-06-01/runtime/invocation/<id>/response` (or `/error`, `/init/error`).
    pub path: String,
    /// What it posted.
    pub body: Vec<u8>,
}

/// One HTTP/1.1 request from `reader`; `None` once the peer closes.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut chunked = false;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
            "content-length" => length = value.trim().parse().ok()?,
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
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
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).await.ok()?;
    }
    Some((method, path, body))
}

/// The answer to a `next`: the invocation's event with Lambda's headers.
fn event_answer(function: &str, invocation: &Invocation) -> Vec<u8> {
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
    let head = format!(
        "HTTP/1.1 200 OK\r\n\
         content-type: application/json\r\n\
         content-length: {}\r\n\
         lambda-runtime-aws-request-id: {}\r\n\
         lambda-runtime-deadline-ms: {deadline_ms}\r\n\
         lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:{function}\r\n\
         lambda-runtime-trace-id: {}\r\n\
         \r\n",
        invocation.payload.len(),
        invocation.request_id,
        invocation.trace,
    );
    [head.into_bytes(), invocation.payload.clone()].concat()
}

/// Serves one connection: each `next` the next invocation, none once they
/// are all out; every POST is passed on and answered 202.
async fn serve(
    stream: TcpStream,
    function: Arc<String>,
    queue: Arc<Mutex<std::vec::IntoIter<Invocation>>>,
    posted: mpsc::UnboundedSender<Posted>,
) {
    stream.set_nodelay(true).ok();
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader).await {
        let answer = if method == "GET" && path == NEXT {
            let Some(invocation) = queue.lock().await.next() else {
                // The function waits for its next event until it is killed.
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest).await;
                return;
            };
            event_answer(&function, &invocation)
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

/// A Runtime API for `function` handing out `invocations` in order: its
/// address and what the function posts to it.
pub async fn runtime_api(
    function: &str,
    invocations: Vec<Invocation>,
) -> (String, mpsc::UnboundedReceiver<Posted>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (sender, receiver) = mpsc::unbounded_channel();
    let function = Arc::new(function.to_owned());
    let queue = Arc::new(Mutex::new(invocations.into_iter()));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(
                stream,
                function.clone(),
                queue.clone(),
                sender.clone(),
            ));
        }
    });
    (address, receiver)
}

/// `program function` (a test's `env!("CARGO_BIN_EXE_lambda-function")`)
/// against the Runtime API at `address`, as Lambda starts it (its reserved
/// variables), output piped, killed if dropped; the caller adds the
/// function's own settings.
pub fn function_process(program: &str, function: &str, address: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .arg(function)
        .env("AWS_LAMBDA_RUNTIME_API", address)
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/12/01/[$LATEST]0123456789abcdef",
        )
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What `child` posted for its one invocation (its answer, 60 s at most),
/// and everything it wrote, once killed; a function that ended or did not
/// answer fails the test with its output.
pub async fn answer_of(
    mut child: tokio::process::Child,
    posted: &mut mpsc::UnboundedReceiver<Posted>,
) -> (Posted, String) {
    let outcome = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::select! {
            answer = posted.recv() => Ok(answer.expect("the Runtime API runs")),
            exit = child.wait() => Err(exit),
        }
    })
    .await;
    let output = output_of(child).await;
    match outcome {
        Ok(Ok(answer)) => (answer, output),
        Ok(Err(exit)) => panic!("the function ended before answering ({exit:?}):\n{output}"),
        Err(_) => panic!("the function did not answer within 60 s:\n{output}"),
    }
}

/// Everything `child` wrote, stdout and stderr, once it has ended (after
/// the caller killed it).
async fn output_of(mut child: tokio::process::Child) -> String {
    let drain = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes).await;
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    child.start_kill().ok();
    child.wait().await.expect("the function ends");
    format!(
        "{}{}",
        String::from_utf8_lossy(&stdout.await.unwrap()),
        String::from_utf8_lossy(&stderr.await.unwrap())
    )
}

/// An API Gateway HTTP API (payload 2.0) event: `method` on `route`, with
/// `authorization` and no body, as API Gateway hands it to the function.
pub fn http_api_event(method: &str, route: &str, authorization: &str) -> serde_json::Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": route,
        "rawQueryString": "",
        "headers": {
            "authorization": authorization,
            "content-length": "0",
            "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "user-agent": "integration-test",
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
                "method": method,
                "path": route,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "integration-test",
            },
            "requestId": "Ab1Cd2Ef3Gh4=",
            "routeKey": format!("{method} {route}"),
            "stage": "$default",
            "time": "01/Dec/2026:12:00:00 +0000",
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": false,
    })
}
