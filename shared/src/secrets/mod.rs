//! Secrets come from AWS Secrets Manager in a deployment and from the
//! environment locally; this module keeps them out of logs ([`Secret`]) and
//! reads them again while a function lives.
//!
//! For a secret setting `NAME` (the marketplace token, the admin JWT
//! secret), `NAME_SECRET_ARN` names a Secrets Manager secret whose string
//! value is the secret. The first read is not made here: at its cold start,
//! in its trigger's `run` (`triggers/`), a function loads its
//! [`Environment`](crate::config::Environment) (`config/env.rs`), which
//! reads every secret whose ARN is set, with a Secrets Manager client built
//! once, and parses `SECRETS_MANAGER_TTL` (default [`DEFAULT_SECRETS_TTL`],
//! the name and default of the AWS Parameters and Secrets Lambda
//! Extension). It hands each setting on as a value and a [`Refresh`]: where
//! to read it again, and how often.
//!
//! What this module does with them:
//! - `source.rs`: [`SecretSource`], where a secret is read again from
//!   (Secrets Manager with that client, or a fixed value that never
//!   changes), and [`SecretRead`], what one read gives;
//! - `rotating.rs`: [`Rotating`], what a function builds from a secret (the
//!   marketplace token's header, the admin keys), read again at the first
//!   use after the TTL, or at once when asked ([`Renew`]: the delivery gate
//!   asks after the marketplace refused the token, at most once per run,
//!   fast-path batch or admin retry, and sends the refused request again
//!   once if the value changed). A failed read keeps the last good value.
//!
//! The admin secret keeps its previous value too: its source (set by
//! [`AdminConfig`](crate::config::AdminConfig)) reads `AWSPREVIOUS` as well
//! while the `AWSCURRENT` version is younger than the longest life of an
//! admin token (`ADMIN_JWT_MAX_TTL_SECONDS`), so tokens and cursors signed
//! with the previous value are still accepted; new cursors are signed with
//! the current one. The cold-start read takes the current value alone, so
//! such a source is read again at the first use.
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
/// reads it again, when `SECRETS_MANAGER_TTL` is unset: its entry's default.
pub const DEFAULT_SECRETS_TTL: Duration = crate::config::settings::SECRETS_TTL.default_duration();

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
