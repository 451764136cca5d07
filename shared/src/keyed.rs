//! HMAC-SHA256 keyed with a secret: the one helper behind the admin
//! tokens' signatures and the admin listing's cursors. The key is held
//! inside the HMAC; the secret itself is never kept.

use hmac::{Hmac, KeyInit};
use sha2::Sha256;
use thiserror::Error;

use crate::secrets::Secret;

/// HMAC-SHA256.
pub type HmacSha256 = Hmac<Sha256>;

/// Why a secret cannot key an HMAC: it cannot sign or verify anything.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// The secret is empty or only whitespace.
    #[error("the admin JWT secret is empty")]
    Empty,
    /// HMAC takes keys of any length, so this is not expected; it is here so
    /// that a change in the hmac crate shows up as an error, not a panic.
    #[error("the admin JWT secret cannot key HMAC-SHA256")]
    Unusable,
}

/// An HMAC keyed with `secret`. A blank secret is refused: anyone could
/// sign with it.
pub fn keyed_hmac(secret: &Secret) -> Result<HmacSha256, SecretError> {
    if secret.expose().trim().is_empty() {
        return Err(SecretError::Empty);
    }
    keyed_with(secret.expose().as_bytes())
}

/// An HMAC keyed with `key` (a key derived from a secret).
pub fn keyed_with(key: &[u8]) -> Result<HmacSha256, SecretError> {
    HmacSha256::new_from_slice(key).map_err(|_| SecretError::Unusable)
}
