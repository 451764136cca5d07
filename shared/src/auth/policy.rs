//! What an admin token must say beyond its signature: who it is for
//! (`sub`, `role`, and for an agent `maturity`), when it is valid (`exp`,
//! `iat`, `nbf`, a lifetime `exp - iat` of at most [`AdminPolicy::max_ttl`]),
//! and, when the deployment
//! names them, who issued it and for whom (`iss`, `aud`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{Admin, AuthError, ADMIN_ROLE, AUTONOMOUS, CLOCK_LEEWAY, DEFAULT_MAX_TTL};

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
    /// token's `iss` and `aud` say; a token may live at most `max_ttl`
    /// (`exp - iat`).
    pub fn new(issuer: Option<String>, audience: Option<String>, max_ttl: Duration) -> Self {
        let given = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
        Self {
            issuer: given(issuer),
            audience: given(audience),
            max_ttl,
        }
    }

    /// The issuer a token's `iss` must name; `None` when `iss` is not
    /// compared.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The audience a token's `aud` must name; `None` when `aud` is not
    /// compared.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The longest a token may live: its `exp` may be at most this far after
    /// its `iat`.
    pub fn max_ttl(&self) -> Duration {
        self.max_ttl
    }
}

/// The claims this module reads, each checked for its type.
pub(super) struct Claims {
    subject: Option<String>,
    issuer: Option<String>,
    audience: Option<Vec<String>>,
    role: Option<String>,
    agent_id: Option<String>,
    maturity: Option<String>,
    expires_at: Option<f64>,
    issued_at: Option<f64>,
    not_before: Option<f64>,
}

impl Claims {
    pub(super) fn read(claims: &Map<String, Value>) -> Result<Self, AuthError> {
        Ok(Self {
            subject: string_claim(claims, "sub", "sub is not a string")?,
            issuer: string_claim(claims, "iss", "iss is not a string")?,
            audience: audience_claim(claims)?,
            role: string_claim(claims, "role", "role is not a string")?,
            agent_id: string_claim(claims, "agent_id", "agent_id is not a string")?,
            maturity: string_claim(claims, "maturity", "maturity is not a string")?,
            expires_at: number_claim(claims, "exp", "exp is not a number")?,
            issued_at: number_claim(claims, "iat", "iat is not a number")?,
            not_before: number_claim(claims, "nbf", "nbf is not a number")?,
        })
    }

    /// All in f64 seconds: the claims are finite (see [`number_claim`]), so
    /// the sums are finite or infinite, never NaN, and nothing is cast.
    ///
    /// The lifetime is `exp - iat`, both written by the issuer's clock, so
    /// it takes no leeway: a token of 30 days is refused on its first day
    /// and on its last alike. `iat` itself may be at most [`CLOCK_LEEWAY`]
    /// ahead of this clock; with the lifetime bound that keeps `exp` within
    /// `max_ttl` and the leeway of now.
    pub(super) fn check_validity_at(
        &self,
        now: SystemTime,
        max_ttl: Duration,
    ) -> Result<(), AuthError> {
        let now = seconds_since_epoch(now);
        let leeway = CLOCK_LEEWAY.as_secs_f64();
        let expires_at = self.expires_at.ok_or(AuthError::MissingExpiry)?;
        let issued_at = self.issued_at.ok_or(AuthError::MissingIssuedAt)?;
        if now >= expires_at + leeway {
            return Err(AuthError::Expired);
        }
        if issued_at > now + leeway {
            return Err(AuthError::IssuedInTheFuture);
        }
        if expires_at <= issued_at {
            return Err(AuthError::Malformed("exp is not after iat"));
        }
        if expires_at - issued_at > max_ttl.as_secs_f64() {
            return Err(AuthError::LifetimeTooLong {
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
    pub(super) fn check_issuer_and_audience(&self, policy: &AdminPolicy) -> Result<(), AuthError> {
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

    pub(super) fn into_admin(self) -> Result<Admin, AuthError> {
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
