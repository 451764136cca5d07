//! The schedule trigger, the `scheduled-rating-sync` function: EventBridge
//! invokes it on a schedule (`rate(30 minutes)` by default) with a scheduled
//! event; each invocation is one run of the engine
//! ([`SyncEngine::run`]), bounded by the invocation's deadline, whose
//! metrics are written and whose report is the answer.
//!
//! The event's content does not matter: every schedule tick is one run.

use std::time::SystemTime;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

use super::clients::{aws_config, counted_publishing_sync_engine};
use crate::config::{Config, FromEnvironment};
use crate::report::SyncReport;
use crate::sync::SyncEngine;

/// The function's name in its metrics.
const FUNCTION: &str = "scheduled-rating-sync";

/// The whole life of the scheduled function: JSON logs, the configuration
/// and the engine built once per cold start (a DynamoDB client that counts
/// its requests, the marketplace client, the event sink), then every
/// scheduled event through one run.
pub async fn run() -> Result<(), Error> {
    crate::traces::init();
    let aws = aws_config().await?;
    let config = Config::load(&aws).await?;
    let engine = counted_publishing_sync_engine(&aws, &config)?;
    lambda_runtime::run(service_fn(|event| invoke(&engine, event))).await
}

/// One schedule tick: one run, its metrics, its report.
async fn invoke(
    engine: &SyncEngine,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<SyncReport, Error> {
    tracing::debug!(source = ?event.payload.source, "scheduled sync triggered");
    let deadline = crate::sync::run_deadline(event.context.deadline(), SystemTime::now());
    let trace = event.context.xray_trace_id.as_deref();
    let report = crate::traces::invocation(trace, FUNCTION, "timer", engine.run(deadline)).await;
    crate::metrics::emit_run_metrics(&report, FUNCTION);
    Ok(report)
}
