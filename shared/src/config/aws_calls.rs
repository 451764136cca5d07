//! How long one call to an AWS service may take: every client the functions
//! build (DynamoDB, Secrets Manager, EventBridge) gets these bounds from
//! [`crate::triggers::clients::aws_config`], so that a call that hangs is abandoned and tried
//! again instead of holding a run until Lambda kills it.

use std::time::Duration;

use super::env::Lookup;
use super::error::ConfigError;
use super::settings;

/// Attempts at one AWS call, the first included: the SDK's standard retry
/// mode tries a throttled, failed or timed-out attempt again, with
/// exponential backoff and jitter from [`AWS_CALL_INITIAL_BACKOFF`].
pub const AWS_CALL_ATTEMPTS: u32 = 4;

/// The first wait between two attempts of one AWS call; later waits grow
/// from it. DynamoDB answers in milliseconds, so the SDK's default of one
/// second would spend a call's whole budget waiting.
pub const AWS_CALL_INITIAL_BACKOFF: Duration = Duration::from_millis(100);

/// The bounds on one AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsCallTimeouts {
    /// One attempt (`RATING_SYNC_AWS_ATTEMPT_TIMEOUT_MS`): an attempt not
    /// answered by then is abandoned and, within the call's budget, tried
    /// again.
    pub attempt: Duration,
    /// The whole call, retries and their waits included
    /// (`RATING_SYNC_AWS_CALL_TIMEOUT_MS`); never shorter than one attempt.
    pub call: Duration,
}

impl Default for AwsCallTimeouts {
    fn default() -> Self {
        Self {
            attempt: settings::AWS_ATTEMPT_TIMEOUT.default_duration(),
            call: settings::AWS_CALL_TIMEOUT.default_duration(),
        }
    }
}

impl AwsCallTimeouts {
    /// The bounds from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Lookup::PROCESS)
    }

    /// The bounds read through `lookup` (a test's map, or the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Lookup(&lookup))
    }

    fn read(env: &Lookup<'_>) -> Result<Self, ConfigError> {
        let attempt = env.millis(&settings::AWS_ATTEMPT_TIMEOUT)?;
        let call = env.millis(&settings::AWS_CALL_TIMEOUT)?;
        Ok(Self {
            attempt,
            call: call.max(attempt),
        })
    }

    /// The SDK's timeout configuration: both bounds, and the connect
    /// timeout no longer than an attempt.
    pub fn timeout_config(&self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.attempt)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.call)
            .build()
    }

    /// The SDK's retry configuration: standard mode, which retries
    /// throttling, 5xx answers, dropped connections and timed-out attempts.
    pub fn retry_config() -> aws_config::retry::RetryConfig {
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(AWS_CALL_ATTEMPTS)
            .with_initial_backoff(AWS_CALL_INITIAL_BACKOFF)
    }

    /// `aws` with these bounds and the retry configuration above, for every
    /// client built from it.
    pub fn apply(&self, aws: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        aws.to_builder()
            .timeout_config(self.timeout_config())
            .retry_config(Self::retry_config())
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<AwsCallTimeouts, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AwsCallTimeouts::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_a_few_seconds_and_values_are_bounded() {
        let defaults = read(&[]).unwrap();
        assert_eq!(defaults, AwsCallTimeouts::default());
        assert!(defaults.attempt <= defaults.call);
        assert!(defaults.call <= Duration::from_secs(10));
        let set = read(&[
            ("RATING_SYNC_AWS_ATTEMPT_TIMEOUT_MS", "500"),
            ("RATING_SYNC_AWS_CALL_TIMEOUT_MS", "1500"),
        ])
        .unwrap();
        assert_eq!(set.attempt, Duration::from_millis(500));
        assert_eq!(set.call, Duration::from_millis(1500));
        let raised = read(&[
            ("RATING_SYNC_AWS_ATTEMPT_TIMEOUT_MS", "3000"),
            ("RATING_SYNC_AWS_CALL_TIMEOUT_MS", "1000"),
        ])
        .unwrap();
        assert_eq!(raised.call, raised.attempt, "a call holds one attempt");
        for bad in ["0", "99", "120001", "soon"] {
            let err = read(&[("RATING_SYNC_AWS_ATTEMPT_TIMEOUT_MS", bad)]).unwrap_err();
            assert!(
                err.to_string()
                    .contains("RATING_SYNC_AWS_ATTEMPT_TIMEOUT_MS"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_bounds_reach_the_sdk_configuration() {
        let timeouts = read(&[("RATING_SYNC_AWS_ATTEMPT_TIMEOUT_MS", "700")]).unwrap();
        let aws = timeouts.apply(&aws_config::SdkConfig::builder().build());
        let config = aws.timeout_config().unwrap();
        assert_eq!(
            config.operation_attempt_timeout(),
            Some(Duration::from_millis(700))
        );
        assert_eq!(config.operation_timeout(), Some(timeouts.call));
        let retry = aws.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), AWS_CALL_ATTEMPTS);
        assert_eq!(retry.initial_backoff(), AWS_CALL_INITIAL_BACKOFF);
    }
}
