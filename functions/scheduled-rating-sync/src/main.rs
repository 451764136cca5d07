//! `scheduled-rating-sync`: EventBridge invokes this on a schedule
//! (`rate(30 minutes)` by default); each invocation runs one sync and returns
//! its report.
//!
//! Thin on purpose: [`shared::triggers::schedule::run`] builds the DynamoDB
//! and HTTP clients and the engine once per cold start, and runs one sync
//! per scheduled event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::triggers::schedule::run().await
}
