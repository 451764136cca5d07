//! The admin HTTP API: what the four admin functions do between an HTTP
//! request and the domain calls.
//!
//! Each function serves one route of the API Gateway HTTP API, so there is
//! no router: a function's binary builds its state once per cold start and
//! hands every request to one handler here. The handlers are plain async
//! functions from a [`Request`] to a [`Response`], which is what lets the
//! integration tests call them in-process, with requests they build, against
//! the real DynamoDB server.
//!
//! | route | handler |
//! |---|---|
//! | `POST /api/admin/sync/ratings` | [`sync_ratings::handle`] |
//! | `GET /api/admin/ratings/failed-uploads` | [`failed_uploads::handle`] |
//! | `POST /api/admin/ratings/failed-uploads/{id}/retry` | [`retry::handle`] |
//! | `GET /api/admin/sync/ratings/status` | [`status::handle`] |
//!
//! The API's Lambda authorizer ([`authorizer`]) refuses what the verifier
//! refuses before a function is called; the functions check the token all
//! the same.
//!
//! Every request goes the same way ([`Call`]):
//! 1. **Who.** The `Authorization` header is checked by [`AdminVerifier`]
//!    before anything else is read. No token, a bad signature, an expired
//!    token or one that lives too long, another algorithm, no `sub`, or
//!    another issuer or audience than configured: 401 `UNAUTHORIZED`; a valid token that may
//!    not do this (not `super_admin`, or an agent that is not `AUTONOMOUS`):
//!    403 `PERMISSION_DENIED`.
//! 2. **What.** The whole input (path, query, body) is read and checked
//!    before anything is done, so bad input is a 400 that names the problem
//!    and changes nothing.
//! 3. **Audit.** An action that changes state is written to the audit trail
//!    before it starts (no record, no action: 503), and the record is
//!    completed with the answer. Reads and refused or invalid calls are
//!    recorded once, with their answer. Who, what, when and the result; never
//!    the token, a cursor or a body.
//! 4. **Answer.** JSON. Every error, whatever its cause, in one envelope:
//!    `{"success": false, "error": {"code", "message", "timestamp", "details"}}`.
//!    A DynamoDB failure is a 5xx whose message says so and nothing more;
//!    the details go to the log.

pub mod authorizer;
pub mod failed_uploads;
pub mod retry;
pub mod status;
pub mod sync_ratings;

mod cursor;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use lambda_http::http::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::{json, Map, Value};
use thiserror::Error;
use tracing::{error, info, warn};

use crate::auth::{AdminPolicy, AdminVerifier, AuthError, SecretError};
use crate::config::{AdminConfig, Config, ConfigError, Environment, Secret, SyncSettings};
use crate::marketplace::MarketplaceError;
use crate::store::{timestamp, AuditRecord, Store, StoreError};
use crate::sync::SyncEngine;

pub use cursor::{CursorError, CursorSigner};
pub use lambda_http::Request;

/// What every handler answers.
pub type Response = lambda_http::Response<Body>;

