//! Requests built to break the admin handlers: what a client can put on the
//! wire ([`Hostile`], API Gateway's path parameter included), the ways to
//! break one part of it ([`Mutation`], by the [`Part`] the handlers check),
//! and a fixed-seed generator to draw them with ([`XorShift`]).
//!
//! The catalogue of mutations is the test's own (`tests/admin_hostile.rs`).

use std::collections::HashMap;

use crate::admin::{admin_token, Endpoint};
use lambda_http::http::{self, HeaderValue, Method};
use lambda_http::{Body, RequestExt as _};
use shared::triggers::http::Request;

/// A fixed-seed xorshift64: the hostile requests are the same on every run.
pub struct XorShift(pub u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Every byte outside the unreserved set, percent-encoded.
pub fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The part of a request a mutation breaks, in the order the handlers
/// check them: the token, the method, then the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Authorization,
    Method,
    Path,
    Query,
    Body,
}

impl Part {
    pub fn checked_at(self) -> u8 {
        match self {
            Self::Authorization => 0,
            Self::Method => 1,
            Self::Path | Self::Query | Self::Body => 2,
        }
    }
}

pub const EVERY_ENDPOINT: &[Endpoint] = &Endpoint::ALL;
/// The endpoints that read a body (the listing does not).
pub const WITH_BODY: &[Endpoint] = &[Endpoint::Sync, Endpoint::Retry, Endpoint::Status];
/// The endpoints that read the query string (the two POSTs do not).
pub const WITH_QUERY: &[Endpoint] = &[Endpoint::List, Endpoint::Status];
pub const RETRY_ONLY: &[Endpoint] = &[Endpoint::Retry];

/// One way to break a request, and what it must be answered with.
pub struct Mutation {
    pub name: &'static str,
    pub part: Part,
    pub status: u16,
    pub endpoints: &'static [Endpoint],
    pub apply: Apply,
}

/// What a client can put on the wire, API Gateway's path parameter
/// included.
pub struct Hostile {
    pub endpoint: Endpoint,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<Vec<u8>>,
    pub body: Vec<u8>,
    /// The `{id}` as API Gateway's route hands it to the retry function
    /// (decoded); `None` where the function reads it from the path.
    pub routed_id: Option<String>,
    pub applied: Vec<&'static str>,
}

impl Hostile {
    /// A request the endpoint would carry out (a 200, or a 404 for an
    /// unknown retry id); each mutation then breaks one part of it.
    pub fn valid(endpoint: Endpoint, dead_ids: &[String], rng: &mut XorShift) -> Self {
        let (method, path) = endpoint.route();
        let mut request = Self {
            endpoint,
            method,
            path: path.to_owned(),
            query: None,
            authorization: None,
            body: Vec::new(),
            routed_id: None,
            applied: Vec::new(),
        };
        request.bearer(format!("Bearer {}", admin_token()));
        match endpoint {
            Endpoint::Sync => {
                let body = rng.pick(&[
                    "",
                    " \n",
                    "{}",
                    r#"{"upload_all": false}"#,
                    r#"{"upload_all": true}"#,
                ]);
                request.body(body);
            }
            Endpoint::List => {
                let query = rng.pick(&["", "limit=10", "status=dead", "limit=100&status=retrying"]);
                request.query = Some(query.to_string()).filter(|q| !q.is_empty());
            }
            Endpoint::Retry => {
                let id = if rng.one_in(3) {
                    "no-such-rating".to_owned()
                } else {
                    dead_ids[rng.below(dead_ids.len())].clone()
                };
                request.retry_id(&id, rng.one_in(2));
                request.body(rng.pick(&["", "{}"]));
            }
            Endpoint::Status => request.body(rng.pick(&["", "{}"])),
        }
        request
    }

    pub fn bearer(&mut self, value: String) {
        self.authorization = Some(value.into_bytes());
    }

    pub fn body(&mut self, body: &str) {
        self.body = body.as_bytes().to_vec();
    }

    /// The retry of `id`, routed (API Gateway hands the decoded id as a
    /// path parameter) or not (the function reads the path).
    pub fn retry_id(&mut self, id: &str, routed: bool) {
        self.path = format!(
            "/api/admin/ratings/failed-uploads/{}/retry",
            percent_encoded(id)
        );
        self.routed_id = routed.then(|| id.to_owned());
    }

    /// A path segment as sent, without a route.
    pub fn raw_retry_id(&mut self, raw: &str) {
        self.path = format!("/api/admin/ratings/failed-uploads/{raw}/retry");
        self.routed_id = None;
    }

    /// `bad` as the query, or after the valid one.
    pub fn query(&mut self, bad: String, rng: &mut XorShift) {
        self.query = match self.query.take() {
            Some(valid) if rng.one_in(2) => Some(format!("{valid}&{bad}")),
            _ => Some(bad),
        };
    }

    pub fn build(&self) -> Request {
        let uri = match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        };
        let mut builder = http::Request::builder()
            .method(self.method.clone())
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(value) = &self.authorization {
            let value = HeaderValue::from_bytes(value)
                .unwrap_or_else(|e| panic!("{}: not a header value: {e}", self.describe()));
            builder = builder.header("authorization", value);
        }
        let body = match String::from_utf8(self.body.clone()) {
            Ok(text) if text.is_empty() => Body::Empty,
            Ok(text) => Body::Text(text),
            Err(not_utf8) => Body::Binary(not_utf8.into_bytes()),
        };
        let request = builder
            .body(body)
            .unwrap_or_else(|e| panic!("{}: not a request: {e}", self.describe()));
        match &self.routed_id {
            Some(id) => {
                request.with_path_parameters(HashMap::from([("id".to_owned(), id.clone())]))
            }
            None => request,
        }
    }

    pub fn describe(&self) -> String {
        let shown = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            let cut: String = text.chars().take(60).collect();
            format!("{cut:?} ({} bytes)", bytes.len())
        };
        let query = self
            .query
            .as_deref()
            .map_or(String::new(), |query| format!("?{query:.80}"));
        format!(
            "[{}] {:?} {} {:.80}{query} routed id {:?}, authorization {}, body {}",
            self.applied.join(" + "),
            self.endpoint,
            self.method,
            self.path,
            self.routed_id
                .as_deref()
                .map(|id| id.chars().take(40).collect::<String>()),
            self.authorization.as_deref().map_or("none".into(), shown),
            shown(&self.body),
        )
    }
}

/// A base64url string of `len` characters (a plausible token segment).
pub fn segment(len: usize, rng: &mut XorShift) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len).map(|_| char::from(rng.pick(ALPHABET))).collect()
}

pub type Apply = fn(&mut Hostile, &mut XorShift);

pub fn unauthorized(name: &'static str, apply: Apply) -> Mutation {
    Mutation {
        name,
        part: Part::Authorization,
        status: 401,
        endpoints: EVERY_ENDPOINT,
        apply,
    }
}

pub fn bad_path(name: &'static str, apply: Apply) -> Mutation {
    Mutation {
        name,
        part: Part::Path,
        status: 400,
        endpoints: RETRY_ONLY,
        apply,
    }
}

pub fn bad_query(name: &'static str, apply: Apply) -> Mutation {
    Mutation {
        name,
        part: Part::Query,
        status: 400,
        endpoints: WITH_QUERY,
        apply,
    }
}

pub fn bad_body(name: &'static str, apply: Apply) -> Mutation {
    Mutation {
        name,
        part: Part::Body,
        status: 400,
        endpoints: WITH_BODY,
        apply,
    }
}
