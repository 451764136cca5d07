//! The sync engine: one run drains the backlog of local ratings into the
//! Atom SaaS marketplace.
//!
//! A run
//! 1. takes the run lease, or answers "Sync already in progress" having
//!    touched nothing: two runs never upload the same rating at once;
//! 2. reads the backlog through the sparse index, oldest first, page after
//!    page, and keeps up to `max_concurrency` uploads in flight across page
//!    boundaries, so one run drains thousands of ratings, not one page;
//! 3. stops starting uploads when the invocation's deadline is near, so
//!    every rating it began is recorded before the function is frozen;
//! 4. releases the lease and reports.
//!
//! Each rating ends the run synced, still pending, or pending with its error
//! in the dead-letter table: nothing is dropped. Uploads carry an
//! idempotency key made of the rating's id and version, so a rating that was
//! accepted but not recorded (a crash, a DynamoDB error) is answered from the
//! marketplace's memory on the next attempt instead of being created twice.

use std::time::{Duration, SystemTime};

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;
use tracing::{error, info, warn, Instrument};

use crate::config::SyncSettings;
use crate::marketplace::{MarketplaceClient, MarketplaceError, RatingUpload};
use crate::rating::{PendingRating, Rating, SyncFailure};
use crate::report::{SyncReport, NOTHING_PENDING};
use crate::store::{timestamp, LeaseOutcome, MarkOutcome, PageKey, Store, StoreError};

/// The work budget of a run whose runtime gave no usable deadline.
pub const FALLBACK_RUN_BUDGET: Duration = Duration::from_secs(120);

/// The deadline a run works to, from the one the Lambda runtime gave.
///
/// Lambda always gives a deadline in the future. A Runtime API emulator may
/// not: `cargo lambda watch` sends a constant that reads as 1970. A deadline
/// already passed when the invocation starts is therefore taken as "none
/// given", and the run gets [`FALLBACK_RUN_BUDGET`] instead of doing nothing.
pub fn run_deadline(given: SystemTime, now: SystemTime) -> SystemTime {
    if given > now {
        given
    } else {
        tracing::warn!(
            budget_seconds = FALLBACK_RUN_BUDGET.as_secs(),
            "the runtime gave a deadline in the past; using the fallback budget"
        );
        now + FALLBACK_RUN_BUDGET
    }
}

/// The lease every sync run takes, whichever function started it.
pub const LEASE_NAME: &str = "rating-sync";
/// A lease outlives its run's deadline by this much, to cover clock skew
/// between the function and DynamoDB; after that a dead run blocks no one.
const LEASE_GRACE: Duration = Duration::from_secs(10);

pub struct SyncEngine {
    store: Store,
    marketplace: MarketplaceClient,
    settings: SyncSettings,
}

/// What became of one backlog entry in this run.
#[derive(Debug)]
enum Outcome {
    Created,
    Updated,
    /// Accepted, but edited while in flight; pending again.
    ChangedDuringUpload,
    /// Recorded in the dead-letter table.
    Failed,
    /// Left pending untouched (the rating was deleted, or its outcome could
    /// not be recorded).
    Skipped,
    /// Not started: the deadline is near. Pending for the next run.
    Deferred,
    /// The run must stop: the reason, and whether it is an error.
    Stop {
        reason: String,
        is_error: bool,
    },
}

