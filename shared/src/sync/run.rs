//! The state one run shares between its uploads, and the run lease that
//! keeps two runs from uploading at once: taken before any work, renewed
//! while the work goes on, released at the end. A run that loses it is
//! fenced and writes nothing more.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::{SyncEngine, Trigger, FALLBACK_RUN_BUDGET, LEASE_NAME};
use crate::delivery::DeliveryGate;
use crate::events::{PublishCounts, SyncPath};
use crate::report::SyncReport;
use crate::store::{timestamp, LeaseOutcome};

/// What one run shares between its uploads.
pub(super) struct Run {
    pub(super) id: String,
    pub(super) started: DateTime<Utc>,
    /// Knows the deadline: nothing is sent or started past it.
    pub(super) delivery: DeliveryGate,
    /// Set when the lease is lost: nothing more may be written.
    pub(super) fenced: AtomicBool,
    /// Skills of the ratings synced in this run, registered for the pull.
    pub(super) synced_skills: Mutex<BTreeSet<String>>,
    /// Conflicts resolved and logged.
    pub(super) conflicts: AtomicU64,
    /// Backlog entries last written after this are not this run's: the
    /// fast path has them (a scheduled run with a grace period).
    pub(super) backlog_before: Option<DateTime<Utc>>,
    /// Seconds from each synced rating's local write to the marketplace's
    /// acceptance, for the freshness metric.
    pub(super) freshness: Mutex<Vec<f64>>,
    /// Which path this run's uploads take, as its events say.
    pub(super) path: SyncPath,
    /// The last moment to wait for events to go out: half the margin
    /// before the invocation's deadline.
    pub(super) flush_by: Instant,
    /// The engine's event counts when the run began: the run's own are
    /// the difference at its end.
    pub(super) events_before: PublishCounts,
    /// The last moment for the run's wrap-up calls (recording failures,
    /// releasing the lease, storing the report): a tenth of the margin, at
    /// most [`WRAP_UP_SLACK`], before the invocation's deadline, so the
    /// answer still goes out.
    pub(super) wrap_up_by: Instant,
    /// When the lease this run holds expires, as last written.
    pub(super) lease_until: Mutex<Option<DateTime<Utc>>>,
    /// Why no upload may start any more: DynamoDB failed to record one
    /// (every attempt the SDK made), so uploads would only be repeated by
    /// the next run.
    store_failure: Mutex<Option<String>>,
}

impl Run {
    /// The state of a run (or of an admin's retry of one rating) that
    /// starts no work past `deadline` less the configured margin.
    pub(super) fn new(
        id: String,
        engine: &SyncEngine,
        deadline: SystemTime,
        path: SyncPath,
    ) -> Self {
        let settings = &engine.settings;
        Self {
            id,
            started: Utc::now(),
            delivery: DeliveryGate::new(settings, stop_at(deadline, settings.deadline_margin))
                .sharing_ceiling(&engine.store)
                .remembering(engine.answers.clone())
                .renewing(engine.marketplace.token().clone()),
            fenced: AtomicBool::new(false),
            synced_skills: Mutex::default(),
            conflicts: AtomicU64::new(0),
            backlog_before: None,
            freshness: Mutex::default(),
            path,
            flush_by: stop_at(deadline, settings.deadline_margin / 2),
            events_before: engine.events.counts(),
            wrap_up_by: stop_at(deadline, (settings.deadline_margin / 10).min(WRAP_UP_SLACK)),
            lease_until: Mutex::default(),
            store_failure: Mutex::default(),
        }
    }

    /// The same run, leaving backlog entries written within `grace` of its
    /// start to the fast path.
    pub(super) fn leaving_to_fast_path(mut self, grace: Duration) -> Self {
        if !grace.is_zero() {
            self.backlog_before = chrono::Duration::from_std(grace)
                .ok()
                .and_then(|grace| self.started.checked_sub_signed(grace));
        }
        self
    }

    /// Whether another upload may begin: the lease is held, the breaker is
    /// closed and the deadline not near.
    pub(super) fn may_start(&self) -> bool {
        !self.is_fenced() && self.store_failure().is_none() && self.delivery.may_send()
    }

    /// DynamoDB could not record an outcome: no upload starts after this.
    /// The first failure is logged with an id, and its sentence (which names
    /// DynamoDB) becomes the run's error.
    pub(super) fn note_store_failure(&self, err: &crate::store::StoreError) {
        let mut failure = self.store_failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            *failure = Some(err.logged("Could not record an outcome; no more uploads started"));
        }
    }

    /// Why uploads stopped because DynamoDB failed, if they did.
    pub(super) fn store_failure(&self) -> Option<String> {
        self.store_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes a DynamoDB failure that stopped the uploads the report's error
    /// (unless it has one already) and the reason it stopped early.
    pub(super) fn report_store_failure(&self, report: &mut SyncReport) {
        if let Some(reason) = self.store_failure() {
            report.stopped_early = Some(reason.clone());
            report.error.get_or_insert(reason);
        }
    }

    /// Notes the seconds from `rating`'s local write to its acceptance at
    /// `accepted`, for the freshness metric (nothing if its time cannot be
    /// read; never negative, whatever the writer's clock said).
    pub(super) fn note_freshness(
        &self,
        rating: &crate::rating::Rating,
        accepted: DateTime<Utc>,
    ) -> Option<f64> {
        let written = crate::conflict::parse_time(&rating.updated_at)?;
        let seconds = (accepted - written).num_milliseconds().max(0) as f64 / 1000.0;
        if let Ok(mut kept) = self.freshness.lock() {
            kept.push(seconds);
        }
        Some(seconds)
    }

    /// The freshness noted so far, taken out.
    pub(super) fn take_freshness(&self) -> Vec<f64> {
        std::mem::take(&mut *self.freshness.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The lease was lost: nothing more may be written.
    pub(super) fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::SeqCst)
    }

    /// `call`, abandoned if the run's wrap-up deadline comes first: no
    /// call outlives the invocation, whatever the SDK's own timeouts.
    /// `None` when it was abandoned (and logged, as `what`).
    pub(super) async fn by_deadline<T>(
        &self,
        what: &str,
        call: impl Future<Output = T>,
    ) -> Option<T> {
        match tokio::time::timeout_at(self.wrap_up_by, call).await {
            Ok(out) => Some(out),
            Err(_) => {
                warn!("{what}: abandoned at the invocation's deadline");
                None
            }
        }
    }

    fn note_lease_until(&self, until: DateTime<Utc>) {
        *self.lease_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(until);
    }

    /// The report this run fills in.
    pub(super) fn report(&self) -> SyncReport {
        SyncReport {
            run_id: self.id.clone(),
            started_at: timestamp(self.started),
            ..SyncReport::default()
        }
    }
}

