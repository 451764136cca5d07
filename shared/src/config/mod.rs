//! Configuration, read once per cold start from the environment.
//!
//! Every setting is declared once, in the catalogue `settings.rs`
//! ([`settings`]): its name, its default (or what unset means), its bounds
//! and its doc. The configuration page, `docs/configuration.md`, is checked
//! against that catalogue by a unit test there. A value that is present but
//! unusable is an error that names the variable: a function that starts
//! with a typo in its configuration should fail loudly, not sync with a
//! guess.
//!
//! What lives where:
//! - `settings.rs`: the catalogue, one entry per variable; `kinds.rs`, the
//!   kinds of entry and what the page shows of each;
//! - `env.rs`: where settings come from, [`Environment`] (the process
//!   environment, with the secrets read from Secrets Manager at the cold
//!   start, see [`crate::secrets`]), and `Lookup`, which reads one entry
//!   as its kind allows;
//! - this file: [`Config`], what the functions that upload read;
//! - `admin.rs`: [`AdminConfig`], what the admin functions read;
//! - `aws_calls.rs`: [`AwsCallTimeouts`], the bounds of every AWS call,
//!   read from the process environment by [`crate::triggers::clients::aws_config`] before any
//!   client exists;
//! - `event_bus.rs`: the check of `RATING_SYNC_EVENT_BUS`;
//! - `error.rs`: [`ConfigError`].
//!
//! Read through the catalogue elsewhere, straight from the process
//! environment: `RATING_SYNC_METRICS_NAMESPACE` by
//! [`crate::metrics::namespace`], and `RUST_LOG` by [`crate::logging`].
//!
//! Adding a setting: its entry in `settings.rs`, the line that reads it
//! here (or in `admin.rs`), its row on the configuration page, and its value
//! in `template.yaml` if a deployment sets it.

mod admin;
mod aws_calls;
mod env;
pub(crate) mod error;
mod event_bus;
mod kinds;
pub mod settings;

use std::time::Duration;

pub use crate::secrets::{Refresh, Secret};
pub use admin::{AdminConfig, DEFAULT_AUDIT_RETENTION_DAYS, MIN_ADMIN_SECRET_BYTES};
pub use aws_calls::{AwsCallTimeouts, AWS_CALL_ATTEMPTS, AWS_CALL_INITIAL_BACKOFF};
pub(crate) use env::Lookup;
pub use env::{Environment, FromEnvironment};
pub use error::ConfigError;

/// The names of the four tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// The ratings the Atom app writes and the sync reads
    /// (`RATINGS_TABLE`).
    pub ratings: String,
    /// The dead-letter table: one item per rating whose upload failed
    /// (`FAILED_UPLOADS_TABLE`).
    pub failed_uploads: String,
    /// The run lease, the run reports, the health item, the conflict log,
    /// the skills to pull and the pull's place, the progress of a full
    /// re-push and the shared rate ceiling, each in its own partition
    /// (`SYNC_STATE_TABLE`).
    pub sync_state: String,
    /// The admin API's audit trail: its own table, so that the functions
    /// may only add to it (IAM grants PutItem alone) (`AUDIT_TABLE`).
    pub audit: String,
}

impl TableNames {
    /// The default names, each behind `prefix` (empty in production; tests
    /// use a unique one so that they can run side by side).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            ratings: format!("{prefix}{}", settings::RATINGS_TABLE.default),
            failed_uploads: format!("{prefix}{}", settings::FAILED_UPLOADS_TABLE.default),
            sync_state: format!("{prefix}{}", settings::SYNC_STATE_TABLE.default),
            audit: format!("{prefix}{}", settings::AUDIT_TABLE.default),
        }
    }

    /// The names the functions read, from the same variables
    /// (`RATINGS_TABLE`, `FAILED_UPLOADS_TABLE`, `SYNC_STATE_TABLE`,
    /// `AUDIT_TABLE`) each with its default, through `lookup`: for tools
    /// run beside them (a stack's outputs over the environment).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        Lookup(lookup).tables()
    }
}

