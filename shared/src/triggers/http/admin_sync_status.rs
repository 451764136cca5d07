//! `GET /api/admin/sync/ratings/status`: where the sync stands, read, never
//! changed.
//!
//! Every count is complete, counted through the indexes page after page
//! (`Select: COUNT`, no items read): the backlog (`pending_count`, pending
//! and waiting, as a run's report counts it, and `waiting_count`), the
//! dead-letter items (`failed_count`, of which `parked_count` are parked) and
//! the conflicts in the conflict log. Then the reports of the last runs, who
//! holds the run lease until when, when a run last succeeded and how many
//! scheduled runs failed since, and how far a full re-push got if one is
//! under way.

use lambda_http::http::Method;
use serde_json::{json, Value};

use std::time::SystemTime;

use super::input::{json_object_body, query_parameters};
use super::{serve, AdminContext, Answer, ApiError, Endpoint, Exchange, Request, Response};
use crate::store::{timestamp, FailureStatus, Store};
use crate::sync::LEASE_NAME;

/// The action's name in the audit trail.
pub const ACTION: &str = "sync_status";
/// How many run reports the answer carries, newest first.
pub const RECENT_RUNS: u32 = 10;

/// The endpoint: no input, a read of every count.
pub struct SyncStatus;

impl Endpoint for SyncStatus {
    type State = AdminContext;
    const ACTION: &'static str = ACTION;
    const METHOD: Method = Method::GET;

    async fn act(exchange: Exchange<'_, '_, AdminContext>) -> Result<Answer, ApiError> {
        let Exchange { call, request, .. } = exchange;
        query_parameters(request, &[])?;
        json_object_body(request, &[])?;
        status(call.store()).await
    }
}

/// Answers one status request.
pub async fn handle(context: &AdminContext, request: Request) -> Response {
    serve::<SyncStatus>(context, request, SystemTime::now()).await
}

async fn status(store: &Store) -> Result<Answer, ApiError> {
    let now = chrono::Utc::now();
    let backlog = store.count_backlog().await?;
    let retrying = store.count_failed_uploads(FailureStatus::Retrying).await?;
    let parked = store.count_failed_uploads(FailureStatus::Dead).await?;
    let conflicts = store.count_conflicts().await?;
    let lease = store.lease_state(LEASE_NAME, now).await?;
    let requeue = store.requeue_pass().await?;
    // Not worth a 500 on the page operators read in an incident.
    let health = store.sync_health().await.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "could not read the health item");
        None
    });
    let runs = store.recent_reports(RECENT_RUNS).await?;

    let pending = backlog.pending + backlog.waiting;
    let lease = match lease {
        Some(lease) => json!({ "held": lease.held, "holder": lease.holder, "until": lease.until }),
        None => json!({ "held": false, "holder": null, "until": null }),
    };
    let requeue = requeue.map_or(
        Value::Null,
        |pass| json!({ "requeued": pass.requeued, "started_at": pass.started_at }),
    );
    Ok(Answer {
        result: format!(
            "backlog {pending}, failed {}, parked {parked}",
            retrying + parked
        ),
        body: json!({
            "success": true,
            "pending_count": pending,
            "waiting_count": backlog.waiting,
            "failed_count": retrying + parked,
            "parked_count": parked,
            "conflict_count": conflicts,
            "lease": lease,
            "requeue_pass": requeue,
            "last_success_at": health.and_then(|h| h.last_success_at).map(timestamp),
            "consecutive_failed_runs": health.map_or(0, |h| h.consecutive_failed_runs),
            "recent_runs": runs,
            "checked_at": timestamp(now),
        }),
    })
}
