//! What the admin functions read: the tables, the secret that signs admin
//! tokens (and keys the listing's cursors), the token policy and how long
//! the audit trail is kept.

use super::env::{Environment, FromEnvironment, Lookup};
use super::error::ConfigError;
use super::settings;
use super::TableNames;
use crate::auth::{AdminPolicy, CLOCK_LEEWAY};
use crate::secrets::{Refresh, Secret};

/// How long an audit record is kept by default, in days (DynamoDB's TTL
/// removes it then): `AUDIT_RETENTION_DAYS`'s default.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = settings::AUDIT_RETENTION_DAYS.default;

/// The shortest admin secret accepted, in bytes: HS256 wants a key at
/// least as long as its hash (RFC 7518, section 3.2), and a short one can be
/// guessed offline from any token.
pub const MIN_ADMIN_SECRET_BYTES: usize = 32;

/// What the admin functions read: the tables, the secret that signs admin
/// tokens (and the listing's cursors), and what a token must say besides. The marketplace settings are
/// not here: the functions that upload read [`Config`](super::Config) as well, the others
/// never see the marketplace token.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// The tables the admin functions read, and the audit table they add to.
    pub tables: TableNames,
    /// `ADMIN_JWT_SECRET`, required: without it nobody could be let in, and a
    /// function that starts anyway would only answer 401.
    pub jwt_secret: Secret,
    /// Where and how often the secret is read again (from Secrets Manager
    /// when `ADMIN_JWT_SECRET_SECRET_ARN` is set, with its previous value
    /// for a token's longest life after a rotation; never otherwise).
    pub jwt_secret_refresh: Refresh,
    /// How long an audit record is kept (`AUDIT_RETENTION_DAYS`), in days.
    pub audit_retention_days: u32,
    /// `ADMIN_JWT_ISSUER` and `ADMIN_JWT_AUDIENCE` (each optional: unset or
    /// blank, that claim is not compared) and `ADMIN_JWT_MAX_TTL_SECONDS`
    /// ([`settings::ADMIN_MAX_TTL`]).
    pub policy: AdminPolicy,
}

