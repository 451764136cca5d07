//! What every trigger's `run` builds once per cold start, before its first
//! event: the AWS configuration with the call timeouts ([`aws_config()`]),
//! a DynamoDB client that counts its requests
//! ([`counted_dynamodb_client_from`]), and the sync engine over them
//! ([`publishing_sync_engine`]; [`sync_engine`] for tests and tools).

use crate::config::{self, Config};
use crate::events;
use crate::marketplace::{MarketplaceClient, MarketplaceError};
use crate::store::requests::RequestCounter;
use crate::store::Store;
use crate::sync::SyncEngine;

/// The AWS configuration of a function, from the standard chain (region,
/// credentials, and endpoints such as `AWS_ENDPOINT_URL_DYNAMODB`), with
/// the bounds on every call of [`config::AwsCallTimeouts`] (read from the
/// environment: a value set but unusable is an error that names it).
pub async fn aws_config() -> Result<aws_config::SdkConfig, config::ConfigError> {
    let timeouts = config::AwsCallTimeouts::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(timeouts.apply(&aws))
}

/// A DynamoDB client from the standard AWS configuration chain. Locally,
/// `AWS_ENDPOINT_URL_DYNAMODB` points it at the DynamoDB server on loopback.
pub async fn dynamodb_client() -> Result<aws_sdk_dynamodb::Client, config::ConfigError> {
    Ok(counted_dynamodb_client().await?.0)
}

/// The same, counting the requests it sends.
pub async fn counted_dynamodb_client(
) -> Result<(aws_sdk_dynamodb::Client, RequestCounter), config::ConfigError> {
    Ok(counted_dynamodb_client_from(&aws_config().await?))
}

/// A DynamoDB client counting its requests, from a configuration already
/// loaded.
pub fn counted_dynamodb_client_from(
    aws: &aws_config::SdkConfig,
) -> (aws_sdk_dynamodb::Client, RequestCounter) {
    let counter = RequestCounter::default();
    let config = aws_sdk_dynamodb::config::Builder::from(aws)
        .interceptor(counter.clone())
        .interceptor(crate::traces::AwsCallSpans)
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), counter)
}

/// The engine as a function builds it once per cold start, its events
/// going to the bus the configuration names (none: no events).
pub fn publishing_sync_engine(
    aws: &aws_config::SdkConfig,
    config: &Config,
    dynamodb: aws_sdk_dynamodb::Client,
) -> Result<SyncEngine, MarketplaceError> {
    let events = events::event_sink_from(aws, config.event_bus.clone());
    Ok(sync_engine(config, dynamodb)?.publishing_to(events))
}

/// The engine of the two triggers that only sync (the schedule and the
/// stream): its own DynamoDB client, counting the requests its runs report,
/// and its events on the configured bus.
pub fn counted_publishing_sync_engine(
    aws: &aws_config::SdkConfig,
    config: &Config,
) -> Result<SyncEngine, MarketplaceError> {
    let (dynamodb, requests) = counted_dynamodb_client_from(aws);
    Ok(publishing_sync_engine(aws, config, dynamodb)?.counting_requests_with(requests))
}

/// The engine over `dynamodb`, publishing no events (tests and tools).
pub fn sync_engine(
    config: &Config,
    dynamodb: aws_sdk_dynamodb::Client,
) -> Result<SyncEngine, MarketplaceError> {
    let store = Store::new(dynamodb, config.tables.clone());
    let marketplace = MarketplaceClient::new(&config.marketplace)?;
    Ok(SyncEngine::new(store, marketplace, config.sync.clone()))
}
