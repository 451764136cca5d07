//! The client of the Atom SaaS marketplace API (the contract is in the
//! README, and `infra/marketplace_simulator.py` implements it locally).
//!
//! Every answer is turned into a typed outcome here, so the sync engine
//! decides what to do from a [`MarketplaceError`] variant, never from a raw
//! status code. The token travels only in a header marked sensitive, so it
//! never shows in a log or a `Debug` print.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::MarketplaceConfig;
use crate::conflict::Listed;
use crate::rating::shorten;

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
    /// Redirects are never followed: one could send the token to another
    /// host, or turn a create into a GET whose 200 looks like success.
    #[error("marketplace answered {status} redirecting to {target}; redirects are never followed: check ATOM_SAAS_API_URL")]
    Redirected { status: u16, target: String },
}

impl MarketplaceError {
    /// Whether the same request may succeed later unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout | Self::Connection(_)
        )
    }

    /// Whether no request of this run can succeed: the credentials or the
    /// configured URL are wrong. The run stops, and its ratings stay pending.
    pub fn stops_the_run(&self) -> bool {
        matches!(self, Self::Unauthorized { .. } | Self::Redirected { .. })
    }
}

/// The most read of a create or update answer: a rating's id and its
/// fields fit in far less.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The most read of an error answer: its message is cut to 300 characters
/// anyway, so the rest is not read at all.
const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;

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
    /// The most read of a skill's ratings (`ATOM_SAAS_MAX_SKILL_RESPONSE_BYTES`).
    max_skill_bytes: usize,
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
            // A 3xx is answered as an error (see `classify`), never followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| setup(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base_url,
            max_skill_bytes: config.max_skill_response_bytes,
        })
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
        let (status, body) = self
            .exchange(request, upload.skill_id, None, MAX_ANSWER_BYTES)
            .await?;
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
            .exchange(request, upload.skill_id, Some(remote_id), MAX_ANSWER_BYTES)
            .await?;
        remote_id_from(status, &body)
    }

    /// `GET {base}/skills/{skill_id}`: the ratings the marketplace holds for
    /// the skill, from every instance, each decoded on its own: one rating
    /// of the wrong shape is a [`Listed`] with its reason, not a failed read.
    /// Their values are checked by the engine ([`RemoteRating::check`](crate::conflict::RemoteRating::check)).
    pub async fn skill_ratings(&self, skill_id: &str) -> Result<Vec<Listed>, MarketplaceError> {
        #[derive(Deserialize)]
        struct Skill {
            #[serde(default)]
            ratings: Vec<serde_json::Value>,
        }
        let url = self.url(&["skills", skill_id]);
        let (status, body) = self
            .exchange(self.http.get(url), skill_id, None, self.max_skill_bytes)
            .await?;
        let skill = serde_json::from_slice::<Skill>(&body).map_err(|e| {
            MarketplaceError::InvalidResponse {
                status: status.as_u16(),
                message: format!("not a skill with ratings: {}", shorten(&e.to_string(), 200)),
            }
        })?;
        drop(body);
        Ok(skill.ratings.into_iter().map(Listed::decode).collect())
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        // Checked in `new`: the base URL can be a base.
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// Sends a request; a success status gives its body (at most
    /// `max_bytes` of it, or the answer is invalid), anything else the error
    /// it means.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        skill_id: &str,
        remote_id: Option<&str>,
        max_bytes: usize,
    ) -> Result<(StatusCode, Vec<u8>), MarketplaceError> {
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers();
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        if status.is_redirection() {
            return Err(MarketplaceError::Redirected {
                status: status.as_u16(),
                target: redirect_target(headers.get(LOCATION)),
            });
        }
        if status.is_success() {
            let body = read_capped(response, max_bytes, true).await?;
            return Ok((status, body));
        }
        let body = read_capped(response, MAX_ERROR_BODY_BYTES, false).await?;
        Err(classify(status, &body, retry_after, skill_id, remote_id))
    }
}

