//! The HTTP trigger, the admin HTTP API: what the four admin functions do
//! between an HTTP request and the domain calls.
//!
//! Each function serves one route of the API Gateway HTTP API, so there is
//! no router: a function's `main` is [`run`] for its endpoint, which builds
//! its state once per cold start and hands every request to one handler
//! here. The handlers are plain async
//! functions from a [`Request`] to a [`Response`], which is what lets the
//! integration tests call them in-process, with requests they build, against
//! the real DynamoDB server.
//!
//! | route | handler |
//! |---|---|
//! | `POST /api/admin/sync/ratings` | [`admin_sync_ratings`] |
//! | `GET /api/admin/ratings/failed-uploads` | [`admin_list_failed_uploads`] |
//! | `POST /api/admin/ratings/failed-uploads/{id}/retry` | [`admin_retry_failed_upload`] |
//! | `GET /api/admin/sync/ratings/status` | [`admin_sync_status`] |
//!
//! The API's Lambda authorizer ([`admin_authorizer`], its function's `main`
//! is [`admin_authorizer::run`]) refuses what the verifier
//! refuses before a function is called; the functions check the token all
//! the same.
//!
//! Every request goes the same way ([`AuditedCall`]):
//! 1. **Who.** The `Authorization` header is checked by [`AdminVerifier`](crate::auth::AdminVerifier)
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

pub mod admin_authorizer;
pub mod admin_list_failed_uploads;
pub mod admin_retry_failed_upload;
pub mod admin_sync_ratings;
pub mod admin_sync_status;

mod call;
mod context;
mod cursor;
mod error;
mod input;
mod keys;

use lambda_http::Body;

pub use call::{
    invocation_deadline, json_response, run, serve, Answer, AuditedCall, Endpoint, Exchange,
};
pub use context::{AdminContext, AdminState, StartupError, SyncApi};
pub use cursor::{CursorError, CursorSigner};
pub use error::ApiError;
pub use input::MAX_BODY_BYTES;
pub use keys::AdminKeys;
pub use lambda_http::Request;

/// What every handler answers.
pub type Response = lambda_http::Response<Body>;

/// lambda_http runs only handlers whose futures are `Send`: this stops
/// compiling if one of them stops being.
#[cfg(test)]
#[allow(dead_code)]
fn every_handler_future_is_send(api: &SyncApi, context: &AdminContext, request: fn() -> Request) {
    use std::time::SystemTime;
    fn send<T: Send>(_: T) {}
    send(admin_sync_ratings::handle(
        api,
        request(),
        SystemTime::now(),
    ));
    send(admin_retry_failed_upload::handle(
        api,
        request(),
        SystemTime::now(),
    ));
    send(admin_list_failed_uploads::handle(context, request()));
    send(admin_sync_status::handle(context, request()));
}
