//! `admin-sync-status`: `GET /api/admin/sync/ratings/status` behind the
//! API Gateway HTTP API. Where the sync stands: the backlog, the failed,
//! parked and conflicting ratings, the last runs and the lease.
//!
//! Thin on purpose: the DynamoDB client and the token check are built once
//! per cold start, here; each request goes to
//! [`shared::api::status::handle`]. It needs no marketplace settings, so
//! it never sees the marketplace token.

use lambda_http::{service_fn, Error, Request};
use shared::api::{status, AdminContext};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let aws = shared::aws_config().await;
    let context = AdminContext::load(&aws).await?;
    lambda_http::run(service_fn(|request: Request| {
        let context = &context;
        async move { Ok::<_, Error>(status::handle(context, request).await) }
    }))
    .await
}
