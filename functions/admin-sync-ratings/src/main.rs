//! `admin-sync-ratings`: `POST /api/admin/sync/ratings` behind the API
//! Gateway HTTP API. Runs one sync inside the request, with the scheduled
//! function's engine and lease; `{"upload_all": true}` first puts every
//! rating back in the backlog.
//!
//! Thin on purpose: [`shared::triggers::http::run`] builds the clients and the token
//! check once per cold start and serves every request through the endpoint.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::triggers::http::run::<shared::triggers::http::admin_sync_ratings::SyncRatings>().await
}
