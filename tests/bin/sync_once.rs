//! `sync-once`: one sync run in a process of its own, configured from the
//! environment exactly as the scheduled function is, for the crash tests
//! (which kill it at random points). Prints the report as JSON.

use std::time::{Duration, SystemTime};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::logging::init();
    let config = shared::config::Config::from_env()?;
    let engine = shared::sync_engine(&config, shared::dynamodb_client().await)?;
    let report = engine
        .run(SystemTime::now() + Duration::from_secs(60))
        .await;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
