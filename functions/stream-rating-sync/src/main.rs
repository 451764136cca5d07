//! `stream-rating-sync`: the fast path. The ratings table's DynamoDB stream
//! invokes this through an event source mapping with a small batch of
//! records; it uploads the ratings that are pending, through the scheduled
//! run's per-rating path, and answers the records to deliver again
//! (`ReportBatchItemFailures`).
//!
//! Thin on purpose: [`shared::triggers::stream::run`] builds the DynamoDB
//! and HTTP clients and the engine once per cold start, and hands every
//! batch to the engine.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::triggers::stream::run().await
}
