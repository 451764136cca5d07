//! Secrets come from AWS Secrets Manager in a deployment and from the
//! environment locally.
//!
//! For a secret setting `NAME` (the marketplace token, the admin JWT
//! secret), `NAME_SECRET_ARN` names a Secrets Manager secret whose string
//! value is the secret; the function reads it once per cold start, in
//! `main`, and keeps it for every invocation. Without it, `NAME` itself is
//! read from the environment, which is how the local stack and the tests
//! run. A deployed function never has the secret in a plain environment
//! variable: the template sets only the ARN.

use std::collections::HashMap;

use crate::config::ConfigError;

/// The settings that may come from Secrets Manager.
pub const SECRET_SETTINGS: [&str; 2] = ["ATOM_SAAS_API_TOKEN", "ADMIN_JWT_SECRET"];

/// Reads every secret whose `NAME_SECRET_ARN` is set, as `NAME` → value,
/// for [`Config::from_lookup`](crate::config::Config::from_lookup) to prefer
/// over the environment.
pub async fn load_from_secrets_manager(
    aws: &aws_config::SdkConfig,
) -> Result<HashMap<String, String>, ConfigError> {
    let wanted: Vec<(&'static str, String)> = SECRET_SETTINGS
        .iter()
        .filter_map(|name| {
            std::env::var(format!("{name}_SECRET_ARN"))
                .ok()
                .filter(|arn| !arn.trim().is_empty())
                .map(|arn| (*name, arn))
        })
        .collect();
    let mut values = HashMap::new();
    if wanted.is_empty() {
        return Ok(values);
    }
    let client = aws_sdk_secretsmanager::Client::new(aws);
    for (name, arn) in wanted {
        let secret = client
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| ConfigError::Invalid {
                name,
                value: arn.clone(),
                reason: format!(
                    "the secret could not be read from Secrets Manager: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                ),
            })?;
        let value = secret
            .secret_string()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError::Invalid {
                name,
                value: arn.clone(),
                reason: "the secret has no string value".into(),
            })?;
        values.insert(name.to_owned(), value.to_owned());
    }
    Ok(values)
}
