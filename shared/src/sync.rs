//! The sync engine: one run drains the work of local ratings into the Atom
//! SaaS marketplace.
//!
//! A run
//! 1. takes the run lease, or answers "Sync already in progress" having
//!    touched nothing: two runs never upload the same rating at once. It
//!    renews the lease while it works; a run that dies blocks the next for at
//!    most `lease_ttl`, and a run that loses its lease writes nothing more;
//! 2. reads its work through two sparse indexes, failed ratings whose next
//!    attempt is due first, then the backlog of new and edited ratings, oldest
//!    first, page after page, with up to `max_concurrency` uploads in flight
//!    across page boundaries: one run drains thousands of ratings;
//! 3. sends every upload through the [`Delivery`] gate (retries, backoff,
//!    rate limits, circuit breaker) and stops starting uploads when the
//!    invocation's deadline is near, so every rating it began is recorded;
//! 4. records failures: a permanent one parks the rating at once; a
//!    transient one makes it wait for a later run, with exponential backoff,
//!    and parks it after `max_attempts`. If the breaker opened, transient
//!    failures are not recorded at all: the ratings stay pending, and the
//!    dead-letter table holds real problems, not an outage;
//! 5. releases the lease and reports.
//!
//! Each rating ends the run synced, still pending (or waiting), or with its
//! error in the dead-letter table: nothing is dropped. Uploads carry an
//! idempotency key made of the rating's id and version, so a rating that was
//! accepted but not recorded (a crash, a timeout, a DynamoDB error) is
//! answered from the marketplace's memory on the next attempt instead of
//! being created twice.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{error, info, warn, Instrument};

use crate::config::SyncSettings;
use crate::conflict::{
    resolve, Conflict, Listed, RemoteRating, Resolution, LOCAL_WINS, REMOTE_WINS,
};
use crate::delivery::{Delivered, Delivery};
use crate::marketplace::{MarketplaceClient, MarketplaceError, RatingUpload};
use crate::metrics::RequestCounter;
use crate::rating::{PendingRating, Rating, SyncFailure, SyncState};
use crate::report::{SyncReport, NOTHING_PENDING};
use crate::store::{
    timestamp, Disposition, FailureRecorded, LeaseOutcome, MarkOutcome, PageKey, RunOutcome, Store,
    WorkSource,
};

/// The work budget of a run whose runtime gave no usable deadline.
pub const FALLBACK_RUN_BUDGET: Duration = Duration::from_secs(120);

/// The deadline a run works to, from the one the Lambda runtime gave.
///
/// Lambda always gives a deadline in the future. A Runtime API emulator may
/// not: `cargo lambda watch` sends a constant that reads as 1970. A deadline
/// already passed when the invocation starts is therefore taken as "none
/// given", and the run gets [`FALLBACK_RUN_BUDGET`] instead of doing nothing.
pub fn run_deadline(given: SystemTime, now: SystemTime) -> SystemTime {
    if given > now {
        given
    } else {
        tracing::warn!(
            budget_seconds = FALLBACK_RUN_BUDGET.as_secs(),
            "the runtime gave a deadline in the past; using the fallback budget"
        );
        now + FALLBACK_RUN_BUDGET
    }
}

/// The lease every sync run takes, whichever function started it.
pub const LEASE_NAME: &str = "rating-sync";

pub struct SyncEngine {
    store: Store,
    marketplace: MarketplaceClient,
    settings: SyncSettings,
    requests: Option<RequestCounter>,
}

/// What one run shares between its uploads.
struct Run {
    id: String,
    started: DateTime<Utc>,
    /// Knows the deadline: nothing is sent or started past it.
    delivery: Delivery,
    /// Set when the lease is lost: nothing more may be written.
    fenced: AtomicBool,
    /// Skills of the ratings synced in this run, registered for the pull.
    synced_skills: Mutex<BTreeSet<String>>,
    /// Conflicts resolved and logged.
    conflicts: AtomicU64,
}

impl Run {
    fn may_start(&self) -> bool {
        !self.fenced.load(Ordering::SeqCst) && self.delivery.may_send()
    }
}

/// What became of one backlog entry in this run.
#[derive(Debug)]
enum Outcome {
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

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The schedule (the scheduled function).
    Schedule,
    /// An admin (the admin sync endpoint).
    Request,
}

