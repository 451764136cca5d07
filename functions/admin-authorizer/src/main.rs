//! `admin-authorizer`: the admin API's Lambda authorizer, see
//! [`shared::triggers::http::admin_authorizer`].
//!
//! Thin on purpose: [`shared::triggers::http::admin_authorizer::run`] builds
//! the admin keys once per cold start, and builds them again when the admin
//! secret, read again from Secrets Manager every `SECRETS_MANAGER_TTL`, has
//! changed.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::triggers::http::admin_authorizer::run().await
}
