//! Who may call the admin functions, decided from the request alone.
//!
//! Every admin request carries `Authorization: Bearer <JWT>`. The API's
//! Lambda authorizer ([`crate::api::authorizer`]) checks it here, and so
//! does each admin function before it touches a table, so that a function
//! reached some other way is no softer. The token is signed with HS256
//! (HMAC-SHA256) under a secret shared with whoever issues admin tokens; the
//! function reads that secret from its configuration (`ADMIN_JWT_SECRET`
//! locally) and builds one [`AdminVerifier`] per cold start.
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
//! - `exp` is required and `nbf` is honoured when present, both as numbers
//!   of seconds since the Unix epoch and both with [`CLOCK_LEEWAY`]. An
//!   `exp` further away than the policy's `max_ttl` is refused too: a token
//!   with `exp: 1e308` would otherwise never expire. The numbers are compared
//!   as floats and never cast to integers, so no value can wrap or panic;
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
//! families that map onto HTTP (see [`AuthError::status`]): the request did
//! not prove who sent it (401 `UNAUTHORIZED`), or it did and that sender may
//! not do this (403 `PERMISSION_DENIED`).
//!
//! Neither the secret nor the token ever reaches an error message or `Debug`
//! output. Errors carry fixed reasons; the only claim values they repeat are
//! a refused `role` or `maturity`, read from a token whose signature has
//! already been checked.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use thiserror::Error;

use crate::config::Secret;

/// The only signing algorithm accepted, as the JWT header names it.
pub const ALGORITHM: &str = "HS256";

/// The role every admin token needs.
pub const ADMIN_ROLE: &str = "super_admin";

/// The maturity an agent needs (compared ignoring ASCII letter case).
pub const AUTONOMOUS: &str = "AUTONOMOUS";

/// How far the function's clock may disagree with the issuer's: a token is
/// still accepted up to this long after its `exp`, and from this long before
/// its `nbf`. Small enough that an expired token is not useful for long.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(30);

/// How long an admin token may live by default: a day. See [`AdminPolicy`].
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(86_400);

/// Longer than any token this system issues; refusing early keeps a hostile
/// header from costing more than a few microseconds.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

type HmacSha256 = Hmac<Sha256>;

/// Why a secret cannot sign or verify admin tokens.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    #[error("the admin JWT secret is empty")]
    Empty,
    /// HMAC takes keys of any length, so this is not expected; it is here so
    /// that a change in the hmac crate shows up as an error, not a panic.
    #[error("the admin JWT secret cannot key HMAC-SHA256")]
    Unusable,
}

/// Why a request may not use the admin functions.
///
/// The first variants (up to [`AuthError::DuplicateKey`]) are 401
/// `UNAUTHORIZED`: the request did not prove who sent it. The rest are 403
/// `PERMISSION_DENIED`: it did, and that sender is not allowed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("the request has no Authorization header")]
    MissingHeader,
    #[error("the Authorization header does not hold a Bearer token")]
    NotBearer,
    #[error("the bearer token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the token is not signed with HS256, the only algorithm accepted")]
    UnsupportedAlgorithm,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token has no exp claim, which admin tokens must carry")]
    MissingExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet: its nbf is in the future")]
    NotYetValid,
    #[error("the token expires more than {max_ttl_seconds} s from now, longer than admin tokens may live")]
    ExpiryTooFar { max_ttl_seconds: u64 },
    #[error("the token names no subject: admin tokens must carry a non-empty sub")]
    MissingSubject,
    #[error("the token has no iss claim; this deployment trusts one issuer only")]
    MissingIssuer,
    #[error("the token's iss is not the issuer this deployment trusts")]
    WrongIssuer,
    #[error("the token has no aud claim; this deployment accepts tokens for its audience only")]
    MissingAudience,
    #[error("the token's aud does not name this deployment's audience")]
    WrongAudience,
    /// Two parsers could read such a token differently; see [`TokenPart`].
    #[error("the token's {0} repeats a key")]
    DuplicateKey(TokenPart),

    #[error("the token carries no role; the admin functions need super_admin")]
    MissingRole,
    #[error("role {role:?} may not use the admin functions; they need super_admin")]
    RoleNotAllowed { role: String },
    #[error("the token acts for an agent but carries no maturity; the agent must be AUTONOMOUS")]
    AgentWithoutMaturity,
    #[error("the token acts for an agent of maturity {maturity:?}; the agent must be AUTONOMOUS")]
    AgentNotAutonomous { maturity: String },
}

impl AuthError {
    /// The HTTP status to answer with: 401 or 403.
    pub fn status(&self) -> u16 {
        if self.is_permission_denied() {
            403
        } else {
            401
        }
    }

    /// The error code for the response body: `UNAUTHORIZED` or
    /// `PERMISSION_DENIED`.
    pub fn code(&self) -> &'static str {
        if self.is_permission_denied() {
            "PERMISSION_DENIED"
        } else {
            "UNAUTHORIZED"
        }
    }

    /// No wildcard: a new variant has to be put in a family here.
    fn is_permission_denied(&self) -> bool {
        match self {
            Self::MissingHeader
            | Self::NotBearer
            | Self::Malformed(_)
            | Self::UnsupportedAlgorithm
            | Self::BadSignature
            | Self::MissingExpiry
            | Self::Expired
            | Self::NotYetValid
            | Self::ExpiryTooFar { .. }
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

/// What a deployment asks of a token beyond its signature: who issued it,
/// for whom, and how long it may live. Nothing in it is secret.
///
/// The default names no issuer and no audience (`iss` and `aud` are then
/// not compared, though still refused when of the wrong type) and lets a
/// token live [`DEFAULT_MAX_TTL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPolicy {
    issuer: Option<String>,
    audience: Option<String>,
    max_ttl: Duration,
}

impl Default for AdminPolicy {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            max_ttl: DEFAULT_MAX_TTL,
        }
    }
}