/// What an admin retry of one rating did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingRetry {
    /// There is no such rating (any more).
    RatingGone,
    /// Uploaded and marked synced; its dead-letter item is gone.
    Synced { remote_id: String },
    /// Uploaded, but edited meanwhile: pending again, with the edit.
    ChangedMeanwhile,
    /// Not uploaded; recorded as a failed attempt, with this error.
    Failed { error: String },
}

impl SyncEngine {
    pub fn new(store: Store, marketplace: MarketplaceClient, settings: SyncSettings) -> Self {
        Self {
            store,
            marketplace,
            settings,
            requests: None,
        }
    }

    /// Reports the DynamoDB requests of each run, as counted by `counter`
    /// (installed in the store's client).
    pub fn counting_requests_with(mut self, counter: RequestCounter) -> Self {
        self.requests = Some(counter);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs one sync that must be done by `deadline` (the Lambda
    /// invocation's deadline; the configured margin is kept free).
    ///
    /// This is the scheduled run: a failure counts towards the
    /// no-successful-run alarm (see [`crate::store::RunOutcome`]).
    pub async fn run(&self, deadline: SystemTime) -> SyncReport {
        let nothing = async { Ok::<_, Infallible>(()) };
        let Ok((report, _)) = self.run_for(Trigger::Schedule, deadline, nothing).await;
        report
    }

    /// The same run, asked for by an admin: its success resets the count of
    /// failed scheduled runs, its failure is not counted.
    pub async fn run_on_request(&self, deadline: SystemTime) -> SyncReport {
        let nothing = async { Ok::<_, Infallible>(()) };
        let Ok((report, _)) = self.run_for(Trigger::Request, deadline, nothing).await;
        report
    }

    /// An admin's run that first does `prepare` (a re-push's requeue) while
    /// holding the run lease, so that of two such requests at once only one
    /// prepares and runs; the other finds the lease held and gets the
    /// [`ALREADY_RUNNING`](crate::report::ALREADY_RUNNING) report and `None`.
    /// If `prepare` fails, nothing is uploaded, no run is recorded or
    /// reported, the lease is released and the error returned.
    pub async fn run_on_request_after<T, E>(
        &self,
        deadline: SystemTime,
        prepare: impl Future<Output = Result<T, E>> + Send,
    ) -> Result<(SyncReport, Option<T>), E> {
        self.run_for(Trigger::Request, deadline, prepare).await
    }

    async fn run_for<T, E>(
        &self,
        trigger: Trigger,
        deadline: SystemTime,
        prepare: impl Future<Output = Result<T, E>> + Send,
    ) -> Result<(SyncReport, Option<T>), E> {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("sync_run", run_id = %run_id);
        self.run_with_id(run_id, trigger, deadline, prepare)
            .instrument(span)
            .await
    }

    async fn run_with_id<T, E>(
        &self,
        run_id: String,
        trigger: Trigger,
        deadline: SystemTime,
        prepare: impl Future<Output = Result<T, E>> + Send,
    ) -> Result<(SyncReport, Option<T>), E> {
        let requests_before = self.requests.as_ref().map(RequestCounter::now);
        let started = Utc::now();
        let clock = Instant::now();
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);

        match self
            .store
            .acquire_lease(LEASE_NAME, &run_id, self.lease_until(), started)
            .await
        {
            Ok(LeaseOutcome::Acquired) => {}
            Ok(LeaseOutcome::HeldBy { holder, until }) => {
                info!(
                    holder,
                    until, "another sync run holds the lease; nothing done"
                );
                // Not a failure of the sync: the run that holds the lease
                // records its own outcome.
                return Ok((
                    SyncReport::already_running(run_id, timestamp(started)),
                    None,
                ));
            }
            Err(err) => {
                let mut report = SyncReport {
                    run_id,
                    started_at: timestamp(started),
                    finished_at: timestamp(Utc::now()),
                    message: "Sync did not start".into(),
                    error: Some(err.logged("Could not take the run lease")),
                    ..SyncReport::default()
                };
                self.record_outcome(trigger, &mut report).await;
                return Ok((report, None));
            }
        }
        info!(
            seconds_to_deadline = remaining.as_secs(),
            "sync run started"
        );

        let stop_at = self.stop_at(deadline);
        let run = Run {
            id: run_id.clone(),
            started,
            delivery: Delivery::new(&self.settings, stop_at),
            fenced: AtomicBool::new(false),
            synced_skills: Mutex::default(),
            conflicts: AtomicU64::new(0),
        };
        let mut report = SyncReport {
            run_id: run_id.clone(),
            started_at: timestamp(started),
            ..SyncReport::default()
        };
        let done = Notify::new();
        let work = async {
            let prepared = prepare.await;
            if prepared.is_ok() {
                self.drain(&run, &mut report).await;
            }
            done.notify_one();
            prepared
        };
        let (prepared, ()) = tokio::join!(work, self.keep_lease(&run, &done));
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                self.release_lease(&run).await;
                return Err(err);
            }
        };

