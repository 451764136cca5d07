//! The client of the Atom SaaS marketplace API (the contract is in the
//! README, and `infra/marketplace_simulator.py` implements it locally).
//!
//! Every answer is turned into a typed outcome here, so the sync engine
//! decides what to do from a [`MarketplaceError`] variant, never from a raw
//! status code. The token travels only in a header marked sensitive, so it
//! never shows in a log or a `Debug` print.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::MarketplaceConfig;
use crate::conflict::RemoteRating;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum MarketplaceError {
    #[error("marketplace rejected the rating ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("marketplace does not know skill {skill_id}")]
    UnknownSkill { skill_id: String },
    #[error("marketplace rating {remote_id} no longer exists")]
    RemoteRatingGone { remote_id: String },
    #[error("marketplace already has a rating by this user for this skill{}", existing_id.as_ref().map(|id| format!(" (remote id {id})")).unwrap_or_default())]
    AlreadyRated { existing_id: Option<String> },
    #[error("marketplace rate limit reached{}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("marketplace refused our credentials ({status})")]
    Unauthorized { status: u16 },
    #[error("marketplace server error ({status}): {message}")]
    Server { status: u16, message: String },
    #[error("marketplace request timed out")]
    Timeout,
    #[error("could not reach the marketplace: {0}")]
    Connection(String),
    #[error("marketplace answered {status} with an unreadable body: {message}")]
    InvalidResponse { status: u16, message: String },
}

impl MarketplaceError {
    /// Whether the same request may succeed later unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout | Self::Connection(_)
        )
    }
}

/// What is sent for one rating.
#[derive(Debug, Clone, Serialize)]
pub struct RatingUpload<'a> {
    pub skill_id: &'a str,
    pub user_id: &'a str,
    pub rating: u8,
    pub comment: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct UpdateBody<'a> {
    rating: u8,
    comment: Option<&'a str>,
}

