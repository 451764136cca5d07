//! `admin-authorizer`: the admin API's Lambda authorizer, see [`authorize`].

use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::api::admin_authorizer::{authorize, AuthorizerRequest};
use shared::{auth::AdminVerifier, config::AdminConfig, config::FromEnvironment};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = AdminConfig::load(&shared::aws_config().await?).await?;
    let verifier = AdminVerifier::new(&config.jwt_secret, config.policy)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<AuthorizerRequest>| {
        let answer = authorize(&verifier, &event.payload, std::time::SystemTime::now());
        async move { Ok::<_, Error>(answer) }
    }))
    .await
}
