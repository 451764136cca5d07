//! Newest wins between a local rating and its remote copy (the rules are in
//! [`crate::conflict`]), for the pull and for a create answered 409; every
//! real conflict and every remote rating not taken goes to the conflict log.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use super::outcome::Outcome;
use super::run::Run;
use super::upload::upload_of;
use super::SyncEngine;
use crate::conflict::{
    resolve, Conflict, Listed, RemoteRating, Resolution, LOCAL_WINS, REMOTE_WINS,
};
use crate::delivery::Delivered;
use crate::events::AppliedFrom;
use crate::rating::Rating;
use crate::store::MarkOutcome;

impl SyncEngine {
    /// Newest wins between a local rating and its remote copy.
    /// `pending`: the local rating is waiting to be pushed (a duplicate
    /// create), rather than synced (the pull).
    pub(super) async fn reconcile(
        &self,
        run: &Run,
        local: &Rating,
        remote: &RemoteRating,
        pending: bool,
    ) -> Outcome {
        if run.is_fenced() {
            return Outcome::Skipped;
        }
        match resolve(local, remote) {
            Resolution::InSync | Resolution::EqualTimes if !pending => Outcome::InSync,
            // The marketplace has it already: link it, change nothing.
            Resolution::InSync | Resolution::EqualTimes => self.link(run, local, remote).await,
            Resolution::RemoteWins { remote_time } => {
                self.take_remote(run, local, remote, remote_time, pending)
                    .await
            }
            Resolution::LocalWins => self.push_local(run, local, remote).await,
            Resolution::Skip { reason } => {
                warn!(rating_id = %local.id, reason, "cannot reconcile with the remote rating");
                Outcome::Unresolved(format!("rating {}: {reason}", local.id))
            }
        }
    }

    /// A pending rating the marketplace has already, saying the same:
    /// marked synced under the remote id.
    async fn link(&self, run: &Run, local: &Rating, remote: &RemoteRating) -> Outcome {
        let now = Utc::now();
        match self.store.mark_synced(local, &remote.id, now).await {
            Ok(MarkOutcome::Synced) => {
                self.after_synced(run, local).await;
                self.publish_synced(run, local, &remote.id, now, None);
                Outcome::Linked
            }
            Ok(_) => Outcome::Skipped,
            Err(err) => {
                error!(rating_id = %local.id, error = %err, "could not link the remote rating");
                Outcome::Skipped
            }
        }
    }

    /// The newer remote rating's values, taken into the local one unless it
    /// was edited meanwhile (then the edit stands, and is pushed later).
    async fn take_remote(
        &self,
        run: &Run,
        local: &Rating,
        remote: &RemoteRating,
        remote_time: DateTime<Utc>,
        pending: bool,
    ) -> Outcome {
        match self
            .store
            .apply_remote(local, remote, remote_time, Utc::now())
            .await
        {
            Ok(true) => {
                self.after_synced(run, local).await;
                self.log_conflict(run, local, remote, REMOTE_WINS).await;
                let source = if pending {
                    AppliedFrom::Conflict
                } else {
                    AppliedFrom::Pull
                };
                self.publish_applied(local, remote, remote_time, source);
                Outcome::Pulled
            }
            Ok(false) => Outcome::Skipped,
            Err(err) => {
                error!(rating_id = %local.id, error = %err, "could not take the remote values");
                Outcome::Skipped
            }
        }
    }

    /// The newer local rating, sent as an update of the remote one.
    async fn push_local(&self, run: &Run, local: &Rating, remote: &RemoteRating) -> Outcome {
        let upload = match upload_of(local) {
            Ok(upload) => upload,
            Err(problem) => return Outcome::Unresolved(format!("rating {}: {problem}", local.id)),
        };
        // Stable for this disagreement, different from the key of any
        // earlier update of the same version.
        let key = format!(
            "reconcile-{}-v{}-{}",
            local.id,
            local.version,
            remote
                .modified()
                .map(|t| t.timestamp_millis())
                .unwrap_or_default()
        );
        match run
            .delivery
            .send(|| self.marketplace.update_rating(&upload, &remote.id, &key))
            .await
        {
            Delivered::Accepted(remote_id) => {
                self.log_conflict(run, local, remote, LOCAL_WINS).await;
                self.record_success(run, local, &remote_id, Outcome::Updated)
                    .await
            }
            Delivered::Failed(err) => self.failed(run, local, err).await,
            Delivered::NotSent => Outcome::NotStarted,
        }
    }

    /// A 409 on create: the user rated this skill at the marketplace already
    /// (from this instance, with its id lost, or elsewhere). Read it and
    /// reconcile instead of failing.
    pub(super) async fn resolve_duplicate(&self, run: &Run, rating: &Rating) -> Outcome {
        let remote = match run
            .delivery
            .send(|| self.marketplace.skill_ratings(&rating.skill_id))
            .await
        {
            Delivered::Accepted(remote) => remote,
            Delivered::NotSent => return Outcome::NotStarted,
            Delivered::Failed(err) => return self.failed(run, rating, err).await,
        };
        let Some(listed) = remote
            .iter()
            .find(|listed| listed.user_id.as_deref() == Some(rating.user_id.as_str()))
        else {
            let message = "Marketplace answered 409 but lists no rating by this user for the skill";
            return Outcome::TransientFailure(rating.failure(message, true));
        };
        let outcome = match self.checked(listed) {
            Ok(remote) => self.reconcile(run, rating, remote, true).await,
            Err(reason) => self.skip_remote(run, rating, listed, &reason).await,
        };
        match outcome {
            Outcome::Unresolved(reason) => {
                // A pending rating that cannot be reconciled is parked with
                // the reason, not retried forever.
                let message = reason
                    .split_once(": ")
                    .map(|(_, why)| why.to_owned())
                    .unwrap_or(reason);
                self.record_failure(run, rating.failure(message, false))
                    .await
            }
            outcome => outcome,
        }
    }

    /// A listed remote rating that may touch local data, or why not.
    pub(super) fn checked<'a>(&self, listed: &'a Listed) -> Result<&'a RemoteRating, String> {
        let remote = listed.rating.as_ref().map_err(String::clone)?;
        remote.check(Utc::now(), self.settings.max_clock_skew)?;
        Ok(remote)
    }

    /// A remote rating that failed its checks: logged, in the conflict log
    /// and in the report; the local rating is left as it was.
    pub(super) async fn skip_remote(
        &self,
        run: &Run,
        local: &Rating,
        listed: &Listed,
        reason: &str,
    ) -> Outcome {
        if run.is_fenced() {
            return Outcome::Skipped;
        }
        warn!(rating_id = %local.id, reason, "remote rating not taken");
        let remote_id = listed.rating.as_ref().ok().map(|remote| remote.id.as_str());
        let conflict = Conflict::skipped(local, remote_id, reason);
        if let Err(err) = self.store.record_conflict(&conflict, Utc::now()).await {
            warn!(rating_id = %local.id, error = %err, "could not log the skipped remote rating");
        }
        Outcome::Unresolved(format!("rating {}: {reason}", local.id))
    }

    async fn log_conflict(
        &self,
        run: &Run,
        local: &Rating,
        remote: &RemoteRating,
        strategy: &'static str,
    ) {
        run.conflicts.fetch_add(1, Ordering::SeqCst);
        info!(rating_id = %local.id, remote_id = %remote.id, strategy, "conflict resolved");
        let conflict = Conflict::new(local, remote, strategy);
        if let Err(err) = self.store.record_conflict(&conflict, Utc::now()).await {
            warn!(rating_id = %local.id, error = %err, "could not log the conflict");
        }
    }
}
