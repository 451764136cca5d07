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
//!    dead-letter rules and parking, with the same in-flight window;
//! 4. answers which records to deliver again: those not finished (the
//!    breaker opened, the deadline came, DynamoDB failed). A transient
//!    failure is recorded as a run records it (waiting, with backoff), unless
//!    the breaker opened or the marketplace asked for a pause: then the
//!    records are retried by the stream, and after its retries the ratings
//!    are still pending in the table for the scheduled run.
//!
//! There is no lease: the fast path, a scheduled run and an admin's run may
//! meet on one rating. The idempotency key makes a second upload of one
//! version an answer from the marketplace's memory, not a second rating, and
//! a scheduled run leaves ratings younger than the grace period to the fast
//! path, so in normal operation each rating costs one request.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::SystemTime;

use chrono::Utc;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use tracing::{info, warn, Instrument};

use super::outcome::{summary, tally, Outcome};
use super::run::Run;
use super::SyncEngine;
use crate::events::SyncPath;
use crate::report::SyncReport;
use crate::store::requests::RequestCounter;
use crate::store::{pending_at, rating_from_item, timestamp, Item};

/// Skills the fast path remembers having registered for the pull; past
/// this many it forgets them all and registers again (harmless).
const REMEMBERED_SKILLS: usize = 10_000;

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

/// Skills the fast path has registered for the pull, kept across the
/// invocations of one process so that each costs one write per process.
#[derive(Debug, Default)]
pub(super) struct RegisteredSkills(Mutex<HashSet<String>>);

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
        let clock = Instant::now();
        let requests_before = self.requests.as_ref().map(RequestCounter::now);
        let run = Run::new(run_id, self, deadline, SyncPath::FastPath);
        let mut out = FastPathReport {
            report: run.report(),
            ..FastPathReport::default()
        };
        let latest = latest_per_rating(changes);
        out.ignored = (changes.len() - latest.len()) as u64;
        let ids: Vec<String> = latest.iter().map(|c| c.rating_id.clone()).collect();
        match self.store.current_ratings(&ids).await {
            Ok(current) => {
                let due: Vec<(&Change, &Item)> = latest
                    .iter()
                    .filter_map(|change| {
                        let item = current.get(&change.rating_id)?;
                        pending_at(item, change.version).then_some((*change, item))
                    })
                    .collect();
                out.ignored += (latest.len() - due.len()) as u64;
                self.upload_changes(&run, due, &mut out).await;
                self.register_skills_once(&run).await;
            }
            Err(err) => {
                let reason = err.logged("Could not read the ratings of a stream batch");
                out.retry = latest.iter().map(|c| c.sequence_number.clone()).collect();
                out.report.error = Some(reason);
            }
        }
        // In batch order, as the stream reads them.
        let position: HashMap<&str, usize> = changes
            .iter()
            .enumerate()
            .map(|(at, change)| (change.sequence_number.as_str(), at))
            .collect();
        out.retry
            .sort_by_key(|sequence_number| position.get(sequence_number.as_str()).copied());
        let report = &mut out.report;
        run.report_store_failure(report);
        report.success = report.error.is_none();
        report.message = summary(report);
        report.finished_at = timestamp(Utc::now());
        report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        report.freshness_seconds = run.take_freshness();
        self.flush_events(&run, report).await;
        report.dynamodb_requests = self
            .requests
            .as_ref()
            .zip(requests_before)
            .map(|(counter, before)| counter.now() - before);
        let requests = report.dynamodb_requests.unwrap_or_default();
        info!(
            received = changes.len(),
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
        out
    }

    /// Uploads `due` with up to twice `max_concurrency` in flight (as the
    /// push does), then records the transient failures, or leaves them to
    /// the stream's retries if no request of this batch can succeed.
    async fn upload_changes(
        &self,
        run: &Run,
        due: Vec<(&Change, &Item)>,
        out: &mut FastPathReport,
    ) {
        let room = self.settings.max_concurrency * 2;
        let mut queue = due.into_iter();
        let mut in_flight = FuturesUnordered::new();
        let mut transient = Vec::new();
        loop {
            while in_flight.len() < room {
                let Some((change, item)) = queue.next() else {
                    break;
                };
                if run.may_start() {
                    let upload = self.sync_one(run, rating_from_item(item));
                    in_flight.push(async move { (change, upload.await) });
                } else {
                    out.retry.push(change.sequence_number.clone());
                    tally(&mut out.report, Outcome::NotStarted);
                }
            }
            let Some((change, outcome)) = in_flight.next().await else {
                break;
            };
            match outcome {
                Outcome::TransientFailure(failure) => transient.push((change, failure)),
                // Not finished: delivered again, then read from the table.
                outcome @ (Outcome::NotStarted | Outcome::Skipped) => {
                    out.retry.push(change.sequence_number.clone());
                    tally(&mut out.report, outcome);
                }
                outcome => tally(&mut out.report, outcome),
            }
        }

        let gate = &run.delivery;
        if let Some(reason) = gate.breaker_reason().or_else(|| gate.stop_reason()) {
            // An outage or a pause: not these ratings' fault. The stream
            // delivers them again; the table keeps them pending.
            out.report.breaker_open = gate.breaker_reason().is_some();
            out.report.stopped_early = Some(reason);
            out.report.skipped += transient.len() as u64;
            out.retry.extend(
                transient
                    .into_iter()
                    .map(|(c, _)| c.sequence_number.clone()),
            );
        } else {
            for (change, failure) in transient {
                match self.record_failure(run, failure).await {
                    Outcome::Skipped => {
                        out.retry.push(change.sequence_number.clone());
                        tally(&mut out.report, Outcome::Skipped);
                    }
                    outcome => tally(&mut out.report, outcome),
                }
            }
        }
    }

    /// Registers for the pull the skills synced in this batch that this
    /// process has not registered yet.
    async fn register_skills_once(&self, run: &Run) {
        let synced =
            std::mem::take(&mut *run.synced_skills.lock().unwrap_or_else(|e| e.into_inner()));
        let new: BTreeSet<String> = {
            let known = self
                .registered_skills
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            synced
                .into_iter()
                .filter(|skill| !known.contains(skill))
                .collect()
        };
        if new.is_empty() {
            return;
        }
        match self.store.register_skills(&new).await {
            Ok(()) => {
                let mut known = self
                    .registered_skills
                    .0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if known.len() + new.len() > REMEMBERED_SKILLS {
                    known.clear();
                }
                known.extend(new);
            }
            Err(err) => {
                warn!(error = %err, "could not register the skills synced by the fast path")
            }
        }
    }
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
