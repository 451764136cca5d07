//! `lambda-function NAME`: the function NAME as it is deployed, the same
//! one-call `main` (logs and traces, its clients built once, the Lambda
//! runtime serving its events), for the tests that point it at a Runtime
//! API of their own (`tests/support/runtime_api.rs`) and read what it
//! writes and sends: `tests/log_secrets.rs`, `tests/tracing.rs`.

use shared::triggers::http::{admin_sync_ratings::SyncRatings, admin_sync_status::SyncStatus};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    match std::env::args().nth(1).as_deref() {
        Some("scheduled-rating-sync") => shared::triggers::schedule::run().await,
        Some("stream-rating-sync") => shared::triggers::stream::run().await,
        Some("admin-sync-ratings") => shared::triggers::http::run::<SyncRatings>().await,
        Some("admin-sync-status") => shared::triggers::http::run::<SyncStatus>().await,
        other => Err(format!("lambda-function: no function {other:?}").into()),
    }
}
