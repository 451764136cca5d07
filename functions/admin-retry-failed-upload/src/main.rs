//! `admin-retry-failed-upload`: `POST
//! /api/admin/ratings/failed-uploads/{id}/retry` behind the API Gateway HTTP
//! API. Uploads one failed rating now, parked ones included.
//!
//! Thin on purpose: [`shared::triggers::http::run`] builds the clients and the token
//! check once per cold start and serves every request through the endpoint.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::triggers::http::run::<
        shared::triggers::http::admin_retry_failed_upload::RetryFailedUpload,
    >()
    .await
}
