//! `scheduled-rating-sync`: EventBridge invokes this on a schedule
//! (`rate(30 minutes)` by default); each invocation runs one sync and returns
//! its report.
//!
//! The DynamoDB and HTTP clients are built once per cold start, here in
//! `main`, and borrowed by every invocation.

use std::time::SystemTime;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::config::{Config, FromEnvironment};
use shared::report::SyncReport;
use shared::sync::SyncEngine;

const FUNCTION: &str = "scheduled-rating-sync";

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let aws = shared::aws_config().await?;
    let config = Config::load(&aws).await?;
    let (dynamodb, requests) = shared::counted_dynamodb_client_from(&aws);
    let engine =
        shared::publishing_sync_engine(&aws, &config, dynamodb)?.counting_requests_with(requests);
    lambda_runtime::run(service_fn(|event| handle(&engine, event))).await
}

/// The event's content does not matter: every schedule tick is one run,
/// bounded by this invocation's deadline.
async fn handle(
    engine: &SyncEngine,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<SyncReport, Error> {
    tracing::debug!(source = ?event.payload.source, "scheduled sync triggered");
    let deadline = shared::sync::run_deadline(event.context.deadline(), SystemTime::now());
    let report = engine.run(deadline).await;
    shared::metrics::emit_run_metrics(&report, FUNCTION);
    Ok(report)
}
