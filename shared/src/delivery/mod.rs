//! The gate every marketplace request of a run passes: it paces, retries and
//! cuts off requests, so that a misbehaving marketplace costs a run little
//! and never costs a rating.
//!
//! - **Slow start.** Until the marketplace has answered once, one request is
//!   in flight; then up to the run's concurrency. Bad credentials or an
//!   outage are found with one request, not ten. A process remembers an
//!   answer for [`ANSWER_REMEMBERED`] ([`AnswerMemory`]): the next run or
//!   fast-path batch within that time starts at full concurrency, so that a
//!   stream of small batches does not pay a lone first request each.
//! - **Retries within the run.** A transient error (connection, timeout, 408,
//!   429, 5xx) is tried again up to `request_attempts` times, after an
//!   exponential wait with full jitter. Every attempt carries the same
//!   idempotency key, so a retry never makes a second remote rating.
//! - **Rate limit.** A 429 pauses the whole run for its `Retry-After`, not
//!   just the request that got it. A pause that would reach past the
//!   deadline ends the run early instead ([`DeliveryGate::stop_reason`]): the
//!   rating that got the 429 and all the rest stay pending. An optional
//!   ceiling keeps the requests of any sliding window under `rate_limit.max`;
//!   shared through the store ([`DeliveryGate::sharing_ceiling`]), it holds
//!   across every path and invocation together (see
//!   [`crate::store::rate_window`]).
//! - **Refused credentials.** The first 401 or 403 of a run reads the token
//!   again at once ([`DeliveryGate::renewing`]); if it changed, the refused
//!   request, and any other refused with the old token, is sent again once.
//!   The token is read again at most once per gate, that is per run,
//!   fast-path batch or admin retry.
//! - **Circuit breaker.** `breaker_threshold` transient failures in a row, or
//!   one answer that says no request of this run can succeed (credentials
//!   refused, a redirect), open the breaker: the run sends nothing more, and
//!   the ratings it did not finish stay pending.
//! - **Deadline.** No wait reaches past the run's `stop_at`, and no wait is
//!   added to an instant unchecked: a `Retry-After` of any size is safe.
//!
//! This file holds the gate and its `send`; the rest is by concern:
//! `slow_start.rs` (the slow start and [`AnswerMemory`]), `retry.rs` (the
//! backoff and what a transient failure leads to), `rate.rs` (the 429 pause
//! and the rate ceiling), `breaker.rs` (the breaker and the early stop), and
//! `tests.rs`.

mod breaker;
mod rate;
mod retry;
mod slow_start;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use tokio::sync::Semaphore;
use tokio::time::{sleep_until, Instant};

use crate::config::{Backoff, RateLimit, SyncSettings};
use crate::marketplace::MarketplaceError;
use crate::secrets::Renew;

use breaker::{sentence, Reason};
use rate::SharedCeiling;
use retry::Retry;
pub use slow_start::{AnswerMemory, ANSWER_REMEMBERED};

/// What became of a request sent through the gate.
#[derive(Debug)]
pub enum Delivered<T> {
    /// The marketplace accepted it.
    Accepted(T),
    /// The last answer was an error (permanent, or transient with no
    /// attempts or time left).
    Failed(MarketplaceError),
    /// Not sent: the breaker is open or the deadline is near.
    NotSent,
}

impl<T> Delivered<T> {
    /// Maps an accepted value with `f`; a failure, or a request not sent,
    /// stays as it is.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Delivered<U> {
        match self {
            Self::Accepted(value) => Delivered::Accepted(f(value)),
            Self::Failed(error) => Delivered::Failed(error),
            Self::NotSent => Delivered::NotSent,
        }
    }
}

/// The gate one run's marketplace requests pass (see the module docs):
/// slow start, retries, the rate limit, the circuit breaker and the
/// deadline, shared by all the run's tasks.
pub struct DeliveryGate {
    attempts: u32,
    backoff: Backoff,
    breaker_threshold: u32,
    concurrency: usize,
    stop_at: Instant,
    slow_start: Semaphore,
    answered: AtomicBool,
    consecutive_failures: AtomicU32,
    breaker: Reason,
    /// Set when the marketplace asked for a pause past the deadline.
    stopped: Reason,
    pause_until: Mutex<Option<Instant>>,
    limit: Option<(RateLimit, tokio::sync::Mutex<VecDeque<Instant>>)>,
    /// The ceiling shared with every other sender, when there is one.
    shared: Option<SharedCeiling>,
    /// The process's memory of the marketplace's last answer.
    memory: Option<std::sync::Arc<AnswerMemory>>,
    /// Reads the token again after a 401 or 403, once: whether it changed.
    renewal: Option<(Box<dyn Renew>, tokio::sync::OnceCell<bool>)>,
}