impl AdminPolicy {
    /// `issuer` and `audience`, when given and not blank, must be what the
    /// token's `iss` and `aud` say; `exp` may be at most `max_ttl` (plus
    /// [`CLOCK_LEEWAY`]) from now.
    pub fn new(issuer: Option<String>, audience: Option<String>, max_ttl: Duration) -> Self {
        let given = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
        Self {
            issuer: given(issuer),
            audience: given(audience),
            max_ttl,
        }
    }

    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    pub fn max_ttl(&self) -> Duration {
        self.max_ttl
    }
}

/// Checks the `Authorization` header of admin requests.
///
/// It holds the HMAC already keyed with the secret, not the secret, and its
/// `Debug` output shows neither.
#[derive(Clone)]
pub struct AdminVerifier {
    mac: HmacSha256,
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
            mac: keyed_mac(secret)?,
            policy,
        })
    }

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
        let claims = Claims::read(&self.verified_claims(token)?)?;
        claims.check_validity_at(now, self.policy.max_ttl)?;
        claims.check_issuer_and_audience(&self.policy)?;
        claims.into_admin()
    }

    /// The claims of `token`, once its header and signature have passed.
    fn verified_claims(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed("the token is longer than 8 KiB"));
        }
        // The signing input is the first two segments as sent, with their dot.
        let segments = token
            .rsplit_once('.')
            .and_then(|(signing_input, signature)| {
                let (header, claims) = signing_input.split_once('.')?;
                (!claims.contains('.')).then_some((signing_input, header, claims, signature))
            });
        let Some((signing_input, header_segment, claims_segment, signature_segment)) = segments
        else {
            return Err(AuthError::Malformed(
                "a JWT has exactly three dot-separated segments",
            ));
        };

        let header = json_object(header_segment, TokenPart::Header)?;
        if header.get("alg").and_then(Value::as_str) != Some(ALGORITHM) {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        if header.contains_key("crit") {
            return Err(AuthError::Malformed(
                "the header names critical extensions, which are not supported",
            ));
        }

        let signature = URL_SAFE_NO_PAD
            .decode(signature_segment)
            .map_err(|_| AuthError::Malformed("the signature is not base64url"))?;
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| AuthError::BadSignature)?;

        json_object(claims_segment, TokenPart::Claims)
    }
}

/// A token for local use and tests: `claims` signed with HS256 under
/// `secret`, in the form [`AdminVerifier::authorize`] expects after
/// `Bearer `. The verifier wants at least `sub`, `exp` (seconds since the
/// Unix epoch, within the policy's `max_ttl`) and `role`, and `iss` and
/// `aud` where the policy names them. Production tokens come from the issuer, not from here.
pub fn sign_token(secret: &Secret, claims: &Value) -> Result<String, SecretError> {
    let header = json!({ "alg": ALGORITHM, "typ": "JWT" });
    Ok(encode_signed(keyed_mac(secret)?, &header, claims))
}

fn keyed_mac(secret: &Secret) -> Result<HmacSha256, SecretError> {
    if secret.expose().trim().is_empty() {
        return Err(SecretError::Empty);
    }
    HmacSha256::new_from_slice(secret.expose().as_bytes()).map_err(|_| SecretError::Unusable)
}

/// `header.claims.signature`, each base64url without padding, signed by
/// `mac`. Generic so that tests can sign with other algorithms.
fn encode_signed(mac: impl Mac, header: &Value, claims: &Value) -> String {
    encode_signed_json(mac, &header.to_string(), &claims.to_string())
}

/// The same from JSON text, which may hold what a [`Value`] cannot: a
/// repeated key, for the tests.
fn encode_signed_json(mac: impl Mac, header: &str, claims: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims),
    );
    let signature = mac.chain_update(signing_input.as_bytes()).finalize();
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_bytes())
    )
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

/// The two JSON parts of a token, to say which one is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPart {
    Header,
    Claims,
}

impl fmt::Display for TokenPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Claims => "claims",
        })
    }
}

/// A base64url segment holding a JSON object whose keys are all different.
///
/// serde_json keeps the last of two equal keys, other parsers the first: a
/// token with `{"alg": "none", "alg": "HS256"}` or two `role`s would mean
/// one thing here and another to whoever else reads it. So a repeated key
/// at the top level refuses the token. (Keys are compared after JSON
/// unescaping: `"a\u006cg"` is `alg`.)
fn json_object(segment: &str, part: TokenPart) -> Result<Map<String, Value>, AuthError> {
    let not_an_object = AuthError::Malformed(match part {
        TokenPart::Header => "the header is not a base64url JSON object",
        TokenPart::Claims => "the claims are not a base64url JSON object",
    });
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| not_an_object.clone())?;
    match serde_json::from_slice(&bytes) {
        Ok(UniqueKeys {
            object,
            repeated: false,
        }) => Ok(object),
        Ok(UniqueKeys { repeated: true, .. }) => Err(AuthError::DuplicateKey(part)),
        Err(_) => Err(not_an_object),
    }
}

