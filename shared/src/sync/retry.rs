//! An admin's retry of one rating: uploaded now, whatever its state, parked
//! ones included, through the same path as a run's uploads.

use std::time::SystemTime;

use super::outcome::Outcome;
use super::run::Run;
use super::SyncEngine;
use crate::events::SyncPath;
use crate::store::StoreError;

/// What an admin retry of one rating did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingRetry {
    /// There is no such rating (any more).
    RatingGone,
    /// Uploaded and marked synced; its dead-letter item is gone.
    Synced {
        /// The marketplace's id of the rating.
        remote_id: String,
    },
    /// Uploaded, but edited meanwhile: pending again, with the edit.
    ChangedMeanwhile,
    /// Not uploaded; recorded as a failed attempt, with this error.
    Failed {
        /// The error, as the dead-letter item now records it.
        error: String,
    },
}

impl SyncEngine {
    /// Uploads one rating now, whatever its state, parked ones included (the
    /// admin retry). It takes no lease: the conditional writes keep it from
    /// overwriting a run's work on the same rating, and the idempotency key
    /// keeps the two from creating it twice.
    pub async fn sync_rating_now(
        &self,
        rating_id: &str,
        deadline: SystemTime,
    ) -> Result<RatingRetry, StoreError> {
        let Some(item) = self.store.rating_item(rating_id).await? else {
            return Ok(RatingRetry::RatingGone);
        };
        let run = Run::new(
            format!("retry-{}", uuid::Uuid::new_v4()),
            self,
            deadline,
            SyncPath::Admin,
        );
        let pending = crate::store::rating_from_item(&item);
        let attempted = pending.as_ref().ok().cloned();
        // Its dead-letter item is removed with the sync only if the rating
        // counted failures; one already synced (an earlier mark that landed
        // with its answer lost) may still have one.
        let cleared_with_sync = attempted.as_ref().is_some_and(|r| r.sync_failures > 0);
        let outcome = match self.sync_one(&run, pending).await {
            Outcome::TransientFailure(failure) => self.record_failure(&run, failure).await,
            // Not sent (the breaker opened on this very request, or no time
            // was left): an admin's retry still counts as an attempt.
            Outcome::NotStarted | Outcome::Stop { .. } => {
                let reason = run
                    .delivery
                    .breaker_reason()
                    .or_else(|| run.delivery.stop_reason())
                    .unwrap_or_else(|| "No time left to reach the marketplace".into());
                match attempted {
                    Some(rating) => {
                        self.record_failure(&run, rating.failure(reason, true))
                            .await
                    }
                    None => Outcome::Failed {
                        parked: false,
                        message: reason,
                    },
                }
            }
            outcome => outcome,
        };
        self.flush_events(&run, &mut run.report()).await;
        Ok(match outcome {
            Outcome::Created
            | Outcome::Updated
            | Outcome::Linked
            | Outcome::Pulled
            | Outcome::InSync => {
                if !cleared_with_sync {
                    self.store.clear_failure(rating_id).await?;
                }
                let item = self.store.rating_item(rating_id).await?;
                match item.as_ref().and_then(|i| i.get("remote_rating_id")) {
                    Some(remote) => RatingRetry::Synced {
                        remote_id: remote.as_s().cloned().unwrap_or_default(),
                    },
                    None => RatingRetry::RatingGone,
                }
            }
            Outcome::ChangedDuringUpload | Outcome::Skipped => RatingRetry::ChangedMeanwhile,
            Outcome::Failed { message, .. } | Outcome::Unresolved(message) => {
                RatingRetry::Failed { error: message }
            }
            // Turned into recorded failures above.
            Outcome::NotStarted | Outcome::Stop { .. } | Outcome::TransientFailure(_) => {
                RatingRetry::Failed {
                    error: "No time left to reach the marketplace".into(),
                }
            }
        })
    }
}
