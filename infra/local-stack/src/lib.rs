//! The local stack, as the demo, the tests and the benchmark use it:
//! - [`tables`]: creates the tables from `template.yaml`, the only place
//!   they are defined;
//! - [`seed`]: writes ratings the way the Atom app does;
//! - [`simulator`]: starts and drives the marketplace simulator
//!   (`infra/simulator/marketplace_simulator.py`);
//! - [`stream_poller`]: plays the event source mapping of the ratings
//!   table's stream (there is none locally): reads the stream, filters,
//!   batches and invokes `stream-rating-sync` as Lambda would;
//! - [`events`]: the local event bus's rule and queues (moto's EventBridge
//!   and SQS);
//! - [`api`]: the admin API served over HTTP on loopback with API
//!   Gateway's routes and the authorizer in front, through the functions'
//!   own handlers (`local-stack api`, and the command line's tests).
//!
//! The servers themselves (moto) are started by `infra/scripts/with-local-stack.sh`.
//! Nothing here can reach real AWS: every client insists on a loopback
//! endpoint.

pub mod api;
pub mod events;
pub mod seed;
pub mod simulator;
pub mod stream_poller;
pub mod tables;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StackError {
    #[error("{0} is not set: run this through infra/scripts/with-local-stack.sh (or `make test`)")]
    NotConfigured(&'static str),
    #[error("{variable} must point at loopback, not {endpoint}")]
    NotLocal {
        variable: &'static str,
        endpoint: String,
    },
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("DynamoDB: {0}")]
    DynamoDb(String),
    #[error("SQS: {0}")]
    Sqs(String),
    #[error("EventBridge: {0}")]
    EventBridge(String),
    #[error("marketplace simulator: {0}")]
    Simulator(String),
}

/// The SDK configuration for one local service: the endpoint named by
/// `variable` (which must be on loopback), the fixed credentials a local
/// server accepts, and us-east-1.
pub async fn local_sdk_config(variable: &'static str) -> Result<aws_config::SdkConfig, StackError> {
    let endpoint = std::env::var(variable).map_err(|_| StackError::NotConfigured(variable))?;
    let authority = endpoint.split("://").nth(1).unwrap_or_default();
    let local = ["localhost", "127.", "[::1]"]
        .iter()
        .any(|prefix| authority.starts_with(prefix));
    if !local {
        return Err(StackError::NotLocal { variable, endpoint });
    }
    let credentials =
        aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "local");
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .load()
        .await)
}

/// A DynamoDB client for the local server named by `AWS_ENDPOINT_URL_DYNAMODB`.
pub async fn dynamodb_client() -> Result<aws_sdk_dynamodb::Client, StackError> {
    let aws = local_sdk_config("AWS_ENDPOINT_URL_DYNAMODB").await?;
    Ok(aws_sdk_dynamodb::Client::new(&aws))
}

/// A DynamoDB Streams client for the local server named by
/// `AWS_ENDPOINT_URL_DYNAMODB_STREAMS` (moto serves it on DynamoDB's port).
pub async fn streams_client() -> Result<aws_sdk_dynamodbstreams::Client, StackError> {
    let aws = local_sdk_config("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").await?;
    Ok(aws_sdk_dynamodbstreams::Client::new(&aws))
}

/// An SQS client for the local server named by `AWS_ENDPOINT_URL_SQS`.
pub async fn sqs_client() -> Result<aws_sdk_sqs::Client, StackError> {
    let aws = local_sdk_config("AWS_ENDPOINT_URL_SQS").await?;
    Ok(aws_sdk_sqs::Client::new(&aws))
}

/// An EventBridge client for the local server named by
/// `AWS_ENDPOINT_URL_EVENTBRIDGE`.
pub async fn eventbridge_client() -> Result<aws_sdk_eventbridge::Client, StackError> {
    let aws = local_sdk_config("AWS_ENDPOINT_URL_EVENTBRIDGE").await?;
    Ok(aws_sdk_eventbridge::Client::new(&aws))
}

/// Turns any displayable SDK error into a [`StackError`].
pub(crate) fn dynamodb_error(err: impl std::error::Error) -> StackError {
    StackError::DynamoDb(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
}

/// The SDK error with its causes, for messages.
pub(crate) fn sdk_message(err: impl std::error::Error) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string()
}
