//! One rating's upload and its recording: create, or update when the
//! marketplace has it, under an idempotency key that is the same for every
//! retry of one version; then marked synced on that version, or recorded as
//! a failure (waiting for a later run with backoff, or parked).

use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use super::outcome::Outcome;
use super::run::Run;
use super::SyncEngine;
use crate::delivery::Delivered;
use crate::marketplace::{MarketplaceError, RatingUpload};
use crate::rating::{PendingRating, Rating, SyncFailure};
use crate::store::{Disposition, FailureRecorded, MarkOutcome};

/// What is sent for `rating`, or why it may not be sent at all.
pub(super) fn upload_of(rating: &Rating) -> Result<RatingUpload<'_>, String> {
    let (stars, comment) = rating.upload_values()?;
    Ok(RatingUpload {
        skill_id: &rating.skill_id,
        user_id: &rating.user_id,
        rating: stars,
        comment,
    })
}

impl SyncEngine {
    /// Uploads one rating and records what became of it.
    pub(super) async fn sync_one(&self, run: &Run, pending: PendingRating) -> Outcome {
        let rating = match pending {
            Ok(rating) => rating,
            Err(malformed) => return self.record_failure(run, malformed.failure()).await,
        };
        let upload = match upload_of(&rating) {
            Ok(upload) => upload,
            Err(problem) => {
                return self
                    .record_failure(run, rating.failure(problem, false))
                    .await
            }
        };

        match self.upload(run, &rating, &upload).await {
            Delivered::Accepted((remote_id, uploaded)) => {
                self.record_success(run, &rating, &remote_id, uploaded)
                    .await
            }
            Delivered::NotSent => Outcome::NotStarted,
            Delivered::Failed(MarketplaceError::AlreadyRated { .. }) => {
                self.resolve_duplicate(run, &rating).await
            }
            Delivered::Failed(err) => self.failed(run, &rating, err).await,
        }
    }

    /// What a request that failed means for `rating`: nothing, if no request
    /// of this run can succeed (it stays pending); a transient failure,
    /// recorded when the run ends; or a permanent one, recorded now.
    pub(super) async fn failed(
        &self,
        run: &Run,
        rating: &Rating,
        err: MarketplaceError,
    ) -> Outcome {
        if err.stops_the_run() {
            return Outcome::NotStarted;
        }
        if err.is_transient() {
            warn!(rating_id = %rating.id, error = %err, "upload failed; a later run tries again");
            return Outcome::TransientFailure(rating.failure(err.to_string(), true));
        }
        warn!(rating_id = %rating.id, error = %err, "upload refused; parking the rating");
        self.record_failure(run, rating.failure(err.to_string(), false))
            .await
    }

    /// Creates the rating, or updates it if the marketplace already has it
    /// (and creates it again if the marketplace lost it).
    async fn upload(
        &self,
        run: &Run,
        rating: &Rating,
        upload: &RatingUpload<'_>,
    ) -> Delivered<(String, Outcome)> {
        if let Some(remote_id) = &rating.remote_rating_id {
            let key = idempotency_key("update", rating);
            let sent = run
                .delivery
                .send(|| self.marketplace.update_rating(upload, remote_id, &key))
                .await;
            if !matches!(
                sent,
                Delivered::Failed(MarketplaceError::RemoteRatingGone { .. })
            ) {
                return sent.map(|id| (id, Outcome::Updated));
            }
            info!(rating_id = %rating.id, remote_id, "remote rating gone; creating it again");
        }
        let key = idempotency_key("create", rating);
        run.delivery
            .send(|| self.marketplace.create_rating(upload, &key))
            .await
            .map(|id| (id, Outcome::Created))
    }

