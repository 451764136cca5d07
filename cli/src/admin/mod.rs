//! The admin API over HTTP: `status`, `sync`, `failed`, `retry`
//! (`commands.rs`), through one client ([`AdminClient`]) that sends the
//! bearer token, bounds what it reads, and turns every error answer into a
//! line a person can act on ([`api_error`]).

mod commands;

pub use commands::{failed, retry, status, sync, FailedArgs, RetryArgs, SyncArgs};

use std::time::Duration;

use clap::Args;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use shared::config::Secret;

use crate::output::{clean, CliError};
use crate::target::Target;
use crate::token;

/// The most bytes read from one answer: a page of 100 failures is far
/// less.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// A sync runs inside the request, up to the function's 29 s.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Connecting gives up after this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the API is and how to prove who calls, for every admin
/// subcommand.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The admin API's base URL (the stack output AdminApiUrl).
    #[arg(long, env = "ATOM_RATING_SYNC_API_URL")]
    pub api: Option<String>,
    /// An admin token to send; without it the tool mints one for the call
    /// from the admin secret (ADMIN_JWT_SECRET_SECRET_ARN or ADMIN_JWT_SECRET).
    #[arg(long, env = "ATOM_RATING_SYNC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Who a minted token names (sub), for the audit trail; default $USER.
    #[arg(long, env = "ATOM_RATING_SYNC_SUB")]
    pub sub: Option<String>,
}

/// An HTTP client of the admin API with its token.
pub struct AdminClient {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Secret,
}