/// The part of a success answer this service reads.
#[derive(Debug, Deserialize)]
struct Accepted {
    id: Option<serde_json::Value>,
    /// Older servers name the id this way.
    rating_id: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct MarketplaceClient {
    http: reqwest::Client,
    base_url: Url,
}

impl MarketplaceClient {
    pub fn new(config: &MarketplaceConfig) -> Result<Self, MarketplaceError> {
        let setup = |message: String| MarketplaceError::Connection(message);
        let mut base_url = Url::parse(&config.base_url)
            .map_err(|e| setup(format!("invalid marketplace URL: {e}")))?;
        if base_url.cannot_be_a_base() {
            return Err(setup("marketplace URL cannot be a base".into()));
        }
        // Paths are appended segment by segment; a trailing slash would add
        // an empty one.
        if let Ok(mut segments) = base_url.path_segments_mut() {
            segments.pop_if_empty();
        }

        let mut token = HeaderValue::from_str(config.api_token.expose())
            .map_err(|_| setup("ATOM_SAAS_API_TOKEN is not a valid header value".into()))?;
        token.set_sensitive(true);
        let instance = HeaderValue::from_str(&config.instance_id)
            .map_err(|_| setup("ATOM_INSTANCE_ID is not a valid header value".into()))?;
        let mut headers = HeaderMap::new();
        headers.insert("x-api-token", token);
        headers.insert("x-instance-id", instance);

        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("atom-rating-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| setup(format!("HTTP client: {e}")))?;
        Ok(Self { http, base_url })
    }

    /// `POST {base}/skills/{skill_id}/rate`; the remote id on success.
    pub async fn create_rating(
        &self,
        upload: &RatingUpload<'_>,
        idempotency_key: &str,
    ) -> Result<String, MarketplaceError> {
        let url = self.url(&["skills", upload.skill_id, "rate"]);
        let request = self
            .http
            .post(url)
            .json(upload)
            .header("idempotency-key", idempotency_key);
        let (status, body) = self.exchange(request, upload.skill_id, None).await?;
        remote_id_from(status, &body)
    }

    /// `PUT {base}/skills/{skill_id}/ratings/{remote_id}`; the remote id on success.
    pub async fn update_rating(
        &self,
        upload: &RatingUpload<'_>,
        remote_id: &str,
        idempotency_key: &str,
    ) -> Result<String, MarketplaceError> {
        let url = self.url(&["skills", upload.skill_id, "ratings", remote_id]);
        let body = UpdateBody {
            rating: upload.rating,
            comment: upload.comment,
        };
        let request = self
            .http
            .put(url)
            .json(&body)
            .header("idempotency-key", idempotency_key);
        let (status, body) = self
            .exchange(request, upload.skill_id, Some(remote_id))
            .await?;
        remote_id_from(status, &body)
    }

    /// `GET {base}/skills/{skill_id}`: the ratings the marketplace holds for
    /// the skill, from every instance.
    pub async fn skill_ratings(
        &self,
        skill_id: &str,
    ) -> Result<Vec<RemoteRating>, MarketplaceError> {
        #[derive(Deserialize)]
        struct Skill {
            #[serde(default)]
            ratings: Vec<RemoteRating>,
        }
        let url = self.url(&["skills", skill_id]);
        let (status, body) = self.exchange(self.http.get(url), skill_id, None).await?;
        serde_json::from_slice::<Skill>(&body)
            .map(|skill| skill.ratings)
            .map_err(|e| MarketplaceError::InvalidResponse {
                status: status.as_u16(),
                message: format!("not a skill with ratings: {e}"),
            })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        // Checked in `new`: the base URL can be a base.
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// Sends a request; a success status gives its body, anything else the
    /// error it means.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        skill_id: &str,
        remote_id: Option<&str>,
    ) -> Result<(StatusCode, Vec<u8>), MarketplaceError> {
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.bytes().await.map_err(transport_error)?.to_vec();

        if status.is_success() {
            return Ok((status, body));
        }
        Err(classify(status, &body, retry_after, skill_id, remote_id))
    }
}

/// What an error answer means: the classification every retry decision is
/// made from (see [`MarketplaceError::is_transient`]).
fn classify(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
    skill_id: &str,
    remote_id: Option<&str>,
) -> MarketplaceError {
    let message = || error_message(body);
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => MarketplaceError::Unauthorized {
            status: status.as_u16(),
        },
        StatusCode::NOT_FOUND => match remote_id {
            Some(remote_id) => MarketplaceError::RemoteRatingGone {
                remote_id: remote_id.to_owned(),
            },
            None => MarketplaceError::UnknownSkill {
                skill_id: skill_id.to_owned(),
            },
        },
        StatusCode::CONFLICT => MarketplaceError::AlreadyRated {
            existing_id: serde_json::from_slice::<Accepted>(body)
                .ok()
                .and_then(|a| a.id.or(a.rating_id))
                .and_then(id_text),
        },
        StatusCode::TOO_MANY_REQUESTS => MarketplaceError::RateLimited { retry_after },
        StatusCode::REQUEST_TIMEOUT => MarketplaceError::Timeout,
        s if s.is_server_error() => MarketplaceError::Server {
            status: s.as_u16(),
            message: message(),
        },
        s => MarketplaceError::Rejected {
            status: s.as_u16(),
            message: message(),
        },
    }
}

fn transport_error(err: reqwest::Error) -> MarketplaceError {
    if err.is_timeout() {
        MarketplaceError::Timeout
    } else {
        // The URL carries no secret; the error chain names the cause.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        MarketplaceError::Connection(message)
    }
}

fn remote_id_from(status: StatusCode, body: &[u8]) -> Result<String, MarketplaceError> {
    let invalid = |message: String| MarketplaceError::InvalidResponse {
        status: status.as_u16(),
        message,
    };
    let accepted: Accepted =
        serde_json::from_slice(body).map_err(|e| invalid(format!("not JSON: {e}")))?;
    accepted
        .id
        .or(accepted.rating_id)
        .and_then(id_text)
        .ok_or_else(|| invalid("no id or rating_id in the answer".into()))
}

/// Ids may come as strings or numbers.
fn id_text(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `error` or `message` field of an error body, else the body itself,
/// shortened: it ends up in the dead-letter table.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: Option<serde_json::Value>,
        message: Option<serde_json::Value>,
    }
    let text = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            error: Some(serde_json::Value::String(e)),
            ..
        })
        | Ok(ErrorBody {
            message: Some(serde_json::Value::String(e)),
            ..
        }) => e,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if text.is_empty() => "(empty body)".to_owned(),
        None => text.to_owned(),
    }
}

