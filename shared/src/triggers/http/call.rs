//! One admin request on its way, the same for every endpoint: who sent it,
//! what it asks, its audit record, and the answer; and the runner that puts
//! this around an endpoint's own steps ([`serve`], and [`run`] for a
//! function's `main`).

use std::future::Future;
use std::time::SystemTime;

use chrono::Utc;
use lambda_http::http::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, RequestExt};
use serde_json::Value;
use tracing::{error, info, warn};

use super::context::{AdminContext, AdminState};
use super::cursor::CursorSigner;
use super::error::ApiError;
use super::keys::AdminKeys;
use super::{Request, Response};
use crate::auth::AuthError;
use crate::store::{AuditRecord, Store};

/// One admin endpoint: its name in the audit trail, its method, and its own
/// steps (parse, act, answer), a straight line of `?` between the check of
/// who calls and the answer, which [`serve`] puts around it.
pub trait Endpoint {
    /// What the function holds, built once per cold start.
    type State: AdminState;
    /// The action's name in the audit trail.
    const ACTION: &'static str;
    /// The one method the route takes.
    const METHOD: Method;

    /// Reads the request, does what it asks, and answers; the call already
    /// knows who asks.
    fn act(
        exchange: Exchange<'_, '_, Self::State>,
    ) -> impl Future<Output = Result<Answer, ApiError>> + Send;
}

/// One request to an endpoint, as the endpoint's own steps see it.
pub struct Exchange<'a, 'c, S> {
    /// What the function holds, built once per cold start.
    pub state: &'a S,
    /// Who asks, and the audit record the answer completes.
    pub call: &'a mut AuditedCall<'c>,
    /// The request as API Gateway delivered it.
    pub request: &'a Request,
    /// When the invocation ends; work stops before it.
    pub deadline: SystemTime,
}

/// Answers one request to endpoint `E`: who, then `E`'s own steps, then the
/// answer, logged and audited. `deadline` bounds the work (the invocation's).
pub async fn serve<E: Endpoint>(
    state: &E::State,
    request: Request,
    deadline: SystemTime,
) -> Response {
    let mut call = match AuditedCall::authorize(state.admin(), E::ACTION, E::METHOD, &request).await
    {
        Ok(call) => call,
        Err(refused) => return refused,
    };
    // On the heap: an endpoint that runs a sync holds a large future, and
    // a debug build's 2 MiB thread stacks do not take it twice.
    let exchange = Exchange {
        state,
        call: &mut call,
        request: &request,
        deadline,
    };
    let result = Box::pin(E::act(exchange)).await;
    call.answer(result).await
}

/// The whole life of an admin function serving endpoint `E`: JSON logs, its
/// state built once, then every request through [`serve`] with its
/// invocation's deadline.
pub async fn run<E: Endpoint>() -> Result<(), lambda_http::Error> {
    crate::traces::init();
    let aws = crate::triggers::clients::aws_config().await?;
    let state = E::State::load(&aws).await?;
    lambda_http::run(service_fn(|request: Request| {
        let state = &state;
        async move {
            let deadline = invocation_deadline(&request);
            let trace = request
                .lambda_context_ref()
                .and_then(|context| context.xray_trace_id.clone());
            let work = serve::<E>(state, request, deadline);
            let answer = crate::traces::invocation(trace.as_deref(), E::ACTION, "http", work).await;
            Ok::<_, lambda_http::Error>(answer)
        }
    }))
    .await
}

/// A 200 answer, with the sentence the audit trail keeps of it.
pub struct Answer {
    /// The JSON answered.
    pub body: Value,
    /// The audit trail's sentence of it.
    pub result: String,
}

/// One admin request on its way: who sent it (once known), what it asks,
/// and its audit record.
pub struct AuditedCall<'a> {
    context: &'a AdminContext,
    /// The admin keys as of this request.
    keys: std::sync::Arc<AdminKeys>,
    record: AuditRecord,
    started: tokio::time::Instant,
}

impl<'a> AuditedCall<'a> {
    /// Checks who sent `request` and that it uses `method`. A refusal is
    /// answered, logged and recorded here, and nothing else is read.
    pub(crate) async fn authorize(
        context: &'a AdminContext,
        action: &str,
        method: Method,
        request: &Request,
    ) -> Result<AuditedCall<'a>, Response> {
        let at = Utc::now();
        let mut call = AuditedCall {
            context,
            keys: context.keys.current().await,
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
        match call.keys.verifier.authorize(header, SystemTime::now()) {
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

    pub(crate) fn cursors(&self) -> CursorSigner {
        self.keys.cursors.clone()
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
