//! `admin-authorizer`: the admin API's Lambda authorizer, see [`authorize`].
//!
//! The admin keys are built once per cold start and built again when the
//! admin secret, read again from Secrets Manager every
//! `SECRETS_MANAGER_TTL`, has changed.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::api::admin_authorizer::{authorize, AuthorizerRequest};
use shared::api::AdminKeys;
use shared::config::{AdminConfig, FromEnvironment};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = AdminConfig::load(&shared::aws_config().await?).await?;
    let keys = AdminKeys::rotating(&config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<AuthorizerRequest>| {
        let keys = keys.clone();
        async move {
            let keys = keys.current().await;
            let answer = authorize(&keys.verifier, &event.payload, std::time::SystemTime::now());
            Ok::<_, Error>(answer)
        }
    }))
    .await
}
