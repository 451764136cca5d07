//! The push: the work of a run read page after page from two sparse
//! indexes (failures due for a retry first, then the backlog, oldest first)
//! and kept flowing through the [window](super::window) of uploads in
//! flight, which spans page boundaries: the next page is read while uploads
//! go on. The transient failures are settled at the end (see
//! [`close`](super::close)).

use std::collections::VecDeque;

use super::outcome::{tally, Outcome};
use super::run::Run;
use super::window::{Finished, Window};
use super::SyncEngine;
use crate::rating::{PendingRating, SyncFailure};
use crate::report::SyncReport;
use crate::store::{PageKey, WorkSource};

/// A page of work, and where the next one starts.
type Page = Result<(Vec<PendingRating>, Option<PageKey>), Outcome>;

impl SyncEngine {
    /// Streams the work through the window of uploads, then settles the
    /// transient failures.
    pub(super) async fn push(&self, run: &Run, report: &mut SyncReport) {
        let transient = self.upload_work(run, report).await;
        let keyed = transient.into_iter().map(|failure| ((), failure)).collect();
        self.settle(run, report, keyed).await;
    }

    /// Uploads the work, page after page, tallying what became of each
    /// rating; the transient failures are answered, not recorded.
    async fn upload_work(&self, run: &Run, report: &mut SyncReport) -> Vec<SyncFailure> {
        let mut window = Window::new(&self.settings);
        let mut queue: VecDeque<PendingRating> = VecDeque::new();
        // Which index, and where in it; `None` once both are read.
        let mut cursor = Some((WorkSource::DueRetries, None::<PageKey>));
        // The next page, read while uploads are in flight.
        let mut fetch = None;
        let mut transient = Vec::new();
        loop {
            while window.has_room() {
                let Some(pending) = queue.pop_front() else {
                    break;
                };
                if run.may_start() {
                    window.start(self.sync_one(run, pending));
                } else {
                    tally(report, Outcome::NotStarted);
                }
            }
            if fetch.is_none() && queue.is_empty() {
                if let Some((source, after)) = cursor.take() {
                    fetch = Some(Box::pin(async move {
                        (source, self.next_page(run, source, after).await)
                    }));
                }
            }
            match window.next_beside(&mut fetch).await {
                None => return transient,
                Some(Finished::Work(Outcome::TransientFailure(failure))) => transient.push(failure),
                Some(Finished::Work(outcome)) => tally(report, outcome),
                Some(Finished::Page((source, page))) => match page {
                    Ok((ratings, next)) => {
                        queue.extend(ratings);
                        cursor = match (next, source) {
                            (Some(key), _) => Some((source, Some(key))),
                            (None, WorkSource::DueRetries) => Some((WorkSource::Backlog, None)),
                            (None, WorkSource::Backlog) => None,
                        };
                    }
                    Err(outcome) => tally(report, outcome),
                },
            }
        }
    }

    /// The next page of work, after checking that this run may go on.
    async fn next_page(&self, run: &Run, source: WorkSource, after: Option<PageKey>) -> Page {
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
