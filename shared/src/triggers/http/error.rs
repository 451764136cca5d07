//! The one envelope every refusal and failure is answered in, and how each
//! kind of error maps to an HTTP status and a code.

use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode};
use serde_json::{json, Value};
use thiserror::Error;

use crate::auth::AuthError;
use crate::store::{timestamp, StoreError};

/// Why a request was not answered with 200.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The token is missing or does not let the caller in: 401 or 403 (see
    /// [`AuthError::denies_permission`]).
    #[error(transparent)]
    Auth(AuthError),
    /// Bad input: 400, with a message that names the problem.
    #[error("{message}")]
    BadRequest {
        /// The error code answered, e.g. `VALIDATION_ERROR` or `INVALID_JSON`.
        code: &'static str,
        /// The sentence answered, naming the problem.
        message: String,
        /// Answered as `details`: which input was at fault.
        details: Value,
    },
    /// 405: the endpoint does not answer this method.
    #[error("{method} is not allowed here; this endpoint answers {allowed}")]
    MethodNotAllowed {
        /// The method the request used, repeated in the message.
        method: String,
        /// The one method the endpoint answers, sent back in `details`.
        allowed: Method,
    },
    /// 404: there is no dead-letter item with the id in the path.
    #[error("there is no failed upload with id {id:?}")]
    NotFound {
        /// The id from the path, sent back in `details`.
        id: String,
    },
    /// 503: a sync run holds the lease, so nothing was started.
    #[error("a sync run holds the lease until {until}; try again when it is done")]
    SyncInProgress {
        /// When the lease expires, so that the client knows when to try
        /// again.
        until: String,
        /// Answered as `details`: the lease's expiry and what was not done.
        details: Value,
    },
    /// 503: the audit record could not be written before the action, so the
    /// action was not done.
    #[error("the audit trail could not be written, so nothing was done: {0}")]
    AuditUnavailable(StoreError),
    /// A DynamoDB request failed: 503 when throttled, 500 otherwise. The
    /// answer never repeats DynamoDB's own words.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    /// 400 `VALIDATION_ERROR` for one named input (a query parameter, the
    /// path's id, a body field).
    /// The field's name is the client's own when it is unknown: at most
    /// 40 characters of it are repeated.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "VALIDATION_ERROR",
            message: message.into(),
            details: json!({ "field": crate::rating::shorten(field, 40) }),
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

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Auth(error) => auth_status(error),
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

    /// The `code` of the error's JSON body, e.g. `NOT_FOUND`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(error) => auth_code(error),
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

    /// The `details` of the error's JSON body: what helps the client put
    /// the request right, or null.
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
    pub(super) fn outcome(&self) -> &'static str {
        match self {
            Self::Auth(_) => "refused",
            Self::AuditUnavailable(_) | Self::Store(_) => "error",
            _ => "rejected",
        }
    }
}

/// A refused token: 401 if the request did not prove who sent it, 403 if
/// it did and that sender may not do this.
fn auth_status(error: &AuthError) -> StatusCode {
    if error.denies_permission() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// The error code of a refused token: `UNAUTHORIZED` or `PERMISSION_DENIED`.
fn auth_code(error: &AuthError) -> &'static str {
    if error.denies_permission() {
        "PERMISSION_DENIED"
    } else {
        "UNAUTHORIZED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenPart;

    #[test]
    fn a_field_name_from_the_client_is_repeated_at_most_40_characters_long() {
        let error = ApiError::invalid(&"k".repeat(10_000), "unknown field");
        let field = error.details()["field"].as_str().unwrap().to_owned();
        assert!(field.chars().count() <= 41, "{} characters", field.len());
        assert!(field.starts_with("kkkk"));
        assert_eq!(ApiError::invalid("limit", "x").details()["field"], "limit");
    }

    #[test]
    fn each_error_maps_to_its_family() {
        let unauthorized = [
            AuthError::MissingHeader,
            AuthError::NotBearer,
            AuthError::Malformed("x"),
            AuthError::UnsupportedAlgorithm,
            AuthError::BadSignature,
            AuthError::MissingExpiry,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::MissingIssuedAt,
            AuthError::IssuedInTheFuture,
            AuthError::LifetimeTooLong {
                max_ttl_seconds: 86_400,
            },
            AuthError::MissingSubject,
            AuthError::MissingIssuer,
            AuthError::WrongIssuer,
            AuthError::MissingAudience,
            AuthError::WrongAudience,
            AuthError::DuplicateKey(TokenPart::Header),
            AuthError::DuplicateKey(TokenPart::Claims),
        ];
        for error in unauthorized {
            assert_eq!(
                (auth_status(&error).as_u16(), auth_code(&error)),
                (401, "UNAUTHORIZED"),
                "{error:?}"
            );
        }
        let denied = [
            AuthError::MissingRole,
            AuthError::RoleNotAllowed {
                role: "member".into(),
            },
            AuthError::AgentWithoutMaturity,
            AuthError::AgentNotAutonomous {
                maturity: "SUPERVISED".into(),
            },
        ];
        for error in denied {
            assert_eq!(
                (auth_status(&error).as_u16(), auth_code(&error)),
                (403, "PERMISSION_DENIED"),
                "{error:?}"
            );
        }
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
}
