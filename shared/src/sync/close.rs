//! How the uploads of a push or a fast-path batch end, and how the report
//! of a run or a batch is closed: one way for every path, so that a report
//! field means the same whichever path filled it in.
//!
//! [`SyncEngine::settle`] takes the transient failures the window
//! collected. If the breaker opened, they are not recorded (an outage is
//! not these ratings' fault; they stay pending) and the report says so as
//! its error; if the marketplace asked for a pause past the deadline, they
//! stay pending too, without an error; else they are recorded (waiting,
//! with backoff, or parked), up to `max_concurrency` at once. A run that
//! lost its lease reports that as its error.
//!
//! [`SyncEngine::close`] then finishes the report: DynamoDB's failure as
//! its error, success, the summary, times, freshness, the events flushed
//! and the DynamoDB requests counted. A run that holds the lease also
//! records its outcome for the alarms and publishes its report as an event.

use chrono::Utc;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::outcome::{summary, tally, Outcome};
use super::run::Run;
use super::{SyncEngine, Trigger};
use crate::rating::SyncFailure;
use crate::report::SyncReport;
use crate::store::requests::{RequestCount, RequestCounter};
use crate::store::timestamp;

/// Where a run or a batch started: its time and the DynamoDB requests
/// counted so far.
pub(super) struct Meter {
    clock: Instant,
    requests_before: Option<RequestCount>,
}

impl SyncEngine {
    /// Starts measuring a run or a batch.
    pub(super) fn meter(&self) -> Meter {
        Meter {
            clock: Instant::now(),
            requests_before: self.requests.as_ref().map(RequestCounter::now),
        }
    }

    /// Records the `transient` failures of the uploads just ended, each
    /// with a key of the caller's, or leaves them pending if no request of
    /// this run could succeed. The keys of the ratings left as they were
    /// (not recorded) are answered.
    pub(super) async fn settle<K>(
        &self,
        run: &Run,
        report: &mut SyncReport,
        transient: Vec<(K, SyncFailure)>,
    ) -> Vec<K> {
        let mut left = Vec::new();
        if let Some(reason) = run.delivery.breaker_reason() {
            // An outage is not a fault of these ratings: they stay pending.
            report.breaker_open = true;
            report.skipped += transient.len() as u64;
            report.stopped_early = Some(reason.clone());
            report.error = Some(reason);
            left.extend(transient.into_iter().map(|(key, _)| key));
        } else if let Some(reason) = run.delivery.stop_reason() {
            // The marketplace asked for a pause past the deadline: not an
            // error, and not these ratings' fault either.
            report.skipped += transient.len() as u64;
            report.stopped_early = Some(reason);
            left.extend(transient.into_iter().map(|(key, _)| key));
        } else {
            let mut recording = FuturesUnordered::new();
            let mut done = |(key, outcome): (K, Outcome)| {
                if matches!(outcome, Outcome::Skipped) {
                    left.push(key);
                }
                tally(report, outcome);
            };
            for (key, failure) in transient {
                recording.push(async move { (key, self.record_failure(run, failure).await) });
                if recording.len() >= self.settings.max_concurrency {
                    if let Some(recorded) = recording.next().await {
                        done(recorded);
                    }
                }
            }
            while let Some(recorded) = recording.next().await {
                done(recorded);
            }
        }
        if run.is_fenced() {
            let reason = "Lost the run lease to another run".to_owned();
            report.stopped_early = Some(reason.clone());
            report.error = Some(reason);
        }
        left
    }

    /// Finishes `report` as measured by `meter`. `lease`: the trigger of a
    /// run that held the lease, whose outcome is recorded (unless it lost
    /// the lease) and published.
    pub(super) async fn close(
        &self,
        run: &Run,
        report: &mut SyncReport,
        meter: Meter,
        lease: Option<Trigger>,
    ) {
        run.report_store_failure(report);
        report.success = report.error.is_none();
        report.message = summary(report);
        report.finished_at = timestamp(Utc::now());
        report.duration_ms = u64::try_from(meter.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        report.freshness_seconds = run.take_freshness();
        if let Some(trigger) = lease {
            if !run.is_fenced() {
                // A run that lost its lease writes nothing more; the run
                // that took over records its own outcome.
                self.record_outcome(run, trigger, report).await;
            }
            self.publish_run(trigger, report);
        }
        self.flush_events(run, report).await;
        // A run's report's own write is the one request not counted.
        report.dynamodb_requests = self
            .requests
            .as_ref()
            .zip(meter.requests_before)
            .map(|(counter, before)| counter.now() - before);
    }
}
