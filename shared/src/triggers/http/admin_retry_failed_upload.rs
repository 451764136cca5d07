//! `POST /api/admin/ratings/failed-uploads/{id}/retry`: uploads one failed
//! rating now, whatever its state, parked ones included.
//!
//! The id is the dead-letter item's, which is the rating's. It is checked
//! for its form first (1 to [`MAX_ID_CHARS`] of `A-Z a-z 0-9 . _ : -`), so a
//! path that cannot name an item is a 400, not a lookup; an id of the right
//! form with no item is a 404. The upload itself is the engine's
//! ([`SyncEngine::sync_rating_now`](crate::sync::SyncEngine::sync_rating_now)):
//! no lease, the same conditional writes and idempotency keys as a run, so a
//! retry and a scheduled run on the same rating cannot create it twice.
//!
//! | what happened | dead-letter item | answer |
//! |---|---|---|
//! | uploaded | removed | `success: true`, `retry_triggered: true` |
//! | the rating is gone | removed here | `success: false`, `retry_triggered: false` |
//! | the upload failed | `retry_count` + 1, `last_retry_at` set (by the engine) | `success: false`, `retry_triggered: true` |
//! | edited during the upload | kept; the edit is pending | `success: false`, `retry_triggered: true` |

use std::time::SystemTime;

use lambda_http::http::Method;
use lambda_http::RequestExt;
use serde_json::json;

use super::input::{json_object_body, query_parameters};
use super::{serve, Answer, ApiError, Endpoint, Exchange, Request, Response, SyncApi};
use crate::rating::id_problem;
use crate::sync::RatingRetry;

/// The action's name in the audit trail.
pub const ACTION: &str = "retry_failed_upload";
/// The longest id accepted.
pub use crate::rating::MAX_ID_CHARS;

/// The answer when the rating was deleted after it failed.
pub const RATING_GONE: &str = "Rating no longer exists, failed record removed";

/// The endpoint: the id from the path, then one upload.
pub struct RetryFailedUpload;

impl Endpoint for RetryFailedUpload {
    type State = SyncApi;
    const ACTION: &'static str = ACTION;
    const METHOD: Method = Method::POST;

    async fn act(exchange: Exchange<'_, '_, SyncApi>) -> Result<Answer, ApiError> {
        let (api, call, request) = (exchange.state, exchange.call, exchange.request);
        let id = failed_upload_id(request)?;
        query_parameters(request, &[])?;
        call.note_input(json!({ "id": id }));
        json_object_body(request, &[])?;
        let upload = call
            .store()
            .failed_upload(&id)
            .await?
            .ok_or_else(|| ApiError::NotFound { id: id.clone() })?;
        call.begin().await?;
        retry(
            api,
            &id,
            upload.last_failed_at.as_deref(),
            exchange.deadline,
        )
        .await
    }
}

/// Answers one retry request; the upload must be done by `deadline` (the
/// invocation's, less the engine's margin).
pub async fn handle(api: &SyncApi, request: Request, deadline: SystemTime) -> Response {
    serve::<RetryFailedUpload>(api, request, deadline).await
}

async fn retry(
    api: &SyncApi,
    id: &str,
    last_failed_at: Option<&str>,
    deadline: SystemTime,
) -> Result<Answer, ApiError> {
    let store = api.engine.store();
    let answer = |success: bool, message: String, retry_triggered: bool| Answer {
        result: message.clone(),
        body: json!({
            "success": success,
            "message": message,
            "retry_triggered": retry_triggered,
        }),
    };
    Ok(match api.engine.sync_rating_now(id, deadline).await? {
        RatingRetry::Synced { remote_id } => {
            // The engine removes the item of a rating that counted its
            // failures; this also removes one the rating did not count (left
            // over, or written by hand), unless it failed again meanwhile.
            store
                .remove_failed_upload_unless_failed_again(id, last_failed_at)
                .await?;
            let mut answer = answer(
                true,
                format!("Rating uploaded successfully (remote_id: {remote_id})"),
                true,
            );
            answer.body["remote_id"] = json!(remote_id);
            answer
        }
        RatingRetry::RatingGone => {
            store.clear_failure(id).await?;
            answer(false, RATING_GONE.to_owned(), false)
        }
        RatingRetry::Failed { error } => answer(false, format!("Retry failed: {error}"), true),
        RatingRetry::ChangedMeanwhile => answer(
            false,
            "Rating changed during the retry; it is pending again and the next sync uploads the change"
                .to_owned(),
            true,
        ),
    })
}

