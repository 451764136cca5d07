//! The push: the work of a run read page after page from two sparse
//! indexes (failures due for a retry first, then the backlog, oldest first)
//! and kept flowing through a window of uploads in flight that spans page
//! boundaries; the next page is read while uploads go on.

use std::collections::VecDeque;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::outcome::{tally, Outcome};
use super::run::Run;
use super::SyncEngine;
use crate::rating::PendingRating;
use crate::report::SyncReport;
use crate::store::{PageKey, WorkSource};

impl SyncEngine {
    /// Streams the work through at most `max_concurrency` uploads, then
    /// records the transient failures.
    pub(super) async fn push(&self, run: &Run, report: &mut SyncReport) {
        // Twice the request cap: while some ratings are being recorded in
        // DynamoDB, others keep every marketplace slot busy. The gate holds
        // marketplace requests to the cap itself.
        let room = self.settings.max_concurrency * 2;
        let mut in_progress = FuturesUnordered::new();
        let mut queue: VecDeque<PendingRating> = VecDeque::new();
        // Which index, and where in it; `None` once both are read.
        let mut cursor = Some((WorkSource::DueRetries, None::<PageKey>));
        // The next page is read while uploads are in flight.
        let mut fetch = None;
        let mut transient = Vec::new();
        loop {
            while in_progress.len() < room {
                let Some(pending) = queue.pop_front() else {
                    break;
                };
                if run.may_start() {
                    in_progress.push(self.sync_one(run, pending));
                } else {
                    tally(report, Outcome::NotStarted);
                }
            }
            if fetch.is_none() && queue.is_empty() {
                if let Some((source, after)) = cursor.take() {
                    fetch = Some((source, Box::pin(self.next_page(run, source, after))));
                }
            }
            if fetch.is_none() && in_progress.is_empty() {
                break;
            }
            let page = async {
                match fetch.as_mut() {
                    Some((_, page)) => page.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(outcome) = in_progress.next(), if !in_progress.is_empty() => match outcome {
                    Outcome::TransientFailure(failure) => transient.push(failure),
                    outcome => tally(report, outcome),
                },
                page = page => {
                    let source = fetch.take().map(|(source, _)| source);
                    match (page, source) {
                        (Ok((ratings, next)), Some(source)) => {
                            queue.extend(ratings);
                            cursor = match (next, source) {
                                (Some(key), _) => Some((source, Some(key))),
                                (None, WorkSource::DueRetries) => Some((WorkSource::Backlog, None)),
                                (None, WorkSource::Backlog) => None,
                            };
                        }
                        (Err(outcome), _) => tally(report, outcome),
                        (Ok(_), None) => {}
                    }
                }
            }
        }

        if let Some(reason) = run.delivery.breaker_reason() {
            // An outage is not a fault of these ratings: they stay pending.
            report.breaker_open = true;
            report.skipped += transient.len() as u64;
            report.stopped_early = Some(reason.clone());
            report.error = Some(reason);
        } else if let Some(reason) = run.delivery.stop_reason() {
            // The marketplace asked for a pause past the deadline: not an
            // error, and not these ratings' fault either.
            report.skipped += transient.len() as u64;
            report.stopped_early = Some(reason);
        } else {
            let mut recording = FuturesUnordered::new();
            for failure in transient {
                recording.push(self.record_failure(run, failure));
                if recording.len() >= self.settings.max_concurrency {
                    if let Some(outcome) = recording.next().await {
                        tally(report, outcome);
                    }
                }
            }
            while let Some(outcome) = recording.next().await {
                tally(report, outcome);
            }
        }
        if run.is_fenced() {
            let reason = "Lost the run lease to another run".to_owned();
            report.stopped_early = Some(reason.clone());
            report.error = Some(reason);
        }
    }

    /// The next page of work, after checking that this run may go on.
    async fn next_page(
        &self,
        run: &Run,
        source: WorkSource,
        after: Option<PageKey>,
    ) -> Result<(Vec<PendingRating>, Option<PageKey>), Outcome> {
        if !run.may_start() {
            // Why is said when the run ends (deadline, breaker or lease).
            return Err(Outcome::NotStarted);
        }
        let page = self
            .store
            .work_page(
                source,
                after,
                self.settings.batch_size,
                run.started,
                run.backlog_before,
            )
            .await
            .map_err(|err| Outcome::Stop {
                reason: err.logged("Could not read the work to do"),
                is_error: true,
            })?;
        Ok((page.ratings, page.next))
    }
}
