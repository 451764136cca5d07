//! Admin tokens minted here: the claims [`AdminVerifier`](super::AdminVerifier)
//! wants (`sub`, `role`, for an agent `agent_id` and `maturity`, `iat`,
//! `exp`, and `iss` and `aud` where the deployment's
//! [`AdminPolicy`] names them), signed with HS256 under the admin secret.
//!
//! The operator's command line (`atom-rating-sync token`, and the token it
//! mints for its own admin calls) and the local stack's `token` command
//! both mint through [`mint`]. A lifetime longer than the policy's
//! `max_ttl` is refused here, before anything is signed: the API would
//! refuse the token anyway, and an error naming the bound is the one a
//! person can act on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use thiserror::Error;

use super::jwt::encode_signed;
use super::{AdminPolicy, ALGORITHM};
use crate::keyed::{keyed_hmac, SecretError};
use crate::secrets::Secret;

/// What a minted token says: who, in which role, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The `sub` claim: who the audit trail records. Not blank.
    pub subject: String,
    /// The `role` claim; the admin API wants [`ADMIN_ROLE`](super::ADMIN_ROLE).
    pub role: String,
    /// `agent_id` and `maturity`, for a token that acts for an agent.
    pub agent: Option<Agent>,
    /// `exp - iat`: at least a second, at most the policy's `max_ttl`.
    pub lifetime: Duration,
}

/// The agent a token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The `agent_id` claim.
    pub id: String,
    /// The `maturity` claim; the admin API wants
    /// [`AUTONOMOUS`](super::AUTONOMOUS).
    pub maturity: String,
}

/// Why no token was minted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MintError {
    /// The secret cannot key an HMAC (blank).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The subject is blank: the API would refuse the token (401).
    #[error("a token needs a subject (sub): who the audit trail records")]
    BlankSubject,
    /// A lifetime of less than a second.
    #[error("a token must live at least a second")]
    NoLifetime,
    /// Longer than the deployment lets a token live.
    #[error(
        "a token may live at most {max_ttl_seconds} s here (ADMIN_JWT_MAX_TTL_SECONDS); \
         {requested_seconds} s were asked for"
    )]
    LifetimeTooLong {
        /// The lifetime asked for, in seconds.
        requested_seconds: u64,
        /// The policy's `max_ttl`, in seconds.
        max_ttl_seconds: u64,
    },
    /// The clock reads before 1970.
    #[error("the system clock reads before 1970")]
    ClockBeforeEpoch,
}

/// A token for `request`, issued at `now`, meeting `policy`, signed with
/// `secret`. The token is returned to be handed over; it is never logged.
pub fn mint(
    secret: &Secret,
    policy: &AdminPolicy,
    request: &TokenRequest,
    now: SystemTime,
) -> Result<String, MintError> {
    Ok(encode_signed(
        keyed_hmac(secret)?,
        &json!({ "alg": ALGORITHM, "typ": "JWT" }),
        &claims(policy, request, now)?,
    ))
}

