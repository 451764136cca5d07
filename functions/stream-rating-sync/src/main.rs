//! `stream-rating-sync`: the fast path. The ratings table's DynamoDB stream
//! invokes this through an event source mapping with a small batch of
//! records; it uploads the ratings that are pending, through the scheduled
//! run's per-rating path, and answers the records to deliver again
//! (`ReportBatchItemFailures`).
//!
//! The DynamoDB and HTTP clients are built once per cold start, here in
//! `main`, and borrowed by every invocation.

use std::time::SystemTime;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::config::{Config, FromEnvironment};
use shared::stream::{BatchResponse, StreamEvent};
use shared::sync::SyncEngine;

const FUNCTION: &str = "stream-rating-sync";

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

/// One batch of records, bounded by this invocation's deadline.
async fn handle(
    engine: &SyncEngine,
    event: LambdaEvent<StreamEvent>,
) -> Result<BatchResponse, Error> {
    let deadline = shared::sync::run_deadline(event.context.deadline(), SystemTime::now());
    let (response, report) = shared::stream::handle(engine, &event.payload, deadline).await;
    shared::metrics::emit_fast_path_metrics(&report, FUNCTION);
    Ok(response)
}