        match self.store.count_backlog().await {
            Ok(count) => {
                report.pending_count = Some(count.pending + count.waiting);
                report.waiting_count = Some(count.waiting);
            }
            Err(err) => warn!(error = %err, "could not count the backlog left"),
        }
        self.release_lease(&run).await;
        report.success = report.error.is_none();
        report.message = summary(&report);
        report.finished_at = timestamp(Utc::now());
        report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !run.fenced.load(Ordering::SeqCst) {
            // A run that lost its lease writes nothing more; the run that
            // took over records its own outcome.
            self.record_outcome(trigger, &mut report).await;
        }
        // The report's own write is the one request not counted.
        report.dynamodb_requests = self
            .requests
            .as_ref()
            .zip(requests_before)
            .map(|(counter, before)| counter.now() - before);
        if let Err(err) = self.store.save_report(&report).await {
            warn!(error = %err, "could not store the run report");
        }
        log_report(&report);
        Ok((report, Some(prepared)))
    }

    /// Gives the lease back, unless the run lost it.
    async fn release_lease(&self, run: &Run) {
        if !run.fenced.load(Ordering::SeqCst) {
            if let Err(err) = self.store.release_lease(LEASE_NAME, &run.id).await {
                // It expires by itself within lease_ttl.
                warn!(error = %err, "could not release the run lease");
            }
        }
    }

    /// Records how the run ended in the health item and, for a scheduled
    /// run, puts the count of scheduled runs that failed in a row into the
    /// report (the no-successful-run alarm's metric). A success is 0 even if
    /// DynamoDB cannot take the write; a failure that cannot be recorded
    /// reports no count (its RunFailed metric still says it failed).
    async fn record_outcome(&self, trigger: Trigger, report: &mut SyncReport) {
        let outcome = match (report.success, trigger) {
            (true, _) => RunOutcome::Succeeded,
            (false, Trigger::Schedule) => RunOutcome::ScheduledRunFailed,
            (false, Trigger::Request) => RunOutcome::RequestedRunFailed,
        };
        let recorded = self.store.record_run_outcome(outcome, Utc::now()).await;
        if let Err(err) = &recorded {
            warn!(error = %err, "could not record the run's outcome");
        }
        if trigger == Trigger::Schedule {
            report.consecutive_failed_runs = match (report.success, recorded) {
                (true, _) => Some(0),
                (false, Ok(health)) => Some(health.consecutive_failed_runs),
                (false, Err(_)) => None,
            };
        }
    }

    /// Uploads one rating now, whatever its state, parked ones included (the
    /// admin retry). It takes no lease: the conditional writes keep it from
    /// overwriting a run's work on the same rating, and the idempotency key
    /// keeps the two from creating it twice.
    pub async fn sync_rating_now(
        &self,
        rating_id: &str,
        deadline: SystemTime,
    ) -> Result<RatingRetry, crate::store::StoreError> {
        let Some(item) = self.store.rating_item(rating_id).await? else {
            return Ok(RatingRetry::RatingGone);
        };
        let stop_at = self.stop_at(deadline);
        let run = Run {
            id: format!("retry-{}", uuid::Uuid::new_v4()),
            started: Utc::now(),
            delivery: Delivery::new(&self.settings, stop_at),
            fenced: AtomicBool::new(false),
            synced_skills: Mutex::default(),
            conflicts: AtomicU64::new(0),
        };
        let pending = crate::store::rating_from_item(&item);
        let attempted = pending.as_ref().ok().cloned();
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
        Ok(match outcome {
            Outcome::Created
            | Outcome::Updated
            | Outcome::Linked
            | Outcome::Pulled
            | Outcome::InSync => {
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

    /// When a run bounded by `deadline` stops starting work: the deadline
    /// less the margin, on the monotonic clock (checked: a deadline from
    /// the runtime is outside data too).
    fn stop_at(&self, deadline: SystemTime) -> Instant {
        let now = Instant::now();
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .saturating_sub(self.settings.deadline_margin);
        now.checked_add(left)
            .or_else(|| now.checked_add(FALLBACK_RUN_BUDGET))
            .unwrap_or(now)
    }

    fn lease_until(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.settings.lease_ttl).unwrap_or_default()
    }

    /// Renews the lease every third of its lifetime until `done`; fences the
    /// run if the lease is lost, or if it could not be renewed for so long
    /// that another run may have taken it.
    async fn keep_lease(&self, run: &Run, done: &Notify) {
        let every = self.settings.lease_ttl / 3;
        let mut renewed_at = Instant::now();
        loop {
            tokio::select! {
                () = done.notified() => return,
                () = tokio::time::sleep(every) => {}
            }
            match self
                .store
                .renew_lease(LEASE_NAME, &run.id, self.lease_until())
                .await
            {
                Ok(true) => renewed_at = Instant::now(),
                Ok(false) => {
                    error!("lost the run lease to another run; writing nothing more");
                    run.fenced.store(true, Ordering::SeqCst);
                    return;
                }
                Err(err) => {
                    warn!(error = %err, "could not renew the run lease");
                    if renewed_at.elapsed() + every >= self.settings.lease_ttl {
                        error!("the run lease may have expired; writing nothing more");
                        run.fenced.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }
    }

    /// Streams the work through at most `max_concurrency` uploads, then
    /// records the transient failures.
    async fn drain(&self, run: &Run, report: &mut SyncReport) {
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
        if run.fenced.load(Ordering::SeqCst) {
            let reason = "Lost the run lease to another run".to_owned();
            report.stopped_early = Some(reason.clone());
            report.error = Some(reason);
            return;
        }
        let skills =
            std::mem::take(&mut *run.synced_skills.lock().unwrap_or_else(|e| e.into_inner()));
        if let Err(err) = self.store.register_skills(&skills).await {
            warn!(error = %err, "could not register the skills synced in this run");
        }
        self.pull(run, report).await;
        report.conflicts = run.conflicts.load(Ordering::SeqCst);
    }

    /// Brings remote changes in: reads the remote ratings of a bounded number
    /// of skills, continuing where the last run stopped, and reconciles each
    /// synced local rating with its remote copy. Remote ratings of users
    /// with no local rating belong to other instances and are left alone.
    async fn pull(&self, run: &Run, report: &mut SyncReport) {
        let per_run = self.settings.pull_skills_per_run;
        if per_run == 0 || !run.may_start() {
            return;
        }
        let cursor = match self.store.pull_cursor().await {
            Ok(cursor) => cursor,
            Err(err) => {
                warn!(error = %err, "could not read the pull cursor; no pull this run");
                return;
            }
        };
        let (skills, more) = match self.store.skills_after(cursor.as_deref(), per_run).await {
            Ok(page) => page,
            Err(err) => {
                warn!(error = %err, "could not list the skills to pull; no pull this run");
                return;
            }
        };
        let mut done = cursor;
        let mut finished = true;
        for skill in skills {
            if !run.may_start() || !self.pull_skill(run, &skill, report).await {
                finished = false;
                break;
            }
            report.skills_pulled += 1;
            done = Some(skill);
        }
        // Every skill read: the next run starts again from the first.
        let next = if finished && !more { None } else { done };
        if run.fenced.load(Ordering::SeqCst) {
            return;
        }
        if let Err(err) = self.store.save_pull_cursor(next.as_deref()).await {
            warn!(error = %err, "could not save the pull cursor");
        }
    }

    /// Reconciles the synced local ratings of one skill; `false` if the skill
    /// could not be read and the pull should stop here.
    async fn pull_skill(&self, run: &Run, skill: &str, report: &mut SyncReport) -> bool {
        let remote = match run
            .delivery
            .send(|| self.marketplace.skill_ratings(skill))
            .await
        {
            Delivered::Accepted(remote) => remote,
            // Gone at the marketplace: nothing to pull.
            Delivered::Failed(MarketplaceError::UnknownSkill { .. }) => return true,
            Delivered::Failed(err) => {
                warn!(skill, error = %err, "could not read the skill's remote ratings");
                return false;
            }
            Delivered::NotSent => return false,
        };
        let by_user: HashMap<&str, &Listed> = remote
            .iter()
            .filter_map(|listed| Some((listed.user_id.as_deref()?, listed)))
            .collect();
        let locals = match self.store.ratings_of_skill(skill).await {
            Ok(locals) => locals,
            Err(err) => {
                warn!(skill, error = %err, "could not read the skill's local ratings");
                return false;
            }
        };
        for (state, local) in locals {
            // Pending, waiting and parked ratings are the push's business.
            let (SyncState::Synced, Ok(local)) = (state, local) else {
                continue;
            };
            if let Some(listed) = by_user.get(local.user_id.as_str()) {
                let outcome = match self.checked(listed) {
                    Ok(remote) => self.reconcile(run, &local, remote, false).await,
                    Err(reason) => self.skip_remote(run, &local, listed, &reason).await,
                };
                tally(report, outcome);
            }
        }
        true
    }

    /// Newest wins between a local rating and its remote copy.
    /// `pending`: the local rating is waiting to be pushed (a duplicate
    /// create), rather than synced (the pull).
    async fn reconcile(
        &self,
        run: &Run,
        local: &Rating,
        remote: &RemoteRating,
        pending: bool,
    ) -> Outcome {
        if run.fenced.load(Ordering::SeqCst) {
            return Outcome::Skipped;
        }
        match resolve(local, remote) {
            Resolution::InSync | Resolution::EqualTimes if !pending => Outcome::InSync,
            Resolution::InSync | Resolution::EqualTimes => {
                // The marketplace has it already: link it, change nothing.
                match self.store.mark_synced(local, &remote.id, Utc::now()).await {
                    Ok(MarkOutcome::Synced) => {
                        self.after_synced(run, local).await;
                        Outcome::Linked
                    }
                    Ok(_) => Outcome::Skipped,
                    Err(err) => {
                        error!(rating_id = %local.id, error = %err, "could not link the remote rating");
                        Outcome::Skipped
                    }
                }
            }
            Resolution::RemoteWins { remote_time } => {
                match self
                    .store
                    .apply_remote(local, remote, remote_time, Utc::now())
                    .await
                {
                    Ok(true) => {
                        self.after_synced(run, local).await;
                        self.log_conflict(run, local, remote, REMOTE_WINS).await;
                        Outcome::Pulled
                    }
                    // Edited meanwhile: the edit stands, and is pushed later.
                    Ok(false) => Outcome::Skipped,
                    Err(err) => {
                        error!(rating_id = %local.id, error = %err, "could not take the remote values");
                        Outcome::Skipped
                    }
                }
            }
            Resolution::LocalWins => {
                let (stars, comment) = match local.upload_values() {
                    Ok(values) => values,
                    Err(problem) => {
                        return Outcome::Unresolved(format!("rating {}: {problem}", local.id))
                    }
                };
                let upload = RatingUpload {
                    skill_id: &local.skill_id,
                    user_id: &local.user_id,
                    rating: stars,
                    comment,
                };
                // Stable for this disagreement, different from the key of
                // any earlier update of the same version.
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
                    Delivered::Failed(err) if err.stops_the_run() => Outcome::NotStarted,
                    Delivered::Failed(err) if err.is_transient() => {
                        Outcome::TransientFailure(local.failure(err.to_string(), true))
                    }
                    Delivered::Failed(err) => {
                        self.record_failure(run, local.failure(err.to_string(), false))
                            .await
                    }
                    Delivered::NotSent => Outcome::NotStarted,
                }
            }
            Resolution::Skip { reason } => {
                warn!(rating_id = %local.id, reason, "cannot reconcile with the remote rating");
                Outcome::Unresolved(format!("rating {}: {reason}", local.id))
            }
        }
    }

    /// A listed remote rating that may touch local data, or why not.
    fn checked<'a>(&self, listed: &'a Listed) -> Result<&'a RemoteRating, String> {
        let remote = listed.rating.as_ref().map_err(String::clone)?;
        remote.check(Utc::now(), self.settings.max_clock_skew)?;
        Ok(remote)
    }

    /// A remote rating that failed its checks: logged, in the conflict log
    /// and in the report; the local rating is left as it was.
    async fn skip_remote(
        &self,
        run: &Run,
        local: &Rating,
        listed: &Listed,
        reason: &str,
    ) -> Outcome {
        if run.fenced.load(Ordering::SeqCst) {
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

    /// A 409 on create: the user rated this skill at the marketplace already
    /// (from this instance, with its id lost, or elsewhere). Read it and
    /// reconcile instead of failing.
    async fn resolve_duplicate(&self, run: &Run, rating: &Rating) -> Outcome {
        let remote = match run
            .delivery
            .send(|| self.marketplace.skill_ratings(&rating.skill_id))
            .await
        {
            Delivered::Accepted(remote) => remote,
            Delivered::NotSent => return Outcome::NotStarted,
            Delivered::Failed(err) if err.stops_the_run() => return Outcome::NotStarted,
            Delivered::Failed(err) => {
                let failure = rating.failure(err.to_string(), err.is_transient());
                return if err.is_transient() {
                    Outcome::TransientFailure(failure)
                } else {
                    self.record_failure(run, failure).await
                };
            }
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

    /// Bookkeeping after a rating reached the synced state: its skill is
    /// one to pull, and its dead-letter item, if any, goes.
    async fn after_synced(&self, run: &Run, rating: &Rating) {
        if let Ok(mut skills) = run.synced_skills.lock() {
            if !skills.contains(&rating.skill_id) {
                skills.insert(rating.skill_id.clone());
            }
        }
        if rating.sync_failures > 0 {
            if let Err(err) = self.store.clear_failure(&rating.id).await {
                warn!(rating_id = %rating.id, error = %err, "synced, but its dead-letter item stays");
            }
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
            .work_page(source, after, self.settings.batch_size, run.started)
            .await
            .map_err(|err| Outcome::Stop {
                reason: err.logged("Could not read the work to do"),
                is_error: true,
            })?;
        Ok((page.ratings, page.next))
    }

    /// Uploads one rating and records what became of it.
    async fn sync_one(&self, run: &Run, pending: PendingRating) -> Outcome {
        let rating = match pending {
            Ok(rating) => rating,
            Err(malformed) => return self.record_failure(run, malformed.failure()).await,
        };
        let (stars, comment) = match rating.upload_values() {
            Ok(values) => values,
            Err(problem) => {
                return self
                    .record_failure(run, rating.failure(problem, false))
                    .await
            }
        };
        let upload = RatingUpload {
            skill_id: &rating.skill_id,
            user_id: &rating.user_id,
            rating: stars,
            comment,
        };

        match self.upload(run, &rating, &upload).await {
            Delivered::Accepted((remote_id, uploaded)) => {
                self.record_success(run, &rating, &remote_id, uploaded)
                    .await
            }
            Delivered::NotSent => Outcome::NotStarted,
            Delivered::Failed(err) if err.stops_the_run() => Outcome::NotStarted,
            Delivered::Failed(MarketplaceError::AlreadyRated { .. }) => {
                self.resolve_duplicate(run, &rating).await
            }
            Delivered::Failed(err) if err.is_transient() => {
                warn!(rating_id = %rating.id, error = %err, "upload failed; a later run tries again");
                Outcome::TransientFailure(rating.failure(err.to_string(), true))
            }
            Delivered::Failed(err) => {
                warn!(rating_id = %rating.id, error = %err, "upload refused; parking the rating");
                self.record_failure(run, rating.failure(err.to_string(), false))
                    .await
            }
        }
    }

    /// Creates the rating, or updates it if the marketplace already has it
    /// (and creates it again if the marketplace lost it).
    async fn upload(
        &self,
        run: &Run,
        rating: &Rating,
        upload: &RatingUpload<'_>,
    ) -> Delivered<(String, Outcome)> {
        if let Some(remote_id) = &rating.remote_rating_id {
            let key = idempotency_key("update", rating);
            let sent = run
                .delivery
                .send(|| self.marketplace.update_rating(upload, remote_id, &key))
                .await;
            if !matches!(
                sent,
                Delivered::Failed(MarketplaceError::RemoteRatingGone { .. })
            ) {
                return sent.map(|id| (id, Outcome::Updated));
            }
            info!(rating_id = %rating.id, remote_id, "remote rating gone; creating it again");
        }
        let key = idempotency_key("create", rating);
        run.delivery
            .send(|| self.marketplace.create_rating(upload, &key))
            .await
            .map(|id| (id, Outcome::Created))
    }

    async fn record_success(
        &self,
        run: &Run,
        rating: &Rating,
        remote_id: &str,
        uploaded: Outcome,
    ) -> Outcome {
        if run.fenced.load(Ordering::SeqCst) {
            // The next run's attempt is answered by the idempotency key.
            return Outcome::Skipped;
        }
        match self.store.mark_synced(rating, remote_id, Utc::now()).await {
            Ok(MarkOutcome::Synced) => {
                self.after_synced(run, rating).await;
                uploaded
            }
            Ok(MarkOutcome::ChangedMeanwhile) => Outcome::ChangedDuringUpload,
            Ok(MarkOutcome::Deleted) => {
                info!(rating_id = %rating.id, "rating deleted while it was uploaded");
                uploaded
            }
            Err(err) => {
                // Still pending: the next attempt carries the same idempotency
                // key, so the marketplace answers it without a second rating.
                error!(rating_id = %rating.id, error = %err, "uploaded, but could not mark it synced");
                Outcome::Skipped
            }
        }
    }

    /// Where a failed rating goes: parked if retrying cannot help or it has
    /// failed too often, else back after an exponential wait.
    fn disposition(&self, failure: &SyncFailure, now: DateTime<Utc>) -> Disposition {
        if !failure.retryable || failure.attempts() >= self.settings.max_attempts {
            return Disposition::Park;
        }
        let wait = self
            .settings
            .retry_backoff
            .equal_jitter(failure.attempts(), fastrand::f64());
        Disposition::RetryAt(now + chrono::Duration::from_std(wait).unwrap_or_default())
    }

    async fn record_failure(&self, run: &Run, failure: SyncFailure) -> Outcome {
        if run.fenced.load(Ordering::SeqCst) {
            return Outcome::Skipped;
        }
        let now = Utc::now();
        let disposition = self.disposition(&failure, now);
        match self.store.record_failure(&failure, disposition, now).await {
            Ok(FailureRecorded::Recorded) => Outcome::Failed {
                parked: disposition == Disposition::Park,
                message: failure.message,
            },
            Ok(FailureRecorded::RatingChanged) => Outcome::Skipped,
            Err(err) => {
                error!(rating_id = %failure.rating_id, error = %err, "could not record a failure; the rating stays pending");
                Outcome::Skipped
            }
        }
    }
}

fn tally(report: &mut SyncReport, outcome: Outcome) {
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
                report.resolution_skips.push(reason);
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
        Outcome::TransientFailure(_) => report.failed += 1,
        Outcome::Stop { reason, is_error } => {
            if is_error {
                report.error = Some(reason.clone());
            }
            report.stopped_early = Some(reason);
        }
    }
}

/// The same for every retry of one version of one rating, across runs, and
/// different for every edit and every re-push an admin asked for.
fn idempotency_key(operation: &str, rating: &Rating) -> String {
    match rating.sync_round {
        0 => format!("{operation}-{}-v{}", rating.id, rating.version),
        round => format!("{operation}-{}-v{}-r{round}", rating.id, rating.version),
    }
}

fn summary(report: &SyncReport) -> String {
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
    fn idempotency_keys_follow_the_version() {
        let mut rating = Rating {
            id: "r1".into(),
            tenant_id: "t".into(),
            skill_id: "s".into(),
            user_id: "u".into(),
            rating: "3".into(),
            review: None,
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
            remote_rating_id: None,
            sync_failures: 0,
            sync_round: 0,
        };
        let first = idempotency_key("create", &rating);
        assert_eq!(first, idempotency_key("create", &rating));
        rating.version = 2;
        assert_ne!(first, idempotency_key("create", &rating));
        assert_ne!(
            idempotency_key("create", &rating),
            idempotency_key("update", &rating)
        );
        let edited = idempotency_key("update", &rating);
        rating.sync_round = 1;
        assert_ne!(
            edited,
            idempotency_key("update", &rating),
            "a re-push is a new request"
        );
    }

    #[test]
    fn a_deadline_in_the_past_means_none_was_given() {
        let now = SystemTime::now();
        let ahead = now + Duration::from_secs(600);
        assert_eq!(run_deadline(ahead, now), ahead);
        let emulator = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(run_deadline(emulator, now), now + FALLBACK_RUN_BUDGET);
        assert_eq!(run_deadline(now, now), now + FALLBACK_RUN_BUDGET);
    }

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

#[cfg(test)]
mod send_check {
    /// A run can be spawned: its future is `Send` for any lifetime.
    #[allow(dead_code)]
    fn run_is_send(engine: std::sync::Arc<super::SyncEngine>) {
        tokio::spawn(async move { engine.run(std::time::SystemTime::now()).await });
    }
}
