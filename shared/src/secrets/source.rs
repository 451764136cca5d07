//! Where a secret is read again from: Secrets Manager in a deployment; a
//! fixed value locally, which never changes.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use thiserror::Error;

use super::Secret;

/// What one read of a secret gave: its current value and, within the
/// grace period after a rotation, the value it replaced.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SecretRead {
    /// The value labelled `AWSCURRENT`.
    pub current: Secret,
    /// The value labelled `AWSPREVIOUS`, when the source keeps it and the
    /// current one is younger than the grace period.
    pub previous: Option<Secret>,
}

impl SecretRead {
    /// `current` alone.
    pub fn only(current: Secret) -> Self {
        Self {
            current,
            previous: None,
        }
    }
}

/// Why a secret could not be read again. The message names the setting and
/// the cause, never a value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretReadError {
    /// Secrets Manager did not answer with the secret.
    #[error("{name} could not be read from Secrets Manager: {reason}")]
    Unavailable {
        /// The setting (`ATOM_SAAS_API_TOKEN`, `ADMIN_JWT_SECRET`).
        name: &'static str,
        /// Secrets Manager's error, which holds no secret.
        reason: String,
    },
    /// The secret has no usable string value.
    #[error("{name} in Secrets Manager has no string value")]
    Empty {
        /// The setting.
        name: &'static str,
    },
    /// The value cannot be used (too short, not a header value).
    #[error("{name} cannot be used: {reason}")]
    Unusable {
        /// The setting.
        name: &'static str,
        /// Why, in words that never repeat the value.
        reason: String,
    },
}

/// Where a secret setting is read again from.
#[derive(Clone)]
pub enum SecretSource {
    /// A value given once (the environment, a test): never read again.
    Fixed,
    /// A Secrets Manager secret, read with the client the function built at
    /// its cold start.
    SecretsManager {
        /// The setting it holds, for messages.
        name: &'static str,
        /// The client, built once per cold start.
        client: aws_sdk_secretsmanager::Client,
        /// The secret's ARN (or name).
        arn: String,
        /// If set, `AWSPREVIOUS` is read too while `AWSCURRENT` is younger
        /// than this: what was signed with the old value stays good for a
        /// while after a rotation.
        keep_previous_for: Option<Duration>,
    },
    /// Answers given by a test, one per read.
    #[cfg(test)]
    Script(std::sync::Arc<std::sync::Mutex<Vec<Result<SecretRead, SecretReadError>>>>),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed => f.write_str("SecretSource::Fixed"),
            Self::SecretsManager {
                name,
                keep_previous_for,
                ..
            } => f
                .debug_struct("SecretSource::SecretsManager")
                .field("name", name)
                .field("keep_previous_for", keep_previous_for)
                .finish_non_exhaustive(),
            #[cfg(test)]
            Self::Script(_) => f.write_str("SecretSource::Script"),
        }
    }
}

impl SecretSource {
    /// Whether reading again can give another value.
    pub fn can_change(&self) -> bool {
        !matches!(self, Self::Fixed)
    }

    /// Whether a read gives the previous value as well.
    pub fn keeps_previous(&self) -> bool {
        matches!(
            self,
            Self::SecretsManager {
                keep_previous_for: Some(_),
                ..
            }
        )
    }

    /// The same source, reading `AWSPREVIOUS` too while `AWSCURRENT` is
    /// younger than `grace`.
    pub fn keeping_previous_for(mut self, grace: Duration) -> Self {
        if let Self::SecretsManager {
            keep_previous_for, ..
        } = &mut self
        {
            *keep_previous_for = Some(grace);
        }
        self
    }

    /// Reads the secret now. `None` from a fixed source.
    pub async fn read(&self) -> Option<Result<SecretRead, SecretReadError>> {
        match self {
            Self::Fixed => None,
            Self::SecretsManager {
                name,
                client,
                arn,
                keep_previous_for,
            } => Some(read_from_manager(name, client, arn, *keep_previous_for).await),
            #[cfg(test)]
            Self::Script(answers) => {
                let mut answers = answers.lock().ok()?;
                (!answers.is_empty()).then(|| answers.remove(0))
            }
        }
    }
}

async fn read_from_manager(
    name: &'static str,
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    keep_previous_for: Option<Duration>,
) -> Result<SecretRead, SecretReadError> {
    let unavailable = |reason: String| SecretReadError::Unavailable { name, reason };
    let current = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| unavailable(DisplayErrorContext(e).to_string()))?;
    let value = string_value(current.secret_string()).ok_or(SecretReadError::Empty { name })?;
    let Some(grace) = keep_previous_for else {
        return Ok(SecretRead::only(value));
    };
    // The previous value only while the current one is young; a version's
    // creation date unknown or in the future counts as old.
    let age = current
        .created_date()
        .and_then(|at| SystemTime::try_from(*at).ok())
        .and_then(|at| SystemTime::now().duration_since(at).ok());
    if age.is_none_or(|age| age >= grace) {
        return Ok(SecretRead::only(value));
    }
    let previous = match client
        .get_secret_value()
        .secret_id(arn)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
    {
        Ok(previous) => string_value(previous.secret_string()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(unavailable(DisplayErrorContext(e).to_string())),
    };
    Ok(SecretRead {
        current: value,
        previous,
    })
}

/// A secret's string value, trimmed; `None` if blank.
fn string_value(value: Option<&str>) -> Option<Secret> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}
