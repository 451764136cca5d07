//! `sync-once`: one sync run in a process of its own, configured from the
//! environment exactly as the scheduled function is, for the crash tests
//! (which kill it at random points). Prints the report as JSON.

use std::time::{Duration, SystemTime};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::logging::init();
    let config = shared::config::Config::from_env()?;
    let (dynamodb, requests) = shared::counted_dynamodb_client().await;
    let engine = shared::sync_engine(&config, dynamodb)?.counting_requests_with(requests);
    let report = engine
        .run(SystemTime::now() + Duration::from_secs(60))
        .await;
    shared::metrics::emit_run_metrics(&report, "sync-once");
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
