//! `admin-retry-failed-upload`: `POST
//! /api/admin/ratings/failed-uploads/{id}/retry` behind the API Gateway HTTP
//! API. Uploads one failed rating now, parked ones included.
//!
//! Thin on purpose: the DynamoDB and marketplace clients and the token check
//! are built once per cold start, here; each request goes to
//! [`shared::api::retry::handle`] with its invocation's deadline.

use lambda_http::{service_fn, Error, Request};
use shared::api::{invocation_deadline, retry, SyncApi};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let aws = shared::aws_config().await;
    let api = SyncApi::load(&aws).await?;
    lambda_http::run(service_fn(|request: Request| {
        let api = &api;
        async move {
            let deadline = invocation_deadline(&request);
            Ok::<_, Error>(retry::handle(api, request, deadline).await)
        }
    }))
    .await
}
