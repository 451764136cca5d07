//! `admin-once`: the `admin-sync-status` function as it is deployed, the
//! same one-call `main` (logging, the admin context loaded once, the Lambda
//! runtime serving the endpoint), for `tests/log_secrets.rs`, which points
//! it at a Runtime API of its own and reads everything it writes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::triggers::http::run::<shared::triggers::http::admin_sync_status::SyncStatus>().await
}
