//! Who may call the admin functions, decided from the request alone.
//!
//! Every admin request carries `Authorization: Bearer <JWT>`. The API's
//! Lambda authorizer ([`crate::triggers::http::admin_authorizer`]) checks it here, and so
//! does each admin function before it touches a table, so that a function
//! reached some other way is no softer. The token is signed with HS256
//! (HMAC-SHA256) under a secret shared with whoever issues admin tokens; the
//! function reads that secret from its configuration (`ADMIN_JWT_SECRET`
//! locally) and builds one [`AdminVerifier`] per cold start, and again
//! when the secret read again from Secrets Manager has changed; after a
//! rotation the verifier also accepts the previous secret for a while
//! ([`AdminVerifier::accepting_previous`], see [`crate::secrets`]).
//!
//! The check is small on purpose (one algorithm, a handful of claims) and is
//! written on the RustCrypto crates already in the tree rather than on a JWT
//! library, so that there is no algorithm negotiation to get wrong:
//!
//! - the header's `alg` must be exactly `HS256`. Anything else, `none` above
//!   all but also HS384, HS512 or RS256, is refused before the signature is
//!   looked at. So is a header with `crit`, whose extensions this module
//!   would have to understand;
//! - every segment is base64url without padding; padding or a character
//!   outside that alphabet makes the token malformed;
//! - the header and the claims are JSON objects whose top-level keys are all
//!   different: parsers disagree on which of two equal keys counts;
//! - the signature is compared in constant time (`Mac::verify_slice`);
//! - `exp` and `iat` are required and `nbf` is honoured when present, all
//!   as numbers of seconds since the Unix epoch, `exp` and `nbf` with
//!   [`CLOCK_LEEWAY`], and `iat` at most that far in the future. A token
//!   whose lifetime `exp - iat` is longer than the policy's `max_ttl` is
//!   refused whatever time is left on it: a 30-day token is no good on its
//!   last day either, and a token with `exp: 1e308` would otherwise never
//!   expire. The numbers are compared as floats and never cast to integers,
//!   so no value can wrap or panic;
//! - `iss` and `aud` are checked when the deployment names an issuer or an
//!   audience ([`AdminPolicy`]): `iss` must equal the issuer, `aud` must be
//!   the audience or an array of strings that holds it;
//! - `sub` is required, a non-empty string: every admin call is recorded
//!   with who made it;
//! - `role` must be `super_admin`. A token with an `agent_id` claim acts for
//!   an agent, which also needs `maturity` `AUTONOMOUS` in any letter case.
//!
//! A claim this module reads is either absent or of its JSON type: `null` or
//! another type makes the token malformed. So a refusal falls into one of two
//! families ([`AuthError::denies_permission`]) that the API maps onto HTTP: the request did
//! not prove who sent it (401 `UNAUTHORIZED`), or it did and that sender may
//! not do this (403 `PERMISSION_DENIED`).
//!
//! Neither the secret nor the token ever reaches an error message or `Debug`
//! output. Errors carry fixed reasons; the only claim values they repeat are
//! a refused `role` or `maturity`, read from a token whose signature has
//! already been checked.
//!
//! `jwt.rs` is the HS256 codec, `policy.rs` what the claims must say; this
//! module puts them together in [`AdminVerifier`]. `mint.rs` is the other
//! side: the tokens the operator's command line and the local stack mint
//! ([`mint`]), with the claims a policy wants.

mod jwt;
mod mint;
mod policy;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, SystemTime};

use thiserror::Error;

use crate::keyed::{keyed_hmac, HmacSha256};
use crate::secrets::Secret;
use policy::Claims;

pub use crate::keyed::SecretError;
#[cfg(any(test, feature = "test-util"))]
pub use jwt::sign_token;
pub use jwt::{TokenPart, ALGORITHM};
pub use mint::{claims as token_claims, mint, Agent, MintError, TokenRequest};
pub use policy::AdminPolicy;

/// The role every admin token needs.
pub const ADMIN_ROLE: &str = "super_admin";

