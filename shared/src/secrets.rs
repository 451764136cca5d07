//! Secrets come from AWS Secrets Manager in a deployment and from the
//! environment locally.
//!
//! For a secret setting `NAME` (the marketplace token, the admin JWT
//! secret), `NAME_SECRET_ARN` names a Secrets Manager secret whose string
//! value is the secret; the function reads it once per cold start, in
//! `main`, and keeps it for every invocation. Without it, `NAME` itself is
//! read from the environment, which is how the local stack and the tests
//! run. A deployed function never has the secret in a plain environment
//! variable: the template sets only the ARN.

use std::fmt;

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
