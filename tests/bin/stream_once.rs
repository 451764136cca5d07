//! `stream-once`: one fast-path batch in a process of its own, configured
//! from the environment exactly as `stream-rating-sync` is, for the crash
//! test (which kills it at random points). Reads the stream event as JSON
//! on stdin; prints the answer (`batchItemFailures`) as JSON.

use std::io::Read;
use std::time::{Duration, SystemTime};

use shared::config::{Config, FromEnvironment};
use shared::triggers::stream::StreamEvent;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::logging::init();
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let event: StreamEvent = serde_json::from_str(&input)?;
    let aws = shared::triggers::clients::aws_config().await?;
    let config = Config::load(&aws).await?;
    let engine = shared::triggers::clients::sync_engine(
        &config,
        shared::triggers::clients::dynamodb_client().await?,
    )?;
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let (response, _) = shared::triggers::stream::handle(&engine, &event, deadline).await;
    println!("{}", serde_json::to_string(&response)?);
    Ok(())
}