/// How to reach the Atom SaaS marketplace.
#[derive(Debug, Clone)]
pub struct MarketplaceConfig {
    /// The marketplace API's root (`ATOM_SAAS_API_URL`); request paths are
    /// appended to it.
    pub base_url: String,
    /// The token the marketplace knows this instance by
    /// (`ATOM_SAAS_API_TOKEN`) as read at the cold start; never logged.
    pub api_token: Secret,
    /// Where and how often the token is read again (from Secrets Manager
    /// when `ATOM_SAAS_API_TOKEN_SECRET_ARN` is set; never otherwise).
    pub token_refresh: Refresh,
    /// This Atom instance's id at the marketplace (`ATOM_INSTANCE_ID`).
    pub instance_id: String,
    /// Upper bound on one HTTP request, connection included
    /// (`ATOM_SAAS_TIMEOUT_SECONDS`).
    pub request_timeout: Duration,
    /// The most read of one skill's ratings; a larger answer is invalid.
    /// Bounds the memory a hostile or broken marketplace can make a pull use
    /// (`ATOM_SAAS_MAX_SKILL_RESPONSE_BYTES`).
    pub max_skill_response_bytes: usize,
}

/// The default of [`MarketplaceConfig::max_skill_response_bytes`]: about
/// 15,000 ratings with full comments.
pub const DEFAULT_MAX_SKILL_RESPONSE_BYTES: usize =
    settings::MAX_SKILL_RESPONSE_BYTES.default as usize;

/// The value of [`SyncSettings::pull_skills_per_run`] when
/// `RATING_SYNC_PULL_SKILLS_PER_RUN` is unset: no cap, only the run's
/// time and the rate ceiling bound the pull.
pub const PULL_SKILLS_UNCAPPED: u32 = u32::MAX;

/// Exponential backoff between `base` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry; later waits grow from it.
    pub base: Duration,
    /// The longest wait, however many retries came before.
    pub max: Duration,
}

/// At most `max` requests in any window of length `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in one window.
    pub max: u32,
    /// The window's length.
    pub per: Duration,
}

/// The waits between the attempts at one request within a run: not a
/// setting.
const REQUEST_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    max: Duration::from_secs(5),
};

/// The window of `ATOM_SAAS_MAX_REQUESTS_PER_MINUTE`.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// How a sync run paces itself and what it does with failures. Each field
/// but `request_backoff` is a setting of [`settings`], named beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSettings {
    /// Ratings read from an index per query (`RATING_SYNC_BATCH_SIZE`).
    pub batch_size: u32,
    /// Marketplace requests in flight at once
    /// (`RATING_SYNC_MAX_CONCURRENCY`).
    pub max_concurrency: usize,
    /// A run starts no new upload when less than this is left before the
    /// invocation's deadline, so in-flight work can finish and be recorded
    /// (`RATING_SYNC_DEADLINE_MARGIN_SECONDS`).
    pub deadline_margin: Duration,
    /// Attempts at one request within a run; only transient errors are
    /// tried again (`RATING_SYNC_REQUEST_ATTEMPTS`).
    pub request_attempts: u32,
    /// Waits between those attempts (full jitter).
    pub request_backoff: Backoff,
    /// Failed runs after which a rating is parked until an admin retries it
    /// (`RATING_SYNC_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// When a failed rating is tried again by a later run
    /// (`RATING_SYNC_RETRY_BACKOFF_SECONDS`, `..._MAX_SECONDS`).
    pub retry_backoff: Backoff,
    /// Consecutive transient failures that open the circuit breaker
    /// (`RATING_SYNC_BREAKER_THRESHOLD`).
    pub breaker_threshold: u32,
    /// A ceiling on marketplace requests, if the marketplace wants one
    /// (`ATOM_SAAS_MAX_REQUESTS_PER_MINUTE`).
    pub rate_limit: Option<RateLimit>,
    /// How long the run lease lasts without renewal; a run renews it every
    /// third of this, so a run that dies blocks the next one at most this
    /// long (`RATING_SYNC_LEASE_SECONDS`).
    pub lease_ttl: Duration,
    /// The most skills whose remote ratings one run reads to pull remote
    /// changes in; 0 turns pulling off. Unset,
    /// [`PULL_SKILLS_UNCAPPED`], which never binds: a run reads as many
    /// skills as its deadline and the rate ceiling leave, each at most once
    /// (`RATING_SYNC_PULL_SKILLS_PER_RUN`).
    pub pull_skills_per_run: u32,
    /// How far in the future a remote rating's time may lie (clocks differ
    /// a little); one further ahead is not taken, or it would win every
    /// later comparison (`RATING_SYNC_MAX_CLOCK_SKEW_SECONDS`).
    pub max_clock_skew: Duration,
    /// Pending ratings younger than this are left to the fast path (the
    /// stream-triggered function) by scheduled runs; zero when there is no
    /// fast path, so the schedule takes everything
    /// (`RATING_SYNC_FAST_PATH_GRACE_SECONDS`).
    pub fast_path_grace: Duration,
}