/// The largest request body accepted. The bodies of this API are a few
/// bytes (`{"upload_all": true}`); anything near this is a mistake.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Why a request was not answered with 200.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(AuthError),
    /// Bad input: 400, with a message that names the problem.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        details: Value,
    },
    #[error("{method} is not allowed here; this endpoint answers {allowed}")]
    MethodNotAllowed { method: String, allowed: Method },
    #[error("there is no failed upload with id {id:?}")]
    NotFound { id: String },
    #[error("a sync run holds the lease until {until}; try again when it is done")]
    SyncInProgress { until: String, details: Value },
    #[error("the audit trail could not be written, so nothing was done: {0}")]
    AuditUnavailable(StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    /// 400 `VALIDATION_ERROR` for one named input (a query parameter, the
    /// path's id, a body field).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "VALIDATION_ERROR",
            message: message.into(),
            details: json!({ "field": field }),
        }
    }

    /// 400 `INVALID_JSON`: the body is not JSON, or not the JSON this
    /// endpoint takes.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "INVALID_JSON",
            message: message.into(),
            details: json!({ "field": "body" }),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Auth(error) => {
                StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNAUTHORIZED)
            }
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::SyncInProgress { .. } | Self::AuditUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Store(StoreError::Throttled { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(error) => error.code(),
            Self::BadRequest { code, .. } => code,
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::SyncInProgress { .. } => "RATING_SYNC_IN_PROGRESS",
            Self::AuditUnavailable(_) => "AUDIT_UNAVAILABLE",
            Self::Store(StoreError::Throttled { .. }) => "SERVICE_UNAVAILABLE",
            Self::Store(_) => "INTERNAL_ERROR",
        }
    }

    /// The message the client sees: everything but DynamoDB's own words,
    /// which go to the log.
    pub fn public_message(&self) -> String {
        match self {
            Self::AuditUnavailable(_) => {
                "The audit trail could not be written, so nothing was done; try again".into()
            }
            Self::Store(StoreError::Throttled { .. }) => {
                "DynamoDB is throttling this service; try again shortly".into()
            }
            Self::Store(_) => {
                "A DynamoDB request failed; the function's log has the details".into()
            }
            other => other.to_string(),
        }
    }

    pub fn details(&self) -> Value {
        match self {
            Self::BadRequest { details, .. } | Self::SyncInProgress { details, .. } => {
                details.clone()
            }
            Self::MethodNotAllowed { allowed, .. } => json!({ "allowed": allowed.as_str() }),
            Self::NotFound { id } => json!({ "id": id }),
            _ => Value::Null,
        }
    }

    /// The envelope every error is answered in.
    pub fn body(&self, at: DateTime<Utc>) -> Value {
        json!({
            "success": false,
            "error": {
                "code": self.code(),
                "message": self.public_message(),
                "timestamp": timestamp(at),
                "details": self.details(),
            }
        })
    }

    /// How the audit trail files this answer.
    fn outcome(&self) -> &'static str {
        match self {
            Self::Auth(_) => "refused",
            Self::AuditUnavailable(_) | Self::Store(_) => "error",
            _ => "rejected",
        }
    }
}

/// What every admin function holds: the store, the token check and the
/// cursor signer, built once per cold start.
#[derive(Debug, Clone)]
pub struct AdminContext {
    store: Store,
    verifier: AdminVerifier,
    cursors: CursorSigner,
    /// How long the audit records this function writes are kept.
    audit_retention_days: u32,
}

/// Why an admin function could not start: a setting or secret is missing or
/// invalid, or the marketplace client could not be built.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Marketplace(#[from] MarketplaceError),
}

impl AdminContext {
    /// What an admin function that only reads builds once per cold start:
    /// its configuration, a DynamoDB client, the token checks.
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self, StartupError> {
        let config = AdminConfig::load(aws).await?;
        let store = Store::new(aws_sdk_dynamodb::Client::new(aws), config.tables);
        Ok(Self::new(store, &config.jwt_secret, config.policy)?
            .keeping_audit_for(config.audit_retention_days))
    }

    /// `secret` signs the admin tokens, which must also meet `policy`; the
    /// cursors' key is derived from the secret.
    pub fn new(store: Store, secret: &Secret, policy: AdminPolicy) -> Result<Self, SecretError> {
        Ok(Self {
            store,
            verifier: AdminVerifier::new(secret, policy)?,
            cursors: CursorSigner::new(secret)?,
            audit_retention_days: crate::store::AUDIT_RETENTION_DAYS as u32,
        })
    }

