//! Configuration, read once per cold start from the environment.
//!
//! Every setting has a documented name and, where one is sane, a default (the
//! README's configuration table lists them). A value that is present but
//! unusable is an error that names the variable: a function that starts with
//! a typo in its configuration should fail loudly, not sync with a guess.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// A value that must never reach a log: its `Debug` and `Display` hide it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that has to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The names of the three tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub ratings: String,
    pub failed_uploads: String,
    pub sync_state: String,
}

impl TableNames {
    /// The default names, each behind `prefix` (empty in production; tests
    /// use a unique one so that they can run side by side).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            ratings: format!("{prefix}skill_ratings"),
            failed_uploads: format!("{prefix}failed_rating_uploads"),
            sync_state: format!("{prefix}rating_sync_state"),
        }
    }
}

/// How to reach the Atom SaaS marketplace.
#[derive(Debug, Clone)]
pub struct MarketplaceConfig {
    pub base_url: String,
    pub api_token: Secret,
    pub instance_id: String,
    /// Upper bound on one HTTP request, connection included.
    pub request_timeout: Duration,
}

/// How a sync run paces itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSettings {
    /// Ratings read from the backlog index per query.
    pub batch_size: u32,
    /// Marketplace requests in flight at once.
    pub max_concurrency: usize,
    /// A run starts no new upload when less than this is left before the
    /// invocation's deadline, so in-flight work can finish and be recorded.
    pub deadline_margin: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            max_concurrency: 10,
            deadline_margin: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub tables: TableNames,
    pub marketplace: MarketplaceConfig,
    pub sync: SyncSettings,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so that tests need not touch
    /// the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let defaults = TableNames::with_prefix("");
        let tables = TableNames {
            ratings: env.or("RATINGS_TABLE", defaults.ratings),
            failed_uploads: env.or("FAILED_UPLOADS_TABLE", defaults.failed_uploads),
            sync_state: env.or("SYNC_STATE_TABLE", defaults.sync_state),
        };

        let base_url = env.required("ATOM_SAAS_API_URL")?;
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                name: "ATOM_SAAS_API_URL",
                value: base_url,
                reason: "must start with http:// or https://".into(),
            });
        }
        let marketplace = MarketplaceConfig {
            base_url,
            api_token: Secret::new(env.required("ATOM_SAAS_API_TOKEN")?),
            instance_id: env.required("ATOM_INSTANCE_ID")?,
            request_timeout: Duration::from_secs(env.number(
                "ATOM_SAAS_TIMEOUT_SECONDS",
                10,
                1..=300,
            )?),
        };

        let defaults = SyncSettings::default();
        let sync = SyncSettings {
            batch_size: env.number(
                "RATING_SYNC_BATCH_SIZE",
                defaults.batch_size.into(),
                1..=1000,
            )? as u32,
            max_concurrency: env.number(
                "RATING_SYNC_MAX_CONCURRENCY",
                defaults.max_concurrency as u64,
                1..=100,
            )? as usize,
            deadline_margin: Duration::from_secs(env.number(
                "RATING_SYNC_DEADLINE_MARGIN_SECONDS",
                defaults.deadline_margin.as_secs(),
                1..=600,
            )?),
        };

        Ok(Self {
            tables,
            marketplace,
            sync,
        })
    }
}

/// Small helpers over the lookup so each setting reads as one line.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// A set but blank variable counts as unset.
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn or(&self, name: &str, default: String) -> String {
        self.get(name).unwrap_or(default)
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    fn number(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const REQUIRED: [(&str, &str); 3] = [
        ("ATOM_SAAS_API_URL", "https://marketplace.example/api"),
        ("ATOM_SAAS_API_TOKEN", "tok-123"),
        ("ATOM_INSTANCE_ID", "inst-1"),
    ];

    #[test]
    fn defaults_apply_when_only_the_required_settings_are_given() {
        let config = config_from(&REQUIRED).unwrap();
        assert_eq!(config.tables, TableNames::with_prefix(""));
        assert_eq!(config.tables.ratings, "skill_ratings");
        assert_eq!(config.sync, SyncSettings::default());
        assert_eq!(config.sync.batch_size, 100);
        assert_eq!(config.sync.max_concurrency, 10);
        assert_eq!(config.marketplace.request_timeout, Duration::from_secs(10));
    }

    #[test]
    fn each_missing_required_setting_is_named() {
        for (name, _) in REQUIRED {
            let given: Vec<_> = REQUIRED.into_iter().filter(|(n, _)| *n != name).collect();
            assert_eq!(config_from(&given).unwrap_err(), ConfigError::Missing(name));
        }
    }

    #[test]
    fn out_of_range_and_garbage_numbers_are_rejected_by_name() {
        for (name, value) in [
            ("RATING_SYNC_BATCH_SIZE", "0"),
            ("RATING_SYNC_BATCH_SIZE", "ten"),
            ("RATING_SYNC_MAX_CONCURRENCY", "1000"),
            ("ATOM_SAAS_TIMEOUT_SECONDS", "-1"),
        ] {
            let mut pairs = REQUIRED.to_vec();
            pairs.push((name, value));
            match config_from(&pairs) {
                Err(ConfigError::Invalid { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}={value}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_url_without_scheme_is_rejected() {
        let mut pairs = REQUIRED.to_vec();
        pairs[0] = ("ATOM_SAAS_API_URL", "marketplace.example");
        assert!(matches!(
            config_from(&pairs),
            Err(ConfigError::Invalid {
                name: "ATOM_SAAS_API_URL",
                ..
            })
        ));
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let config = config_from(&REQUIRED).unwrap();
        let shown = format!("{config:?} {}", config.marketplace.api_token);
        assert!(!shown.contains("tok-123"), "{shown}");
        assert_eq!(config.marketplace.api_token.expose(), "tok-123");
    }
}
