//! `admin-retry-failed-upload`: `POST
//! /api/admin/ratings/failed-uploads/{id}/retry` behind the API Gateway HTTP
//! API. Uploads one failed rating now, parked ones included.
//!
//! Thin on purpose: the DynamoDB and marketplace clients and the token check
//! are built once per cold start, here; each request goes to
//! [`shared::api::retry::handle`] with its invocation's deadline.

use lambda_http::{service_fn, Error, Request};
use shared::api::{invocation_deadline, retry, AdminContext, SyncApi};
use shared::config::{AdminConfig, Config};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let aws = shared::aws_config().await;
    let config = Config::load(&aws).await?;
    let admin = AdminConfig::load(&aws).await?;
    let (dynamodb, requests) = shared::counted_dynamodb_client_from(&aws);
    let engine = shared::sync_engine(&config, dynamodb.clone())?.counting_requests_with(requests);
    let context = AdminContext::new(Store::new(dynamodb, admin.tables), &admin.jwt_secret)?;
    let api = SyncApi::new(context, engine, &config.sync);
    lambda_http::run(service_fn(|request: Request| {
        let api = &api;
        async move {
            let deadline = invocation_deadline(&request);
            Ok::<_, Error>(retry::handle(api, request, deadline).await)
        }
    }))
    .await
}
