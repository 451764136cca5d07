//! The push: the work of a run read page after page from two sparse
//! indexes (failures due for a retry first, then the backlog, oldest first)
//! and kept flowing through the [window](super::window) of uploads in
//! flight, which spans page boundaries: the next page is read while uploads
//! go on. The transient failures are settled at the end (see
//! [`close`](super::close)). The fast path sends its batch through the
//! same [`SyncEngine::upload_all`], as a first page with none after it.

use std::collections::VecDeque;

use super::outcome::{tally, Outcome};
use super::run::Run;
use super::window::{Finished, Window};
use super::SyncEngine;
use crate::rating::PendingRating;
use crate::report::SyncReport;
use crate::store::{PageKey, WorkSource};

/// A page of work, and where the next one starts.
type Page = Result<(Vec<PendingRating>, Option<PageKey>), Outcome>;

/// Where the work pages of a run are read next: which index, and where in
/// it; `None` once both are read.
pub(super) type Cursor = Option<(WorkSource, Option<PageKey>)>;

/// Where a run's work starts: failures due for a retry, from the top.
pub(super) const FROM_THE_TOP: Cursor = Some((WorkSource::DueRetries, None));

impl SyncEngine {
    /// Streams the work through the window of uploads, then settles the
    /// transient failures.
    pub(super) async fn push(&self, run: &Run, report: &mut SyncReport) {
        self.upload_all(run, report, Vec::new(), FROM_THE_TOP).await;
    }

    /// Uploads `first`, then the work pages from `cursor` on (none:
    /// `first` is all), through the window, tallying what became of each
    /// rating; then settles the transient failures. Answers the place of
    /// each rating left as it was (not started, changed meanwhile, or left
    /// pending when settled), counted in the order met: `first`, then the
    /// pages.
    pub(super) async fn upload_all(
        &self,
        run: &Run,
        report: &mut SyncReport,
        first: Vec<PendingRating>,
        mut cursor: Cursor,
    ) -> Vec<usize> {
        let mut window = Window::new(&self.settings);
        let mut met = first.len();
        let mut queue: VecDeque<(usize, PendingRating)> = first.into_iter().enumerate().collect();
        // The next page, read while uploads are in flight.
        let mut fetch = None;
        let mut transient = Vec::new();
        let mut left = Vec::new();
        loop {
            while window.has_room() {
                let Some((at, pending)) = queue.pop_front() else {
                    break;
                };
                if run.may_start() {
                    let upload = self.sync_one(run, pending);
                    window.start(async move { (at, upload.await) });
                } else {
                    left.push(at);
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
                None => break,
                Some(Finished::Work((at, outcome))) => match outcome {
                    Outcome::TransientFailure(failure) => transient.push((at, failure)),
                    outcome @ (Outcome::NotStarted | Outcome::Skipped) => {
                        left.push(at);
                        tally(report, outcome);
                    }
                    outcome => tally(report, outcome),
                },
                Some(Finished::Page((source, page))) => match page {
                    Ok((ratings, next)) => {
                        let count = ratings.len();
                        queue.extend((met..).zip(ratings));
                        met += count;
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
        left.extend(self.settle(run, report, transient).await);
        left
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
