//! `POST /api/admin/sync/ratings`, optional body `{"upload_all": false}`:
//! runs one sync inside the request.
//!
//! It is the scheduled function's run: the same engine
//! ([`SyncEngine::run`](crate::sync::SyncEngine::run)), the same lease, the
//! same report (and the same run metrics), bounded by this invocation's
//! deadline. So an admin sync and a
//! scheduled one never upload at once: if a run holds the lease, the answer
//! is 503 `RATING_SYNC_IN_PROGRESS`, and nothing was changed. The handler
//! looks at the lease before it does anything, and the engine takes it with
//! a conditional write, which settles a race between the two.
//!
//! `upload_all: true` is a full re-push: every rating not already pending
//! goes back into the backlog ([`Store::requeue`], which keeps the
//! `remote_rating_id`, so a rating the marketplace has travels as an
//! update), then the run uploads as much as it can. The requeue is done
//! inside the run, under its lease, so two re-pushes at once never both
//! requeue: one answers 200, the other 503 `RATING_SYNC_IN_PROGRESS`. Finding every rating
//! takes a Scan of the ratings table, the one scan in this service, of ids
//! only. It gets at most half of the time the request has for uploading
//! ([`requeue_all`]); how far it got is kept in the state table, so on a
//! table too large for one request the answer says `finished: false` and
//! the next `upload_all` call goes on from there. Every call makes progress:
//! it requeues at least one page, whatever the budget.

use std::time::SystemTime;

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use lambda_http::http::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::input::{json_object_body, json_type, query_parameters};
use super::{serve, Answer, ApiError, Endpoint, Exchange, Request, Response, SyncApi};
use crate::report::ALREADY_RUNNING;
use crate::store::{timestamp, RequeuePass, Store, StoreError};
use crate::sync::LEASE_NAME;

/// The action's name in the audit trail.
pub const ACTION: &str = "sync_ratings";
/// The function whose runs' metrics this handler emits.
pub const FUNCTION: &str = "admin-sync-ratings";
pub use super::context::REQUEUE_PAGE_SIZE;
/// Requeue writes in flight at once.
const REQUEUE_CONCURRENCY: usize = 16;

/// What one call of a full re-push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequeueProgress {
    /// Ratings this call put back in the backlog.
    pub requeued: u64,
    /// Ratings the whole pass put back so far, this call's included.
    pub pass_requeued: u64,
    /// The pass reached the end of the table; the next re-push starts over.
    pub finished: bool,
}

impl RequeueProgress {
    fn to_json(self) -> Value {
        json!({
            "requeued": self.requeued,
            "pass_requeued": self.pass_requeued,
            "finished": self.finished,
        })
    }
}

/// The endpoint: `upload_all` from the body, then one run.
pub struct SyncRatings;

impl Endpoint for SyncRatings {
    type State = SyncApi;
    const ACTION: &'static str = ACTION;
    const METHOD: Method = Method::POST;

    async fn act(exchange: Exchange<'_, '_, SyncApi>) -> Result<Answer, ApiError> {
        let (api, call, request) = (exchange.state, exchange.call, exchange.request);
        query_parameters(request, &[])?;
        let upload_all = read_upload_all(request)?;
        call.note_input(json!({ "upload_all": upload_all }));
        let lease = call.store().lease_state(LEASE_NAME, Utc::now()).await?;
        if let Some(lease) = lease.filter(|lease| lease.held) {
            return Err(in_progress(Some(lease.until)));
        }
        call.begin().await?;
        sync(api, upload_all, exchange.deadline).await
    }
}

/// Answers one sync request; the run must be done by `deadline`.
pub async fn handle(api: &SyncApi, request: Request, deadline: SystemTime) -> Response {
    serve::<SyncRatings>(api, request, deadline).await
}

/// `upload_all` from the body: absent, or a boolean.
fn read_upload_all(request: &Request) -> Result<bool, ApiError> {
    let body = json_object_body(request, &["upload_all"])?;
    match body.get("upload_all") {
        None => Ok(false),
        Some(Value::Bool(upload_all)) => Ok(*upload_all),
        Some(other) => Err(ApiError::invalid(
            "upload_all",
            format!("upload_all must be true or false, not {}", json_type(other)),
        )),
    }
}

/// 503: a run holds the lease. Nothing was requeued: a re-push requeues
/// only under the lease.
fn in_progress(until: Option<String>) -> ApiError {
    ApiError::SyncInProgress {
        until: until.clone().unwrap_or_else(|| "it ends".into()),
        details: json!({ "lease_until": until, "requeue": null }),
    }
}

