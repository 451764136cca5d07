//! What a run tells the app: an event per sync outcome on the EventBridge
//! bus (see [`crate::events`]), emitted where the outcome is recorded and
//! sent in the background; flushed, briefly, before an invocation returns.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::info;

use super::run::Run;
use super::{SyncEngine, Trigger};
use crate::conflict::RemoteRating;
use crate::events::{
    self, AppliedFrom, RatingParked, RatingSynced, RemoteRatingApplied, SyncEvent, SyncPath,
    SyncRunCompleted,
};
use crate::rating::{Rating, SyncFailure};
use crate::report::SyncReport;

/// The longest an invocation waits for its last events: publishing must
/// not hold up a sync, whatever EventBridge does.
const FLUSH_AT_MOST: Duration = Duration::from_secs(2);

impl Trigger {
    /// The path that trigger's uploads take, as events name it.
    pub(super) fn path(self) -> SyncPath {
        match self {
            Trigger::Schedule => SyncPath::Scheduled,
            Trigger::Request => SyncPath::Admin,
        }
    }
}

impl SyncEngine {
    /// `rating` is at the marketplace under `remote_id` since `accepted`.
    pub(super) fn publish_synced(
        &self,
        run: &Run,
        rating: &Rating,
        remote_id: &str,
        accepted: DateTime<Utc>,
        freshness_seconds: Option<f64>,
    ) {
        self.events.emit(SyncEvent::RatingSynced(RatingSynced {
            rating_id: rating.id.clone(),
            skill_id: rating.skill_id.clone(),
            user_id: rating.user_id.clone(),
            remote_rating_id: remote_id.to_owned(),
            version: u64::try_from(rating.version).unwrap_or(0),
            freshness_seconds,
            path: run.path,
            synced_at: events::timestamp(accepted),
        }));
    }

    /// `failure` parked its rating at `at`.
    pub(super) fn publish_parked(&self, run: &Run, failure: &SyncFailure, at: DateTime<Utc>) {
        let (skill_id, user_id) = failure.rated.clone().unzip();
        self.events.emit(SyncEvent::RatingParked(RatingParked {
            rating_id: failure.rating_id.clone(),
            skill_id,
            user_id,
            error: failure.message.clone(),
            attempts: failure.attempts(),
            path: run.path,
            parked_at: events::timestamp(at),
        }));
    }

    /// `remote`, newer, replaced `local`.
    pub(super) fn publish_applied(
        &self,
        local: &Rating,
        remote: &RemoteRating,
        remote_time: DateTime<Utc>,
        source: AppliedFrom,
    ) {
        let Ok(stars) = u8::try_from(remote.rating) else {
            return;
        };
        self.events
            .emit(SyncEvent::RemoteRatingApplied(RemoteRatingApplied {
                rating_id: local.id.clone(),
                skill_id: local.skill_id.clone(),
                user_id: local.user_id.clone(),
                remote_rating_id: Some(remote.id.clone()),
                rating: stars,
                remote_updated_at: events::timestamp(remote_time),
                source,
                applied_at: events::timestamp(Utc::now()),
            }));
    }

    /// The run is over: its report, as an event.
    pub(super) fn publish_run(&self, trigger: Trigger, report: &SyncReport) {
        let trigger = match trigger {
            Trigger::Schedule => "scheduled",
            Trigger::Request => "admin",
        };
        self.events
            .emit(SyncEvent::SyncRunCompleted(SyncRunCompleted {
                run_id: report.run_id.clone(),
                trigger: trigger.to_owned(),
                success: report.success,
                uploaded: report.uploaded,
                created: report.created,
                updated: report.updated,
                failed: report.failed,
                parked: report.parked,
                pulled: report.pulled,
                conflicts: report.conflicts,
                skipped: report.skipped,
                pending_count: report.pending_count,
                duration_ms: report.duration_ms,
                stopped_early: report.stopped_early.clone(),
                error: report.error.clone(),
                finished_at: report.finished_at.clone(),
            }));
    }

    /// Sends the events still buffered and waits for the sends in flight,
    /// at most [`FLUSH_AT_MOST`] and never past the run's deadline; puts
    /// the counts so far in `report`.
    pub(super) async fn flush_events(&self, run: &Run, report: &mut SyncReport) {
        if !self.events.is_enabled() {
            return;
        }
        let by = (Instant::now() + FLUSH_AT_MOST).min(run.flush_by);
        let counts = self.events.flush(by).await;
        report.events_published = counts.published.saturating_sub(run.events_before.published);
        report.events_failed = counts.failed.saturating_sub(run.events_before.failed);
        if report.events_failed > 0 {
            info!(
                events_published = report.events_published,
                events_failed = report.events_failed,
                "some events could not be published"
            );
        }
    }
}