/// `Retry-After` as seconds or as an HTTP date; `None` for anything else.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_dates_and_rejects_garbage() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        let in_a_minute = chrono::Utc::now() + chrono::Duration::seconds(60);
        let date = in_a_minute.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let wait = parse_retry_after(&date).expect("HTTP date");
        assert!((55..=60).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        for garbage in ["", "soon", "-5", "1.5", "Wed, 99 Oct 2015"] {
            assert_eq!(parse_retry_after(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn success_bodies_give_the_id_under_either_name() {
        let ok = StatusCode::CREATED;
        assert_eq!(remote_id_from(ok, br#"{"id":"rr-1"}"#), Ok("rr-1".into()));
        assert_eq!(remote_id_from(ok, br#"{"rating_id":42}"#), Ok("42".into()));
        assert!(matches!(
            remote_id_from(ok, br#"{"other":1}"#),
            Err(MarketplaceError::InvalidResponse { status: 201, .. })
        ));
        assert!(matches!(
            remote_id_from(ok, b"<html>"),
            Err(MarketplaceError::InvalidResponse { .. })
        ));
    }

    #[test]
    fn error_messages_come_from_the_body_and_stay_short() {
        assert_eq!(error_message(br#"{"error":"bad rating"}"#), "bad rating");
        assert_eq!(error_message(br#"{"message":"nope"}"#), "nope");
        assert_eq!(error_message(b"plain text"), "plain text");
        assert_eq!(error_message(b""), "(empty body)");
        assert!(error_message("x".repeat(1000).as_bytes()).chars().count() <= 301);
    }

    #[test]
    fn every_status_is_classified_transient_or_permanent() {
        let wait = Some(Duration::from_secs(3));
        // (status, on update?, transient?, what it is)
        let table = [
            (400, false, false, "Rejected"),
            (401, false, false, "Unauthorized"),
            (403, false, false, "Unauthorized"),
            (404, false, false, "UnknownSkill"),
            (404, true, false, "RemoteRatingGone"),
            (408, false, true, "Timeout"),
            (409, false, false, "AlreadyRated"),
            (422, false, false, "Rejected"),
            (429, false, true, "RateLimited"),
            (500, false, true, "Server"),
            (502, false, true, "Server"),
            (503, false, true, "Server"),
            (504, false, true, "Server"),
        ];
        for (status, update, transient, kind) in table {
            let error = classify(
                StatusCode::from_u16(status).unwrap(),
                br#"{"error":"why","id":"rr-7"}"#,
                wait,
                "skill-1",
                update.then_some("rr-7"),
            );
            assert_eq!(error.is_transient(), transient, "{status}: {error:?}");
            assert!(
                format!("{error:?}").starts_with(kind),
                "{status}: {error:?}"
            );
        }
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, b"", wait, "s", None),
            MarketplaceError::RateLimited { retry_after: wait }
        );
        assert_eq!(
            classify(StatusCode::CONFLICT, br#"{"id":"rr-7"}"#, None, "s", None),
            MarketplaceError::AlreadyRated {
                existing_id: Some("rr-7".into())
            }
        );
    }

    #[test]
    fn only_faults_that_may_pass_are_transient() {
        use MarketplaceError::*;
        let transient = [
            RateLimited { retry_after: None },
            Server {
                status: 503,
                message: String::new(),
            },
            Timeout,
            Connection("refused".into()),
        ];
        let permanent = [
            Rejected {
                status: 422,
                message: String::new(),
            },
            UnknownSkill {
                skill_id: "s".into(),
            },
            RemoteRatingGone {
                remote_id: "r".into(),
            },
            AlreadyRated { existing_id: None },
            Unauthorized { status: 401 },
            InvalidResponse {
                status: 200,
                message: String::new(),
            },
        ];
        assert!(transient.iter().all(MarketplaceError::is_transient));
        assert!(!permanent.iter().any(MarketplaceError::is_transient));
    }
}
