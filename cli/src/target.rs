//! Where the admin API and its secret are, read the way the functions read
//! them: the API's base URL from `--api` or `ATOM_RATING_SYNC_API_URL`;
//! the admin secret from Secrets Manager when `ADMIN_JWT_SECRET_SECRET_ARN`
//! is set, else from `ADMIN_JWT_SECRET`, with the token policy
//! (`ADMIN_JWT_ISSUER`, `ADMIN_JWT_AUDIENCE`, `ADMIN_JWT_MAX_TTL_SECONDS`)
//! through the functions' own [`AdminConfig`]; AWS through the standard
//! chain (profile, region, `AWS_ENDPOINT_URL_*`).
//!
//! `--stack NAME` reads the stack's outputs ([`STACK_OUTPUTS`]) in place
//! of the variables they stand for; `--api` (or its variable) still wins
//! for the URL.

use std::collections::HashMap;

use shared::config::{AdminConfig, Environment, FromEnvironment, TableNames};

use crate::output::{clean, CliError};

/// The stack outputs `--stack` reads, and the variable each stands for.
pub const STACK_OUTPUTS: [(&str, &str); 6] = [
    ("AdminApiUrl", API_URL_VARIABLE),
    ("AdminJwtSecretArn", "ADMIN_JWT_SECRET_SECRET_ARN"),
    ("RatingsTableName", "RATINGS_TABLE"),
    ("FailedUploadsTableName", "FAILED_UPLOADS_TABLE"),
    ("SyncStateTableName", "SYNC_STATE_TABLE"),
    ("AuditTableName", "AUDIT_TABLE"),
];

/// The variable of the API's base URL.
pub const API_URL_VARIABLE: &str = "ATOM_RATING_SYNC_API_URL";

/// The variables that say where the admin secret is.
const SECRET_VARIABLES: [&str; 2] = ["ADMIN_JWT_SECRET_SECRET_ARN", "ADMIN_JWT_SECRET"];

/// The settings the tool works with: the process environment, with a
/// stack's outputs in place of the variables they stand for.
pub struct Target {
    variables: HashMap<String, String>,
}

impl Target {
    /// The process environment, and `stack`'s outputs over it when given.
    pub async fn load(stack: Option<&str>) -> Result<Self, CliError> {
        let mut variables: HashMap<String, String> = std::env::vars().collect();
        if let Some(stack) = stack {
            variables.extend(stack_variables(stack).await?);
        }
        Ok(Self { variables })
    }

    /// A setting, blank counting as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// The four table names, as the functions read them, from these
    /// settings (a stack's table outputs win over the environment).
    pub fn tables(&self) -> TableNames {
        TableNames::from_lookup(&|name| self.get(name).map(str::to_owned))
    }

    /// Whether the settings say where the admin secret is.
    pub fn secret_is_configured(&self) -> bool {
        SECRET_VARIABLES.iter().any(|name| self.get(name).is_some())
    }

    /// The admin secret and token policy, as the admin functions read them.
    pub async fn admin_config(&self) -> Result<AdminConfig, CliError> {
        if !self.secret_is_configured() {
            return Err(CliError::Input(
                "no admin secret: set ADMIN_JWT_SECRET_SECRET_ARN (the stack output \
                 AdminJwtSecretArn, or --stack NAME) or ADMIN_JWT_SECRET"
                    .into(),
            ));
        }
        let aws = shared::triggers::clients::aws_config()
            .await
            .map_err(|e| CliError::Input(e.to_string()))?;
        let environment = Environment::load_from(&aws, self.variables.clone())
            .await
            .map_err(|e| CliError::Input(e.to_string()))?;
        AdminConfig::from_environment(&environment).map_err(|e| CliError::Input(e.to_string()))
    }

    /// The API's base URL: `given` (`--api` or its variable), else the
    /// stack's.
    pub fn api_url(&self, given: Option<&str>) -> Result<reqwest::Url, CliError> {
        let given = given.map(str::trim).filter(|url| !url.is_empty());
        api_url(given.or_else(|| self.get(API_URL_VARIABLE)))
    }
}

/// The variables `stack`'s outputs stand for.
async fn stack_variables(stack: &str) -> Result<HashMap<String, String>, CliError> {
    let aws = shared::triggers::clients::aws_config()
        .await
        .map_err(|e| CliError::Input(e.to_string()))?;
    let client = aws_sdk_cloudformation::Client::new(&aws);
    let described = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            CliError::Input(format!(
                "--stack {stack}: its outputs could not be read: {}",
                clean(
                    &aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string(),
                    300
                )
            ))
        })?;
    let outputs = described
        .stacks()
        .first()
        .map(|found| found.outputs())
        .unwrap_or_default();
    let mut variables = HashMap::new();
    for output in outputs {
        let wanted = STACK_OUTPUTS
            .iter()
            .find(|(key, _)| Some(*key) == output.output_key());
        if let (Some((_, variable)), Some(value)) = (wanted, output.output_value()) {
            variables.insert((*variable).to_owned(), value.to_owned());
        }
    }
    if variables.is_empty() {
        return Err(CliError::Input(format!(
            "--stack {stack}: the stack has none of the outputs AdminApiUrl, AdminJwtSecretArn: \
             is it an atom-rating-sync stack?"
        )));
    }
    Ok(variables)
}

/// The API's base URL, checked: http or https, no query.
pub fn api_url(given: Option<&str>) -> Result<reqwest::Url, CliError> {
    let text = given
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .ok_or_else(|| {
            CliError::Input(
                "no API URL: pass --api URL or --stack NAME, or set ATOM_RATING_SYNC_API_URL \
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

    #[test]
    fn a_given_url_wins_over_the_settings_and_blank_is_unset() {
        let target = Target {
            variables: HashMap::from([
                (API_URL_VARIABLE.to_owned(), "https://from.stack".to_owned()),
                ("ADMIN_JWT_SECRET".to_owned(), "  ".to_owned()),
            ]),
        };
        assert_eq!(
            target.api_url(None).unwrap().as_str(),
            "https://from.stack/"
        );
        assert_eq!(
            target
                .api_url(Some("http://127.0.0.1:3000"))
                .unwrap()
                .as_str(),
            "http://127.0.0.1:3000/"
        );
        assert!(!target.secret_is_configured());
    }
}
