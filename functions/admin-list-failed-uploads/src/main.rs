//! `admin-list-failed-uploads`: `GET /api/admin/ratings/failed-uploads`
//! behind the API Gateway HTTP API. The dead-letter table, newest failure
//! first, a page at a time (`limit`, `cursor`, `status`).
//!
//! Thin on purpose: the DynamoDB client, the token check and the cursor
//! signer are built once per cold start, here; each request goes to
//! [`shared::api::failed_uploads::handle`]. It needs no marketplace
//! settings, so it never sees the marketplace token.

use lambda_http::{service_fn, Error, Request};
use shared::api::{failed_uploads, AdminContext};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let aws = shared::aws_config().await;
    let context = AdminContext::load(&aws).await?;
    lambda_http::run(service_fn(|request: Request| {
        let context = &context;
        async move { Ok::<_, Error>(failed_uploads::handle(context, request).await) }
    }))
    .await
}
