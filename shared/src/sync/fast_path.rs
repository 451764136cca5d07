//! The fast path: ratings uploaded seconds after they are written, from the
//! ratings table's stream, through the same per-rating path as a run.
//!
//! A batch of changes (one per stream record)
//! 1. keeps the last change of each rating: an earlier one is superseded;
//! 2. reads each rating as it is now, strongly consistent, and uploads only
//!    those still pending at the version the record carries. A record older
//!    than the item, one for a rating another path synced meanwhile, or one
//!    for a deleted rating needs nothing: the stream's image is never trusted
//!    over the table;
//! 3. uploads the rest through `sync_one`, the scheduled run's path: the
//!    same idempotency key, conditional mark-synced, error classes,
//!    dead-letter rules and parking, through the push's
//!    [window](super::window);
//! 4. settles and closes as a run does (see [`close`](super::close)): a
//!    transient failure is recorded (waiting, with backoff) unless the
//!    breaker opened (the batch's error: it does not succeed) or the
//!    marketplace asked for a pause; the report's fields mean what a run's
//!    mean;
//! 5. answers which records to deliver again: those not finished (the
//!    breaker opened, the deadline came, DynamoDB failed, the rating
//!    changed meanwhile). After the stream's retries the ratings are still
//!    pending in the table for the scheduled run.
//!
//! There is no lease: the fast path, a scheduled run and an admin's run may
//! meet on one rating. The idempotency key makes a second upload of one
//! version an answer from the marketplace's memory, not a second rating, and
//! a scheduled run leaves ratings younger than the grace period to the fast
//! path, so in normal operation each rating costs one request.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use tracing::{info, Instrument};

use super::run::Run;
use super::SyncEngine;
use crate::events::SyncPath;
use crate::report::SyncReport;
use crate::store::{pending_at, rating_from_item, Item};

/// One stream record that may need an upload: which rating, at which
/// version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The record's sequence number: what is answered if it must be
    /// delivered again.
    pub sequence_number: String,
    /// The rating's key.
    pub rating_id: String,
    /// The version the record's new image carries.
    pub version: i64,
}

/// What the fast path did with one batch.
#[derive(Debug, Default)]
pub struct FastPathReport {
    /// The tally, as a run reports it.
    pub report: SyncReport,
    /// Sequence numbers of the records to deliver again, in batch order.
    pub retry: Vec<String>,
    /// Records that needed no upload: superseded, synced meanwhile, not
    /// pending, or deleted.
    pub ignored: u64,
}

impl SyncEngine {
    /// Uploads the ratings of `changes` that need it, by `deadline`.
    pub async fn sync_changes(&self, changes: &[Change], deadline: SystemTime) -> FastPathReport {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("fast_path", run_id = %run_id);
        Box::pin(
            self.sync_changes_with_id(run_id, changes, deadline)
                .instrument(span),
        )
        .await
    }

    async fn sync_changes_with_id(
        &self,
        run_id: String,
        changes: &[Change],
        deadline: SystemTime,
    ) -> FastPathReport {
        let meter = self.meter();
        let run = Run::new(run_id, self, deadline, SyncPath::FastPath);
        let mut out = FastPathReport {
            report: run.report(),
            ..FastPathReport::default()
        };
        let latest = latest_per_rating(changes);
        out.ignored = (changes.len() - latest.len()) as u64;
        let ids: Vec<String> = latest.iter().map(|c| c.rating_id.clone()).collect();
        let left: HashSet<&str> = match self.store.current_ratings(&ids).await {
            Ok(current) => {
                let due: Vec<(&Change, &Item)> = latest
                    .iter()
                    .filter_map(|change| {
                        let item = current.get(&change.rating_id)?;
                        pending_at(item, change.version).then_some((*change, item))
                    })
                    .collect();
                out.ignored += (latest.len() - due.len()) as u64;
                let ratings = due.iter().map(|(_, item)| rating_from_item(item)).collect();
                // As the push does, with the batch as its only page.
                let left = self.upload_all(&run, &mut out.report, ratings, None).await;
                self.register_skills_once(&run).await;
                let at = |place: usize| {
                    due.get(place)
                        .map(|(change, _)| change.sequence_number.as_str())
                };
                left.into_iter().filter_map(at).collect()
            }
            Err(err) => {
                out.report.error = Some(err.logged("Could not read the ratings of a stream batch"));
                latest.iter().map(|c| c.sequence_number.as_str()).collect()
            }
        };
        // Not finished: delivered again (in the order the stream reads
        // them), then read from the table.
        out.retry = changes
            .iter()
            .filter(|change| left.contains(change.sequence_number.as_str()))
            .map(|change| change.sequence_number.clone())
            .collect();
        self.close(&run, &mut out.report, meter, None).await;
        log_batch(&out, changes.len());
        out
    }
}

/// Logs what became of a batch of `received` records.
fn log_batch(out: &FastPathReport, received: usize) {
    let report = &out.report;
    let requests = report.dynamodb_requests.unwrap_or_default();
    info!(
        received,
        ignored = out.ignored,
        uploaded = report.uploaded,
        failed = report.failed,
        parked = report.parked,
        retry = out.retry.len(),
        breaker_open = report.breaker_open,
        dynamodb_reads = requests.reads,
        dynamodb_writes = requests.writes,
        duration_ms = report.duration_ms,
        "{}",
        report.message
    );
}

/// The last change of each rating in `changes`, in batch order.
fn latest_per_rating(changes: &[Change]) -> Vec<&Change> {
    let last: HashMap<&str, usize> = changes
        .iter()
        .enumerate()
        .map(|(at, change)| (change.rating_id.as_str(), at))
        .collect();
    changes
        .iter()
        .enumerate()
        .filter(|(at, change)| last.get(change.rating_id.as_str()) == Some(at))
        .map(|(_, change)| change)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: &str, id: &str, version: i64) -> Change {
        Change {
            sequence_number: seq.into(),
            rating_id: id.into(),
            version,
        }
    }

    #[test]
    fn only_the_last_change_of_a_rating_counts() {
        let changes = [
            change("1", "a", 1),
            change("2", "b", 1),
            change("3", "a", 2),
        ];
        let latest: Vec<&str> = latest_per_rating(&changes)
            .iter()
            .map(|c| c.sequence_number.as_str())
            .collect();
        assert_eq!(latest, ["2", "3"]);
    }
}
