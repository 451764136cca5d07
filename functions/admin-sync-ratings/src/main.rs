//! `admin-sync-ratings`: `POST /api/admin/sync/ratings` behind the API
//! Gateway HTTP API. Runs one sync inside the request, with the scheduled
//! function's engine and lease; `{"upload_all": true}` first puts every
//! rating back in the backlog.
//!
//! Thin on purpose: the DynamoDB and marketplace clients and the token check
//! are built once per cold start, here; each request goes to
//! [`shared::api::sync_ratings::handle`] with its invocation's deadline.

use lambda_http::{service_fn, Error, Request};
use shared::api::{invocation_deadline, sync_ratings, SyncApi};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let aws = shared::aws_config().await;
    let api = SyncApi::load(&aws).await?;
    lambda_http::run(service_fn(|request: Request| {
        let api = &api;
        async move {
            let deadline = invocation_deadline(&request);
            Ok::<_, Error>(sync_ratings::handle(api, request, deadline).await)
        }
    }))
    .await
}