/// The `{id}` of the route: API Gateway's path parameter, or (where a
/// function is served without the route, as under `cargo lambda watch`) the
/// path's segment before `/retry`.
fn failed_upload_id(request: &Request) -> Result<String, ApiError> {
    let from_route = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first("id"))
        .map(str::to_owned);
    let id = match from_route {
        Some(id) => id,
        None => {
            let segments: Vec<&str> = request.uri().path().split('/').collect();
            match segments.as_slice() {
                [.., "failed-uploads", id, "retry"] => (*id).to_owned(),
                _ => {
                    return Err(ApiError::invalid(
                        "id",
                        "the path must end in /failed-uploads/{id}/retry",
                    ))
                }
            }
        }
    };
    check_id(&id)?;
    Ok(id)
}

/// A dead-letter id (a rating id) is of the one safe form every id has
/// ([`id_problem`]).
pub fn check_id(id: &str) -> Result<(), ApiError> {
    match id_problem(id) {
        None => Ok(()),
        Some(problem) => Err(ApiError::invalid("id", problem)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;
    use std::collections::HashMap;

    fn request(path: &str) -> Request {
        let mut request = Request::new(Body::Empty);
        *request.uri_mut() = path.parse().unwrap();
        request
    }

    #[test]
    fn rating_ids_of_every_form_the_sync_writes_are_accepted() {
        for id in [
            "r1",
            "t0a1b2c3d4e5f_rating-000042",
            "3f1c9a2e-5b7d-4c1e-9f00-0a1b2c3d4e5f",
            "tenant:42.rating_7",
            &"x".repeat(MAX_ID_CHARS),
        ] {
            assert!(check_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn an_id_of_the_wrong_form_is_refused_with_the_reason() {
        for (id, says) in [
            ("", "1 to 256 characters, it has 0"),
            (&"x".repeat(MAX_ID_CHARS + 1) as &str, "it has 257"),
            ("a b", "not ' '"),
            ("a%2Fb", "not '%'"),
            ("r/1", "not '/'"),
            ("ré", "not 'é'"),
            ("..", "dots alone"),
        ] {
            let error = check_id(id).unwrap_err();
            assert_eq!(error.code(), "VALIDATION_ERROR");
            assert!(error.to_string().contains(says), "{id}: {error}");
        }
    }

    #[test]
    fn the_id_comes_from_the_route_or_else_from_the_path() {
        let routed = request("/anything")
            .with_path_parameters(HashMap::from([("id".to_owned(), "r-7".to_owned())]));
        assert_eq!(failed_upload_id(&routed).unwrap(), "r-7");
        assert_eq!(
            failed_upload_id(&request("/api/admin/ratings/failed-uploads/r-8/retry")).unwrap(),
            "r-8"
        );
        for path in [
            "/api/admin/ratings/failed-uploads//retry",
            "/api/admin/ratings/failed-uploads/a%20b/retry",
        ] {
            assert_eq!(
                failed_upload_id(&request(path)).unwrap_err().code(),
                "VALIDATION_ERROR"
            );
        }
        let error = failed_upload_id(&request("/api/admin/ratings/failed-uploads")).unwrap_err();
        assert!(
            error.to_string().contains("/failed-uploads/{id}/retry"),
            "{error}"
        );
    }
}