impl DeliveryGate {
    /// The gate of one run, which sends nothing after `stop_at`.
    pub fn new(settings: &SyncSettings, stop_at: Instant) -> Self {
        Self {
            attempts: settings.request_attempts.max(1),
            backoff: settings.request_backoff,
            breaker_threshold: settings.breaker_threshold.max(1),
            concurrency: settings.max_concurrency.max(1),
            stop_at,
            slow_start: Semaphore::new(1),
            answered: AtomicBool::new(false),
            consecutive_failures: AtomicU32::new(0),
            breaker: Reason::default(),
            stopped: Reason::default(),
            pause_until: Mutex::new(None),
            limit: settings
                .rate_limit
                .map(|limit| (limit, tokio::sync::Mutex::new(VecDeque::new()))),
            shared: None,
            memory: None,
            renewal: None,
        }
    }

    /// The same gate, reading the credentials again through `renew` when
    /// the marketplace first refuses them, and sending again once each
    /// request refused, if they changed.
    pub fn renewing(mut self, renew: impl Renew + 'static) -> Self {
        self.renewal = Some((Box::new(renew), tokio::sync::OnceCell::new()));
        self
    }

    /// Whether the credentials were read again, at most once for the
    /// gate, and changed.
    async fn credentials_renewed(&self) -> bool {
        match &self.renewal {
            None => false,
            Some((renew, renewed)) => *renewed.get_or_init(|| renew.renew()).await,
        }
    }

    /// Whether requests may still go out: no breaker, no early stop, and
    /// time left before the deadline.
    pub fn may_send(&self) -> bool {
        self.breaker_reason().is_none()
            && self.stop_reason().is_none()
            && Instant::now() < self.stop_at
    }

    /// Sends `request` until it is accepted, fails for good, or may not be
    /// sent any more. `request` is called once per attempt.
    pub async fn send<T, F, Fut>(&self, mut request: F) -> Delivered<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, MarketplaceError>>,
    {
        // A slot for one request in flight. In the slow start it is held
        // across the retries, so the first rating is tried to the end before
        // another begins; after it, a rating waiting to retry gives its slot
        // to another.
        let mut permit = None;
        let mut attempt = 0;
        let mut sent_again_with_new_credentials = false;
        loop {
            attempt += 1;
            if permit.is_none() {
                let Ok(slot) = self.slow_start.acquire().await else {
                    return Delivered::NotSent;
                };
                permit = Some(slot);
            }
            if !self.wait_for_pause().await || !self.wait_for_rate_limit().await || !self.may_send()
            {
                return Delivered::NotSent;
            }
            let result = request().await;
            let error = match result {
                Ok(value) => {
                    self.on_answer();
                    return Delivered::Accepted(value);
                }
                Err(error) => error,
            };
            if matches!(error, MarketplaceError::Unauthorized { .. })
                && !sent_again_with_new_credentials
                && self.credentials_renewed().await
            {
                // Not an attempt of the retries: the same request, with
                // the credentials read again.
                sent_again_with_new_credentials = true;
                attempt -= 1;
                continue;
            }
            if error.stops_the_run() {
                self.open_breaker(match &error {
                    MarketplaceError::Unauthorized { status } => format!(
                        "Marketplace rejected our credentials ({status}); check ATOM_SAAS_API_TOKEN"
                    ),
                    other => sentence(&other.to_string()),
                });
                return Delivered::Failed(error);
            }
            if !error.is_transient() {
                // An answer about this rating: the marketplace is up. A
                // request the client would not build says nothing about
                // the marketplace: no answer, and no failure in a row.
                if error.is_answer() {
                    self.on_answer();
                }
                return Delivered::Failed(error);
            }

            let resume = match self.after_transient(&error, attempt) {
                Retry::At(resume) => resume,
                Retry::GiveUp => return Delivered::Failed(error),
                Retry::StopEarly => return Delivered::NotSent,
            };
            if self.answered.load(Ordering::SeqCst) {
                permit = None;
            }
            sleep_until(resume).await;
        }
    }
}
