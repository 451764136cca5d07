//! Where settings come from: the process environment, with secrets read
//! from Secrets Manager in their place ([`Environment`]), read one setting
//! at a time ([`Lookup`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use super::error::ConfigError;
use super::TableNames;
use crate::secrets::{Refresh, SecretSource, DEFAULT_SECRETS_TTL, SECRETS_TTL_SECONDS};

/// What a deployed function reads its settings from: the process
/// environment, with the secrets read from Secrets Manager in place where
/// their ARNs are given (see [`crate::secrets`]). Loaded once per cold
/// start, and shared by [`Config`](super::Config) and [`AdminConfig`](super::AdminConfig) where a function
/// needs both, so each secret is read once at the start; it keeps the
/// Secrets Manager client, built once, to read them again later.
#[derive(Clone, Default)]
pub struct Environment {
    /// The variables, when not the process environment's (tests).
    variables: Option<HashMap<String, String>>,
    secrets: HashMap<String, String>,
    /// Where each secret read from Secrets Manager is read again from.
    sources: HashMap<String, SecretSource>,
    /// `SECRETS_MANAGER_TTL`.
    ttl: Duration,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&String> = self.secrets.keys().collect();
        f.debug_struct("Environment")
            .field("secrets_read", &names)
            .finish()
    }
}

impl Environment {
    /// Reads from Secrets Manager the secrets whose ARNs the process
    /// environment gives; the other settings are read from the environment
    /// when asked for.
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Self::read(aws, None).await
    }

    /// The same from `variables` in place of the process environment, as a
    /// test gives them to a function built in its process.
    pub async fn load_from(
        aws: &aws_config::SdkConfig,
        variables: HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        Self::read(aws, Some(variables)).await
    }

    async fn read(
        aws: &aws_config::SdkConfig,
        variables: Option<HashMap<String, String>>,
    ) -> Result<Self, ConfigError> {
        let mut environment = Self {
            variables,
            ..Self::default()
        };
        let lookup = |name: &str| environment.variable(name);
        let ttl = secrets_ttl(&lookup)?;
        let wanted = secret_arns(&lookup);
        let (secrets, sources) = load_from_secrets_manager(aws, wanted).await?;
        environment.ttl = ttl;
        environment.secrets = secrets;
        environment.sources = sources;
        Ok(environment)
    }

    fn variable(&self, name: &str) -> Option<String> {
        match &self.variables {
            Some(variables) => variables.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// How the secret setting `name` is read again: from Secrets Manager
    /// every `SECRETS_MANAGER_TTL` if it was read from there, else never.
    pub fn refresh(&self, name: &str) -> Refresh {
        match self.sources.get(name) {
            Some(source) => Refresh {
                source: source.clone(),
                ttl: self.ttl,
            },
            None => Refresh::default(),
        }
    }

    /// The setting `name`: the secret read from Secrets Manager if there is
    /// one, else the process environment's variable.
    pub fn get(&self, name: &str) -> Option<String> {
        self.secrets
            .get(name)
            .cloned()
            .or_else(|| self.variable(name))
    }
}

/// The settings that may come from Secrets Manager.
pub const SECRET_SETTINGS: [&str; 2] = ["ATOM_SAAS_API_TOKEN", "ADMIN_JWT_SECRET"];

/// `SECRETS_MANAGER_TTL`, in seconds: how long a secret read from Secrets
/// Manager is kept.
fn secrets_ttl(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    let seconds = Lookup(lookup).number(
        "SECRETS_MANAGER_TTL",
        DEFAULT_SECRETS_TTL.as_secs(),
        SECRETS_TTL_SECONDS,
    )?;
    Ok(Duration::from_secs(seconds))
}

/// Each secret setting whose `NAME_SECRET_ARN` is set, with that ARN.
fn secret_arns(lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    SECRET_SETTINGS
        .iter()
        .filter_map(|name| {
            lookup(&format!("{name}_SECRET_ARN"))
                .filter(|arn| !arn.trim().is_empty())
                .map(|arn| (*name, arn))
        })
        .collect()
}

/// What a read of Secrets Manager at the cold start gives: each secret's
/// value, and where to read it again.
type SecretsRead = (HashMap<String, String>, HashMap<String, SecretSource>);

/// Reads every secret whose `NAME_SECRET_ARN` is set, as `NAME` → value,
/// for [`Environment::get`] to prefer over the environment, with one client
/// kept to read them again.
async fn load_from_secrets_manager(
    aws: &aws_config::SdkConfig,
    wanted: Vec<(&'static str, String)>,
) -> Result<SecretsRead, ConfigError> {
    let mut values = HashMap::new();
    let mut sources = HashMap::new();
    if wanted.is_empty() {
        return Ok((values, sources));
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
        sources.insert(
            name.to_owned(),
            SecretSource::SecretsManager {
                name,
                client: client.clone(),
                arn,
                keep_previous_for: None,
            },
        );
    }
    Ok((values, sources))
}

/// A configuration read from settings by name: one way to read it
/// ([`from_lookup`](Self::from_lookup)), for a deployed function
/// ([`load`](Self::load)), a function that builds two configurations from
/// one read of its secrets ([`from_environment`](Self::from_environment)),
/// and tests (a map).
pub trait FromEnvironment: Sized + Send {
    /// Reads the configuration through `lookup`, so that tests need not
    /// touch the process environment; an unusable value is an error that
    /// names its variable.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;

    /// Reads the configuration from an [`Environment`] already loaded.
    fn from_environment(environment: &Environment) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| environment.get(name))
    }

    /// The configuration of a deployed function: the process environment,
    /// with its secrets from Secrets Manager.
    fn load(aws: &aws_config::SdkConfig) -> impl Future<Output = Result<Self, ConfigError>> + Send {
        async { Self::from_environment(&Environment::load(aws).await?) }
    }
}

/// One setting at a time, from a lookup of names (the environment, or a
/// test's map), so that each setting reads as one line.
pub(super) struct Lookup<'a>(pub(super) &'a dyn Fn(&str) -> Option<String>);

impl Lookup<'_> {
    /// The four table names, each with its default.
    pub(super) fn tables(&self) -> TableNames {
        let defaults = TableNames::with_prefix("");
        TableNames {
            ratings: self.or("RATINGS_TABLE", defaults.ratings),
            failed_uploads: self.or("FAILED_UPLOADS_TABLE", defaults.failed_uploads),
            sync_state: self.or("SYNC_STATE_TABLE", defaults.sync_state),
            audit: self.or("AUDIT_TABLE", defaults.audit),
        }
    }

    /// A set but blank variable counts as unset.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn or(&self, name: &str, default: String) -> String {
        self.get(name).unwrap_or(default)
    }

    pub(super) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    pub(super) fn number(
        &self,
        name: &'static str,
        default: u64,
        allowed: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name,
            value: text.clone(),
            reason,
        };
        let value: u64 = text
            .parse()
            .map_err(|_| invalid("not a whole number".into()))?;
        if !allowed.contains(&value) {
            return Err(invalid(format!(
                "must be between {} and {}",
                allowed.start(),
                allowed.end()
            )));
        }
        Ok(value)
    }
}
