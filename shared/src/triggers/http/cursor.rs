//! Signed, opaque cursors.
//!
//! A listing's cursor carries positions in DynamoDB (ids and timestamps) to
//! the client and back. Unsigned, a client could hand in positions of its
//! own making: skip items, or probe keys. So the cursor is sealed with an
//! HMAC, and one that was forged, altered, cut, or issued by another
//! deployment or for another table is a 400, never a misread position.
//!
//! Form: `base64url(payload JSON) "." base64url(HMAC-SHA256(key, scope "\n" payload))`.
//! The key is derived from the admin secret with its own label, so that a
//! cursor's MAC can never serve as a token's signature or the other way
//! round; the scope (the table's name) ties a cursor to the table it
//! points into. A cursor carries no secret and needs no encryption.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

use crate::keyed::{keyed_hmac, keyed_with, HmacSha256, SecretError};
use crate::secrets::Secret;

/// What the cursor key is derived for; a new version of the payload gets a
/// new label, so old cursors fail cleanly.
const KEY_LABEL: &[u8] = b"atom-rating-sync/admin-api/cursor/v1";

/// Longer than any cursor this API issues.
pub const MAX_CURSOR_CHARS: usize = 2048;

/// Why a cursor the client sent back cannot be opened; each is a 400.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CursorError {
    /// Longer than `MAX_CURSOR_CHARS`: not decoded at all.
    #[error("the cursor is longer than any this API issues")]
    TooLong,
    /// Not of the form this API issues; the text says which part is wrong.
    #[error("the cursor is not one this API issued ({0})")]
    Malformed(&'static str),
    /// Well formed, but the signature does not match the payload: the cursor
    /// was altered, or signed by another deployment.
    #[error(
        "the cursor's signature does not match: it was altered, or issued by another deployment"
    )]
    BadSignature,
}

/// Seals and opens cursors. Holds the derived key, never the secret; after
/// a rotation, the previous secret's too, to open the cursors it sealed.
#[derive(Clone)]
pub struct CursorSigner {
    mac: HmacSha256,
    previous: Option<HmacSha256>,
}

impl fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorSigner(HMAC-SHA256, ***)")
    }
}

impl CursorSigner {
    /// A signer keyed with a key derived from `secret` (the admin JWT
    /// secret); the secret itself is not kept. A blank secret is refused.
    pub fn new(secret: &Secret) -> Result<Self, SecretError> {
        Ok(Self {
            mac: cursor_key(secret)?,
            previous: None,
        })
    }

    /// The same signer, opening cursors sealed under `previous` too (the
    /// secret a rotation replaced); it seals under the current one only.
    pub fn accepting_previous(mut self, previous: &Secret) -> Result<Self, SecretError> {
        self.previous = Some(cursor_key(previous)?);
        Ok(self)
    }

    /// `payload` as a cursor valid for `scope` only.
    pub fn seal<T: Serialize>(&self, scope: &str, payload: &T) -> String {
        // Serializing plain data to a string cannot fail; an empty payload
        // would only make the cursor fail to open.
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap_or_default());
        let tag = Self::tag(&self.mac, scope, &payload)
            .finalize()
            .into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The payload of a cursor sealed for `scope` by this signer.
    pub fn open<T: DeserializeOwned>(&self, scope: &str, cursor: &str) -> Result<T, CursorError> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(CursorError::TooLong);
        }
        let (payload, tag) = cursor
            .split_once('.')
            .ok_or(CursorError::Malformed("no signature"))?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Malformed("the signature is not base64url"))?;
        let verified = Self::tag(&self.mac, scope, payload)
            .verify_slice(&tag)
            .is_ok()
            || self.previous.as_ref().is_some_and(|previous| {
                Self::tag(previous, scope, payload)
                    .verify_slice(&tag)
                    .is_ok()
            });
        if !verified {
            return Err(CursorError::BadSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| CursorError::Malformed("the payload is not base64url"))?;
        serde_json::from_slice(&payload)
            .map_err(|_| CursorError::Malformed("the payload does not parse"))
    }

    fn tag(key: &HmacSha256, scope: &str, payload: &str) -> HmacSha256 {
        let mut mac = key.clone();
        mac.update(scope.as_bytes());
        mac.update(b"\n");
        mac.update(payload.as_bytes());
        mac
    }
}

