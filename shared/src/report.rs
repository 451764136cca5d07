//! What one sync run did, as the function returns it, logs it and stores it.

use serde::{Deserialize, Serialize};

/// The answer of a run that found the lease taken.
pub const ALREADY_RUNNING: &str = "Sync already in progress";
/// The message of a run that found nothing to do.
pub const NOTHING_PENDING: &str = "No pending ratings";

/// What one sync run did: saved in the state table, logged, and answered
/// by the function that ran it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The run's id; the run holds the lease under it.
    pub run_id: String,
    /// The run did its work; individual ratings may still have failed (see
    /// `failed`). `false` when it could not run or had to stop on an error.
    pub success: bool,
    /// Ratings now at the marketplace through this run: created, updated,
    /// or found there already with the same content (a 409 reconciled).
    pub uploaded: u64,
    /// Of `uploaded`, the ratings created at the marketplace.
    pub created: u64,
    /// Of `uploaded`, the ratings updated there.
    pub updated: u64,
    /// Ratings whose attempt failed; each is in the dead-letter table,
    /// whichever path (push, pull, fast path) failed it.
    pub failed: u64,
    /// Of those, the ones parked: no run retries them until an admin does.
    pub parked: u64,
    /// Ratings read but left as they were: the run reached its deadline, the
    /// breaker opened, or the rating changed meanwhile.
    pub skipped: u64,
    /// Uploaded, but edited while in flight: pending again with the edit.
    pub changed_during_upload: u64,
    /// Local ratings that took the values of a newer remote rating.
    pub pulled: u64,
    /// Real conflicts (both sides changed, at different times), each
    /// resolved newest-wins and recorded in the conflict log.
    pub conflicts: u64,
    /// Skills whose remote ratings this run read.
    pub skills_pulled: u64,
    /// Pairs that could not be reconciled, with the reason (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolution_skips: Vec<String>,
    /// The backlog left when the run ended (pending and waiting, not
    /// parked), counted in full; `None` if the count failed.
    pub pending_count: Option<u64>,
    /// Of those, the failed ratings waiting for a later attempt.
    pub waiting_count: Option<u64>,
    /// The circuit breaker opened: the marketplace was down or refused our
    /// credentials, and the run stopped early.
    pub breaker_open: bool,
    /// Why the run stopped before the backlog was empty, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// DynamoDB requests this run sent (retries included), if counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamodb_requests: Option<RequestCount>,
    /// Scheduled runs that failed in a row, this one included; 0 when this
    /// one succeeded (see [`crate::store::RunOutcome`]). Only on scheduled
    /// runs, and not on one that found another run going.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failed_runs: Option<u64>,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// When the run ended (RFC 3339, UTC).
    pub finished_at: String,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
    /// What the run did, in a sentence.
    pub message: String,
    /// Why, when the run could not run or had to stop on an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Events of this run published to the bus.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub events_published: u64,
    /// Events of this run that could not be published (logged; the sync
    /// itself is not affected).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub events_failed: u64,
    /// Seconds from each synced rating's local write to the marketplace's
    /// acceptance: the freshness metric's values. Not stored or answered.
    #[serde(skip)]
    pub freshness_seconds: Vec<f64>,
}

impl SyncReport {
    /// The answer of a run that could not start because another holds the lease.
    pub fn already_running(run_id: String, started_at: String) -> Self {
        Self {
            run_id,
            success: false,
            finished_at: started_at.clone(),
            started_at,
            message: ALREADY_RUNNING.to_owned(),
            error: Some(ALREADY_RUNNING.to_owned()),
            ..Self::default()
        }
    }

    /// Ratings this run attempted.
    pub fn attempted(&self) -> u64 {
        self.uploaded + self.failed
    }
}

/// DynamoDB requests, as counted by the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    /// Requests that read (`GetItem`, `Query`, `Scan`, ...).
    pub reads: u64,
    /// Requests that write: every other operation.
    pub writes: u64,
}

impl std::ops::Sub for RequestCount {
    type Output = Self;
    fn sub(self, earlier: Self) -> Self {
        Self {
            reads: self.reads.saturating_sub(earlier.reads),
            writes: self.writes.saturating_sub(earlier.writes),
        }
    }
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}