impl SyncEngine {
    pub fn new(store: Store, marketplace: MarketplaceClient, settings: SyncSettings) -> Self {
        Self {
            store,
            marketplace,
            settings,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs one sync that must be done by `deadline` (the Lambda
    /// invocation's deadline; the configured margin is kept free).
    pub async fn run(&self, deadline: SystemTime) -> SyncReport {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("sync_run", run_id = %run_id);
        self.run_with_id(run_id, deadline).instrument(span).await
    }

    async fn run_with_id(&self, run_id: String, deadline: SystemTime) -> SyncReport {
        let started = Utc::now();
        let clock = Instant::now();
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let lease_until = started
            + chrono::Duration::from_std(remaining + LEASE_GRACE)
                .unwrap_or(chrono::Duration::zero());

        match self
            .store
            .acquire_lease(LEASE_NAME, &run_id, lease_until, started)
            .await
        {
            Ok(LeaseOutcome::Acquired) => {}
            Ok(LeaseOutcome::HeldBy { holder, until }) => {
                info!(
                    holder,
                    until, "another sync run holds the lease; nothing done"
                );
                return SyncReport::already_running(run_id, timestamp(started));
            }
            Err(err) => {
                error!(error = %err, "could not take the run lease");
                return SyncReport {
                    run_id,
                    started_at: timestamp(started),
                    finished_at: timestamp(Utc::now()),
                    message: "Sync did not start".into(),
                    error: Some(format!("Could not take the run lease: {err}")),
                    ..SyncReport::default()
                };
            }
        }

        info!(
            seconds_to_deadline = remaining.as_secs(),
            "sync run started"
        );
        let stop_starting_at = clock + remaining.saturating_sub(self.settings.deadline_margin);
        let mut report = SyncReport {
            run_id: run_id.clone(),
            started_at: timestamp(started),
            ..SyncReport::default()
        };
        self.drain(&run_id, lease_until, stop_starting_at, &mut report)
            .await;

        report.pending_count = match self.store.count_pending().await {
            Ok(count) => Some(count),
            Err(err) => {
                warn!(error = %err, "could not count the backlog left");
                None
            }
        };
        if let Err(err) = self.store.release_lease(LEASE_NAME, &run_id).await {
            // It expires by itself shortly after the deadline.
            warn!(error = %err, "could not release the run lease");
        }
        report.success = report.error.is_none();
        report.message = summary(&report);
        report.finished_at = timestamp(Utc::now());
        report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Err(err) = self.store.save_report(&report).await {
            warn!(error = %err, "could not store the run report");
        }
        log_report(&report);
        report
    }

    /// Streams the backlog through at most `max_concurrency` uploads.
    async fn drain(
        &self,
        run_id: &str,
        lease_until: chrono::DateTime<Utc>,
        stop_starting_at: Instant,
        report: &mut SyncReport,
    ) {
        // The cursor: `Some(after)` while pages remain, `None` once done.
        let pages = stream::unfold(Some(None::<PageKey>), move |cursor| async move {
            let after = cursor?;
            let step: Vec<Step> = match self
                .next_page(run_id, lease_until, after, stop_starting_at)
                .await
            {
                Ok((ratings, next)) => {
                    let steps = ratings.into_iter().map(Step::Sync).collect();
                    return Some((steps, next.map(Some)));
                }
                Err(outcome) => vec![Step::Report(outcome)],
            };
            Some((step, None))
        });

        let outcomes = pages
            .flat_map(stream::iter)
            .map(|step| async move {
                match step {
                    Step::Report(outcome) => outcome,
                    Step::Sync(_) if Instant::now() >= stop_starting_at => Outcome::Deferred,
                    Step::Sync(pending) => self.sync_one(pending).await,
                }
            })
            .buffer_unordered(self.settings.max_concurrency);

        let mut outcomes = std::pin::pin!(outcomes);
        while let Some(outcome) = outcomes.next().await {
            match outcome {
                Outcome::Created => report.created += 1,
                Outcome::Updated => report.updated += 1,
                Outcome::ChangedDuringUpload => report.changed_during_upload += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Skipped => report.skipped += 1,
                Outcome::Deferred => {
                    report.skipped += 1;
                    report.stopped_early = Some("Deadline reached".into());
                }
                Outcome::Stop { reason, is_error } => {
                    if is_error {
                        report.error = Some(reason.clone());
                    }
                    report.stopped_early = Some(reason);
                }
            }
        }
        report.uploaded = report.created + report.updated + report.changed_during_upload;
    }

    /// The next page of the backlog, after checking that this run may go on.
    async fn next_page(
        &self,
        run_id: &str,
        lease_until: chrono::DateTime<Utc>,
        after: Option<PageKey>,
        stop_starting_at: Instant,
    ) -> Result<(Vec<PendingRating>, Option<PageKey>), Outcome> {
        let error = |what: &str, err: StoreError| Outcome::Stop {
            reason: format!("{what}: {err}"),
            is_error: true,
        };
        if Instant::now() >= stop_starting_at {
            return Err(Outcome::Stop {
                reason: "Deadline reached".into(),
                is_error: false,
            });
        }
        // Fencing: a run that lost its lease must not write on.
        match self
            .store
            .renew_lease(LEASE_NAME, run_id, lease_until)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return Err(Outcome::Stop {
                    reason: "Lost the run lease to another run".into(),
                    is_error: true,
                })
            }
            Err(err) => return Err(error("Could not renew the run lease", err)),
        }
        let page = self
            .store
            .pending_page(after, self.settings.batch_size)
            .await
            .map_err(|err| error("Could not read the backlog", err))?;
        Ok((page.ratings, page.next))
    }

    /// Uploads one rating and records what became of it.
    async fn sync_one(&self, pending: PendingRating) -> Outcome {
        let rating = match pending {
            Ok(rating) => rating,
            Err(malformed) => return self.fail(malformed.failure()).await,
        };
        let stars = match rating.stars() {
            Ok(stars) => stars,
            Err(problem) => return self.fail(rating.failure(problem)).await,
        };
        let upload = RatingUpload {
            skill_id: &rating.skill_id,
            user_id: &rating.user_id,
            rating: stars,
            comment: rating.review.as_deref(),
        };

        let mut sent = match &rating.remote_rating_id {
            Some(remote_id) => self
                .marketplace
                .update_rating(&upload, remote_id, &idempotency_key("update", &rating))
                .await
                .map(|id| (id, Outcome::Updated)),
            None => Err(MarketplaceError::RemoteRatingGone {
                remote_id: String::new(),
            }),
        };
        // A rating never created, or whose remote copy was deleted, is created.
        if let Err(MarketplaceError::RemoteRatingGone { .. }) = sent {
            sent = self
                .marketplace
                .create_rating(&upload, &idempotency_key("create", &rating))
                .await
                .map(|id| (id, Outcome::Created));
        }

        match sent {
            Ok((remote_id, uploaded)) => self.record_success(&rating, &remote_id, uploaded).await,
            Err(err) => {
                warn!(rating_id = %rating.id, error = %err, "upload failed");
                self.fail(rating.failure(err.to_string())).await
            }
        }
    }

    async fn record_success(&self, rating: &Rating, remote_id: &str, uploaded: Outcome) -> Outcome {
        match self.store.mark_synced(rating, remote_id, Utc::now()).await {
            Ok(MarkOutcome::Synced) => {
                if rating.sync_failures > 0 {
                    if let Err(err) = self.store.clear_failure(&rating.id).await {
                        warn!(rating_id = %rating.id, error = %err, "synced, but its dead-letter item stays");
                    }
                }
                uploaded
            }
            Ok(MarkOutcome::ChangedMeanwhile) => Outcome::ChangedDuringUpload,
            Ok(MarkOutcome::Deleted) => {
                info!(rating_id = %rating.id, "rating deleted while it was uploaded");
                uploaded
            }
            Err(err) => {
                // Still pending: the next attempt carries the same idempotency
                // key, so the marketplace answers it without a second rating.
                error!(rating_id = %rating.id, error = %err, "uploaded, but could not mark it synced");
                Outcome::Skipped
            }
        }
    }

    async fn fail(&self, failure: SyncFailure) -> Outcome {
        match self.store.record_failure(&failure, Utc::now()).await {
            Ok(()) => Outcome::Failed,
            Err(err) => {
                error!(rating_id = %failure.rating_id, error = %err, "could not record a failure; the rating stays pending");
                Outcome::Skipped
            }
        }
    }
}

/// One item of the work stream.
enum Step {
    Sync(PendingRating),
    Report(Outcome),
}

/// The same for every retry of one version of one rating, across runs, and
/// different for every edit.
fn idempotency_key(operation: &str, rating: &Rating) -> String {
    format!("{operation}-{}-v{}", rating.id, rating.version)
}

fn summary(report: &SyncReport) -> String {
    if let Some(error) = &report.error {
        return format!("Sync stopped: {error}");
    }
    let seen = report.attempted() + report.skipped;
    if seen == 0 {
        return match &report.stopped_early {
            Some(reason) => format!("Nothing synced; stopped early: {reason}"),
            None => NOTHING_PENDING.to_owned(),
        };
    }
    let mut message = format!(
        "Uploaded {} of {} pending ratings ({} created, {} updated), {} failed",
        report.uploaded, seen, report.created, report.updated, report.failed
    );
    if let Some(reason) = &report.stopped_early {
        message.push_str(&format!("; stopped early: {reason}"));
    }
    message
}

fn log_report(report: &SyncReport) {
    info!(
        success = report.success,
        uploaded = report.uploaded,
        created = report.created,
        updated = report.updated,
        failed = report.failed,
        skipped = report.skipped,
        changed_during_upload = report.changed_during_upload,
        pending_count = report.pending_count,
        duration_ms = report.duration_ms,
        stopped_early = report.stopped_early.as_deref(),
        error = report.error.as_deref(),
        "{}",
        report.message
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_follow_the_version() {
        let mut rating = Rating {
            id: "r1".into(),
            tenant_id: "t".into(),
            skill_id: "s".into(),
            user_id: "u".into(),
            rating: "3".into(),
            review: None,
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
            remote_rating_id: None,
            sync_failures: 0,
        };
        let first = idempotency_key("create", &rating);
        assert_eq!(first, idempotency_key("create", &rating));
        rating.version = 2;
        assert_ne!(first, idempotency_key("create", &rating));
        assert_ne!(
            idempotency_key("create", &rating),
            idempotency_key("update", &rating)
        );
    }

    #[test]
    fn a_deadline_in_the_past_means_none_was_given() {
        let now = SystemTime::now();
        let ahead = now + Duration::from_secs(600);
        assert_eq!(run_deadline(ahead, now), ahead);
        let emulator = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(run_deadline(emulator, now), now + FALLBACK_RUN_BUDGET);
        assert_eq!(run_deadline(now, now), now + FALLBACK_RUN_BUDGET);
    }

    #[test]
    fn the_summary_says_when_there_was_nothing_to_do() {
        let mut report = SyncReport::default();
        assert_eq!(summary(&report), NOTHING_PENDING);
        report.uploaded = 2;
        report.created = 2;
        report.failed = 1;
        assert_eq!(
            summary(&report),
            "Uploaded 2 of 3 pending ratings (2 created, 0 updated), 1 failed"
        );
        report.error = Some("boom".into());
        assert_eq!(summary(&report), "Sync stopped: boom");
    }
}