async fn sync(api: &SyncApi, upload_all: bool, deadline: SystemTime) -> Result<Answer, ApiError> {
    let store = api.engine.store();
    // The requeue runs inside the run, while it holds the lease: of two
    // re-pushes at once, one requeues and runs, the other is told a run is
    // going and has changed nothing.
    let requeue = async {
        if !upload_all {
            return Ok(None);
        }
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(api.deadline_margin);
        let stop_at = Instant::now()
            .checked_add(left / 2)
            .unwrap_or_else(Instant::now);
        requeue_all(store, stop_at, api.requeue_page_size)
            .await
            .map(Some)
    };
    let (report, requeue) = api.engine.run_on_request_after(deadline, requeue).await?;
    let requeue = requeue.flatten();
    crate::metrics::emit_run_metrics(&report, FUNCTION);
    if report.error.as_deref() == Some(ALREADY_RUNNING) {
        // A run took the lease after the look at it above.
        let now = Utc::now();
        let until = store
            .lease_state(LEASE_NAME, now)
            .await
            .ok()
            .flatten()
            .map(|lease| lease.until);
        return Err(in_progress(until));
    }

    let mut result = report.message.clone();
    if let Some(progress) = requeue {
        result = format!(
            "requeued {} ({}); {result}",
            progress.requeued,
            if progress.finished {
                "re-push finished"
            } else {
                "re-push goes on with the next upload_all call"
            }
        );
    }
    Ok(Answer {
        result,
        body: json!({
            "success": report.success,
            "uploaded": report.uploaded,
            "failed": report.failed,
            "skipped": report.skipped,
            "pending_count": report.pending_count,
            "message": report.message,
            "error": report.error,
            "run_id": report.run_id,
            "requeue": requeue.map(RequeueProgress::to_json),
        }),
    })
}

/// Puts ratings back in the backlog, a page of `page_size` at a time, from
/// where the last call stopped, until the table ends or `stop_at` passes
/// (checked after each page, so at least one page is done).
pub async fn requeue_all(
    store: &Store,
    stop_at: Instant,
    page_size: u32,
) -> Result<RequeueProgress, StoreError> {
    let mut pass = match store.requeue_pass().await? {
        Some(pass) => pass,
        None => RequeuePass {
            started_at: timestamp(Utc::now()),
            ..RequeuePass::default()
        },
    };
    let mut requeued = 0u64;
    loop {
        let page = store
            .ratings_to_requeue(pass.after.as_deref(), page_size)
            .await?;
        let written: Vec<Result<bool, StoreError>> = stream::iter(page.ids)
            .map(|id| async move { store.requeue(&id).await })
            .buffer_unordered(REQUEUE_CONCURRENCY)
            .collect()
            .await;
        for outcome in written {
            // `false`: deleted since the scan; nothing to requeue.
            if outcome? {
                requeued += 1;
                pass.requeued += 1;
            }
        }
        match page.next {
            None => {
                store.finish_requeue_pass().await?;
                return Ok(RequeueProgress {
                    requeued,
                    pass_requeued: pass.requeued,
                    finished: true,
                });
            }
            Some(next) => {
                pass.after = Some(next);
                store.save_requeue_pass(&pass).await?;
            }
        }
        if Instant::now() >= stop_at {
            return Ok(RequeueProgress {
                requeued,
                pass_requeued: pass.requeued,
                finished: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn request(body: &str) -> Request {
        Request::new(Body::from(body))
    }

    #[test]
    fn upload_all_is_false_unless_the_body_says_true() {
        assert!(!read_upload_all(&request("")).unwrap());
        assert!(!read_upload_all(&request("{}")).unwrap());
        assert!(!read_upload_all(&request(r#"{"upload_all": false}"#)).unwrap());
        assert!(read_upload_all(&request(r#"{"upload_all": true}"#)).unwrap());
    }

    #[test]
    fn upload_all_of_another_type_is_named_in_the_error() {
        for (body, says) in [
            (r#"{"upload_all": "true"}"#, "not a string"),
            (r#"{"upload_all": 1}"#, "not a number"),
            (r#"{"upload_all": null}"#, "not null"),
        ] {
            let error = read_upload_all(&request(body)).unwrap_err();
            assert_eq!(error.code(), "VALIDATION_ERROR");
            assert!(
                error
                    .to_string()
                    .starts_with("upload_all must be true or false"),
                "{error}"
            );
            assert!(error.to_string().ends_with(says), "{body}: {error}");
        }
    }
}
