//! `admin-list-failed-uploads`: `GET /api/admin/ratings/failed-uploads`
//! behind the API Gateway HTTP API. The dead-letter table, newest failure
//! first, a page at a time (`limit`, `cursor`, `status`).
//!
//! Thin on purpose: [`shared::triggers::http::run`] builds the clients and the token
//! check once per cold start and serves every request through the endpoint.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::triggers::http::run::<
        shared::triggers::http::admin_list_failed_uploads::ListFailedUploads,
    >()
    .await
}
