//! Logs are JSON lines on stdout, which Lambda sends to CloudWatch Logs.
//!
//! Each line carries the fields of the spans it was written in: the Lambda
//! runtime's invocation span (with the request id) and the sync's `sync_run`
//! span (with the run id). The level comes from `RUST_LOG` (default `info`).
//! Nothing secret is ever a field: the marketplace token lives in a
//! [`Secret`](crate::secrets::Secret) and a header marked sensitive.
//!
//! Only this service's own crates may log below `info`, whatever `RUST_LOG`
//! says: the crates underneath (the Lambda runtime, the AWS SDK, the HTTP
//! and TLS stacks) write raw events (with their `authorization` header),
//! requests and answers (a Secrets Manager answer is a secret) at `debug`
//! and `trace`. `RUST_LOG=trace` makes this service verbose, never them.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// This service's crates: the only ones that may log at `debug` and
/// `trace`.
pub const OWN_CRATES: [&str; 10] = [
    "shared",
    "scheduled_rating_sync",
    "admin_sync_ratings",
    "admin_list_failed_uploads",
    "admin_retry_failed_upload",
    "admin_sync_status",
    "admin_authorizer",
    "local_stack",
    "sync_once",
    "admin_once",
];

/// What may be logged at all: everything from this service's crates, at
/// most `info` from any other.
pub fn ceiling() -> Targets {
    OWN_CRATES.iter().fold(
        Targets::new().with_default(LevelFilter::INFO),
        |targets, name| targets.with_target(*name, LevelFilter::TRACE),
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
    fn only_this_services_crates_log_below_info() {
        let ceiling = ceiling();
        for target in [
            "lambda_runtime",
            "lambda_runtime::layers::api_response",
            "lambda_http",
            "aws_smithy_runtime::client::orchestrator",
            "aws_sdk_secretsmanager",
            "aws_sdk_sts",
            "aws_config::default_provider",
            "hyper_util::client",
            "reqwest::connect",
            "rustls",
            "some_crate_added_later",
        ] {
            assert!(ceiling.would_enable(target, &Level::INFO), "{target}");
            assert!(!ceiling.would_enable(target, &Level::DEBUG), "{target}");
            assert!(!ceiling.would_enable(target, &Level::TRACE), "{target}");
        }
        for target in ["shared::sync", "scheduled_rating_sync", "admin_sync_status"] {
            assert!(ceiling.would_enable(target, &Level::TRACE), "{target}");
        }
    }
}
