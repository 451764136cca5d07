//! Logs are JSON lines on stdout, which Lambda sends to CloudWatch Logs.
//!
//! Each line carries the fields of the spans it was written in: the Lambda
//! runtime's invocation span (with the request id) and the sync's `sync_run`
//! span (with the run id). The level comes from `RUST_LOG` (default `info`).
//! Nothing secret is ever a field: the marketplace token lives in a
//! [`Secret`](crate::secrets::Secret) and a header marked sensitive.
//!
//! The crates underneath (the Lambda runtime, the AWS SDK, the HTTP and TLS
//! stacks) log at most at `info`, whatever `RUST_LOG` says: below that they
//! write raw events (with their `authorization` header), requests and
//! answers (a Secrets Manager answer is a secret). `RUST_LOG=trace` makes
//! this crate verbose, never them.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The crates whose debug and trace output may carry a token or a secret.
pub const CAPPED_AT_INFO: [&str; 18] = [
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_config",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sdk_secretsmanager",
    "aws_sdk_dynamodb",
    "aws_smithy_http",
    "aws_runtime",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tower",
];

/// What may be logged at all: everything from this service's crates, at
/// most `info` from those in [`CAPPED_AT_INFO`].
pub fn ceiling() -> Targets {
    CAPPED_AT_INFO.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |targets, name| targets.with_target(*name, LevelFilter::INFO),
    )
}

/// Installs the JSON subscriber; a second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_filter(ceiling())
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_crates_underneath_log_at_info_at_most() {
        let ceiling = ceiling();
        for name in CAPPED_AT_INFO {
            let inner = format!("{name}::client");
            for target in [name, inner.as_str()] {
                assert!(ceiling.would_enable(target, &Level::INFO), "{target}");
                assert!(!ceiling.would_enable(target, &Level::DEBUG), "{target}");
                assert!(!ceiling.would_enable(target, &Level::TRACE), "{target}");
            }
        }
        assert!(ceiling.would_enable("shared::sync", &Level::TRACE));
        assert!(ceiling.would_enable("scheduled_rating_sync", &Level::TRACE));
    }
}
