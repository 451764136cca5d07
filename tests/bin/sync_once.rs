//! `sync-once`: one sync run in a process of its own, configured from the
//! environment exactly as the scheduled function is, for the crash tests
//! (which kill it at random points) and the secrets tests (which read its
//! output). Prints the report as JSON.

use std::time::{Duration, SystemTime};

use shared::config::{Config, FromEnvironment};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::logging::init();
    let aws = shared::triggers::clients::aws_config().await?;
    let config = Config::load(&aws).await?;
    let (dynamodb, requests) = shared::triggers::clients::counted_dynamodb_client_from(&aws);
    let engine =
        shared::triggers::clients::sync_engine(&config, dynamodb)?.counting_requests_with(requests);
    let report = engine
        .run(SystemTime::now() + Duration::from_secs(60))
        .await;
    shared::metrics::emit_run_metrics(&report, "sync-once");
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