/// Reads at most `max_bytes` of an answer's body as it streams in: a
/// declared length over the cap is refused before anything is read, and a
/// body that grows past it is dropped mid-way. `strict`: over the cap is an
/// invalid answer; otherwise (error answers) the start is kept.
async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: usize,
    strict: bool,
) -> Result<Vec<u8>, MarketplaceError> {
    let status = response.status().as_u16();
    let too_large = |size: String| MarketplaceError::InvalidResponse {
        status,
        message: format!("the answer has {size} bytes; at most {max_bytes} are read"),
    };
    let declared = response.content_length();
    if strict {
        if let Some(length) = declared.filter(|length| *length > max_bytes as u64) {
            return Err(too_large(length.to_string()));
        }
    }
    let expected = declared.map_or(0, |length| usize::try_from(length).unwrap_or(max_bytes));
    let mut body = Vec::with_capacity(expected.min(max_bytes));
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        let room = max_bytes - body.len();
        if chunk.len() > room {
            if strict {
                return Err(too_large(format!("more than {max_bytes}")));
            }
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The host a redirect points at, for the error: never the whole URL, which
/// may carry anything.
fn redirect_target(location: Option<&HeaderValue>) -> String {
    let Some(location) = location.and_then(|value| value.to_str().ok()) else {
        return "no Location".to_owned();
    };
    match Url::parse(location) {
        Ok(url) => match url.host_str() {
            Some(host) => format!("host {}", shorten(host, 200)),
            None => "a URL with no host".to_owned(),
        },
        // A relative Location stays on the same host.
        Err(_) => "a path on the same host".to_owned(),
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
                .and_then(id_text)
                .filter(|id| crate::rating::id_problem(id).is_none()),
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
    match text.trim() {
        "" => "(empty body)".to_owned(),
        text => shorten(text, 300),
    }
}

/// `Retry-After` as a number of seconds or as an HTTP date, in any of the
/// three forms HTTP allows (IMF-fixdate, RFC 850, asctime); `None` for
/// anything else (a sign, a fraction, garbage), which falls back to the
/// normal backoff. A number of seconds too large for any clock is
/// [`Duration::MAX`]: the delivery gate then ends the run early rather than
/// waiting, and nothing adds it to an instant.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    retry_after_at(value, SystemTime::now())
}

fn retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_of_any_size_sign_or_form_never_panics() {
        // 2015-10-21 07:28:00 UTC, the RFC's example date, and a minute before.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_420);
        let minute = Some(Duration::from_secs(60));
        // (header, wait)
        let table = [
            ("7", Some(Duration::from_secs(7))),
            (" 0 ", Some(Duration::ZERO)),
            ("18446744073709551615", Some(Duration::from_secs(u64::MAX))),
            ("99999999999999999999999999", Some(Duration::MAX)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", minute),
            ("Wednesday, 21-Oct-15 07:28:00 GMT", minute),
            ("Wed Oct 21 07:28:00 2015", minute),
            ("Tue, 20 Oct 2015 07:28:00 GMT", Some(Duration::ZERO)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(Duration::ZERO)),
            (
                "Fri, 31 Dec 9999 23:59:59 GMT",
                Some(Duration::from_secs(251_956_888_379)),
            ),
            ("", None),
            ("soon", None),
            ("-5", None),
            ("+5", None),
            ("1.5", None),
            ("1e9", None),
            ("Wed, 99 Oct 2015", None),
            ("Wed, 21 Oct 2015 07:28:00 PST", None),
        ];
        for (header, wait) in table {
            assert_eq!(retry_after_at(header, now), wait, "{header:?}");
        }
        let in_a_minute = chrono::Utc::now() + chrono::Duration::seconds(60);
        let date = in_a_minute.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let wait = parse_retry_after(&date).expect("HTTP date");
        assert!((55..=60).contains(&wait.as_secs()), "{wait:?}");
    }

    #[test]
    fn a_redirect_names_only_the_host_it_points_at() {
        let location = |text: &str| redirect_target(Some(&HeaderValue::from_str(text).unwrap()));
        assert_eq!(
            location("http://127.0.0.2:9/steal?token=x"),
            "host 127.0.0.2"
        );
        assert_eq!(location("/elsewhere"), "a path on the same host");
        assert_eq!(redirect_target(None), "no Location");
        let error = MarketplaceError::Redirected {
            status: 301,
            target: location("https://evil.example/x"),
        };
        assert!(error.stops_the_run() && !error.is_transient());
        assert!(
            error.to_string().contains("evil.example")
                && error.to_string().contains("ATOM_SAAS_API_URL"),
            "{error}"
        );
    }

    #[test]
    fn success_bodies_give_the_id_under_either_name() {
        let ok = StatusCode::CREATED;
        assert_eq!(remote_id_from(ok, br#"{"id":"rr-1"}"#), Ok("rr-1".into()));
        assert_eq!(remote_id_from(ok, br#"{"rating_id":42}"#), Ok("42".into()));
        for unusable in [r#"{"id":"../x"}"#, r#"{"id":".."}"#, r#"{"id":""}"#] {
            assert!(
                matches!(
                    remote_id_from(ok, unusable.as_bytes()),
                    Err(MarketplaceError::InvalidResponse { status: 201, .. })
                ),
                "{unusable}"
            );
        }
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
