//! Where settings come from: the process environment, with secrets read
//! from Secrets Manager in their place ([`Environment`]), read one setting
//! at a time ([`Lookup`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use super::error::ConfigError;
use super::settings::{
    self, Count, Millis, Number, Optional, OptionalNumber, Required, Seconds, SecretSetting, Text,
};
use super::TableNames;
use crate::secrets::{Refresh, Secret, SecretSource};

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
        let (ttl, wanted) = {
            let lookup = |name: &str| environment.variable(name);
            let env = Lookup(&lookup);
            (env.seconds(&settings::SECRETS_TTL)?, secret_arns(&env))
        };
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

    /// How the secret `setting` is read again: from Secrets Manager
    /// every `SECRETS_MANAGER_TTL` if it was read from there, else never.
    pub fn refresh(&self, setting: &SecretSetting) -> Refresh {
        match self.sources.get(setting.name) {
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

/// Each secret setting ([`settings::SECRETS`]) whose ARN entry is set,
/// with that ARN.
fn secret_arns(env: &Lookup<'_>) -> Vec<(&'static str, String)> {
    settings::SECRETS
        .iter()
        .filter_map(|secret| env.optional(secret.arn).map(|arn| (secret.name, arn)))
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
    let client = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(aws)
            .interceptor(crate::traces::AwsCallSpans)
            .build(),
    );
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

/// One setting at a time, read through its entry of the catalogue
/// ([`super::settings`]), from a lookup of names (the environment, or a
/// test's map), so that each setting reads as one line and only as its
/// kind allows.
pub(crate) struct Lookup<'a>(pub(crate) &'a dyn Fn(&str) -> Option<String>);

/// The process environment's variable `name`.
fn process_variable(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Lookup<'static> {
    /// The process environment, for what is read before an [`Environment`]
    /// exists or apart from it.
    pub(crate) const PROCESS: Self = Lookup(&process_variable);
}

impl Lookup<'_> {
    /// The four table names, each with its default.
    pub(super) fn tables(&self) -> TableNames {
        TableNames {
            ratings: self.text(&settings::RATINGS_TABLE),
            failed_uploads: self.text(&settings::FAILED_UPLOADS_TABLE),
            sync_state: self.text(&settings::SYNC_STATE_TABLE),
            audit: self.text(&settings::AUDIT_TABLE),
        }
    }

    /// The value, trimmed; a set but blank variable counts as unset.
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The text, or its default.
    pub(crate) fn text(&self, entry: &Text) -> String {
        self.get(entry.name)
            .unwrap_or_else(|| entry.default.to_owned())
    }

    /// The text, or `None` (what the entry's `unset` says).
    pub(crate) fn optional(&self, entry: &Optional) -> Option<String> {
        self.get(entry.name)
    }

    /// The text; unset, [`ConfigError::Missing`].
    pub(crate) fn required(&self, entry: &Required) -> Result<String, ConfigError> {
        self.get(entry.name).ok_or(ConfigError::Missing(entry.name))
    }

    /// The secret as this lookup gives it (an [`Environment`] puts the
    /// value read from Secrets Manager in its place); unset,
    /// [`ConfigError::Missing`].
    pub(crate) fn secret(&self, entry: &SecretSetting) -> Result<Secret, ConfigError> {
        self.get(entry.name)
            .map(Secret::new)
            .ok_or(ConfigError::Missing(entry.name))
    }

    /// The number, or its default.
    pub(crate) fn number(&self, entry: &Number<Count>) -> Result<u32, ConfigError> {
        Ok(self
            .bounded(entry.name, entry.min, entry.max)?
            .unwrap_or(entry.default))
    }

    /// The number of seconds, or its default.
    pub(crate) fn seconds(&self, entry: &Number<Seconds>) -> Result<Duration, ConfigError> {
        Ok(self
            .bounded(entry.name, entry.min, entry.max)?
            .map_or(entry.default_duration(), |s| Duration::from_secs(s.into())))
    }

    /// The number of milliseconds, or its default.
    pub(crate) fn millis(&self, entry: &Number<Millis>) -> Result<Duration, ConfigError> {
        Ok(self
            .bounded(entry.name, entry.min, entry.max)?
            .map_or(entry.default_duration(), |ms| {
                Duration::from_millis(ms.into())
            }))
    }

    /// The number, or `None` (what the entry's `unset` says).
    pub(crate) fn optional_number(
        &self,
        entry: &OptionalNumber,
    ) -> Result<Option<u32>, ConfigError> {
        self.bounded(entry.name, entry.min, entry.max)
    }

    /// The whole number `name` within `min..=max`, if set.
    fn bounded(&self, name: &'static str, min: u32, max: u32) -> Result<Option<u32>, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name,
            value: text.clone(),
            reason,
        };
        let value: u64 = text
            .parse()
            .map_err(|_| invalid("not a whole number".into()))?;
        match u32::try_from(value) {
            Ok(value) if (min..=max).contains(&value) => Ok(Some(value)),
            _ => Err(invalid(format!("must be between {min} and {max}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(pairs: &[(&str, &str)], read: impl FnOnce(&Lookup<'_>) -> T) -> T {
        let lookup = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        read(&Lookup(&lookup))
    }

    #[test]
    fn a_number_is_its_default_when_unset_or_blank_and_bounded_inclusively() {
        let lease = settings::LEASE;
        for unset in [&[][..], &[(lease.name, "  ")][..]] {
            assert_eq!(
                with(unset, |env| env.seconds(&lease)),
                Ok(lease.default_duration())
            );
        }
        for (given, seconds) in [("1", 1), (" 900 ", 900), ("+30", 30)] {
            assert_eq!(
                with(&[(lease.name, given)], |env| env.seconds(&lease)),
                Ok(Duration::from_secs(seconds)),
                "{given}"
            );
        }
        for (given, reason) in [
            ("0", "must be between 1 and 900"),
            ("901", "must be between 1 and 900"),
            ("4294967296", "must be between 1 and 900"),
            ("99999999999999999999", "not a whole number"),
            ("-1", "not a whole number"),
            ("1.5", "not a whole number"),
        ] {
            assert_eq!(
                with(&[(lease.name, given)], |env| env.seconds(&lease)),
                Err(ConfigError::Invalid {
                    name: "RATING_SYNC_LEASE_SECONDS",
                    value: given.trim().to_owned(),
                    reason: reason.to_owned(),
                }),
                "{given}"
            );
        }
        let attempt = settings::AWS_ATTEMPT_TIMEOUT;
        assert_eq!(
            with(&[(attempt.name, "250")], |env| env.millis(&attempt)),
            Ok(Duration::from_millis(250))
        );
    }

    #[test]
    fn an_optional_number_is_none_when_unset_and_bounded_when_set() {
        let pull = settings::PULL_SKILLS_PER_RUN;
        assert_eq!(with(&[], |env| env.optional_number(&pull)), Ok(None));
        assert_eq!(
            with(&[(pull.name, "0")], |env| env.optional_number(&pull)),
            Ok(Some(0))
        );
        assert!(with(&[(pull.name, "10001")], |env| env.optional_number(&pull)).is_err());
    }

    #[test]
    fn text_is_trimmed_and_blank_is_unset() {
        let table = settings::RATINGS_TABLE;
        assert_eq!(
            with(&[(table.name, " ")], |env| env.text(&table)),
            "skill_ratings"
        );
        assert_eq!(
            with(&[(table.name, " mine ")], |env| env.text(&table)),
            "mine"
        );
        let url = settings::MARKETPLACE_URL;
        assert_eq!(
            with(&[(url.name, "\t")], |env| env.required(&url)),
            Err(ConfigError::Missing("ATOM_SAAS_API_URL"))
        );
        let issuer = settings::ADMIN_ISSUER;
        assert_eq!(
            with(&[(issuer.name, "")], |env| env.optional(&issuer)),
            None
        );
        let secret = settings::ADMIN_SECRET;
        assert_eq!(
            with(&[(secret.name, " s ")], |env| env.secret(&secret)),
            Ok(Secret::new("s"))
        );
    }

    #[test]
    fn each_secret_is_read_from_secrets_manager_when_its_arn_is_set() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf";
        let wanted = with(
            &[
                ("ATOM_SAAS_API_TOKEN_SECRET_ARN", arn),
                ("ADMIN_JWT_SECRET_SECRET_ARN", " "),
            ],
            secret_arns,
        );
        assert_eq!(wanted, vec![("ATOM_SAAS_API_TOKEN", arn.to_owned())]);
    }
}