impl AdminClient {
    /// The client `args` describe, with `stack`'s outputs where given: the
    /// URL, then the token given or one minted for the call.
    pub async fn new(args: &ApiArgs, stack: Option<&str>) -> Result<Self, CliError> {
        let target = Target::load(stack).await?;
        let base = target.api_url(args.api.as_deref())?;
        let token = match args.token.as_deref().map(str::trim) {
            Some(token) if !token.is_empty() => Secret::new(token),
            _ if target.secret_is_configured() => {
                let subject = args
                    .sub
                    .clone()
                    .or_else(|| std::env::var("USER").ok())
                    .filter(|sub| !sub.trim().is_empty())
                    .unwrap_or_else(|| "atom-rating-sync".into());
                token::mint_for_call(&target, &subject).await?
            }
            _ => {
                return Err(CliError::Input(
                    "no admin token: pass --token (or set ATOM_RATING_SYNC_TOKEN), or --stack \
                     NAME, or set ADMIN_JWT_SECRET_SECRET_ARN (the stack output \
                     AdminJwtSecretArn) or ADMIN_JWT_SECRET so that the tool mints one"
                        .into(),
                ))
            }
        };
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CliError::Unreachable(format!("HTTP client: {e}")))?;
        Ok(Self { http, base, token })
    }

    /// `method` on the route of `segments` under the base URL, with
    /// `query` and a JSON `body`; the answer's JSON when it is a 200.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| CliError::Input("the API URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, format!("Bearer {}", self.token.expose()));
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = request.send().await.map_err(|e| {
            CliError::Unreachable(format!(
                "could not reach the admin API at {}: {}",
                self.base,
                error_chain(&e)
            ))
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(|value| clean(value, 40));
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            CliError::Unreachable(format!("reading the API's answer: {}", error_chain(&e)))
        })? {
            if bytes.len().saturating_add(chunk.len()) > MAX_ANSWER_BYTES {
                return Err(CliError::Unreachable(format!(
                    "the API's answer is longer than {MAX_ANSWER_BYTES} bytes; not read"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status == StatusCode::OK {
            return json.filter(Value::is_object).ok_or_else(|| {
                CliError::Unreachable(format!(
                    "the API answered 200 with no JSON object ({} bytes): is {} the admin API?",
                    bytes.len(),
                    self.base
                ))
            });
        }
        Err(api_error(
            status.as_u16(),
            json.as_ref(),
            retry_after.as_deref(),
            &self.base,
        ))
    }
}

/// An error answer as one line: the status, the code, the API's message,
/// and what to do.
pub fn api_error(
    status: u16,
    body: Option<&Value>,
    retry_after: Option<&str>,
    base: &reqwest::Url,
) -> CliError {
    let error = body.and_then(|body| body.get("error"));
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(|s| clean(s, 300));
    // The functions' envelope, else API Gateway's `{"message": ...}`.
    let code = text(error.and_then(|e| e.get("code")));
    let gateway = code.is_none();
    let message = text(error.and_then(|e| e.get("message")))
        .or_else(|| text(body.and_then(|b| b.get("message"))))
        .unwrap_or_else(|| "(no message)".into());
    let hint = match (status, code.as_deref()) {
        (401, _) => "; mint a new token (atom-rating-sync token) signed with this stack's admin secret (ADMIN_JWT_SECRET_SECRET_ARN), or pass a valid --token".to_owned(),
        (403, None) => "; the authorizer refused the token: expired, signed with another secret, for another issuer or audience, living longer than ADMIN_JWT_MAX_TTL_SECONDS, or not role super_admin (an agent must be AUTONOMOUS)".to_owned(),
        (403, Some(_)) => "; the admin API needs role super_admin (an agent must be AUTONOMOUS)".to_owned(),
        (404, None) => format!("; no such route under {base}: is --api the admin API's base URL (stack output AdminApiUrl)?"),
        (404, Some(_)) => "; `atom-rating-sync failed` lists the failed uploads".to_owned(),
        (409, _) => "; try again once the other change is done".to_owned(),
        (429, _) => match retry_after {
            Some(after) => format!("; the API is throttling: try again in {after} s"),
            None => "; the API is throttling: try again shortly".to_owned(),
        },
        (503, Some("RATING_SYNC_IN_PROGRESS")) => "; a sync is running now; `atom-rating-sync status` shows the lease, try again when it ends".to_owned(),
        (503, _) => match retry_after {
            Some(after) => format!("; the API is unavailable: try again in {after} s"),
            None => "; the API is unavailable: try again shortly".to_owned(),
        },
        (500..=599, _) => "; the API failed: the error id finds the log line (docs/operating.md)".to_owned(),
        _ => String::new(),
    };
    CliError::Api {
        status,
        code: code.unwrap_or_else(|| {
            if gateway {
                "API Gateway".into()
            } else {
                String::new()
            }
        }),
        message,
        hint,
    }
}

/// An error with its causes, which reqwest keeps apart.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    clean(&text, 300)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::{Read, Write};

    /// A server on loopback answering one request with `response` (the
    /// head, then `body_bytes` bytes of `x` when given), and a client of it.
    fn one_answer(head: &'static str, body_bytes: usize) -> AdminClient {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&vec![b'x'; body_bytes]);
        });
        AdminClient {
            http: reqwest::Client::new(),
            base: reqwest::Url::parse(&url).unwrap(),
            token: Secret::new("a-token"),
        }
    }

    async fn status_of(client: &AdminClient) -> Result<Value, CliError> {
        client.call(Method::GET, &["api", "x"], &[], None).await
    }

    #[tokio::test]
    async fn a_throttled_answer_says_when_to_try_again() {
        let client = one_answer(
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-type: application/json\r\n\
             connection: close\r\n\r\n{\"message\":\"Too Many Requests\"}",
            0,
        );
        let error = status_of(&client).await.unwrap_err();
        assert_eq!(error.exit_code(), crate::output::EXIT_TRY_LATER);
        assert_eq!(
            error.to_string(),
            "429 API Gateway: Too Many Requests; the API is throttling: try again in 7 s"
        );
    }

    #[tokio::test]
    async fn an_answer_longer_than_the_bound_is_not_read() {
        let client = one_answer(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n",
            MAX_ANSWER_BYTES + 1,
        );
        let error = status_of(&client).await.unwrap_err();
        assert_eq!(error.exit_code(), crate::output::EXIT_API_FAILED);
        assert!(error.to_string().contains("longer than"), "{error}");
    }

    #[tokio::test]
    async fn a_200_that_is_not_json_is_an_error_naming_the_url() {
        let client = one_answer(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 5\r\n\r\n",
            5,
        );
        let error = status_of(&client).await.unwrap_err();
        assert!(
            error.to_string().contains("is http://127.0.0.1:"),
            "{error}"
        );
        assert_eq!(error.exit_code(), crate::output::EXIT_API_FAILED);
    }

    fn base() -> reqwest::Url {
        reqwest::Url::parse("https://api.example").unwrap()
    }

    #[test]
    fn each_error_answer_says_what_to_do() {
        let envelope = |code: &str, message: &str| json!({"success": false, "error": {"code": code, "message": message}});
        let shown = |status, body: Value, after: Option<&str>| {
            api_error(status, Some(&body), after, &base()).to_string()
        };
        let expired = shown(401, envelope("UNAUTHORIZED", "the token has expired"), None);
        assert!(expired.starts_with("401 UNAUTHORIZED: the token has expired; mint a new token"));
        let forbidden = shown(403, json!({"message": "Forbidden"}), None);
        assert!(forbidden.contains("authorizer refused"), "{forbidden}");
        let throttled = shown(429, json!({"message": "Too Many Requests"}), Some("7"));
        assert!(throttled.contains("try again in 7 s"), "{throttled}");
        let busy = shown(
            503,
            envelope("RATING_SYNC_IN_PROGRESS", "a run holds the lease"),
            None,
        );
        assert!(busy.contains("a sync is running now"), "{busy}");
        let route = shown(404, json!({"message": "Not Found"}), None);
        assert!(route.contains("AdminApiUrl"), "{route}");
        let hostile = shown(500, envelope("X\u{1b}[2J", "boom\nnext"), None);
        assert!(
            !hostile.contains('\u{1b}') && !hostile.contains('\n'),
            "{hostile}"
        );
        assert_eq!(api_error(502, None, None, &base()).exit_code(), 6);
    }
}
