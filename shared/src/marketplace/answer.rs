//! What an answer means: its body read with a cap as it streams, a
//! redirect named and refused, `Retry-After` in every form, and the status
//! classified into the error every retry decision is made from.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::wire::{id_text, Accepted};
use super::{transport_error, MarketplaceError};
use crate::rating::shorten;

/// The most read of an error answer: its message is cut to 300 characters
/// anyway, so the rest is not read at all.
pub(super) const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;

/// Reads at most `max_bytes` of an answer's body as it streams in: a
/// declared length over the cap is refused before anything is read, and a
/// body that grows past it is dropped mid-way. `strict`: over the cap is an
/// invalid answer; otherwise (error answers) the start is kept.
pub(super) async fn read_capped(
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
pub(super) fn redirect_target(location: Option<&HeaderValue>) -> String {
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
pub(super) fn classify(
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

/// The `error` or `message` field of an error body, else the body itself,
/// shortened: it ends up in the dead-letter table.
pub(super) fn error_message(body: &[u8]) -> String {
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

pub(super) fn retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
