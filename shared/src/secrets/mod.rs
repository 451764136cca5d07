//! Secrets come from AWS Secrets Manager in a deployment and from the
//! environment locally.
//!
//! For a secret setting `NAME` (the marketplace token, the admin JWT
//! secret), `NAME_SECRET_ARN` names a Secrets Manager secret whose string
//! value is the secret. The function reads it at its cold start, in `main`,
//! with a Secrets Manager client built once, and keeps it for
//! [`SECRETS_MANAGER_TTL`](DEFAULT_SECRETS_TTL) seconds (300 by default, the
//! name and default of the AWS Parameters and Secrets Lambda Extension); the
//! first use after that reads it again ([`Rotating`]). When the marketplace
//! refuses the token (401 or 403), the token is read again at once, at most
//! once per run or fast-path batch, and the refused request is sent again
//! once if the value changed. A failed read keeps the last good value.
//!
//! The admin secret keeps its previous value too: while the `AWSCURRENT`
//! version is younger than the longest life of an admin token
//! (`ADMIN_JWT_MAX_TTL_SECONDS`), tokens and cursors signed with the
//! `AWSPREVIOUS` version are still accepted; new cursors are signed with the
//! current one.
//!
//! Without an ARN, `NAME` itself is read from the environment, once: that is
//! how the local stack and the tests run. A deployed function never has the
//! secret in a plain environment variable: the template sets only the ARN.

mod rotating;
mod source;

use std::fmt;
use std::time::Duration;

pub use rotating::{Renew, Rotating};
pub use source::{SecretRead, SecretReadError, SecretSource};

/// How long a secret read from Secrets Manager is kept before the next use
/// reads it again, when `SECRETS_MANAGER_TTL` is unset.
pub const DEFAULT_SECRETS_TTL: Duration = Duration::from_secs(300);

/// The values `SECRETS_MANAGER_TTL` may take, in seconds.
pub const SECRETS_TTL_SECONDS: std::ops::RangeInclusive<u64> = 1..=86_400;

/// A value that must never reach a log: its `Debug` and `Display` hide it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`, so that it cannot be printed by mistake.
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

/// Where and how often a secret given at the cold start is read again.
#[derive(Debug, Clone)]
pub struct Refresh {
    /// Where it is read again from ([`SecretSource::Fixed`]: never).
    pub source: SecretSource,
    /// How long a value read is kept (`SECRETS_MANAGER_TTL`).
    pub ttl: Duration,
}

impl Default for Refresh {
    /// Never read again.
    fn default() -> Self {
        Self {
            source: SecretSource::Fixed,
            ttl: DEFAULT_SECRETS_TTL,
        }
    }
}
