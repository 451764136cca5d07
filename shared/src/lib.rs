//! The library behind every atom-rating-sync Lambda function.
//!
//! Self-hosted Atom instances keep their users' skill ratings in DynamoDB;
//! this crate keeps the Atom SaaS marketplace in step with them. The
//! functions under `functions/` are thin: they parse their event, call into
//! this crate, and map the result.
//!
//! # Module map
//!
//! From the top down; a module uses only modules of the layers below it
//! (or of its own layer where the line says so), so no module imports one
//! that imports it.
//!
//! **Entry points**, what a function's `main` calls:
//! - [`api`]: the admin HTTP API, one handler per admin function, and the
//!   Lambda authorizer in front of them (uses [`sync`], [`store`],
//!   [`auth`], [`metrics`], [`logging`] and most of what is below);
//! - [`stream`]: the `stream-rating-sync` function's adapter, a DynamoDB
//!   stream event in and the records to deliver again out (uses [`sync`],
//!   [`store`]);
//! - [`metrics`]: a run's and a fast-path batch's CloudWatch metrics, as
//!   Embedded Metric Format lines (uses [`sync`]'s batch report and
//!   [`report`]).
//!
//! **The sync**:
//! - [`sync`]: the engine, one run from lease to report, the fast path's
//!   batch of stream records, and an admin's retry of one rating (uses
//!   everything below);
//! - [`delivery`]: the gate every marketplace request of a run passes:
//!   slow start, retries with backoff, the rate limit, the circuit breaker
//!   (uses [`store`] for the shared rate ceiling, [`marketplace`]'s
//!   errors, [`config`], [`secrets`]);
//! - [`events`]: the sync's events on an EventBridge bus (uses [`rating`]).
//!
//! **Outside systems**:
//! - [`store`]: everything kept in DynamoDB, four tables behind one
//!   [`Store`], and the count of a client's requests
//!   ([`store::requests`]) (uses [`conflict`] for the conflict log,
//!   [`config`], [`rating`], [`report`]);
//! - [`conflict`]: newest-wins resolution of a local and a remote rating
//!   (uses [`marketplace`]'s remote rating, [`rating`]);
//! - [`marketplace`]: the marketplace API client (uses [`config`],
//!   [`secrets`], [`rating`]).
//!
//! **Settings and credentials**:
//! - [`config`]: settings from the environment, with the secrets read from
//!   Secrets Manager at the cold start (uses [`auth`]'s token policy,
//!   [`secrets`]);
//! - [`auth`]: who may call the admin functions, the HS256 token check,
//!   and the tokens minted for them (uses [`keyed`], [`json`], [`secrets`]);
//! - [`keyed`]: HMAC-SHA256 keyed with a secret (uses [`secrets`]).
//!
//! **Foundations**, which use no other module of this crate:
//! - [`secrets`]: [`Secret`](secrets::Secret), which never reaches a log,
//!   and secrets read again while a function lives;
//! - [`rating`]: the rating and its rules; [`report`]: what a run did;
//! - [`json`]: JSON objects from outside, no key counted twice;
//! - [`logging`]: JSON logs on stdout.
//!
//! The functions here build what every function needs once per cold start:
//! the AWS configuration with the call timeouts ([`aws_config()`]), a
//! DynamoDB client that counts its requests
//! ([`counted_dynamodb_client`]), and the sync engine over them
//! ([`publishing_sync_engine`], [`sync_engine`]).

#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
pub mod conflict;
pub mod delivery;
pub mod events;
pub mod json;
pub mod keyed;
pub mod logging;
pub mod marketplace;
pub mod metrics;
pub mod rating;
pub mod report;
pub mod secrets;
pub mod store;
pub mod stream;
pub mod sync;

use config::Config;
use marketplace::{MarketplaceClient, MarketplaceError};
use store::requests::RequestCounter;
use store::Store;
use sync::SyncEngine;

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

/// The engine over `dynamodb`, publishing no events (tests and tools).
pub fn sync_engine(
    config: &Config,
    dynamodb: aws_sdk_dynamodb::Client,
) -> Result<SyncEngine, MarketplaceError> {
    let store = Store::new(dynamodb, config.tables.clone());
    let marketplace = MarketplaceClient::new(&config.marketplace)?;
    Ok(SyncEngine::new(store, marketplace, config.sync.clone()))
}