/// The maturity an agent needs (compared ignoring ASCII letter case).
pub const AUTONOMOUS: &str = "AUTONOMOUS";

/// How far the function's clock may disagree with the issuer's: a token is
/// still accepted up to this long after its `exp`, and from this long before
/// its `nbf`. Small enough that an expired token is not useful for long.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(30);

/// How long an admin token may live by default: a day, the default of
/// `ADMIN_JWT_MAX_TTL_SECONDS`. See [`AdminPolicy`].
pub const DEFAULT_MAX_TTL: Duration = crate::config::settings::ADMIN_MAX_TTL.default_duration();

/// Why a request may not use the admin functions.
///
/// The first variants (up to [`AuthError::DuplicateKey`]) are 401
/// `UNAUTHORIZED`: the request did not prove who sent it. The rest are 403
/// `PERMISSION_DENIED`: it did, and that sender is not allowed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("the request has no Authorization header")]
    MissingHeader,
    /// The header is not of the form `Bearer <token>`.
    #[error("the Authorization header does not hold a Bearer token")]
    NotBearer,
    /// The token cannot be read as a JWT; the text says what is wrong.
    #[error("the bearer token is malformed: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not HS256, the only algorithm accepted.
    #[error("the token is not signed with HS256, the only algorithm accepted")]
    UnsupportedAlgorithm,
    /// The signature does not match: the token was altered, or signed with
    /// another secret.
    #[error("the token's signature does not match")]
    BadSignature,
    /// No `exp` claim: admin tokens must expire.
    #[error("the token has no exp claim, which admin tokens must carry")]
    MissingExpiry,
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still in the future.
    #[error("the token is not valid yet: its nbf is in the future")]
    NotYetValid,
    /// No `iat` claim: without it the token's lifetime is unknown.
    #[error("the token has no iat claim, which admin tokens must carry")]
    MissingIssuedAt,
    /// `iat` is further in the future than the clock leeway allows.
    #[error("the token's iat is in the future")]
    IssuedInTheFuture,
    /// `exp - iat` is longer than the policy's `max_ttl` allows.
    #[error(
        "the token lives longer (exp - iat) than the {max_ttl_seconds} s admin tokens may live"
    )]
    LifetimeTooLong {
        /// The longest life the policy allows, in seconds, for the message.
        max_ttl_seconds: u64,
    },
    /// No `sub`, or a blank one: the audit trail could not name the caller.
    #[error("the token names no subject: admin tokens must carry a non-empty sub")]
    MissingSubject,
    /// The deployment trusts one issuer and the token has no `iss`.
    #[error("the token has no iss claim; this deployment trusts one issuer only")]
    MissingIssuer,
    /// `iss` is not the issuer this deployment trusts (`ADMIN_JWT_ISSUER`).
    #[error("the token's iss is not the issuer this deployment trusts")]
    WrongIssuer,
    /// The deployment has an audience and the token has no `aud`.
    #[error("the token has no aud claim; this deployment accepts tokens for its audience only")]
    MissingAudience,
    /// `aud` does not name this deployment's audience
    /// (`ADMIN_JWT_AUDIENCE`).
    #[error("the token's aud does not name this deployment's audience")]
    WrongAudience,
    /// Two parsers could read such a token differently; see [`TokenPart`].
    #[error("the token's {0} repeats a key")]
    DuplicateKey(TokenPart),

    /// No role claim: the admin functions need `super_admin`.
    #[error("the token carries no role; the admin functions need super_admin")]
    MissingRole,
    /// A role other than `super_admin`.
    #[error("role {role:?} may not use the admin functions; they need super_admin")]
    RoleNotAllowed {
        /// The role the token carries, repeated in the message.
        role: String,
    },
    /// The token acts for an agent but does not say the agent's maturity.
    #[error("the token acts for an agent but carries no maturity; the agent must be AUTONOMOUS")]
    AgentWithoutMaturity,
    /// The token acts for an agent that is not `AUTONOMOUS`.
    #[error("the token acts for an agent of maturity {maturity:?}; the agent must be AUTONOMOUS")]
    AgentNotAutonomous {
        /// The maturity the token gives, repeated in the message.
        maturity: String,
    },
}

