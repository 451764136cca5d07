//! The HS256 JWT codec: three base64url segments without padding, a
//! header and claims that are JSON objects with no repeated key, an `alg`
//! of exactly `HS256` and no `crit`, and a signature compared in constant
//! time. What the claims must say is the policy's ([`super::policy`]).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;
#[cfg(any(test, feature = "test-util"))]
use serde_json::json;
use serde_json::{Map, Value};

use super::AuthError;
use crate::json::{unique_object, ObjectError};
use crate::keyed::HmacSha256;
#[cfg(any(test, feature = "test-util"))]
use crate::keyed::{keyed_hmac, SecretError};
#[cfg(any(test, feature = "test-util"))]
use crate::secrets::Secret;

/// The only signing algorithm accepted, as the JWT header names it.
pub const ALGORITHM: &str = "HS256";

/// Longer than any token this system issues; refusing early keeps a hostile
/// header from costing more than a few microseconds.
pub(super) const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The claims of `token`, once its header and its signature under `mac`
/// have passed.
pub(super) fn verified_claims(
    mac: &HmacSha256,
    token: &str,
) -> Result<Map<String, Value>, AuthError> {
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
    let Some((signing_input, header_segment, claims_segment, signature_segment)) = segments else {
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
    let mut mac = mac.clone();
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| AuthError::BadSignature)?;

    json_object(claims_segment, TokenPart::Claims)
}

/// A token for local use and tests: `claims` signed with HS256 under
/// `secret`, in the form [`AdminVerifier::authorize`] expects after
/// `Bearer `. The verifier wants at least `sub`, `iat` and `exp` (seconds
/// since the Unix epoch, at most the policy's `max_ttl` apart) and `role`, and `iss` and
/// `aud` where the policy names them. The claims of a real token are
/// [`mint`](super::mint)'s; this signs any claims, for the tests.
#[cfg(any(test, feature = "test-util"))]
pub fn sign_token(secret: &Secret, claims: &Value) -> Result<String, SecretError> {
    let header = json!({ "alg": ALGORITHM, "typ": "JWT" });
    Ok(encode_signed(keyed_hmac(secret)?, &header, claims))
}

/// `header.claims.signature`, each base64url without padding, signed by
/// `mac`. Generic so that tests can sign with other algorithms.
pub(super) fn encode_signed(mac: impl Mac, header: &Value, claims: &Value) -> String {
    encode_signed_json(mac, &header.to_string(), &claims.to_string())
}

/// The same from JSON text, which may hold what a [`Value`] cannot: a
/// repeated key, for the tests.
pub(super) fn encode_signed_json(mac: impl Mac, header: &str, claims: &str) -> String {
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

/// The two JSON parts of a token, to say which one is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPart {
    /// The header, the first part: it names the algorithm.
    Header,
    /// The claims, the second part: who sent the token, for whom, and
    /// until when.
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

/// A base64url segment holding a JSON object whose keys are all different
/// (see [`crate::json`]: parsers disagree on which of two equal keys
/// counts).
pub(super) fn json_object(segment: &str, part: TokenPart) -> Result<Map<String, Value>, AuthError> {
    let not_an_object = AuthError::Malformed(match part {
        TokenPart::Header => "the header is not a base64url JSON object",
        TokenPart::Claims => "the claims are not a base64url JSON object",
    });
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| not_an_object.clone())?;
    match unique_object(&bytes) {
        Ok(object) => Ok(object),
        Err(ObjectError::RepeatedKey(_)) => Err(AuthError::DuplicateKey(part)),
        Err(_) => Err(not_an_object),
    }
}