    /// Keeps the audit records this context writes `days` days
    /// (`AUDIT_RETENTION_DAYS`).
    pub fn keeping_audit_for(mut self, days: u32) -> Self {
        self.audit_retention_days = days;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// What the two functions that upload hold besides: the sync engine.
pub struct SyncApi {
    admin: AdminContext,
    engine: SyncEngine,
    /// The engine stops starting uploads this long before the deadline; a
    /// re-push must leave the run that follows it time beyond this.
    deadline_margin: Duration,
    requeue_page_size: u32,
}

impl SyncApi {
    /// What an admin function that uploads builds once per cold start: one
    /// read of the environment and its secrets for both configurations, one
    /// DynamoDB client (counting its requests for the run reports) shared by
    /// the engine and the admin context.
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self, StartupError> {
        let environment = Environment::load(aws).await?;
        let config = Config::from_environment(&environment)?;
        let admin = AdminConfig::from_environment(&environment)?;
        let (dynamodb, requests) = crate::counted_dynamodb_client_from(aws);
        let engine =
            crate::sync_engine(&config, dynamodb.clone())?.counting_requests_with(requests);
        let context = AdminContext::new(
            Store::new(dynamodb, admin.tables),
            &admin.jwt_secret,
            admin.policy,
        )?
        .keeping_audit_for(admin.audit_retention_days);
        Ok(Self::new(context, engine, &config.sync))
    }

    pub fn new(admin: AdminContext, engine: SyncEngine, settings: &SyncSettings) -> Self {
        Self {
            admin,
            engine,
            deadline_margin: settings.deadline_margin,
            requeue_page_size: sync_ratings::REQUEUE_PAGE_SIZE,
        }
    }

    pub fn admin(&self) -> &AdminContext {
        &self.admin
    }
}

/// A 200 answer, with the sentence the audit trail keeps of it.
pub(crate) struct Answer {
    pub body: Value,
    pub result: String,
}

/// One admin request on its way: who sent it (once known), what it asks,
/// and its audit record.
pub(crate) struct Call<'a> {
    context: &'a AdminContext,
    record: AuditRecord,
    started: tokio::time::Instant,
}

impl<'a> Call<'a> {
    /// Checks who sent `request` and that it uses `method`. A refusal is
    /// answered, logged and recorded here, and nothing else is read.
    pub(crate) async fn authorize(
        context: &'a AdminContext,
        action: &str,
        method: Method,
        request: &Request,
    ) -> Result<Call<'a>, Response> {
        let at = Utc::now();
        let mut call = Call {
            context,
            record: AuditRecord {
                at,
                id: uuid::Uuid::new_v4().to_string(),
                action: action.to_owned(),
                subject: None,
                role: None,
                agent_id: None,
                maturity: None,
                request_id: request.lambda_context_ref().map(|c| c.request_id.clone()),
                source_ip: source_ip(request),
                input: "{}".into(),
                outcome: "started".into(),
                status: 0,
                code: None,
                result: String::new(),
            },
            started: tokio::time::Instant::now(),
        };
        let header = match request.headers().get(AUTHORIZATION) {
            None => None,
            Some(value) => match value.to_str() {
                Ok(text) => Some(text),
                Err(_) => {
                    let error = AuthError::Malformed("the Authorization header is not ASCII");
                    return Err(call.answer(Err(ApiError::Auth(error))).await);
                }
            },
        };
        match context.verifier.authorize(header, SystemTime::now()) {
            Ok(admin) => {
                call.record.subject = Some(admin.subject);
                call.record.role = Some(admin.role);
                call.record.agent_id = admin.agent_id;
                call.record.maturity = admin.maturity;
            }
            Err(error) => return Err(call.answer(Err(ApiError::Auth(error))).await),
        }
        if request.method() != method {
            let error = ApiError::MethodNotAllowed {
                method: request.method().to_string(),
                allowed: method,
            };
            return Err(call.answer(Err(error)).await);
        }
        Ok(call)
    }

    /// A summary of the input for the audit trail: never a token, a cursor
    /// or a body.
    pub(crate) fn note_input(&mut self, input: Value) {
        self.record.input = input.to_string();
    }

