//! The client of the Atom SaaS marketplace API (the contract is in the
//! data page, `docs/data.md`, and `infra/simulator/marketplace_simulator.py` implements it locally).
//!
//! Every answer is turned into a typed outcome here, so the sync engine
//! decides what to do from a [`MarketplaceError`] variant, never from a raw
//! status code. The token travels only in a header marked sensitive, so it
//! never shows in a log or a `Debug` print. It is read again after its TTL,
//! or at once when the marketplace refuses it ([`MarketplaceClient::token`]).
//!
//! `wire.rs` holds what travels, `answer.rs` what an answer means,
//! `listing.rs` how a skill's listing is read within bounds.

mod answer;
mod error;
mod listing;
#[cfg(test)]
mod tests;
mod wire;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use tracing::Instrument;

use crate::config::MarketplaceConfig;
use crate::rating::shorten;
use crate::secrets::{Rotating, Secret, SecretRead};
pub use answer::parse_retry_after;
use answer::{classify, read_capped, redirect_target, MAX_ERROR_BODY_BYTES};
pub use error::MarketplaceError;
use listing::{decode_listing, ListingError};
pub use listing::{max_entries, MIN_ENTRY_BYTES};
use wire::{remote_id_from, UpdateBody};
pub use wire::{Listed, RatingUpload, RemoteRating};

/// The most read of a create or update answer: a rating's id and its
/// fields fit in far less.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The client of the marketplace API, holding the instance's token.
/// Cheap to clone: the HTTP client inside is shared, and so is the token.
#[derive(Debug, Clone)]
pub struct MarketplaceClient {
    http: reqwest::Client,
    /// The `X-API-Token` header, read again as the configuration says.
    token: Rotating<HeaderValue>,
    base_url: Url,
    /// The most read of a skill's ratings (`ATOM_SAAS_MAX_SKILL_RESPONSE_BYTES`).
    max_skill_bytes: usize,
}

impl MarketplaceClient {
    /// A client for the marketplace of `config`. Fails when the base URL
    /// cannot be used or the HTTP client cannot be built.
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

        let refresh = &config.token_refresh;
        let token = Rotating::new(
            "ATOM_SAAS_API_TOKEN",
            SecretRead::only(config.api_token.clone()),
            refresh.source.clone(),
            refresh.ttl,
            |read| token_header(&read.current),
        )
        .map_err(|e| setup(e.to_string()))?;
        let instance = HeaderValue::from_str(&config.instance_id)
            .map_err(|_| setup("ATOM_INSTANCE_ID is not a valid header value".into()))?;
        let mut headers = HeaderMap::new();
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
            token,
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
    ///
    /// Memory is bounded twice: at most `max_skill_response_bytes` are read,
    /// and at most [`max_entries`] of them (one per [`MIN_ENTRY_BYTES`]) are
    /// decoded, one at a time; a listing with more is invalid. An entry
    /// that names no user is left out: no local rating could match it.
    pub async fn skill_ratings(&self, skill_id: &str) -> Result<Vec<Listed>, MarketplaceError> {
        let url = self.url(&["skills", skill_id]);
        let (status, body) = self
            .exchange(self.http.get(url), skill_id, None, self.max_skill_bytes)
            .await?;
        let invalid = |message: String| MarketplaceError::InvalidResponse {
            status: status.as_u16(),
            message,
        };
        decode_listing(&body, max_entries(self.max_skill_bytes)).map_err(|e| match e {
            ListingError::TooMany(cap) => invalid(format!(
                "the skill lists more than {cap} ratings, the most read from one listing \
                 (one per {MIN_ENTRY_BYTES} bytes of ATOM_SAAS_MAX_SKILL_RESPONSE_BYTES)"
            )),
            ListingError::NotASkill(e) => {
                invalid(format!("not a skill with ratings: {}", shorten(&e, 200)))
            }
        })
    }

    /// The token, to read it again when the marketplace refused it.
    pub fn token(&self) -> &Rotating<HeaderValue> {
        &self.token
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        // Checked in `new`: the base URL can be a base.
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// Sends a request, traced as one call to the marketplace; a success
    /// status gives its body (at most `max_bytes` of it, or the answer is
    /// invalid), anything else the error it means.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        skill_id: &str,
        remote_id: Option<&str>,
        max_bytes: usize,
    ) -> Result<(StatusCode, Vec<u8>), MarketplaceError> {
        let (http, request) = request.build_split();
        let mut request = request.map_err(transport_error)?;
        let span = crate::traces::client_span(
            "atom-marketplace",
            request.method().as_str(),
            &traced_url(request.url()),
        );
        if let Some(trace) = crate::traces::header(&span).and_then(|h| h.parse().ok()) {
            request
                .headers_mut()
                .insert(crate::traces::TRACE_HEADER, trace);
        }
        let answer = self
            .answer(http, request, skill_id, remote_id, max_bytes)
            .instrument(span.clone())
            .await;
        let status = match &answer {
            Ok((status, _)) => Some(status.as_u16()),
            Err(error) => error.status(),
        };
        let error = answer.as_ref().err().map(|e| e as &dyn std::fmt::Display);
        crate::traces::record_answer(&span, status, error);
        answer
    }

    /// [`Self::exchange`]'s request on the wire, with the current token.
    async fn answer(
        &self,
        http: reqwest::Client,
        mut request: reqwest::Request,
        skill_id: &str,
        remote_id: Option<&str>,
        max_bytes: usize,
    ) -> Result<(StatusCode, Vec<u8>), MarketplaceError> {
        let token = self.token.current().await;
        request
            .headers_mut()
            .insert("x-api-token", token.as_ref().clone());
        let response = http.execute(request).await.map_err(transport_error)?;
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

/// A request's URL as a trace may show it: no user, password, query or
/// fragment, whatever the configured base URL holds.
fn traced_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// The `X-API-Token` header of `token`, marked sensitive so that no log
/// shows it.
fn token_header(token: &Secret) -> Result<HeaderValue, String> {
    let mut header = HeaderValue::from_str(token.expose())
        .map_err(|_| "it is not a valid header value".to_owned())?;
    header.set_sensitive(true);
    Ok(header)
}

/// What a request that got no answer means: a timeout, a request the
/// client would not build (permanent, see [`MarketplaceError::Unsendable`]),
/// or a connection that failed.
pub(super) fn transport_error(err: reqwest::Error) -> MarketplaceError {
    if err.is_timeout() {
        return MarketplaceError::Timeout;
    }
    // The URL carries no secret; the error chain names the cause.
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    let message = shorten(&message, 500);
    if err.is_builder() {
        MarketplaceError::Unsendable(message)
    } else {
        MarketplaceError::Connection(message)
    }
}
