//! Logs are JSON lines on stdout, which Lambda sends to CloudWatch Logs.
//!
//! Each line carries the fields of the spans it was written in: the Lambda
//! runtime's invocation span (with the request id) and the sync's `sync_run`
//! span (with the run id). The level comes from `RUST_LOG` (default `info`).
//! Nothing secret is ever a field: the marketplace token lives in a
//! [`Secret`](crate::config::Secret) and a header marked sensitive.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; a second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .try_init();
}
