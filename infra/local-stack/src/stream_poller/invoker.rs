//! How the poller calls the function: the [`Invoker`] trait, the Runtime API
//! of `cargo lambda watch` ([`RuntimeApiInvoker`]) and closures
//! ([`invoker_fn`], for tests).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

/// Why an invocation did not answer.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum InvokeError {
    /// The function ran and failed (returned an error, panicked, timed out).
    /// Lambda counts it against the retries, and bisects on it.
    #[error("function error {error_type}: {message}")]
    Function { error_type: String, message: String },
    /// The function could not be reached: Lambda retries those until the
    /// records are too old, without counting them as retries.
    #[error("the function could not be invoked: {0}")]
    Unavailable(String),
}

impl InvokeError {
    /// A function error with this message.
    pub fn function(message: impl Into<String>) -> Self {
        Self::Function {
            error_type: "Error".into(),
            message: message.into(),
        }
    }
}

/// Calls the function once with an event and returns its answer.
pub trait Invoker: Send + Sync + 'static {
    fn invoke(&self, event: Value) -> impl Future<Output = Result<Value, InvokeError>> + Send;
}

impl<I: Invoker> Invoker for Arc<I> {
    fn invoke(&self, event: Value) -> impl Future<Output = Result<Value, InvokeError>> + Send {
        I::invoke(self, event)
    }
}

/// An [`Invoker`] made of a closure.
pub struct FnInvoker<F>(F);

/// Wraps `f` as an [`Invoker`].
pub fn invoker_fn<F, Fut>(f: F) -> FnInvoker<F>
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, InvokeError>> + Send,
{
    FnInvoker(f)
}

impl<F, Fut> Invoker for FnInvoker<F>
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, InvokeError>> + Send,
{
    fn invoke(&self, event: Value) -> impl Future<Output = Result<Value, InvokeError>> + Send {
        (self.0)(event)
    }
}

/// The path `cargo lambda watch` (and Lambda's Invoke API) serves a
/// function's synchronous invocations at.
pub fn invocations_path(function: &str) -> String {
    format!("/2015-03-31/functions/{function}/invocations")
}

/// Invokes through the Runtime API as `cargo lambda watch` serves it:
/// `POST http://HOST:PORT/2015-03-31/functions/NAME/invocations`.
///
/// `cargo lambda watch` (1.9) answers a function error with status 500 and
/// `{"errorType", "errorMessage"}`, and an unknown function with 404; Lambda's
/// own Invoke API answers 200 with an `X-Amz-Function-Error` header. Both
/// count as function errors; any other failure to get an answer means the
/// function is unavailable.
#[derive(Debug, Clone)]
pub struct RuntimeApiInvoker {
    client: reqwest::Client,
    url: String,
}

impl RuntimeApiInvoker {
    /// `url` is either the full invocations URL or just `http://HOST:PORT`,
    /// in which case `function`'s invocations path is appended.
    pub fn new(url: &str, function: &str) -> Result<Self, InvokeError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| InvokeError::Unavailable(format!("invoke URL {url:?}: {e}")))?;
        let url = if parsed.path().trim_matches('/').is_empty() {
            format!(
                "{}{}",
                url.trim_end_matches('/'),
                invocations_path(function)
            )
        } else {
            url.to_owned()
        };
        // Lambda's longest timeout; cargo lambda also compiles the function on
        // the first invocation, which takes minutes on a cold target dir.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(900))
            .build()
            .map_err(|e| InvokeError::Unavailable(e.to_string()))?;
        Ok(Self { client, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Invoker for RuntimeApiInvoker {
    async fn invoke(&self, event: Value) -> Result<Value, InvokeError> {
        let response = self
            .client
            .post(&self.url)
            .json(&event)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    InvokeError::Function {
                        error_type: "Sandbox.Timedout".into(),
                        message: e.to_string(),
                    }
                } else {
                    InvokeError::Unavailable(e.to_string())
                }
            })?;
        let status = response.status();
        let function_error = response
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|e| InvokeError::Unavailable(e.to_string()))?;
        classify(status.as_u16(), function_error.as_deref(), &body)
    }
}

