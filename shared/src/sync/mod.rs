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
//! 3. sends every upload through the [`DeliveryGate`](crate::delivery::DeliveryGate) gate (retries, backoff,
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
//!
//! Where each part lives:
//! - `run.rs`: the run's state and its lease;
//! - `push.rs`: the work pages of a run through the upload loop;
//!   `fast_path.rs`: a batch of stream records, seconds after the writes,
//!   through the same loop as its only page;
//! - `window.rs`: the uploads (or skill reads) in flight, with the next
//!   page read beside them, for the push, the fast path and the pull;
//! - `upload.rs`: one rating's upload and its recording;
//! - `close.rs`: the end of the uploads (transient failures recorded or
//!   left pending) and the closing of a run's or a batch's report;
//! - `outcome.rs`: the tally, the summary, the end of a run;
//! - `pull.rs` and `reconcile.rs`: remote edits, newest wins; `skills.rs`:
//!   the skills registered for the pull;
//! - `publish.rs`: the events of sync outcomes;
//! - `retry.rs`: an admin's retry of one rating.

mod close;
mod fast_path;
mod outcome;
mod publish;
mod pull;
mod push;
mod reconcile;
mod retry;
mod run;
mod skills;
mod upload;
mod window;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing::Instrument;

use crate::config::SyncSettings;
use crate::delivery::AnswerMemory;
use crate::events::EventSink;
use crate::marketplace::MarketplaceClient;
use crate::report::SyncReport;
use crate::store::requests::RequestCounter;
use crate::store::Store;

pub use fast_path::{Change, FastPathReport};
pub use retry::RatingRetry;
use run::Run;

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

/// Runs syncs and admin retries: the store, the marketplace client and
/// the settings, built once per cold start.
pub struct SyncEngine {
    store: Store,
    marketplace: MarketplaceClient,
    settings: SyncSettings,
    requests: Option<RequestCounter>,
    /// The fast path's memory of skills registered for the pull.
    registered_skills: skills::RegisteredSkills,
    /// Where the events of sync outcomes go (nowhere by default).
    events: EventSink,
    /// When the marketplace last answered this process (the slow start is
    /// skipped for a while after).
    answers: Arc<AnswerMemory>,
}

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The schedule (the scheduled function).
    Schedule,
    /// An admin (the admin sync endpoint).
    Request,
}

impl SyncEngine {
    /// An engine over `store` and `marketplace`, pacing itself by
    /// `settings`. It counts no DynamoDB requests until
    /// [`SyncEngine::counting_requests_with`].
    pub fn new(store: Store, marketplace: MarketplaceClient, settings: SyncSettings) -> Self {
        Self {
            store,
            marketplace,
            settings,
            requests: None,
            registered_skills: skills::RegisteredSkills::default(),
            events: EventSink::disabled(),
            answers: Arc::default(),
        }
    }

    /// Publishes an event per sync outcome to `events` (see
    /// [`crate::events`]).
    pub fn publishing_to(mut self, events: EventSink) -> Self {
        self.events = events;
        self
    }

    /// Reports the DynamoDB requests of each run, as counted by `counter`
    /// (installed in the store's client).
    pub fn counting_requests_with(mut self, counter: RequestCounter) -> Self {
        self.requests = Some(counter);
        self
    }

    /// The store the engine reads and writes.
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
        // On the heap: a run's future is large (uploads in flight, the
        // lease kept beside them), and callers nest it in their own.
        Box::pin(
            self.run_with_id(run_id, trigger, deadline, prepare)
                .instrument(span),
        )
        .await
    }

    /// One run: take the lease, then, keeping it, do `prepare` and push and
    /// pull; finish (report, release, record). Without the lease, nothing.
    async fn run_with_id<T, E>(
        &self,
        run_id: String,
        trigger: Trigger,
        deadline: SystemTime,
        prepare: impl Future<Output = Result<T, E>> + Send,
    ) -> Result<(SyncReport, Option<T>), E> {
        let meter = self.meter();
        let mut run = Run::new(run_id, self, deadline, trigger.path());
        if trigger == Trigger::Schedule {
            run = run.leaving_to_fast_path(self.settings.fast_path_grace);
        }
        if let Err(report) = self.take_lease(&run, trigger, deadline).await {
            return Ok((report, None));
        }
        let mut report = run.report();
        let work = async {
            let prepared = prepare.await;
            if prepared.is_ok() {
                self.push(&run, &mut report).await;
                self.pull(&run, &mut report).await;
            }
            prepared
        };
        match self.keeping_lease(&run, work).await {
            Ok(prepared) => {
                self.finish(&run, trigger, &mut report, meter).await;
                Ok((report, Some(prepared)))
            }
            Err(err) => {
                self.release_lease(&run).await;
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_in_the_past_means_none_was_given() {
        let now = SystemTime::now();
        let ahead = now + Duration::from_secs(600);
        assert_eq!(run_deadline(ahead, now), ahead);
        let emulator = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(run_deadline(emulator, now), now + FALLBACK_RUN_BUDGET);
        assert_eq!(run_deadline(now, now), now + FALLBACK_RUN_BUDGET);
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
