//! Why a function cannot start with its configuration.

use thiserror::Error;

/// Why the configuration cannot be used: the function does not start
/// rather than run with it.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    /// A required variable is not set; this is its name.
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// A variable is set to a value that cannot be used.
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// The value as given, for the message (`***` for a secret).
        value: String,
        /// Why it is refused, or what would be accepted.
        reason: String,
    },
}