/// The cursors' key, derived from `secret` with its own label.
fn cursor_key(secret: &Secret) -> Result<HmacSha256, SecretError> {
    let key = keyed_hmac(secret)?
        .chain_update(KEY_LABEL)
        .finalize()
        .into_bytes();
    keyed_with(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn signer(secret: &str) -> CursorSigner {
        CursorSigner::new(&Secret::new(secret)).unwrap()
    }

    #[test]
    fn a_sealed_cursor_opens_to_its_payload() {
        let payload = json!({ "p": { "dead": { "id": "r-1", "last_failed_at": "2026-01-01T00:00:00.000Z" } } });
        let cursor = signer("s3cret").seal("table", &payload);
        assert!(cursor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(
            signer("s3cret").open::<Value>("table", &cursor).unwrap(),
            payload
        );
    }

    #[test]
    fn an_altered_foreign_or_misplaced_cursor_does_not_open() {
        let cursor = signer("s3cret").seal("table", &json!({ "id": "a" }));
        let (payload, tag) = cursor.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"id":"z"}"#);
        for (cursor, expected) in [
            (format!("{forged_payload}.{tag}"), CursorError::BadSignature),
            (
                signer("another-secret").seal("table", &json!({ "id": "a" })),
                CursorError::BadSignature,
            ),
            (
                format!("{payload}.{}", &tag[..8]),
                CursorError::BadSignature,
            ),
            (payload.to_owned(), CursorError::Malformed("no signature")),
            (
                format!("{payload}.!!"),
                CursorError::Malformed("the signature is not base64url"),
            ),
            ("x".repeat(MAX_CURSOR_CHARS + 1), CursorError::TooLong),
        ] {
            assert_eq!(
                signer("s3cret").open::<Value>("table", &cursor),
                Err(expected)
            );
        }
        assert_eq!(
            signer("s3cret").open::<Value>("other-table", &cursor),
            Err(CursorError::BadSignature),
            "a cursor is bound to its table"
        );
    }

    #[test]
    fn a_signed_payload_of_the_wrong_shape_is_malformed() {
        let cursor = signer("s3cret").seal("table", &json!(["not", "a", "struct"]));
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Expected {
            id: String,
        }
        assert_eq!(
            signer("s3cret").open::<Expected>("table", &cursor),
            Err(CursorError::Malformed("the payload does not parse"))
        );
    }

    #[test]
    fn after_a_rotation_cursors_sealed_under_the_previous_secret_still_open() {
        let old = signer("old-secret").seal("table", &json!({ "id": "a" }));
        let rotated = signer("new-secret")
            .accepting_previous(&Secret::new("old-secret"))
            .unwrap();
        assert_eq!(
            rotated.open::<Value>("table", &old),
            Ok(json!({ "id": "a" }))
        );
        let new = rotated.seal("table", &json!({ "id": "b" }));
        assert_eq!(
            signer("new-secret").open::<Value>("table", &new),
            Ok(json!({ "id": "b" })),
            "sealed under the current secret"
        );
        assert_eq!(
            signer("new-secret").open::<Value>("table", &old),
            Err(CursorError::BadSignature),
            "without the previous secret"
        );
        let forged = format!("{}.AAAA", old.split_once('.').unwrap().0);
        assert_eq!(
            rotated.open::<Value>("table", &forged),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn the_signer_shows_no_key() {
        assert_eq!(
            format!("{:?}", signer("s3cret")),
            "CursorSigner(HMAC-SHA256, ***)"
        );
        assert!(CursorSigner::new(&Secret::new(" ")).is_err());
    }
}