    pub(crate) fn store(&self) -> &'a Store {
        &self.context.store
    }

    pub(crate) fn cursors(&self) -> &'a CursorSigner {
        &self.context.cursors
    }

    /// Records that an action that changes state starts, before it does:
    /// if the trail cannot be written, the action is not done.
    pub(crate) async fn begin(&mut self) -> Result<(), ApiError> {
        self.context
            .store
            .record_audit(&self.record, self.context.audit_retention_days)
            .await
            .map_err(ApiError::AuditUnavailable)
    }

    /// Answers, logs one line, and writes the audit record.
    pub(crate) async fn answer(mut self, result: Result<Answer, ApiError>) -> Response {
        let now = Utc::now();
        // A DynamoDB failure is answered with an id that finds its detail
        // in the log, never with DynamoDB's words.
        let error_id = matches!(
            result,
            Err(ApiError::Store(_) | ApiError::AuditUnavailable(_))
        )
        .then(uuid::Uuid::new_v4);
        let (status, mut body) = match &result {
            Ok(answer) => (StatusCode::OK, answer.body.clone()),
            Err(error) => (error.status(), error.body(now)),
        };
        self.record.status = status.as_u16();
        match &result {
            Ok(answer) => {
                self.record.outcome = "ok".into();
                self.record.result = answer.result.clone();
            }
            Err(error) => {
                self.record.outcome = error.outcome().into();
                self.record.code = Some(error.code().into());
                self.record.result = match error_id {
                    Some(id) => format!("{} (error id {id})", error.public_message()),
                    None => error.public_message(),
                };
                body["error"]["message"] = Value::String(self.record.result.clone());
            }
        }
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let record = &self.record;
        match &result {
            Err(error @ (ApiError::Store(_) | ApiError::AuditUnavailable(_))) => error!(
                action = %record.action, status = record.status, sub = record.subject.as_deref(),
                agent_id = record.agent_id.as_deref(), duration_ms, error = %error,
                error_id = error_id.map(|id| id.to_string()), "admin request failed"
            ),
            Err(error) => info!(
                action = %record.action, status = record.status, outcome = %record.outcome,
                sub = record.subject.as_deref(), agent_id = record.agent_id.as_deref(),
                source_ip = record.source_ip.as_deref(), duration_ms, reason = %error,
                "admin request not done"
            ),
            Ok(_) => info!(
                action = %record.action, status = record.status, sub = record.subject.as_deref(),
                agent_id = record.agent_id.as_deref(), duration_ms, result = %record.result,
                "admin request done"
            ),
        }
        let retention = self.context.audit_retention_days;
        if let Err(err) = self
            .context
            .store
            .record_audit(&self.record, retention)
            .await
        {
            // The answer stands: for an action that changed state the record
            // written before it began already says who started what.
            warn!(action = %self.record.action, error = %err, "could not complete the audit record");
        }
        json_response(status, &body)
    }
}

/// The deadline of the invocation that carries `request`, as the sync
/// engine wants it ([`run_deadline`](crate::sync::run_deadline): a runtime
/// that gives none, or one in the past, gets the fallback budget).
pub fn invocation_deadline(request: &Request) -> SystemTime {
    let given = request
        .lambda_context_ref()
        .map_or(SystemTime::UNIX_EPOCH, |context| context.deadline());
    crate::sync::run_deadline(given, SystemTime::now())
}

/// A JSON answer that no cache keeps.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The client's address, as API Gateway saw it.
fn source_ip(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        _ => None,
    }
}

/// The start of a value a client sent, for an error message.
pub(crate) use crate::rating::quoted as shown;

/// The query parameters of `request`, each at most once and each one of
/// `allowed`: a misspelt parameter is an error, not silently ignored.
pub(crate) fn query_parameters(
    request: &Request,
    allowed: &[&'static str],
) -> Result<HashMap<&'static str, String>, ApiError> {
    let mut found = HashMap::new();
    let query = request.uri().query().unwrap_or_default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(known) = allowed.iter().find(|known| **known == name) else {
            let allowed = if allowed.is_empty() {
                "this endpoint takes none".to_owned()
            } else {
                format!("allowed: {}", allowed.join(", "))
            };
            return Err(ApiError::invalid(
                &name,
                format!("unknown query parameter {}; {allowed}", shown(&name)),
            ));
        };
        if found.insert(*known, value.into_owned()).is_some() {
            return Err(ApiError::invalid(
                known,
                format!("query parameter {known} is given more than once"),
            ));
        }
    }
    Ok(found)
}

/// The body as a JSON object whose fields are all among `allowed`; an empty
/// body is `{}`.
pub(crate) fn json_object_body(
    request: &Request,
    allowed: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::BadRequest {
            code: "PAYLOAD_TOO_LARGE",
            message: format!(
                "the body has {} bytes; this endpoint takes at most {MAX_BODY_BYTES}",
                bytes.len()
            ),
            details: json!({ "field": "body", "limit_bytes": MAX_BODY_BYTES, "received_bytes": bytes.len() }),
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_json(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(ApiError::invalid_json(format!(
            "the body must be a JSON object, not {}",
            json_type(&value)
        )));
    };
    if let Some(unknown) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
        let allowed = if allowed.is_empty() {
            "this endpoint takes an empty body or {}".to_owned()
        } else {
            format!("allowed: {}", allowed.join(", "))
        };
        return Err(ApiError::invalid(
            unknown,
            format!("unknown field {} in the body; {allowed}", shown(unknown)),
        ));
    }
    Ok(object)
}