    pub(super) async fn record_success(
        &self,
        run: &Run,
        rating: &Rating,
        remote_id: &str,
        uploaded: Outcome,
    ) -> Outcome {
        if run.is_fenced() {
            // The next run's attempt is answered by the idempotency key.
            return Outcome::Skipped;
        }
        let accepted = Utc::now();
        match self.store.mark_synced(rating, remote_id, accepted).await {
            Ok(MarkOutcome::Synced) => {
                let freshness = run.note_freshness(rating, accepted);
                self.publish_synced(run, rating, remote_id, accepted, freshness);
                self.after_synced(run, rating).await;
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
                run.note_store_failure(&err);
                Outcome::Skipped
            }
        }
    }

    /// Bookkeeping after a rating reached the synced state: its skill is
    /// one to pull, and its dead-letter item, if any, goes.
    pub(super) async fn after_synced(&self, run: &Run, rating: &Rating) {
        if let Ok(mut skills) = run.synced_skills.lock() {
            if !skills.contains(&rating.skill_id) {
                skills.insert(rating.skill_id.clone());
            }
        }
        if rating.sync_failures > 0 {
            // Nothing else removes it: one more call after the SDK's own
            // retries, within the deadline.
            let mut result = None;
            for _ in 0..2 {
                let cleared = run
                    .by_deadline(
                        "removing a dead-letter item",
                        self.store.clear_failure(&rating.id),
                    )
                    .await;
                match cleared {
                    Some(Ok(())) => return,
                    Some(Err(err)) => result = Some(err.to_string()),
                    None => break,
                }
            }
            let error = result.unwrap_or_else(|| "the invocation's deadline came".into());
            warn!(rating_id = %rating.id, error, "synced, but its dead-letter item stays");
        }
    }

    /// Where a failed rating goes: parked if retrying cannot help or it has
    /// failed too often, else back after an exponential wait.
    fn disposition(&self, failure: &SyncFailure, now: DateTime<Utc>) -> Disposition {
        if !failure.retryable || failure.attempts() >= self.settings.max_attempts {
            return Disposition::Park;
        }
        let wait = self
            .settings
            .retry_backoff
            .equal_jitter(failure.attempts(), fastrand::f64());
        Disposition::RetryAt(now + chrono::Duration::from_std(wait).unwrap_or_default())
    }

    pub(super) async fn record_failure(&self, run: &Run, failure: SyncFailure) -> Outcome {
        if run.is_fenced() {
            return Outcome::Skipped;
        }
        let now = Utc::now();
        let disposition = self.disposition(&failure, now);
        let recorded = run
            .by_deadline(
                "recording a failure",
                self.store.record_failure(&failure, disposition, now),
            )
            .await;
        let Some(recorded) = recorded else {
            return Outcome::Skipped;
        };
        match recorded {
            Ok(FailureRecorded::Recorded) => {
                let parked = disposition == Disposition::Park;
                if parked {
                    self.publish_parked(run, &failure, now);
                }
                Outcome::Failed {
                    parked,
                    message: failure.message,
                }
            }
            Ok(FailureRecorded::RatingChanged) => Outcome::Skipped,
            Err(err) => {
                error!(rating_id = %failure.rating_id, error = %err, "could not record a failure; the rating stays pending");
                run.note_store_failure(&err);
                Outcome::Skipped
            }
        }
    }
}

/// The same for every retry of one version of one rating, across runs, and
/// different for every edit and every re-push an admin asked for.
fn idempotency_key(operation: &str, rating: &Rating) -> String {
    match rating.sync_round {
        0 => format!("{operation}-{}-v{}", rating.id, rating.version),
        round => format!("{operation}-{}-v{}-r{round}", rating.id, rating.version),
    }
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
            sync_round: 0,
        };
        let first = idempotency_key("create", &rating);
        assert_eq!(first, idempotency_key("create", &rating));
        rating.version = 2;
        assert_ne!(first, idempotency_key("create", &rating));
        assert_ne!(
            idempotency_key("create", &rating),
            idempotency_key("update", &rating)
        );
        let edited = idempotency_key("update", &rating);
        rating.sync_round = 1;
        assert_ne!(
            edited,
            idempotency_key("update", &rating),
            "a re-push is a new request"
        );
    }
}