/// A JSON object read entry by entry, noting whether a key came twice.
/// Anything but an object fails to deserialize.
struct UniqueKeys {
    object: Map<String, Value>,
    repeated: bool,
}

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut entries: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut object = Map::new();
                let mut repeated = false;
                // Every entry is read, even after a repeat, so that the
                // parser still sees the whole object through to its end.
                while let Some((key, value)) = entries.next_entry::<String, Value>()? {
                    repeated |= object.insert(key, value).is_some();
                }
                Ok(UniqueKeys { object, repeated })
            }
        }

        deserializer.deserialize_map(Visitor)
    }
}

/// The claims this module reads, each checked for its type.
struct Claims {
    subject: Option<String>,
    issuer: Option<String>,
    audience: Option<Vec<String>>,
    role: Option<String>,
    agent_id: Option<String>,
    maturity: Option<String>,
    expires_at: Option<f64>,
    not_before: Option<f64>,
}

impl Claims {
    fn read(claims: &Map<String, Value>) -> Result<Self, AuthError> {
        Ok(Self {
            subject: string_claim(claims, "sub", "sub is not a string")?,
            issuer: string_claim(claims, "iss", "iss is not a string")?,
            audience: audience_claim(claims)?,
            role: string_claim(claims, "role", "role is not a string")?,
            agent_id: string_claim(claims, "agent_id", "agent_id is not a string")?,
            maturity: string_claim(claims, "maturity", "maturity is not a string")?,
            expires_at: number_claim(claims, "exp", "exp is not a number")?,
            not_before: number_claim(claims, "nbf", "nbf is not a number")?,
        })
    }

    /// All in f64 seconds: the claims are finite (see [`number_claim`]), so
    /// the sums are too, and nothing is cast.
    fn check_validity_at(&self, now: SystemTime, max_ttl: Duration) -> Result<(), AuthError> {
        let now = seconds_since_epoch(now);
        let leeway = CLOCK_LEEWAY.as_secs_f64();
        let expires_at = self.expires_at.ok_or(AuthError::MissingExpiry)?;
        if now >= expires_at + leeway {
            return Err(AuthError::Expired);
        }
        if expires_at > now + max_ttl.as_secs_f64() + leeway {
            return Err(AuthError::ExpiryTooFar {
                max_ttl_seconds: max_ttl.as_secs(),
            });
        }
        if let Some(not_before) = self.not_before {
            if now + leeway < not_before {
                return Err(AuthError::NotYetValid);
            }
        }
        Ok(())
    }

    /// Compared exactly, as RFC 7519 has it: case matters.
    fn check_issuer_and_audience(&self, policy: &AdminPolicy) -> Result<(), AuthError> {
        if let Some(issuer) = policy.issuer() {
            match self.issuer.as_deref() {
                None => return Err(AuthError::MissingIssuer),
                Some(iss) if iss != issuer => return Err(AuthError::WrongIssuer),
                Some(_) => {}
            }
        }
        if let Some(audience) = policy.audience() {
            match &self.audience {
                None => return Err(AuthError::MissingAudience),
                Some(aud) if !aud.iter().any(|aud| aud == audience) => {
                    return Err(AuthError::WrongAudience)
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn into_admin(self) -> Result<Admin, AuthError> {
        // Blank names nobody, so it counts as missing. Checked before the
        // role: a token that does not say who sent it proves nothing (401).
        let subject = self
            .subject
            .filter(|subject| !subject.trim().is_empty())
            .ok_or(AuthError::MissingSubject)?;
        let role = self.role.ok_or(AuthError::MissingRole)?;
        if role != ADMIN_ROLE {
            return Err(AuthError::RoleNotAllowed { role });
        }
        if self.agent_id.is_some() {
            match &self.maturity {
                None => return Err(AuthError::AgentWithoutMaturity),
                Some(maturity) if !maturity.eq_ignore_ascii_case(AUTONOMOUS) => {
                    return Err(AuthError::AgentNotAutonomous {
                        maturity: maturity.clone(),
                    })
                }
                Some(_) => {}
            }
        }
        Ok(Admin {
            subject,
            role,
            agent_id: self.agent_id,
            maturity: self.maturity,
        })
    }
}

fn string_claim(
    claims: &Map<String, Value>,
    name: &str,
    wrong_type: &'static str,
) -> Result<Option<String>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(AuthError::Malformed(wrong_type)),
    }
}

/// `aud`: one string, or an array of strings (RFC 7519, section 4.1.3).
fn audience_claim(claims: &Map<String, Value>) -> Result<Option<Vec<String>>, AuthError> {
    const WRONG_TYPE: AuthError =
        AuthError::Malformed("aud is not a string or an array of strings");
    match claims.get("aud") {
        None => Ok(None),
        Some(Value::String(audience)) => Ok(Some(vec![audience.clone()])),
        Some(Value::Array(audiences)) => audiences
            .iter()
            .map(|audience| audience.as_str().map(str::to_owned).ok_or(WRONG_TYPE))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(WRONG_TYPE),
    }
}

/// A finite number. serde_json already refuses what does not fit an f64
/// (`1e400`), and JSON has no NaN or infinity; the check is there so that
/// the comparisons in [`Claims::check_validity_at`] never meet one.
fn number_claim(
    claims: &Map<String, Value>,
    name: &str,
    wrong_type: &'static str,
) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(value)) => value
            .as_f64()
            .filter(|value| value.is_finite())
            .map(Some)
            .ok_or(AuthError::Malformed(wrong_type)),
        Some(_) => Err(AuthError::Malformed(wrong_type)),
    }
}