/// The answer of one invocation, from its status, its
/// `X-Amz-Function-Error` header and its body.
fn classify(status: u16, function_error: Option<&str>, body: &[u8]) -> Result<Value, InvokeError> {
    let text = String::from_utf8_lossy(body);
    let json: Option<Value> = if text.trim().is_empty() {
        Some(Value::Null)
    } else {
        serde_json::from_slice(body).ok()
    };
    let error_field = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let reported = error_field("errorType");
    if function_error.is_some() || (!(200..300).contains(&status) && reported.is_some()) {
        return Err(InvokeError::Function {
            error_type: reported
                .or_else(|| function_error.map(str::to_owned))
                .unwrap_or_else(|| "Unhandled".into()),
            message: error_field("errorMessage")
                .unwrap_or_else(|| text.chars().take(500).collect()),
        });
    }
    if !(200..300).contains(&status) {
        return Err(InvokeError::Unavailable(format!(
            "status {status}: {}",
            text.chars().take(500).collect::<String>()
        )));
    }
    // A function may answer something that is not JSON; the batch logic
    // decides what such an answer means.
    Ok(json.unwrap_or_else(|| Value::String(text.into_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cargo_lambdas_answers_are_told_apart() {
        // Verified against `cargo lambda watch` 1.9.2 with a lambda_runtime
        // function: success, a returned error, a panic, an unknown function.
        assert_eq!(
            classify(200, None, br#"{"batchItemFailures":[]}"#),
            Ok(json!({"batchItemFailures": []}))
        );
        assert_eq!(classify(200, None, b"null"), Ok(Value::Null));
        assert_eq!(classify(200, None, b""), Ok(Value::Null));
        assert_eq!(
            classify(
                500,
                None,
                br#"{"errorType":"&alloc::boxed::Box<dyn core::error::Error>","errorMessage":"boom"}"#
            ),
            Err(InvokeError::Function {
                error_type: "&alloc::boxed::Box<dyn core::error::Error>".into(),
                message: "boom".into()
            })
        );
        assert!(matches!(
            classify(404, None, br#"{"detail":"that function doesn't exist","title":"Missing function"}"#),
            Err(InvokeError::Unavailable(m)) if m.contains("404")
        ));
        // Lambda's Invoke API: 200 and the header.
        assert_eq!(
            classify(
                200,
                Some("Unhandled"),
                br#"{"errorType":"Runtime.ExitError","errorMessage":"exited"}"#
            ),
            Err(InvokeError::Function {
                error_type: "Runtime.ExitError".into(),
                message: "exited".into()
            })
        );
        assert_eq!(classify(200, None, b"plain"), Ok(json!("plain")));
    }

    #[test]
    fn a_bare_address_gets_the_functions_invocations_path() {
        let bare = RuntimeApiInvoker::new("http://127.0.0.1:9000", "stream-rating-sync").unwrap();
        assert_eq!(
            bare.url(),
            "http://127.0.0.1:9000/2015-03-31/functions/stream-rating-sync/invocations"
        );
        let full = RuntimeApiInvoker::new(
            "http://127.0.0.1:9000/2015-03-31/functions/other/invocations",
            "stream-rating-sync",
        )
        .unwrap();
        assert!(full.url().ends_with("/functions/other/invocations"));
        assert!(RuntimeApiInvoker::new("not a url", "f").is_err());
    }

    #[tokio::test]
    async fn an_address_nobody_listens_on_is_unavailable_not_a_function_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let invoker =
            RuntimeApiInvoker::new(&format!("http://127.0.0.1:{port}"), "stream-rating-sync")
                .unwrap();
        assert!(matches!(
            invoker.invoke(json!({"Records": []})).await,
            Err(InvokeError::Unavailable(_))
        ));
    }
}
