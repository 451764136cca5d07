//! The admin keys: the token check and the cursor signer, both built from
//! the admin secret, and built again when a rotation changes it.

use crate::auth::{AdminPolicy, AdminVerifier, SecretError};
use crate::config::{AdminConfig, ConfigError, MIN_ADMIN_SECRET_BYTES};
use crate::secrets::{Rotating, Secret, SecretRead};

use super::cursor::CursorSigner;

/// What the admin secret keys: the token check and the cursors. Built from
/// the secret's current value and, after a rotation, its previous one,
/// whose tokens and cursors stay good for the grace period (see
/// [`crate::secrets`]).
#[derive(Debug, Clone)]
pub struct AdminKeys {
    /// Checks the admin tokens.
    pub verifier: AdminVerifier,
    /// Seals and opens the listing's cursors.
    pub cursors: CursorSigner,
}

impl AdminKeys {
    /// The keys of `secret`, whose tokens must meet `policy`.
    pub fn new(secret: &Secret, policy: AdminPolicy) -> Result<Self, SecretError> {
        Ok(Self {
            verifier: AdminVerifier::new(secret, policy)?,
            cursors: CursorSigner::new(secret)?,
        })
    }

    /// The keys of a secret as read: its current value, and the previous
    /// one if the read gave it. A current value shorter than
    /// [`MIN_ADMIN_SECRET_BYTES`] is refused, as at the cold start.
    pub fn from_read(read: &SecretRead, policy: AdminPolicy) -> Result<Self, String> {
        let length = read.current.expose().len();
        if length < MIN_ADMIN_SECRET_BYTES {
            return Err(format!(
                "must be at least {MIN_ADMIN_SECRET_BYTES} bytes, it has {length}"
            ));
        }
        let keys = Self::new(&read.current, policy).map_err(|e| e.to_string())?;
        match &read.previous {
            None => Ok(keys),
            Some(previous) => Ok(Self {
                verifier: keys
                    .verifier
                    .accepting_previous(previous)
                    .map_err(|e| e.to_string())?,
                cursors: keys
                    .cursors
                    .accepting_previous(previous)
                    .map_err(|e| e.to_string())?,
            }),
        }
    }

    /// The keys of `config`'s secret, read again as its configuration says
    /// (from Secrets Manager every `SECRETS_MANAGER_TTL`, if it came from
    /// there).
    pub fn rotating(config: &AdminConfig) -> Result<Rotating<Self>, ConfigError> {
        let policy = config.policy.clone();
        let refresh = &config.jwt_secret_refresh;
        Rotating::new(
            "ADMIN_JWT_SECRET",
            SecretRead::only(config.jwt_secret.clone()),
            refresh.source.clone(),
            refresh.ttl,
            move |read| Self::from_read(read, policy.clone()),
        )
        .map_err(|e| ConfigError::Invalid {
            name: "ADMIN_JWT_SECRET",
            // The value is a secret: never repeated, not even in an error.
            value: "***".into(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde_json::json;

    use super::*;
    use crate::auth::{sign_token, AuthError};

    const OLD: &str = "the-admin-secret-before-the-rotation";
    const NEW: &str = "the-admin-secret-after-the-rotation!!";

    fn bearer(secret: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({ "sub": "ops", "role": "super_admin", "iat": now, "exp": now + 300 });
        format!(
            "Bearer {}",
            sign_token(&Secret::new(secret), &claims).unwrap()
        )
    }

    fn read(current: &str, previous: Option<&str>) -> SecretRead {
        SecretRead {
            current: Secret::new(current),
            previous: previous.map(Secret::new),
        }
    }

    #[test]
    fn in_the_grace_period_tokens_signed_with_either_secret_are_accepted() {
        let keys = AdminKeys::from_read(&read(NEW, Some(OLD)), AdminPolicy::default()).unwrap();
        for secret in [NEW, OLD] {
            let header = bearer(secret);
            assert!(keys
                .verifier
                .authorize(Some(&header), SystemTime::now())
                .is_ok());
        }
        let other = bearer("a-third-secret-nobody-should-know-at-all");
        assert_eq!(
            keys.verifier.authorize(Some(&other), SystemTime::now()),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn after_the_grace_period_only_the_current_secret_is_accepted() {
        let keys = AdminKeys::from_read(&read(NEW, None), AdminPolicy::default()).unwrap();
        assert!(keys
            .verifier
            .authorize(Some(&bearer(NEW)), SystemTime::now())
            .is_ok());
        assert_eq!(
            keys.verifier
                .authorize(Some(&bearer(OLD)), SystemTime::now()),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn a_short_secret_read_again_is_refused_without_showing_it() {
        let error =
            AdminKeys::from_read(&read("short-secret", None), AdminPolicy::default()).unwrap_err();
        assert!(error.contains("at least 32 bytes"), "{error}");
        assert!(!error.contains("short-secret"), "{error}");
    }
}