/// The most time kept free after the wrap-up's last call, to answer.
const WRAP_UP_SLACK: Duration = Duration::from_millis(500);

/// Calls to give the lease back before it is left to expire.
const RELEASE_TRIES: u32 = 3;

/// When a run bounded by `deadline` stops starting work: the deadline less
/// `margin`, on the monotonic clock (checked: a deadline from the runtime
/// is outside data too).
fn stop_at(deadline: SystemTime, margin: Duration) -> Instant {
    let now = Instant::now();
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .saturating_sub(margin);
    now.checked_add(left)
        .or_else(|| now.checked_add(FALLBACK_RUN_BUDGET))
        .unwrap_or(now)
}

impl SyncEngine {
    /// Takes the run lease for `run`. If another run holds it, or it cannot
    /// be taken, the report to answer with instead (the latter recorded as
    /// the run's outcome).
    pub(super) async fn take_lease(
        &self,
        run: &Run,
        trigger: Trigger,
        deadline: SystemTime,
    ) -> Result<(), SyncReport> {
        let until = self.lease_until();
        match self
            .store
            .acquire_lease(LEASE_NAME, &run.id, until, run.started)
            .await
        {
            Ok(LeaseOutcome::Acquired) => {
                run.note_lease_until(until);
                let remaining = deadline
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                info!(
                    seconds_to_deadline = remaining.as_secs(),
                    "sync run started"
                );
                Ok(())
            }
            Ok(LeaseOutcome::HeldBy { holder, until }) => {
                info!(
                    holder,
                    until, "another sync run holds the lease; nothing done"
                );
                // Not a failure of the sync: the run that holds the lease
                // records its own outcome.
                Err(SyncReport::already_running(
                    run.id.clone(),
                    timestamp(run.started),
                ))
            }
            Err(err) => {
                // One of the attempts may have landed with its answer lost:
                // the lease is given back, or no run starts until it expires.
                run.note_lease_until(until);
                self.release_lease(run).await;
                let mut report = SyncReport {
                    message: "Sync did not start".into(),
                    finished_at: timestamp(Utc::now()),
                    error: Some(err.logged("Could not take the run lease")),
                    ..run.report()
                };
                self.record_outcome(run, trigger, &mut report).await;
                Err(report)
            }
        }
    }

    /// Does `work` while keeping the lease alive beside it.
    pub(super) async fn keeping_lease<T>(&self, run: &Run, work: impl Future<Output = T>) -> T {
        let done = Notify::new();
        let work = async {
            let out = work.await;
            done.notify_one();
            out
        };
        let (out, ()) = tokio::join!(work, self.keep_lease(run, &done));
        out
    }

    /// Renews the lease every third of its lifetime until `done`; fences the
    /// run if the lease is lost, or if it could not be renewed for so long
    /// that another run may have taken it.
    async fn keep_lease(&self, run: &Run, done: &Notify) {
        let every = self.settings.lease_ttl / 3;
        let until = || self.lease_until();
        let mut renewed_at = Instant::now();
        loop {
            tokio::select! {
                () = done.notified() => return,
                () = tokio::time::sleep(every) => {}
            }
            let next = until();
            match self.store.renew_lease(LEASE_NAME, &run.id, next).await {
                Ok(true) => {
                    renewed_at = Instant::now();
                    run.note_lease_until(next);
                }
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

    /// Gives the lease back, unless the run lost it: tried up to
    /// [`RELEASE_TRIES`] times (each call with the SDK's own retries), within
    /// the run's wrap-up deadline. A lease that stays is logged with its
    /// holder and expiry: no run starts before then.
    pub(super) async fn release_lease(&self, run: &Run) {
        if run.is_fenced() {
            return;
        }
        let mut last_error = String::new();
        for _ in 0..RELEASE_TRIES {
            let released = run
                .by_deadline(
                    "releasing the run lease",
                    self.store.release_lease(LEASE_NAME, &run.id),
                )
                .await;
            match released {
                Some(Ok(())) => return,
                Some(Err(err)) => last_error = err.to_string(),
                None => {
                    last_error = "the invocation's deadline came".into();
                    break;
                }
            }
        }
        let until = *run.lease_until.lock().unwrap_or_else(|e| e.into_inner());
        warn!(
            holder = %run.id,
            until = until.map(timestamp).as_deref().unwrap_or("unknown"),
            error = %last_error,
            "could not release the run lease; no run starts before it expires"
        );
    }

    fn lease_until(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.settings.lease_ttl).unwrap_or_default()
    }
}