/// The secret must be at least [`MIN_ADMIN_SECRET_BYTES`] long.
impl FromEnvironment for AdminConfig {
    /// The secret is read again from where the environment read it, with
    /// its previous value while the current one is younger than the
    /// longest life of a token: a token signed just before a rotation
    /// stays good until it expires.
    fn from_environment(environment: &Environment) -> Result<Self, ConfigError> {
        let mut config = Self::from_lookup(|name| environment.get(name))?;
        let mut refresh = environment.refresh(&settings::ADMIN_SECRET);
        refresh.source = refresh
            .source
            .keeping_previous_for(config.policy.max_ttl() + CLOCK_LEEWAY);
        config.jwt_secret_refresh = refresh;
        Ok(config)
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Lookup(&lookup);
        let secret = env.secret(&settings::ADMIN_SECRET)?;
        let length = secret.expose().len();
        if length < MIN_ADMIN_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                name: settings::ADMIN_SECRET.name,
                // The value is a secret: never repeated, not even in an error.
                value: "***".into(),
                reason: format!("must be at least {MIN_ADMIN_SECRET_BYTES} bytes, it has {length}"),
            });
        }
        let policy = AdminPolicy::new(
            env.optional(&settings::ADMIN_ISSUER),
            env.optional(&settings::ADMIN_AUDIENCE),
            env.seconds(&settings::ADMIN_MAX_TTL)?,
        );
        Ok(Self {
            tables: env.tables(),
            jwt_secret: secret,
            jwt_secret_refresh: Refresh::default(),
            audit_retention_days: env.number(&settings::AUDIT_RETENTION_DAYS)?,
            policy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn admin_config_from(pairs: &[(&str, &str)]) -> Result<AdminConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AdminConfig::from_lookup(|name| map.get(name).cloned())
    }

    const ADMIN_SECRET: &str = "an-admin-secret-of-more-than-32-bytes";

    #[test]
    fn the_admin_functions_need_their_secret_and_nothing_of_the_marketplace() {
        let config = admin_config_from(&[
            ("ADMIN_JWT_SECRET", ADMIN_SECRET),
            ("FAILED_UPLOADS_TABLE", "dead_letters"),
        ])
        .unwrap();
        assert_eq!(config.jwt_secret.expose(), ADMIN_SECRET);
        assert_eq!(config.tables.failed_uploads, "dead_letters");
        assert_eq!(config.tables.ratings, "skill_ratings");
        for blank in [&[][..], &[("ADMIN_JWT_SECRET", "  ")][..]] {
            assert_eq!(
                admin_config_from(blank).unwrap_err(),
                ConfigError::Missing("ADMIN_JWT_SECRET")
            );
        }
    }

    #[test]
    fn a_short_admin_secret_is_refused_without_showing_it() {
        let error = admin_config_from(&[("ADMIN_JWT_SECRET", "short-secret")]).unwrap_err();
        assert!(
            matches!(
                &error,
                ConfigError::Invalid {
                    name: "ADMIN_JWT_SECRET",
                    ..
                }
            ),
            "{error:?}"
        );
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("short-secret"), "{shown}");
        assert!(shown.contains("at least 32 bytes"), "{shown}");
        let config = admin_config_from(&[("ADMIN_JWT_SECRET", ADMIN_SECRET)]).unwrap();
        assert!(!format!("{config:?}").contains(ADMIN_SECRET));
    }

    #[test]
    fn the_token_policy_defaults_to_no_issuer_no_audience_and_a_day() {
        let config = admin_config_from(&[("ADMIN_JWT_SECRET", ADMIN_SECRET)]).unwrap();
        assert_eq!(config.policy, AdminPolicy::default());
        assert_eq!(config.policy.issuer(), None);
        assert_eq!(config.policy.audience(), None);
        assert_eq!(config.policy.max_ttl(), Duration::from_secs(86_400));

        let blank = admin_config_from(&[
            ("ADMIN_JWT_SECRET", ADMIN_SECRET),
            ("ADMIN_JWT_ISSUER", " "),
            ("ADMIN_JWT_AUDIENCE", ""),
            ("ADMIN_JWT_MAX_TTL_SECONDS", ""),
        ])
        .unwrap();
        assert_eq!(blank.policy, AdminPolicy::default(), "blank is unset");
    }

    #[test]
    fn the_token_policy_is_read_from_its_variables() {
        let config = admin_config_from(&[
            ("ADMIN_JWT_SECRET", ADMIN_SECRET),
            ("ADMIN_JWT_ISSUER", " https://issuer.example "),
            ("ADMIN_JWT_AUDIENCE", "atom-rating-sync-admin"),
            ("ADMIN_JWT_MAX_TTL_SECONDS", "3600"),
        ])
        .unwrap();
        assert_eq!(
            config.policy,
            AdminPolicy::new(
                Some("https://issuer.example".into()),
                Some("atom-rating-sync-admin".into()),
                Duration::from_secs(3600),
            )
        );
        for edge in ["60", "2592000"] {
            let config = admin_config_from(&[
                ("ADMIN_JWT_SECRET", ADMIN_SECRET),
                ("ADMIN_JWT_MAX_TTL_SECONDS", edge),
            ])
            .unwrap();
            assert_eq!(config.policy.max_ttl().as_secs().to_string(), edge);
        }
    }

    #[test]
    fn an_admin_max_ttl_out_of_range_or_not_a_number_is_refused_by_name() {
        for value in ["0", "59", "2592001", "-1", "1e308", "a day", "86400.5"] {
            match admin_config_from(&[
                ("ADMIN_JWT_SECRET", ADMIN_SECRET),
                ("ADMIN_JWT_MAX_TTL_SECONDS", value),
            ]) {
                Err(ConfigError::Invalid { name, .. }) => {
                    assert_eq!(name, "ADMIN_JWT_MAX_TTL_SECONDS", "{value}")
                }
                other => panic!("{value}: expected Invalid, got {other:?}"),
            }
        }
    }
}