/// Negative before 1970, which only a broken clock reports.
fn seconds_since_epoch(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Sha512;

    const SECRET: &str = "local-admin-secret-for-tests";
    const NOW: u64 = 1_700_000_000;

    fn secret() -> Secret {
        Secret::new(SECRET)
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    /// A super_admin token's claims, valid for five minutes, with `changes`
    /// written over them.
    fn claims(changes: Value) -> Value {
        let mut claims = json!({ "sub": "alice", "role": "super_admin", "exp": NOW + 300 });
        if let (Some(claims), Value::Object(changes)) = (claims.as_object_mut(), changes) {
            claims.extend(changes);
        }
        claims
    }

    fn claims_without(name: &str) -> Value {
        let mut claims = claims(json!({}));
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    fn token(claims: &Value) -> String {
        sign_token(&secret(), claims).unwrap()
    }

    fn token_with_header(header: Value, claims: &Value) -> String {
        encode_signed(
            HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap(),
            &header,
            claims,
        )
    }

    /// A token signed with the test secret from JSON text as given.
    fn token_from_json(header: &str, claims: &str) -> String {
        encode_signed_json(
            HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap(),
            header,
            claims,
        )
    }

    fn authorize_header(header: &str) -> Result<Admin, AuthError> {
        AdminVerifier::new(&secret(), AdminPolicy::default())
            .unwrap()
            .authorize(Some(header), now())
    }

    fn authorize_token(token: &str) -> Result<Admin, AuthError> {
        authorize_header(&format!("Bearer {token}"))
    }

    fn authorize(claims: Value) -> Result<Admin, AuthError> {
        authorize_token(&token(&claims))
    }

    /// The three segments of `token`, to take apart and put back together.
    fn segments(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn a_super_admin_token_is_accepted_and_says_who_it_is() {
        assert_eq!(
            authorize(claims(json!({}))),
            Ok(Admin {
                subject: "alice".into(),
                role: "super_admin".into(),
                agent_id: None,
                maturity: None,
            })
        );
        assert_eq!(
            authorize(claims_without("sub")),
            Err(AuthError::MissingSubject),
            "sub is required"
        );
    }

    #[test]
    fn an_autonomous_agent_is_accepted_in_any_letter_case() {
        for maturity in ["AUTONOMOUS", "autonomous", "Autonomous"] {
            let admin = authorize(claims(
                json!({ "agent_id": "agent-7", "maturity": maturity }),
            ))
            .unwrap();
            assert_eq!(admin.agent_id.as_deref(), Some("agent-7"));
            assert_eq!(admin.maturity.as_deref(), Some(maturity));
        }
    }

    #[test]
    fn maturity_matters_only_for_a_token_that_acts_for_an_agent() {
        let admin = authorize(claims(json!({ "maturity": "SUPERVISED" }))).unwrap();
        assert_eq!(admin.maturity.as_deref(), Some("SUPERVISED"));
    }

    #[test]
    fn the_bearer_scheme_is_matched_ignoring_case() {
        let token = token(&claims(json!({})));
        for header in [
            format!("bearer {token}"),
            format!("BEARER {token}"),
            format!("  Bearer   {token} "),
        ] {
            assert!(authorize_header(&header).is_ok(), "{header}");
        }
    }

    #[test]
    fn no_header_is_unauthorized() {
        let verifier = AdminVerifier::new(&secret(), AdminPolicy::default()).unwrap();
        assert_eq!(
            verifier.authorize(None, now()),
            Err(AuthError::MissingHeader)
        );
        assert_eq!(
            verifier.authorize(Some("  "), now()),
            Err(AuthError::MissingHeader)
        );
    }

    #[test]
    fn a_header_that_is_not_bearer_is_unauthorized() {
        let token = token(&claims(json!({})));
        for header in [
            format!("Basic {token}"),
            format!("Token {token}"),
            format!("Bearer{token}"),
            token.clone(),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
        ] {
            assert_eq!(
                authorize_header(&header),
                Err(AuthError::NotBearer),
                "{header}"
            );
        }
    }

    #[test]
    fn garbage_and_a_wrong_number_of_segments_are_malformed() {
        let token = token(&claims(json!({})));
        let [header, claims, signature] = <[String; 3]>::try_from(segments(&token)).unwrap();
        for garbage in [
            "not-a-jwt".to_owned(),
            "a.b.c".to_owned(),
            "...".to_owned(),
            format!("{header}.{claims}"),
            format!("{header}.{claims}.{signature}.{signature}"),
            format!("{header}..{claims}.{signature}"),
            format!("{token} {token}"),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert!(
                matches!(authorize_token(&garbage), Err(AuthError::Malformed(_))),
                "{garbage:.40}: {:?}",
                authorize_token(&garbage)
            );
        }
    }

    #[test]
    fn padding_or_characters_outside_base64url_are_malformed() {
        let token = token(&claims(json!({})));
        let [header, claims, signature] = <[String; 3]>::try_from(segments(&token)).unwrap();
        let standard_alphabet = |segment: &str| segment.replace('-', "+").replace('_', "/");
        for bad in [
            format!("{header}.{claims}.{signature}="),
            format!("{header}=.{claims}.{signature}"),
            format!(
                "{header}.{claims}.{}",
                base64::engine::general_purpose::URL_SAFE.encode([7u8; 32])
            ),
            format!("{header}.{claims}.{signature}!"),
            format!("{header}.{claims}.+/{signature}"),
            format!("{header}.{claims}.{}", standard_alphabet(&signature)),
        ] {
            if bad == token {
                continue; // the signature had no - or _ to swap
            }
            assert!(
                matches!(authorize_token(&bad), Err(AuthError::Malformed(_))),
                "{bad}: {:?}",
                authorize_token(&bad)
            );
        }
    }

    #[test]
    fn a_header_or_claims_that_are_not_json_objects_are_malformed() {
        for (header, claims) in [
            (json!(["HS256"]), claims(json!({}))),
            (json!({ "alg": "HS256" }), json!("super_admin")),
            (json!({ "alg": "HS256" }), json!(null)),
        ] {
            let token = token_with_header(header, &claims);
            assert!(
                matches!(authorize_token(&token), Err(AuthError::Malformed(_))),
                "{claims}"
            );
        }
    }

    #[test]
    fn a_token_signed_with_another_secret_is_unauthorized() {
        let token = sign_token(&Secret::new("someone-else's-secret"), &claims(json!({}))).unwrap();
        assert_eq!(authorize_token(&token), Err(AuthError::BadSignature));
    }

    #[test]
    fn tampered_claims_break_the_signature() {
        let member = token(&claims(json!({ "role": "member" })));
        let mut parts = segments(&member);
        parts[1] = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
        assert_eq!(
            authorize_token(&parts.join(".")),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn a_truncated_or_empty_signature_is_unauthorized() {
        let token = token(&claims(json!({})));
        let mut parts = segments(&token);
        let signature = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
        for cut in [&signature[..16], &[][..]] {
            parts[2] = URL_SAFE_NO_PAD.encode(cut);
            assert_eq!(
                authorize_token(&parts.join(".")),
                Err(AuthError::BadSignature)
            );
        }
    }

    #[test]
    fn only_hs256_is_accepted_and_none_least_of_all() {
        let claims = claims(json!({}));
        let mut unsigned = segments(&token_with_header(json!({ "alg": "none" }), &claims));
        unsigned[2].clear();
        assert_eq!(
            authorize_token(&unsigned.join(".")),
            Err(AuthError::UnsupportedAlgorithm)
        );

        let hs512 = encode_signed(
            Hmac::<Sha512>::new_from_slice(SECRET.as_bytes()).unwrap(),
            &json!({ "alg": "HS512", "typ": "JWT" }),
            &claims,
        );
        assert_eq!(
            authorize_token(&hs512),
            Err(AuthError::UnsupportedAlgorithm)
        );

        // Signed correctly with HS256, but claiming another algorithm.
        for header in [
            json!({ "alg": "none" }),
            json!({ "alg": "None" }),
            json!({ "alg": "hs256" }),
            json!({ "alg": "HS384" }),
            json!({ "alg": "HS512" }),
            json!({ "alg": "RS256" }),
            json!({ "alg": "ES256" }),
            json!({ "alg": ["HS256"] }),
            json!({ "alg": null }),
            json!({ "typ": "JWT" }),
        ] {
            let token = token_with_header(header.clone(), &claims);
            assert_eq!(
                authorize_token(&token),
                Err(AuthError::UnsupportedAlgorithm),
                "{header}"
            );
        }
    }

    #[test]
    fn critical_header_extensions_are_refused() {
        let token = token_with_header(
            json!({ "alg": "HS256", "crit": ["exp"] }),
            &claims(json!({})),
        );
        assert!(matches!(
            authorize_token(&token),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn an_expired_token_is_unauthorized_after_the_leeway() {
        let leeway = CLOCK_LEEWAY.as_secs();
        assert_eq!(leeway, 30);
        assert!(authorize(claims(json!({ "exp": NOW - leeway + 1 }))).is_ok());
        for exp in [json!(NOW - leeway), json!(NOW - 3600), json!(0), json!(-1)] {
            assert_eq!(
                authorize(claims(json!({ "exp": exp }))),
                Err(AuthError::Expired),
                "{exp}"
            );
        }
    }

    #[test]
    fn exp_is_required_and_must_be_a_number() {
        assert_eq!(
            authorize(claims_without("exp")),
            Err(AuthError::MissingExpiry)
        );
        let in_a_minute = NOW + 60;
        for exp in [
            json!(in_a_minute.to_string()),
            json!(null),
            json!(true),
            json!([in_a_minute]),
        ] {
            assert!(
                matches!(
                    authorize(claims(json!({ "exp": exp }))),
                    Err(AuthError::Malformed(_))
                ),
                "{exp}"
            );
        }
        assert!(
            authorize(claims(json!({ "exp": NOW as f64 + 60.5 }))).is_ok(),
            "a NumericDate may have a fraction"
        );
    }

    #[test]
    fn a_token_is_refused_until_its_nbf_within_the_leeway() {
        let leeway = CLOCK_LEEWAY.as_secs();
        assert_eq!(
            authorize(claims(json!({ "nbf": NOW + leeway + 1 }))),
            Err(AuthError::NotYetValid)
        );
        for nbf in [NOW + leeway, NOW, NOW - 60] {
            assert!(authorize(claims(json!({ "nbf": nbf }))).is_ok(), "{nbf}");
        }
        assert!(matches!(
            authorize(claims(json!({ "nbf": NOW.to_string() }))),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn a_member_or_a_token_without_role_is_denied() {
        assert_eq!(
            authorize(claims(json!({ "role": "member" }))),
            Err(AuthError::RoleNotAllowed {
                role: "member".into()
            })
        );
        assert_eq!(
            authorize(claims(json!({ "role": "SUPER_ADMIN" }))),
            Err(AuthError::RoleNotAllowed {
                role: "SUPER_ADMIN".into()
            }),
            "the role is matched exactly"
        );
        assert_eq!(
            authorize(claims_without("role")),
            Err(AuthError::MissingRole)
        );
    }

    #[test]
    fn claims_of_the_wrong_type_are_malformed() {
        for changes in [
            json!({ "role": ["super_admin"] }),
            json!({ "role": null }),
            json!({ "sub": 42 }),
            json!({ "agent_id": 7, "maturity": "AUTONOMOUS" }),
            json!({ "agent_id": null }),
            json!({ "agent_id": "agent-7", "maturity": 3 }),
        ] {
            assert!(
                matches!(
                    authorize(claims(changes.clone())),
                    Err(AuthError::Malformed(_))
                ),
                "{changes}"
            );
        }
    }

    #[test]
    fn an_agent_that_is_not_autonomous_is_denied() {
        assert_eq!(
            authorize(claims(
                json!({ "agent_id": "agent-7", "maturity": "SUPERVISED" })
            )),
            Err(AuthError::AgentNotAutonomous {
                maturity: "SUPERVISED".into()
            })
        );
        assert_eq!(
            authorize(claims(json!({ "agent_id": "agent-7" }))),
            Err(AuthError::AgentWithoutMaturity)
        );
        assert!(
            matches!(
                authorize(claims(
                    json!({ "agent_id": "agent-7", "maturity": "AUTONOMOUS!" })
                )),
                Err(AuthError::AgentNotAutonomous { .. })
            ),
            "close is not enough"
        );
    }

    #[test]
    fn a_member_agent_is_denied_for_its_role_first() {
        assert_eq!(
            authorize(claims(
                json!({ "role": "member", "agent_id": "a", "maturity": "AUTONOMOUS" })
            )),
            Err(AuthError::RoleNotAllowed {
                role: "member".into()
            })
        );
    }

    #[test]
    fn an_expired_token_is_unauthorized_even_when_its_role_would_be_denied() {
        assert_eq!(
            authorize(claims(json!({ "role": "member", "exp": NOW - 3600 }))),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn each_error_maps_to_its_family() {
        let unauthorized = [
            AuthError::MissingHeader,
            AuthError::NotBearer,
            AuthError::Malformed("x"),
            AuthError::UnsupportedAlgorithm,
            AuthError::BadSignature,
            AuthError::MissingExpiry,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::ExpiryTooFar {
                max_ttl_seconds: 86_400,
            },
            AuthError::MissingSubject,
            AuthError::MissingIssuer,
            AuthError::WrongIssuer,
            AuthError::MissingAudience,
            AuthError::WrongAudience,
            AuthError::DuplicateKey(TokenPart::Header),
            AuthError::DuplicateKey(TokenPart::Claims),
        ];
        for error in unauthorized {
            assert_eq!(
                (error.status(), error.code()),
                (401, "UNAUTHORIZED"),
                "{error:?}"
            );
        }
        let denied = [
            AuthError::MissingRole,
            AuthError::RoleNotAllowed {
                role: "member".into(),
            },
            AuthError::AgentWithoutMaturity,
            AuthError::AgentNotAutonomous {
                maturity: "SUPERVISED".into(),
            },
        ];
        for error in denied {
            assert_eq!(
                (error.status(), error.code()),
                (403, "PERMISSION_DENIED"),
                "{error:?}"
            );
        }
    }

    /// One row per rule on the token's JSON and its claims: the deployment's
    /// policy, the token's header and claims as JSON text (which, unlike a
    /// `Value`, can repeat a key), and the exact answer.
    #[test]
    fn each_rule_on_the_token_refuses_with_its_own_error() {
        const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
        const ISSUER: &str = "https://issuer.example";
        const AUDIENCE: &str = "atom-rating-sync-admin";
        let open = AdminPolicy::default;
        let strict =
            || AdminPolicy::new(Some(ISSUER.into()), Some(AUDIENCE.into()), DEFAULT_MAX_TTL);
        let issuer_only = || AdminPolicy::new(Some(ISSUER.into()), None, DEFAULT_MAX_TTL);
        let audience_only = || AdminPolicy::new(None, Some(AUDIENCE.into()), DEFAULT_MAX_TTL);
        let exp = NOW + 300;
        // A good admin's claims with `extra` JSON members appended.
        let claims =
            |extra: &str| format!(r#"{{"sub":"alice","role":"super_admin","exp":{exp}{extra}}}"#);
        let day = DEFAULT_MAX_TTL.as_secs();
        let leeway = CLOCK_LEEWAY.as_secs();
        let too_far = AuthError::ExpiryTooFar {
            max_ttl_seconds: day,
        };
        let aud_type = AuthError::Malformed("aud is not a string or an array of strings");
        let iss = format!(r#","iss":"{ISSUER}""#);

        type Row = (
            &'static str,
            AdminPolicy,
            String,
            String,
            Result<(), AuthError>,
        );
        let rows: Vec<Row> = vec![
            ("a good token", open(), HEADER.into(), claims(""), Ok(())),
            (
                "duplicate key in the header",
                open(),
                r#"{"alg":"none","alg":"HS256"}"#.into(),
                claims(""),
                Err(AuthError::DuplicateKey(TokenPart::Header)),
            ),
            (
                "duplicate key in the header, escaped",
                open(),
                r#"{"alg":"HS256","a\u006cg":"HS256"}"#.into(),
                claims(""),
                Err(AuthError::DuplicateKey(TokenPart::Header)),
            ),
            (
                "duplicate key in the claims",
                open(),
                HEADER.into(),
                claims(r#","role":"member""#),
                Err(AuthError::DuplicateKey(TokenPart::Claims)),
            ),
            (
                "duplicate key in the claims, same value",
                open(),
                HEADER.into(),
                claims(&format!(r#","exp":{exp}"#)),
                Err(AuthError::DuplicateKey(TokenPart::Claims)),
            ),
            (
                "exp at the max TTL and its leeway",
                open(),
                HEADER.into(),
                format!(
                    r#"{{"sub":"alice","role":"super_admin","exp":{}}}"#,
                    NOW + day + leeway
                ),
                Ok(()),
            ),
            (
                "exp too far",
                open(),
                HEADER.into(),
                format!(
                    r#"{{"sub":"alice","role":"super_admin","exp":{}}}"#,
                    NOW + day + leeway + 1
                ),
                Err(too_far.clone()),
            ),
            (
                "exp too far for a shorter max TTL",
                AdminPolicy::new(None, None, Duration::from_secs(60)),
                HEADER.into(),
                claims(""),
                Err(AuthError::ExpiryTooFar {
                    max_ttl_seconds: 60,
                }),
            ),
            (
                "exp 1e308",
                open(),
                HEADER.into(),
                r#"{"sub":"alice","role":"super_admin","exp":1e308}"#.into(),
                Err(too_far.clone()),
            ),
            (
                "exp u64::MAX",
                open(),
                HEADER.into(),
                format!(
                    r#"{{"sub":"alice","role":"super_admin","exp":{}}}"#,
                    u64::MAX
                ),
                Err(too_far),
            ),
            (
                "exp -1e308",
                open(),
                HEADER.into(),
                r#"{"sub":"alice","role":"super_admin","exp":-1e308}"#.into(),
                Err(AuthError::Expired),
            ),
            (
                "exp 1e400, beyond f64",
                open(),
                HEADER.into(),
                r#"{"sub":"alice","role":"super_admin","exp":1e400}"#.into(),
                Err(AuthError::Malformed(
                    "the claims are not a base64url JSON object",
                )),
            ),
            (
                "missing sub",
                open(),
                HEADER.into(),
                format!(r#"{{"role":"super_admin","exp":{exp}}}"#),
                Err(AuthError::MissingSubject),
            ),
            (
                "empty sub",
                open(),
                HEADER.into(),
                format!(r#"{{"sub":"","role":"super_admin","exp":{exp}}}"#),
                Err(AuthError::MissingSubject),
            ),
            (
                "blank sub",
                open(),
                HEADER.into(),
                format!(r#"{{"sub":"  ","role":"super_admin","exp":{exp}}}"#),
                Err(AuthError::MissingSubject),
            ),
            (
                "missing sub, member role: who comes before what",
                open(),
                HEADER.into(),
                format!(r#"{{"role":"member","exp":{exp}}}"#),
                Err(AuthError::MissingSubject),
            ),
            (
                "iss matches",
                issuer_only(),
                HEADER.into(),
                claims(&iss),
                Ok(()),
            ),
            (
                "wrong iss",
                issuer_only(),
                HEADER.into(),
                claims(r#","iss":"https://elsewhere.example""#),
                Err(AuthError::WrongIssuer),
            ),
            (
                "iss in another letter case",
                issuer_only(),
                HEADER.into(),
                claims(r#","iss":"HTTPS://ISSUER.EXAMPLE""#),
                Err(AuthError::WrongIssuer),
            ),
            (
                "missing iss when required",
                issuer_only(),
                HEADER.into(),
                claims(""),
                Err(AuthError::MissingIssuer),
            ),
            (
                "iss not a string, even when not required",
                open(),
                HEADER.into(),
                claims(r#","iss":["https://issuer.example"]"#),
                Err(AuthError::Malformed("iss is not a string")),
            ),
            (
                "any iss when none is required",
                open(),
                HEADER.into(),
                claims(r#","iss":"anyone""#),
                Ok(()),
            ),
            (
                "aud string match",
                audience_only(),
                HEADER.into(),
                claims(&format!(r#","aud":"{AUDIENCE}""#)),
                Ok(()),
            ),
            (
                "aud string mismatch",
                audience_only(),
                HEADER.into(),
                claims(r#","aud":"another-api""#),
                Err(AuthError::WrongAudience),
            ),
            (
                "aud list containing it",
                audience_only(),
                HEADER.into(),
                claims(&format!(r#","aud":["another-api","{AUDIENCE}"]"#)),
                Ok(()),
            ),
            (
                "aud list not containing it",
                audience_only(),
                HEADER.into(),
                claims(r#","aud":["another-api","a-third"]"#),
                Err(AuthError::WrongAudience),
            ),
            (
                "aud empty list",
                audience_only(),
                HEADER.into(),
                claims(r#","aud":[]"#),
                Err(AuthError::WrongAudience),
            ),
            (
                "missing aud when required",
                audience_only(),
                HEADER.into(),
                claims(""),
                Err(AuthError::MissingAudience),
            ),
            (
                "aud of wrong type: a number",
                audience_only(),
                HEADER.into(),
                claims(r#","aud":7"#),
                Err(aud_type.clone()),
            ),
            (
                "aud of wrong type: a list holding a number",
                audience_only(),
                HEADER.into(),
                claims(&format!(r#","aud":["{AUDIENCE}",7]"#)),
                Err(aud_type.clone()),
            ),
            (
                "aud of wrong type when none is required",
                open(),
                HEADER.into(),
                claims(r#","aud":{"name":"x"}"#),
                Err(aud_type.clone()),
            ),
            (
                "aud null",
                open(),
                HEADER.into(),
                claims(r#","aud":null"#),
                Err(aud_type),
            ),
            (
                "iss and aud both required and given",
                strict(),
                HEADER.into(),
                claims(&format!(r#"{iss},"aud":["{AUDIENCE}"]"#)),
                Ok(()),
            ),
            (
                "iss checked before aud",
                strict(),
                HEADER.into(),
                claims(r#","aud":"another-api""#),
                Err(AuthError::MissingIssuer),
            ),
            (
                "a wrong audience is 401 even for a member",
                strict(),
                HEADER.into(),
                format!(r#"{{"sub":"bob","role":"member","exp":{exp}{iss},"aud":"another-api"}}"#),
                Err(AuthError::WrongAudience),
            ),
        ];
        for (name, policy, header, claims, expected) in rows {
            let verifier = AdminVerifier::new(&secret(), policy).unwrap();
            let header_value = format!("Bearer {}", token_from_json(&header, &claims));
            let got = verifier.authorize(Some(&header_value), now()).map(|_| ());
            assert_eq!(got, expected, "{name}");
            if let Err(error) = got {
                assert_eq!(error.status(), 401, "{name}");
            }
        }
    }

    #[test]
    fn a_repeated_key_in_a_nested_object_is_not_looked_for() {
        let claims = format!(
            r#"{{"sub":"alice","role":"super_admin","exp":{},"extra":{{"a":1,"a":2}}}}"#,
            NOW + 300
        );
        let token = token_from_json(r#"{"alg":"HS256"}"#, &claims);
        assert!(authorize_token(&token).is_ok());
    }

    #[test]
    fn a_blank_secret_can_neither_verify_nor_sign() {
        for blank in ["", "   ", "\n"] {
            assert_eq!(
                AdminVerifier::new(&Secret::new(blank), AdminPolicy::default()).unwrap_err(),
                SecretError::Empty
            );
            assert_eq!(
                sign_token(&Secret::new(blank), &claims(json!({}))),
                Err(SecretError::Empty)
            );
        }
    }

    #[test]
    fn neither_the_secret_nor_the_token_shows_in_errors_or_debug_output() {
        let verifier = AdminVerifier::new(&secret(), AdminPolicy::default()).unwrap();
        let good = token(&claims(json!({})));
        let member = token(&claims(json!({ "role": "member" })));
        let foreign = sign_token(&Secret::new("other"), &claims(json!({}))).unwrap();
        let expired = token(&claims(json!({ "exp": 0 })));
        let agent = token(&claims(
            json!({ "agent_id": "a", "maturity": "SUPERVISED" }),
        ));
        let mut tampered = segments(&member);
        tampered[1] = segments(&good)[1].clone();
        let tampered = tampered.join(".");

        let mut shown = format!("{verifier:?} {:?}", verifier.clone());
        for token in [
            good.as_str(),
            &member,
            &foreign,
            &expired,
            &agent,
            &tampered,
            "garbage",
        ] {
            for header in [
                format!("Bearer {token}"),
                format!("Basic {token}"),
                token.to_owned(),
            ] {
                match verifier.authorize(Some(&header), now()) {
                    Ok(admin) => shown += &format!(" {admin:?}"),
                    Err(error) => shown += &format!(" {error} {error:?}"),
                }
            }
        }
        shown += &format!(" {} {:?}", SecretError::Empty, SecretError::Unusable);

        assert!(!shown.contains(SECRET), "{shown}");
        for token in [&good, &member, &foreign, &expired, &agent, &tampered] {
            for segment in segments(token) {
                assert!(!shown.contains(&segment), "{segment} in {shown}");
            }
        }
    }

    #[test]
    fn a_signed_token_is_three_unpadded_base64url_segments_with_an_hs256_header() {
        let token = token(&claims(json!({})));
        let parts = segments(&token);
        assert_eq!(parts.len(), 3);
        assert!(!token.contains('='));
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
        assert_eq!(header, json!({ "alg": "HS256", "typ": "JWT" }));
        assert_eq!(URL_SAFE_NO_PAD.decode(&parts[2]).unwrap().len(), 32);
    }
}