impl Default for SyncSettings {
    /// Every setting's default, as its entry declares it.
    fn default() -> Self {
        Self {
            batch_size: settings::BATCH_SIZE.default,
            max_concurrency: settings::MAX_CONCURRENCY.default as usize,
            deadline_margin: settings::DEADLINE_MARGIN.default_duration(),
            request_attempts: settings::REQUEST_ATTEMPTS.default,
            request_backoff: REQUEST_BACKOFF,
            max_attempts: settings::MAX_ATTEMPTS.default,
            retry_backoff: Backoff {
                base: settings::RETRY_BACKOFF.default_duration(),
                max: settings::RETRY_BACKOFF_MAX.default_duration(),
            },
            breaker_threshold: settings::BREAKER_THRESHOLD.default,
            rate_limit: None,
            lease_ttl: settings::LEASE.default_duration(),
            pull_skills_per_run: PULL_SKILLS_UNCAPPED,
            max_clock_skew: settings::MAX_CLOCK_SKEW.default_duration(),
            fast_path_grace: settings::FAST_PATH_GRACE.default_duration(),
        }
    }
}

impl SyncSettings {
    /// Each setting from its entry; the retry backoff's longest wait is
    /// never below its first.
    fn read(env: &Lookup<'_>) -> Result<Self, ConfigError> {
        let retry_base = env.seconds(&settings::RETRY_BACKOFF)?;
        Ok(Self {
            batch_size: env.number(&settings::BATCH_SIZE)?,
            max_concurrency: env.number(&settings::MAX_CONCURRENCY)? as usize,
            deadline_margin: env.seconds(&settings::DEADLINE_MARGIN)?,
            request_attempts: env.number(&settings::REQUEST_ATTEMPTS)?,
            request_backoff: REQUEST_BACKOFF,
            max_attempts: env.number(&settings::MAX_ATTEMPTS)?,
            retry_backoff: Backoff {
                base: retry_base,
                max: env.seconds(&settings::RETRY_BACKOFF_MAX)?.max(retry_base),
            },
            breaker_threshold: env.number(&settings::BREAKER_THRESHOLD)?,
            rate_limit: env
                .optional_number(&settings::MAX_REQUESTS_PER_MINUTE)?
                .map(|max| RateLimit {
                    max,
                    per: RATE_WINDOW,
                }),
            lease_ttl: env.seconds(&settings::LEASE)?,
            pull_skills_per_run: env
                .optional_number(&settings::PULL_SKILLS_PER_RUN)?
                .unwrap_or(PULL_SKILLS_UNCAPPED),
            max_clock_skew: env.seconds(&settings::MAX_CLOCK_SKEW)?,
            fast_path_grace: env.seconds(&settings::FAST_PATH_GRACE)?,
        })
    }
}

impl MarketplaceConfig {
    /// Each setting from its entry; the URL must pass
    /// [`marketplace_url_problem`]. The token is not read again
    /// ([`Config::from_environment`] says from where it is).
    fn read(env: &Lookup<'_>) -> Result<Self, ConfigError> {
        let base_url = env.required(&settings::MARKETPLACE_URL)?;
        if let Some(reason) = marketplace_url_problem(&base_url) {
            return Err(ConfigError::Invalid {
                name: settings::MARKETPLACE_URL.name,
                value: base_url,
                reason,
            });
        }
        Ok(Self {
            base_url,
            api_token: env.secret(&settings::API_TOKEN)?,
            token_refresh: Refresh::default(),
            instance_id: env.required(&settings::INSTANCE_ID)?,
            request_timeout: env.seconds(&settings::REQUEST_TIMEOUT)?,
            max_skill_response_bytes: env.number(&settings::MAX_SKILL_RESPONSE_BYTES)? as usize,
        })
    }
}

/// What the functions that sync read: the tables, the marketplace, and
/// how a run paces itself.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the ratings, the failures and the run state are kept.
    pub tables: TableNames,
    /// Where ratings are uploaded, and with which token.
    pub marketplace: MarketplaceConfig,
    /// How a run paces itself and what it does with failures.
    pub sync: SyncSettings,
    /// The EventBridge bus the sync's events go to, a name or an ARN
    /// (`RATING_SYNC_EVENT_BUS`); `None`, unset or blank: no events.
    pub event_bus: Option<String>,
}