impl AuthError {
    /// Whether the request proved who sent it, and that sender may not do
    /// this (403 in HTTP), rather than not proving it at all (401). No
    /// wildcard: a new variant has to be put in a family here.
    pub fn denies_permission(&self) -> bool {
        match self {
            Self::MissingHeader
            | Self::NotBearer
            | Self::Malformed(_)
            | Self::UnsupportedAlgorithm
            | Self::BadSignature
            | Self::MissingExpiry
            | Self::Expired
            | Self::NotYetValid
            | Self::MissingIssuedAt
            | Self::IssuedInTheFuture
            | Self::LifetimeTooLong { .. }
            | Self::MissingSubject
            | Self::MissingIssuer
            | Self::WrongIssuer
            | Self::MissingAudience
            | Self::WrongAudience
            | Self::DuplicateKey(_) => false,
            Self::MissingRole
            | Self::RoleNotAllowed { .. }
            | Self::AgentWithoutMaturity
            | Self::AgentNotAutonomous { .. } => true,
        }
    }
}

/// Who an accepted token speaks for, so that the caller can record who did
/// what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// The `sub` claim: never empty.
    pub subject: String,
    /// Always [`ADMIN_ROLE`] today; kept so that records need not assume it.
    pub role: String,
    /// Set when the token acts for an agent.
    pub agent_id: Option<String>,
    /// The `maturity` claim as written in the token.
    pub maturity: Option<String>,
}

/// Checks the `Authorization` header of admin requests.
///
/// It holds the HMAC already keyed with the secret, not the secret, and its
/// `Debug` output shows neither. After a rotation it may hold the previous
/// secret's too, and then accepts a token signed with either.
#[derive(Clone)]
pub struct AdminVerifier {
    mac: HmacSha256,
    previous: Option<HmacSha256>,
    policy: AdminPolicy,
}

impl fmt::Debug for AdminVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminVerifier(HS256, ***, {:?})", self.policy)
    }
}

impl AdminVerifier {
    /// A verifier for tokens signed with `secret` that meet `policy`. A
    /// blank secret is refused: anyone could sign with it.
    pub fn new(secret: &Secret, policy: AdminPolicy) -> Result<Self, SecretError> {
        Ok(Self {
            mac: keyed_hmac(secret)?,
            previous: None,
            policy,
        })
    }

    /// The same verifier, accepting tokens signed with `previous` too (the
    /// secret a rotation replaced; see [`crate::secrets`]).
    pub fn accepting_previous(mut self, previous: &Secret) -> Result<Self, SecretError> {
        self.previous = Some(keyed_hmac(previous)?);
        Ok(self)
    }

    /// What a token must say besides its signature: issuer, audience and
    /// longest life.
    pub fn policy(&self) -> &AdminPolicy {
        &self.policy
    }

    /// The admin that `authorization_header` (the header's value, `None` when
    /// the request has none) proves, as of `now`.
    pub fn authorize(
        &self,
        authorization_header: Option<&str>,
        now: SystemTime,
    ) -> Result<Admin, AuthError> {
        let token = bearer_token(authorization_header)?;
        let verified = match (jwt::verified_claims(&self.mac, token), &self.previous) {
            (Err(AuthError::BadSignature), Some(previous)) => {
                jwt::verified_claims(previous, token)?
            }
            (verified, _) => verified?,
        };
        let claims = Claims::read(&verified)?;
        claims.check_validity_at(now, self.policy.max_ttl())?;
        claims.check_issuer_and_audience(&self.policy)?;
        claims.into_admin()
    }
}

/// The token in a `Bearer` header value. The scheme is matched ignoring
/// case, as HTTP has it.
fn bearer_token(authorization_header: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization_header
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(AuthError::MissingHeader)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    Ok(token.trim_start_matches(' '))
}