/// The claims [`mint`] signs.
pub fn claims(
    policy: &AdminPolicy,
    request: &TokenRequest,
    now: SystemTime,
) -> Result<Value, MintError> {
    if request.subject.trim().is_empty() {
        return Err(MintError::BlankSubject);
    }
    let lifetime = request.lifetime.as_secs();
    if lifetime == 0 {
        return Err(MintError::NoLifetime);
    }
    if request.lifetime > policy.max_ttl() {
        return Err(MintError::LifetimeTooLong {
            requested_seconds: lifetime,
            max_ttl_seconds: policy.max_ttl().as_secs(),
        });
    }
    let issued_at = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| MintError::ClockBeforeEpoch)?
        .as_secs();
    let mut claims = Map::new();
    claims.insert("sub".into(), request.subject.clone().into());
    claims.insert("role".into(), request.role.clone().into());
    claims.insert("iat".into(), issued_at.into());
    claims.insert("exp".into(), issued_at.saturating_add(lifetime).into());
    if let Some(issuer) = policy.issuer() {
        claims.insert("iss".into(), issuer.into());
    }
    if let Some(audience) = policy.audience() {
        claims.insert("aud".into(), audience.into());
    }
    if let Some(agent) = &request.agent {
        claims.insert("agent_id".into(), agent.id.clone().into());
        claims.insert("maturity".into(), agent.maturity.clone().into());
    }
    Ok(Value::Object(claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AdminVerifier, AuthError, ADMIN_ROLE, AUTONOMOUS};

    const SECRET: &str = "a-minting-secret-of-more-than-32-bytes";

    fn request(lifetime: u64) -> TokenRequest {
        TokenRequest {
            subject: "you@example.com".into(),
            role: ADMIN_ROLE.into(),
            agent: None,
            lifetime: Duration::from_secs(lifetime),
        }
    }

    fn policy(max_ttl: u64) -> AdminPolicy {
        AdminPolicy::new(
            Some("https://issuer.example".into()),
            Some("atom-admin".into()),
            Duration::from_secs(max_ttl),
        )
    }

    #[test]
    fn a_minted_token_passes_the_verifier_of_its_policy() {
        let now = SystemTime::now();
        let token = mint(&Secret::new(SECRET), &policy(900), &request(900), now).unwrap();
        let verifier = AdminVerifier::new(&Secret::new(SECRET), policy(900)).unwrap();
        let admin = verifier
            .authorize(Some(&format!("Bearer {token}")), now)
            .unwrap();
        assert_eq!(admin.subject, "you@example.com");
        assert_eq!(admin.role, ADMIN_ROLE);

        let other = AdminVerifier::new(&Secret::new(SECRET), AdminPolicy::default()).unwrap();
        assert!(other
            .authorize(Some(&format!("Bearer {token}")), now)
            .is_ok());
        let foreign = AdminVerifier::new(
            &Secret::new(SECRET),
            AdminPolicy::new(Some("someone-else".into()), None, Duration::from_secs(900)),
        )
        .unwrap();
        assert_eq!(
            foreign.authorize(Some(&format!("Bearer {token}")), now),
            Err(AuthError::WrongIssuer)
        );
    }

    #[test]
    fn the_claims_say_who_for_how_long_and_for_which_deployment() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut agent = request(60);
        agent.agent = Some(Agent {
            id: "agent-7".into(),
            maturity: AUTONOMOUS.into(),
        });
        let claims = claims(&policy(900), &agent, now).unwrap();
        assert_eq!(
            claims,
            json!({
                "sub": "you@example.com", "role": "super_admin",
                "iat": 1_800_000_000u64, "exp": 1_800_000_060u64,
                "iss": "https://issuer.example", "aud": "atom-admin",
                "agent_id": "agent-7", "maturity": "AUTONOMOUS",
            })
        );
        let plain = super::claims(&AdminPolicy::default(), &request(60), now).unwrap();
        assert!(plain.get("iss").is_none() && plain.get("aud").is_none());
    }

    #[test]
    fn a_lifetime_beyond_the_policy_a_blank_subject_or_secret_is_refused() {
        let now = SystemTime::now();
        let secret = Secret::new(SECRET);
        assert_eq!(
            mint(&secret, &policy(900), &request(901), now),
            Err(MintError::LifetimeTooLong {
                requested_seconds: 901,
                max_ttl_seconds: 900
            })
        );
        assert!(mint(&secret, &policy(900), &request(900), now).is_ok());
        assert_eq!(
            mint(&secret, &policy(900), &request(0), now),
            Err(MintError::NoLifetime)
        );
        let mut blank = request(60);
        blank.subject = "  ".into();
        assert_eq!(
            mint(&secret, &policy(900), &blank, now),
            Err(MintError::BlankSubject)
        );
        assert!(matches!(
            mint(&Secret::new(" "), &policy(900), &request(60), now),
            Err(MintError::Secret(_))
        ));
        let shown = mint(&secret, &policy(900), &request(901), now)
            .unwrap_err()
            .to_string();
        assert!(shown.contains("ADMIN_JWT_MAX_TTL_SECONDS") && shown.contains("900"));
    }
}