impl FromEnvironment for Config {
    /// The token is read again from where the environment read it.
    fn from_environment(environment: &Environment) -> Result<Self, ConfigError> {
        let mut config = Self::from_lookup(|name| environment.get(name))?;
        config.marketplace.token_refresh = environment.refresh(&settings::API_TOKEN);
        Ok(config)
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Lookup(&lookup);
        Ok(Self {
            tables: env.tables(),
            marketplace: MarketplaceConfig::read(&env)?,
            sync: SyncSettings::read(&env)?,
            event_bus: event_bus::event_bus(&env)?,
        })
    }
}

/// Why `url` may not be the marketplace's: it must be an absolute https
/// URL, so that the token never travels in the clear; plain http only to a
/// loopback host (the local stack and tests).
fn marketplace_url_problem(url: &str) -> Option<String> {
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => return Some(format!("not an absolute URL: {e}")),
    };
    let Some(host) = parsed.host_str() else {
        return Some("the URL names no host".into());
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => None,
        "http" if loopback => None,
        "http" => Some("must be https:// (plain http only to a loopback host)".into()),
        other => Some(format!("must be https://, not {other}://")),
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
        assert_eq!(config.sync.max_attempts, 5);
        assert_eq!(config.sync.rate_limit, None);
        assert_eq!(config.sync.lease_ttl, Duration::from_secs(60));
        assert_eq!(config.sync.pull_skills_per_run, PULL_SKILLS_UNCAPPED);
    }

    #[test]
    fn the_delivery_settings_are_read_from_their_variables() {
        let mut pairs = REQUIRED.to_vec();
        pairs.extend([
            ("ATOM_SAAS_MAX_REQUESTS_PER_MINUTE", "100"),
            ("RATING_SYNC_MAX_ATTEMPTS", "3"),
            ("RATING_SYNC_RETRY_BACKOFF_SECONDS", "60"),
            ("RATING_SYNC_RETRY_BACKOFF_MAX_SECONDS", "30"),
            ("RATING_SYNC_BREAKER_THRESHOLD", "2"),
            ("RATING_SYNC_REQUEST_ATTEMPTS", "1"),
            ("RATING_SYNC_LEASE_SECONDS", "30"),
            ("RATING_SYNC_PULL_SKILLS_PER_RUN", "0"),
        ]);
        let sync = config_from(&pairs).unwrap().sync;
        assert_eq!(
            sync.rate_limit,
            Some(RateLimit {
                max: 100,
                per: Duration::from_secs(60)
            })
        );
        assert_eq!(sync.max_attempts, 3);
        assert_eq!(sync.retry_backoff.base, Duration::from_secs(60));
        assert_eq!(
            sync.retry_backoff.max,
            Duration::from_secs(60),
            "never below the base"
        );
        assert_eq!(sync.breaker_threshold, 2);
        assert_eq!(sync.request_attempts, 1);
        assert_eq!(sync.lease_ttl, Duration::from_secs(30));
        assert_eq!(sync.pull_skills_per_run, 0, "pulling off");
        let mut capped = REQUIRED.to_vec();
        capped.push(("RATING_SYNC_PULL_SKILLS_PER_RUN", "250"));
        assert_eq!(config_from(&capped).unwrap().sync.pull_skills_per_run, 250);
    }

    #[test]
    fn the_marketplace_url_is_https_except_on_loopback() {
        let with_url = |url: &str| {
            let mut pairs = REQUIRED.to_vec();
            pairs.retain(|(name, _)| *name != "ATOM_SAAS_API_URL");
            pairs.push(("ATOM_SAAS_API_URL", url));
            config_from(&pairs)
        };
        for good in [
            "https://marketplace.example/api",
            "http://127.0.0.1:8080",
            "http://127.0.0.2:9",
            "http://localhost:3000/api",
            "http://[::1]:8080",
        ] {
            assert!(with_url(good).is_ok(), "{good}");
        }
        for (bad, says) in [
            ("http://marketplace.example/api", "must be https://"),
            ("http://10.0.0.1/api", "must be https://"),
            ("http://127.0.0.1.evil.example/", "must be https://"),
            ("ftp://marketplace.example/", "not ftp://"),
            ("marketplace.example/api", "not an absolute URL"),
        ] {
            match with_url(bad) {
                Err(ConfigError::Invalid { name, reason, .. }) => {
                    assert_eq!(name, "ATOM_SAAS_API_URL");
                    assert!(reason.contains(says), "{bad}: {reason}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
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
            ("ATOM_SAAS_MAX_REQUESTS_PER_MINUTE", "0"),
            ("RATING_SYNC_MAX_ATTEMPTS", "many"),
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
