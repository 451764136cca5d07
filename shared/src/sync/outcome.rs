//! What became of each rating in a run, tallied into the report, and how a
//! run ends: the backlog left, the lease released, the report closed (see
//! [`close`](super::close)) with the outcome recorded for the alarms, the
//! report stored and logged.

use chrono::Utc;
use tracing::{info, warn};

use super::close::Meter;
use super::run::Run;
use super::{SyncEngine, Trigger};
use crate::rating::{cut_message, SyncFailure};
use crate::report::{SyncReport, NOTHING_PENDING};
use crate::store::RunOutcome;

/// What became of one backlog entry in this run.
#[derive(Debug)]
pub(super) enum Outcome {
    Created,
    Updated,
    /// Accepted, but edited while in flight; pending again.
    ChangedDuringUpload,
    /// The marketplace had it already, saying the same: linked and synced.
    Linked,
    /// Took the values of a newer remote rating.
    Pulled,
    /// Local and remote agree; nothing to do.
    InSync,
    /// A pair that cannot be reconciled, and why.
    Unresolved(String),
    /// Recorded in the dead-letter table; `parked` if no run will retry it.
    Failed {
        parked: bool,
        message: String,
    },
    /// A transient failure, recorded when the run ends unless the breaker
    /// opened (then the rating simply stays pending).
    TransientFailure(SyncFailure),
    /// Left as it was: edited or deleted meanwhile, or its outcome could not
    /// be recorded.
    Skipped,
    /// Not started: the deadline is near, the breaker is open or the lease
    /// was lost. Still pending for the next run.
    NotStarted,
    /// Reading work failed or the run may not go on.
    Stop {
        reason: String,
        is_error: bool,
    },
}

impl SyncEngine {
    /// Ends a run that held the lease: counts the backlog left, gives the
    /// lease back, closes the report (recording the outcome) and stores
    /// and logs it.
    pub(super) async fn finish(
        &self,
        run: &Run,
        trigger: Trigger,
        report: &mut SyncReport,
        meter: Meter,
    ) {
        let counted = run
            .by_deadline("counting the backlog left", self.store.count_backlog())
            .await;
        match counted {
            Some(Ok(count)) => {
                report.pending_count = Some(count.pending + count.waiting);
                report.waiting_count = Some(count.waiting);
            }
            Some(Err(err)) => warn!(error = %err, "could not count the backlog left"),
            None => {}
        }
        self.release_lease(run).await;
        self.close(run, report, meter, Some(trigger)).await;
        let saved = run
            .by_deadline("storing the run report", self.store.save_report(report))
            .await;
        if let Some(Err(err)) = saved {
            warn!(error = %err, "could not store the run report");
        }
        log_report(report);
    }

    /// Records how the run ended in the health item and, for a scheduled
    /// run, puts the count of scheduled runs that failed in a row into the
    /// report (the no-successful-run alarm's metric). A success is 0 even if
    /// DynamoDB cannot take the write; a failure that cannot be recorded
    /// reports no count (its RunFailed metric still says it failed).
    pub(super) async fn record_outcome(
        &self,
        run: &Run,
        trigger: Trigger,
        report: &mut SyncReport,
    ) {
        let outcome = match (report.success, trigger) {
            (true, _) => RunOutcome::Succeeded,
            (false, Trigger::Schedule) => RunOutcome::ScheduledRunFailed,
            (false, Trigger::Request) => RunOutcome::RequestedRunFailed,
        };
        let recorded = run
            .by_deadline(
                "recording the run's outcome",
                self.store.record_run_outcome(outcome, Utc::now()),
            )
            .await;
        if let Some(Err(err)) = &recorded {
            warn!(error = %err, "could not record the run's outcome");
        }
        if trigger == Trigger::Schedule {
            report.consecutive_failed_runs = match (report.success, recorded) {
                (true, _) => Some(0),
                (false, Some(Ok(health))) => Some(health.consecutive_failed_runs),
                (false, _) => None,
            };
        }
    }
}

pub(super) fn tally(report: &mut SyncReport, outcome: Outcome) {
    match outcome {
        Outcome::Created => {
            report.created += 1;
            report.uploaded += 1;
        }
        Outcome::Updated => {
            report.updated += 1;
            report.uploaded += 1;
        }
        Outcome::ChangedDuringUpload => {
            report.changed_during_upload += 1;
            report.uploaded += 1;
        }
        Outcome::Linked => report.uploaded += 1,
        Outcome::Pulled => report.pulled += 1,
        Outcome::InSync => {}
        Outcome::Unresolved(reason) => {
            if report.resolution_skips.len() < 20 {
                report.resolution_skips.push(cut_message(reason));
            }
        }
        Outcome::Failed { parked, .. } => {
            report.failed += 1;
            report.parked += u64::from(parked);
        }
        Outcome::Skipped => report.skipped += 1,
        Outcome::NotStarted => {
            report.skipped += 1;
            report
                .stopped_early
                .get_or_insert_with(|| "Deadline reached".into());
        }
        // Every path settles these first (see `close.rs`): recorded, they
        // come back as `Failed`. One tallied as it is was left as it was.
        Outcome::TransientFailure(_) => report.skipped += 1,
        Outcome::Stop { reason, is_error } => {
            let reason = cut_message(reason);
            if is_error {
                report.error = Some(reason.clone());
            }
            report.stopped_early = Some(reason);
        }
    }
}

pub(super) fn summary(report: &SyncReport) -> String {
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
        "Uploaded {} of {} ratings ({} created, {} updated), {} failed ({} parked)",
        report.uploaded, seen, report.created, report.updated, report.failed, report.parked
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
        parked = report.parked,
        skipped = report.skipped,
        changed_during_upload = report.changed_during_upload,
        pending_count = report.pending_count,
        waiting_count = report.waiting_count,
        breaker_open = report.breaker_open,
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
    fn the_summary_says_when_there_was_nothing_to_do() {
        let mut report = SyncReport::default();
        assert_eq!(summary(&report), NOTHING_PENDING);
        report.uploaded = 2;
        report.created = 2;
        report.failed = 1;
        assert_eq!(
            summary(&report),
            "Uploaded 2 of 3 ratings (2 created, 0 updated), 1 failed (0 parked)"
        );
        report.error = Some("boom".into());
        assert_eq!(summary(&report), "Sync stopped: boom");
    }
}
