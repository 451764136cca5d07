//! `admin-sync-status`: `GET /api/admin/sync/ratings/status` behind the
//! API Gateway HTTP API. Where the sync stands: the backlog, the failed,
//! parked and conflicting ratings, the last runs and the lease. It needs no
//! marketplace settings, so it never sees the marketplace token.
//!
//! Thin on purpose: [`shared::triggers::http::run`] builds the clients and the token
//! check once per cold start and serves every request through the endpoint.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::triggers::http::run::<shared::triggers::http::admin_sync_status::SyncStatus>().await
}
