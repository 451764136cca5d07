//! Where the admin API and its secret are, read the way the functions read
//! them: the API's base URL from `--api` or `ATOM_RATING_SYNC_API_URL`;
//! the admin secret from Secrets Manager when `ADMIN_JWT_SECRET_SECRET_ARN`
//! is set, else from `ADMIN_JWT_SECRET`, with the token policy
//! (`ADMIN_JWT_ISSUER`, `ADMIN_JWT_AUDIENCE`, `ADMIN_JWT_MAX_TTL_SECONDS`)
//! through the functions' own [`AdminConfig`]; AWS through the standard
//! chain (profile, region, `AWS_ENDPOINT_URL_*`).

use shared::config::{AdminConfig, FromEnvironment};

use crate::output::CliError;

/// The variables that say where the admin secret is.
const SECRET_VARIABLES: [&str; 2] = ["ADMIN_JWT_SECRET_SECRET_ARN", "ADMIN_JWT_SECRET"];

/// Whether the environment says where the admin secret is.
pub fn secret_is_configured() -> bool {
    SECRET_VARIABLES.iter().any(|name| {
        std::env::var(name)
            .map(|value| !value.trim().is_empty())
            .unwrap_or(false)
    })
}

/// The admin secret and token policy, as the admin functions read them.
pub async fn admin_config() -> Result<AdminConfig, CliError> {
    if !secret_is_configured() {
        return Err(CliError::Input(
            "no admin secret: set ADMIN_JWT_SECRET_SECRET_ARN (the stack output \
             AdminJwtSecretArn) or ADMIN_JWT_SECRET"
                .into(),
        ));
    }
    let aws = shared::aws_config()
        .await
        .map_err(|e| CliError::Input(e.to_string()))?;
    AdminConfig::load(&aws)
        .await
        .map_err(|e| CliError::Input(e.to_string()))
}

/// The API's base URL, checked: http or https, no query.
pub fn api_url(given: Option<&str>) -> Result<reqwest::Url, CliError> {
    let text = given
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .ok_or_else(|| {
            CliError::Input(
                "no API URL: pass --api URL or set ATOM_RATING_SYNC_API_URL \
             (the stack output AdminApiUrl)"
                    .into(),
            )
        })?;
    let url = reqwest::Url::parse(text)
        .map_err(|e| CliError::Input(format!("--api {text}: not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(CliError::Input(format!(
            "--api {text}: the API's base URL is http:// or https://"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(CliError::Input(format!(
            "--api {text}: the base URL takes no query or fragment"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_url_is_a_base_url() {
        assert_eq!(
            api_url(Some("https://abc.execute-api.eu-west-1.amazonaws.com"))
                .unwrap()
                .as_str(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/"
        );
        for bad in ["", "ftp://x", "not a url", "http://x/?a=1", "mailto:a@b"] {
            assert!(api_url(Some(bad)).is_err(), "{bad}");
        }
        assert!(api_url(None).is_err());
    }
}