/// "a string", "an array", ... for messages about wrong types.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// lambda_http runs only handlers whose futures are `Send`: this stops
/// compiling if one of them stops being.
#[cfg(test)]
#[allow(dead_code)]
fn every_handler_future_is_send(api: &SyncApi, context: &AdminContext, request: fn() -> Request) {
    fn send<T: Send>(_: T) {}
    send(sync_ratings::handle(api, request(), SystemTime::now()));
    send(retry::handle(api, request(), SystemTime::now()));
    send(failed_uploads::handle(context, request()));
    send(status::handle(context, request()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, body: &str) -> Request {
        let mut request = Request::new(Body::from(body));
        *request.uri_mut() = uri.parse().unwrap();
        request
    }

    fn bad_request(error: ApiError) -> (&'static str, String, Value) {
        match error {
            ApiError::BadRequest {
                code,
                message,
                details,
            } => (code, message, details),
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn query_parameters_are_decoded_and_checked_by_name() {
        let found = query_parameters(
            &request("/x?limit=5&status=dead&cursor=a%2Bb", ""),
            &["limit", "status", "cursor"],
        )
        .unwrap();
        assert_eq!(found["limit"], "5");
        assert_eq!(found["cursor"], "a+b");

        let (code, message, details) =
            bad_request(query_parameters(&request("/x?limt=5", ""), &["limit"]).unwrap_err());
        assert_eq!(code, "VALIDATION_ERROR");
        assert!(message.contains("\"limt\"") && message.contains("allowed: limit"));
        assert_eq!(details["field"], "limt");

        let (_, message, _) = bad_request(
            query_parameters(&request("/x?limit=1&limit=2", ""), &["limit"]).unwrap_err(),
        );
        assert!(message.contains("more than once"), "{message}");
    }

    #[test]
    fn a_body_is_an_object_of_known_fields_within_the_size_limit() {
        assert!(json_object_body(&request("/", ""), &["a"])
            .unwrap()
            .is_empty());
        assert!(json_object_body(&request("/", " \n"), &["a"])
            .unwrap()
            .is_empty());
        assert_eq!(
            json_object_body(&request("/", r#"{"a": 1}"#), &["a"]).unwrap()["a"],
            1
        );
        for (body, code, says) in [
            ("{", "INVALID_JSON", "not valid JSON"),
            ("[1]", "INVALID_JSON", "not an array"),
            ("\"a\"", "INVALID_JSON", "not a string"),
            (r#"{"b": 1}"#, "VALIDATION_ERROR", "unknown field \"b\""),
        ] {
            let (got, message, _) =
                bad_request(json_object_body(&request("/", body), &["a"]).unwrap_err());
            assert_eq!(got, code, "{body}");
            assert!(message.contains(says), "{body}: {message}");
        }
        let big = format!(r#"{{"a": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        let (code, _, details) =
            bad_request(json_object_body(&request("/", &big), &["a"]).unwrap_err());
        assert_eq!(code, "PAYLOAD_TOO_LARGE");
        assert_eq!(details["limit_bytes"], MAX_BODY_BYTES);
    }

    #[test]
    fn an_error_is_answered_in_the_envelope() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let body = ApiError::NotFound { id: "r1".into() }.body(at);
        assert_eq!(
            body,
            json!({
                "success": false,
                "error": {
                    "code": "NOT_FOUND",
                    "message": "there is no failed upload with id \"r1\"",
                    "timestamp": "2027-01-15T08:00:00.000Z",
                    "details": { "id": "r1" },
                }
            })
        );
        let denied = ApiError::Auth(AuthError::RoleNotAllowed {
            role: "member".into(),
        });
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        assert_eq!(denied.code(), "PERMISSION_DENIED");
    }

    #[test]
    fn dynamodb_errors_are_not_repeated_to_the_client() {
        let error = ApiError::Store(StoreError::Request {
            table: "skill_ratings".into(),
            operation: "Query",
            message: "internal detail".into(),
        });
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.public_message().contains("internal detail"));
        let throttled = ApiError::Store(StoreError::Throttled {
            table: "t".into(),
            operation: "Query",
            message: "slow down".into(),
        });
        assert_eq!(throttled.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn long_input_is_cut_short_in_messages() {
        assert_eq!(shown("abc"), "\"abc\"");
        let long = "x".repeat(500);
        assert!(shown(&long).len() < 50);
    }
}
