//! What travels to and from the marketplace, as it travels: the upload of
//! one rating, the answers' ids, and the remote ratings a skill lists,
//! each decoded on its own (their values are checked by
//! [`RemoteRating::check`](crate::conflict) before they touch local data).

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::MarketplaceError;
use crate::rating::shorten;

/// What is sent for one rating.
#[derive(Debug, Clone, Serialize)]
pub struct RatingUpload<'a> {
    /// The skill rated.
    pub skill_id: &'a str,
    /// The user who rated it.
    pub user_id: &'a str,
    /// The stars, from 1 to 5.
    pub rating: u8,
    /// The review, if there is one.
    pub comment: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(super) struct UpdateBody<'a> {
    pub(super) rating: u8,
    pub(super) comment: Option<&'a str>,
}

/// The part of a success answer this service reads.
#[derive(Debug, Deserialize)]
pub(super) struct Accepted {
    pub(super) id: Option<serde_json::Value>,
    /// Older servers name the id this way.
    pub(super) rating_id: Option<serde_json::Value>,
}

/// A remote rating as `GET /skills/{skill_id}` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RemoteRating {
    /// The marketplace's id, as text whether it came as a string or a
    /// number.
    #[serde(deserialize_with = "id_as_text")]
    pub id: String,
    /// The user who rated; matched with the local rating of this user.
    pub user_id: String,
    /// The stars as sent; [`RemoteRating::check`] says whether they can be
    /// taken.
    pub rating: i64,
    /// The comment, if any.
    #[serde(default)]
    pub comment: Option<String>,
    /// When it was created; compared when there is no `updated_at`.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it was last modified; the time the conflict rules compare.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// A time some servers give instead; compared when neither of the
    /// others is there.
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// Ids come as strings or numbers.
fn id_as_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("id is {other}"))),
    }
}

/// One entry of a skill's remote ratings as the marketplace listed it: a
/// rating of the right shape, or why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Whose it is, when that could be read: the entry is matched with the
    /// local rating of this user.
    pub user_id: Option<String>,
    /// The rating, or why the entry is not a usable one.
    pub rating: Result<RemoteRating, String>,
}

impl Listed {
    /// Decodes one entry on its own, so that a bad one costs only itself.
    pub fn decode(value: serde_json::Value) -> Self {
        let user_id = value
            .get("user_id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let rating = serde_json::from_value::<RemoteRating>(value).map_err(|e| {
            format!(
                "Remote rating of the wrong shape: {}",
                shorten(&e.to_string(), 200)
            )
        });
        Self { user_id, rating }
    }
}

pub(super) fn remote_id_from(status: StatusCode, body: &[u8]) -> Result<String, MarketplaceError> {
    let invalid = |message: String| MarketplaceError::InvalidResponse {
        status: status.as_u16(),
        message,
    };
    let accepted: Accepted =
        serde_json::from_slice(body).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let id = accepted
        .id
        .or(accepted.rating_id)
        .and_then(id_text)
        .ok_or_else(|| invalid("no id or rating_id in the answer".into()))?;
    // It becomes a path segment of later updates and a stored attribute.
    match crate::rating::id_problem(&id) {
        None => Ok(id),
        Some(problem) => Err(invalid(format!("the remote id is unusable: {problem}"))),
    }
}

/// Ids may come as strings or numbers.
pub(super) fn id_text(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
