//! The local stack, as the demo, the tests and the benchmark use it:
//! - [`tables`]: creates the tables from `template.yaml`, the only place
//!   they are defined;
//! - [`seed`]: writes ratings the way the Atom app does;
//! - [`simulator`]: starts and drives the marketplace simulator
//!   (`infra/marketplace_simulator.py`).
//!
//! The DynamoDB server itself (moto) is started by `infra/with-local-stack.sh`.
//! Nothing here can reach real AWS: [`dynamodb_client`] insists on a local
//! endpoint.

pub mod seed;
pub mod simulator;
pub mod tables;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StackError {
    #[error("{0} is not set: run this through infra/with-local-stack.sh (or `make test`)")]
    NotConfigured(&'static str),
    #[error("AWS_ENDPOINT_URL_DYNAMODB must point at loopback, not {0}")]
    NotLocal(String),
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("DynamoDB: {0}")]
    DynamoDb(String),
    #[error("marketplace simulator: {0}")]
    Simulator(String),
}

/// A DynamoDB client for the local server named by `AWS_ENDPOINT_URL_DYNAMODB`,
/// with the fixed credentials a local server accepts.
pub async fn dynamodb_client() -> Result<aws_sdk_dynamodb::Client, StackError> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .map_err(|_| StackError::NotConfigured("AWS_ENDPOINT_URL_DYNAMODB"))?;
    let authority = endpoint.split("://").nth(1).unwrap_or_default();
    let local = ["localhost", "127.", "[::1]"]
        .iter()
        .any(|prefix| authority.starts_with(prefix));
    if !local {
        return Err(StackError::NotLocal(endpoint));
    }
    let credentials =
        aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "local");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .load()
        .await;
    Ok(aws_sdk_dynamodb::Client::new(&aws))
}

/// Turns any displayable SDK error into a [`StackError`].
pub(crate) fn dynamodb_error(err: impl std::error::Error) -> StackError {
    StackError::DynamoDb(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
}
