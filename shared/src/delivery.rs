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

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::{sleep_until, Instant};

use crate::config::{Backoff, RateLimit, SyncSettings};
use crate::marketplace::MarketplaceError;
use crate::secrets::Renew;
use crate::store::rate_window::{grant_hold, Grant};
use crate::store::Store;

impl Backoff {
    /// The longest wait before attempt `attempt + 1`: `base * 2^(attempt-1)`,
    /// at most `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// Full jitter: anywhere from zero to the ceiling. `random` is in [0, 1).
    pub fn full_jitter(&self, attempt: u32, random: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit(random))
    }

    /// Equal jitter: at least half the ceiling, so that spacing grows while
    /// many failed ratings still spread out.
    pub fn equal_jitter(&self, attempt: u32, random: f64) -> Duration {
        let half = self.ceiling(attempt) / 2;
        half.saturating_add(half.mul_f64(unit(random)))
    }
}

/// How long a process trusts that the marketplace is up after its last
/// answer, and skips the slow start.
pub const ANSWER_REMEMBERED: Duration = Duration::from_secs(60);

/// When the marketplace last answered this process, shared by the gates of
/// its runs; forgotten when a breaker opens.
#[derive(Debug, Default)]
pub struct AnswerMemory(Mutex<Option<Instant>>);

impl AnswerMemory {
    fn recent(&self) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| at.elapsed() < ANSWER_REMEMBERED)
    }

    fn set(&self, at: Option<Instant>) {
        if let Ok(mut kept) = self.0.lock() {
            *kept = at;
        }
    }
}

/// Why a run stops sending, once known: the first reason given stands.
#[derive(Debug, Default)]
struct Reason(Mutex<Option<String>>);

impl Reason {
    fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|reason| reason.clone())
    }

    /// Keeps `reason` and logs it with `what`, unless a reason was kept
    /// already.
    fn set_once(&self, reason: String, what: &str) {
        if let Ok(mut kept) = self.0.lock() {
            if kept.is_none() {
                tracing::warn!(reason, "{what}");
                *kept = Some(reason);
            }
        }
    }
}

/// `text` with its first letter in upper case: an error's message as the
/// first word of a report.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// `random` within [0, 1], NaN as 0: `Duration::mul_f64` panics on NaN.
fn unit(random: f64) -> f64 {
    if random.is_nan() {
        0.0
    } else {
        random.clamp(0.0, 1.0)
    }
}

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

/// The ceiling as the store shares it, and the grant in hand: how many
/// requests it has left and until when they may go out.
struct SharedCeiling {
    store: Store,
    /// The ceiling, its window widened by the guard.
    limit: RateLimit,
    /// Requests asked for at once.
    block: u32,
    grant: tokio::sync::Mutex<(u32, Instant)>,
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

    /// The same gate, remembering answers in `memory` and skipping the
    /// slow start if the marketplace answered this process recently.
    pub fn remembering(mut self, memory: std::sync::Arc<AnswerMemory>) -> Self {
        if memory.recent() && !self.answered.swap(true, Ordering::SeqCst) {
            self.slow_start
                .add_permits(self.concurrency.saturating_sub(1));
        }
        self.memory = Some(memory);
        self
    }

    /// The same gate, holding the rate ceiling (if one is set) together
    /// with every other sender through `store` instead of on its own. Grants
    /// are a twentieth of the ceiling at most, and no more than two windows
    /// of requests in flight, so that few lapse unused.
    pub fn sharing_ceiling(mut self, store: &Store) -> Self {
        if let Some((limit, _)) = &self.limit {
            let most_useful = u32::try_from(self.concurrency.saturating_mul(2)).unwrap_or(u32::MAX);
            self.shared = Some(SharedCeiling {
                store: store.clone(),
                limit: RateLimit {
                    max: limit.max,
                    per: guarded(limit.per),
                },
                block: (limit.max / 20).clamp(1, most_useful.max(1)).min(limit.max),
                grant: tokio::sync::Mutex::new((0, Instant::now())),
            });
        }
        self
    }

    /// Why the breaker opened, if it did.
    pub fn breaker_reason(&self) -> Option<String> {
        self.breaker.get()
    }

    fn open_breaker(&self, reason: String) {
        if let Some(memory) = &self.memory {
            memory.set(None);
        }
        self.breaker.set_once(
            reason,
            "circuit breaker opened: this run sends nothing more",
        );
    }

    /// Why the run ended early without an error, if it did: the
    /// marketplace asked for a pause that reaches past the deadline.
    pub fn stop_reason(&self) -> Option<String> {
        self.stopped.get()
    }

    fn stop_early(&self, reason: String) {
        self.stopped.set_once(reason, "this run sends nothing more");
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

            let failures = self.consecutive_failures.fetch_add(1, Ordering::SeqCst) + 1;
            if failures >= self.breaker_threshold {
                self.open_breaker(format!(
                    "Marketplace unavailable: {failures} transient failures in a row (last: {error})"
                ));
                return Delivered::Failed(error);
            }
            let mut wait = self.backoff.full_jitter(attempt, fastrand::f64());
            if let MarketplaceError::RateLimited { retry_after } = &error {
                let pause = retry_after.unwrap_or(self.backoff.ceiling(attempt));
                let Some(until) = self.later(pause) else {
                    self.stop_early(format!(
                        "Marketplace asked for a pause of {}s (429 Retry-After), past this run's deadline; the rest waits for the next run",
                        pause.as_secs()
                    ));
                    return Delivered::NotSent;
                };
                self.pause_all(until);
                wait = wait.max(pause);
            }
            let Some(resume) = self.later(wait) else {
                return Delivered::Failed(error);
            };
            if attempt >= self.attempts {
                return Delivered::Failed(error);
            }
            if self.answered.load(Ordering::SeqCst) {
                permit = None;
            }
            sleep_until(resume).await;
        }
    }

    /// The first answer ends the slow start; any answer ends a failure streak.
    fn on_answer(&self) {
        self.consecutive_failures.store(0, Ordering::SeqCst);
        if let Some(memory) = &self.memory {
            memory.set(Some(Instant::now()));
        }
        if !self.answered.swap(true, Ordering::SeqCst) {
            self.slow_start
                .add_permits(self.concurrency.saturating_sub(1));
        }
    }

    /// `wait` from now, if that is before the deadline; `None` past it
    /// (however large `wait` is: the sum is checked).
    fn later(&self, wait: Duration) -> Option<Instant> {
        Instant::now()
            .checked_add(wait)
            .filter(|at| *at < self.stop_at)
    }

    /// Holds every request of the run back until `until`.
    fn pause_all(&self, until: Instant) {
        if let Ok(mut current) = self.pause_until.lock() {
            if current.is_none_or(|at| at < until) {
                *current = Some(until);
            }
        }
    }

    /// `false` if the pause lasts past the deadline.
    async fn wait_for_pause(&self) -> bool {
        let until = self.pause_until.lock().ok().and_then(|at| *at);
        match until {
            Some(until) if until >= self.stop_at => false,
            Some(until) if until > Instant::now() => {
                sleep_until(until).await;
                true
            }
            _ => true,
        }
    }

    /// Waits until one more request fits in the sliding window; `false` if
    /// that would be past the deadline. Waiters queue in order.
    async fn wait_for_rate_limit(&self) -> bool {
        if let Some(shared) = &self.shared {
            return self.wait_for_grant(shared).await;
        }
        let Some((limit, sent)) = &self.limit else {
            return true;
        };
        let window = guarded(limit.per);
        let mut sent = sent.lock().await;
        loop {
            let now = Instant::now();
            while sent.front().is_some_and(|at| *at + window <= now) {
                sent.pop_front();
            }
            if sent.len() < limit.max as usize {
                sent.push_back(now);
                return true;
            }
            let Some(oldest) = sent.front() else {
                return true;
            };
            let Some(free_at) = oldest.checked_add(window).filter(|at| *at < self.stop_at) else {
                return false;
            };
            sleep_until(free_at).await;
        }
    }

    /// Takes one request of the grant in hand, or a new grant from the
    /// store; `false` if none comes before the deadline.
    async fn wait_for_grant(&self, shared: &SharedCeiling) -> bool {
        let mut grant = shared.grant.lock().await;
        loop {
            let asked = Instant::now();
            if asked >= self.stop_at {
                return false;
            }
            if grant.0 > 0 && asked < grant.1 {
                grant.0 -= 1;
                return true;
            }
            let hold = grant_hold(shared.limit.per);
            let wait = match shared
                .store
                .reserve_requests(shared.block, &shared.limit, hold, chrono::Utc::now())
                .await
            {
                Ok(Grant::Granted) => {
                    *grant = (shared.block, asked + hold);
                    continue;
                }
                Ok(Grant::RetryAt(at)) => (at - chrono::Utc::now()).to_std().unwrap_or_default(),
                Err(err) => {
                    tracing::warn!(error = %err, "could not take a share of the rate ceiling");
                    Duration::from_millis(200)
                }
            };
            let Some(resume) = self.later(wait) else {
                return false;
            };
            sleep_until(resume).await;
        }
    }
}

/// A window of `per`, widened by a guard: arrival times at the marketplace
/// differ a little from send times (scheduling on either side), and a guard
/// of 2%, at least 100 ms, keeps every window there under the ceiling too.
fn guarded(per: Duration) -> Duration {
    per.saturating_add((per / 50).max(Duration::from_millis(100)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    fn settings() -> SyncSettings {
        SyncSettings {
            request_backoff: Backoff {
                base: Duration::from_millis(1),
                max: Duration::from_millis(4),
            },
            ..SyncSettings::default()
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn backoff_grows_exponentially_up_to_its_maximum() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
        };
        let ceilings: Vec<u64> = (1..=7).map(|a| backoff.ceiling(a).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(30));
        for attempt in 1..=7 {
            let ceiling = backoff.ceiling(attempt);
            for random in [0.0, 0.3, 0.999, 1.0, -5.0, 7.0] {
                let full = backoff.full_jitter(attempt, random);
                let equal = backoff.equal_jitter(attempt, random);
                assert!(full <= ceiling, "{full:?} > {ceiling:?}");
                assert!(equal >= ceiling / 2 && equal <= ceiling, "{equal:?}");
            }
        }
        assert_eq!(backoff.full_jitter(3, 0.0), Duration::ZERO);
        assert_eq!(backoff.full_jitter(3, f64::NAN), Duration::ZERO);
        let huge = Backoff {
            base: Duration::MAX,
            max: Duration::MAX,
        };
        assert_eq!(huge.ceiling(40), Duration::MAX);
        assert!(huge.equal_jitter(40, 0.999) >= Duration::MAX / 2);
    }

    #[tokio::test]
    async fn a_transient_error_is_tried_again_with_the_same_request() {
        let delivery = DeliveryGate::new(&settings(), far());
        let calls = AtomicUsize::new(0);
        let result = delivery
            .send(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(MarketplaceError::Timeout),
                    1 => Err(MarketplaceError::Server {
                        status: 503,
                        message: String::new(),
                    }),
                    _ => Ok("rr-1"),
                }
            })
            .await;
        assert!(matches!(result, Delivered::Accepted("rr-1")));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_permanent_error_is_not_tried_again() {
        let delivery = DeliveryGate::new(&settings(), far());
        let calls = AtomicUsize::new(0);
        let result: Delivered<()> = delivery
            .send(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(MarketplaceError::Rejected {
                    status: 422,
                    message: "bad".into(),
                })
            })
            .await;
        assert!(matches!(
            result,
            Delivered::Failed(MarketplaceError::Rejected { status: 422, .. })
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(delivery.breaker_reason(), None);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let delivery = DeliveryGate::new(&settings(), far());
        let calls = AtomicUsize::new(0);
        let result: Delivered<()> = delivery
            .send(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(MarketplaceError::Timeout)
            })
            .await;
        assert!(matches!(
            result,
            Delivered::Failed(MarketplaceError::Timeout)
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn bad_credentials_open_the_breaker_at_once() {
        let delivery = DeliveryGate::new(&settings(), far());
        let first: Delivered<()> = delivery
            .send(|| async { Err(MarketplaceError::Unauthorized { status: 401 }) })
            .await;
        assert!(matches!(
            first,
            Delivered::Failed(MarketplaceError::Unauthorized { .. })
        ));
        assert!(delivery.breaker_reason().unwrap().contains("credentials"));
        let calls = AtomicUsize::new(0);
        let second: Delivered<()> = delivery
            .send(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert!(matches!(second, Delivered::NotSent));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "nothing is sent after the breaker opens"
        );
    }

    #[tokio::test]
    async fn a_streak_of_transient_failures_opens_the_breaker_and_an_answer_resets_it() {
        let settings = SyncSettings {
            breaker_threshold: 4,
            request_attempts: 1,
            ..settings()
        };
        let delivery = DeliveryGate::new(&settings, far());
        let fail = || async { Err::<(), _>(MarketplaceError::Timeout) };
        for _ in 0..3 {
            delivery.send(fail).await;
        }
        delivery.send(|| async { Ok(()) }).await;
        for _ in 0..3 {
            delivery.send(fail).await;
        }
        assert_eq!(
            delivery.breaker_reason(),
            None,
            "the streak was broken by an answer"
        );
        delivery.send(fail).await;
        let reason = delivery.breaker_reason().expect("open after four in a row");
        assert!(reason.contains("4 transient failures in a row"), "{reason}");
    }

    #[tokio::test]
    async fn a_request_that_cannot_be_built_is_neither_an_answer_nor_an_outage() {
        let settings = SyncSettings {
            breaker_threshold: 2,
            ..settings()
        };
        let delivery = DeliveryGate::new(&settings, far());
        let calls = AtomicUsize::new(0);
        for _ in 0..20 {
            let result: Delivered<()> = delivery
                .send(|| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(MarketplaceError::Unsendable("builder error".into()))
                })
                .await;
            assert!(matches!(
                result,
                Delivered::Failed(MarketplaceError::Unsendable(_))
            ));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 20, "never tried twice");
        assert_eq!(delivery.breaker_reason(), None, "not an outage");
        assert_eq!(
            delivery.slow_start.available_permits(),
            1,
            "not an answer: the slow start goes on"
        );
        // Nor does it break a streak of real transient failures.
        let timeout = || async { Err::<(), _>(MarketplaceError::Timeout) };
        let one = SyncSettings {
            request_attempts: 1,
            ..settings
        };
        let delivery = DeliveryGate::new(&one, far());
        delivery.send(timeout).await;
        let _: Delivered<()> = delivery
            .send(|| async { Err(MarketplaceError::Unsendable("x".into())) })
            .await;
        delivery.send(timeout).await;
        assert!(delivery.breaker_reason().is_some());
    }

    #[tokio::test]
    async fn one_request_is_in_flight_until_the_marketplace_answers() {
        let settings = SyncSettings {
            breaker_threshold: 100,
            ..settings()
        };
        let delivery = Arc::new(DeliveryGate::new(&settings, far()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let run = |fail: bool| {
            let (delivery, in_flight, most) = (delivery.clone(), in_flight.clone(), most.clone());
            async move {
                delivery
                    .send(|| {
                        let (in_flight, most) = (in_flight.clone(), most.clone());
                        async move {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            if fail {
                                Err(MarketplaceError::Timeout)
                            } else {
                                Ok(())
                            }
                        }
                    })
                    .await
            }
        };
        // No answer yet: the failing requests go one at a time.
        futures_util::future::join_all((0..3).map(|_| run(true))).await;
        assert_eq!(most.load(Ordering::SeqCst), 1);
        run(false).await;
        futures_util::future::join_all((0..8).map(|_| run(false))).await;
        assert!(
            most.load(Ordering::SeqCst) > 1,
            "after an answer, requests overlap"
        );
    }

    #[tokio::test]
    async fn a_recent_answer_to_the_process_skips_the_slow_start_and_a_breaker_forgets_it() {
        let memory = Arc::new(AnswerMemory::default());
        let first = DeliveryGate::new(&settings(), far()).remembering(memory.clone());
        assert_eq!(first.slow_start.available_permits(), 1, "nothing known yet");
        first.send(|| async { Ok(()) }).await;
        let next = DeliveryGate::new(&settings(), far()).remembering(memory.clone());
        assert_eq!(
            next.slow_start.available_permits(),
            next.concurrency,
            "answered a moment ago"
        );
        let _: Delivered<()> = next
            .send(|| async { Err(MarketplaceError::Unauthorized { status: 401 }) })
            .await;
        let after = DeliveryGate::new(&settings(), far()).remembering(memory);
        assert_eq!(
            after.slow_start.available_permits(),
            1,
            "the breaker forgot it"
        );
    }

    #[tokio::test]
    async fn nothing_is_sent_past_the_deadline() {
        let delivery = DeliveryGate::new(&settings(), Instant::now());
        let result: Delivered<()> = delivery.send(|| async { Ok(()) }).await;
        assert!(matches!(result, Delivered::NotSent));
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_ceiling_holds_in_every_window() {
        let settings = SyncSettings {
            rate_limit: Some(RateLimit {
                max: 5,
                per: Duration::from_secs(10),
            }),
            ..settings()
        };
        let delivery = DeliveryGate::new(&settings, Instant::now() + Duration::from_secs(3600));
        let start = Instant::now();
        let mut sent_at = Vec::new();
        for _ in 0..12 {
            delivery.send(|| async { Ok(()) }).await;
            sent_at.push(Instant::now() - start);
        }
        for (i, at) in sent_at.iter().enumerate() {
            let in_window = sent_at[i..]
                .iter()
                .filter(|later| **later < *at + Duration::from_secs(10))
                .count();
            assert!(
                in_window <= 5,
                "{in_window} requests in the window from {at:?}"
            );
        }
        assert!(sent_at[11] >= Duration::from_secs(20), "{:?}", sent_at[11]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_every_request_of_the_run() {
        let delivery = DeliveryGate::new(&settings(), Instant::now() + Duration::from_secs(600));
        let start = Instant::now();
        let calls = AtomicUsize::new(0);
        let first = delivery
            .send(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(MarketplaceError::RateLimited {
                        retry_after: Some(Duration::from_secs(7)),
                    })
                } else {
                    Ok(())
                }
            })
            .await;
        assert!(matches!(first, Delivered::Accepted(())));
        assert!(Instant::now() - start >= Duration::from_secs(7));
        // Another request right after is not held: the pause is over.
        let before = Instant::now();
        delivery.send(|| async { Ok(()) }).await;
        assert!(Instant::now() - before < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_past_the_deadline_ends_the_run_with_the_reason() {
        // (Retry-After, said in the reason)
        let table = [
            (Some(Duration::from_secs(60)), "60s"),
            (Some(Duration::from_secs(u64::MAX)), "18446744073709551615s"),
            (Some(Duration::MAX), "18446744073709551615s"),
        ];
        for (retry_after, says) in table {
            let delivery = DeliveryGate::new(&settings(), Instant::now() + Duration::from_secs(5));
            let first: Delivered<()> = delivery
                .send(|| async { Err(MarketplaceError::RateLimited { retry_after }) })
                .await;
            assert!(
                matches!(first, Delivered::NotSent),
                "the rating that got the 429 is not recorded as failed"
            );
            let reason = delivery.stop_reason().expect("stopped early");
            assert!(
                reason.contains(says) && reason.contains("deadline"),
                "{reason}"
            );
            assert_eq!(delivery.breaker_reason(), None, "not an outage");
            let second: Delivered<()> = delivery.send(|| async { Ok(()) }).await;
            assert!(matches!(second, Delivered::NotSent));
        }
    }

    #[tokio::test]
    async fn a_redirect_opens_the_breaker_and_names_the_setting() {
        let delivery = DeliveryGate::new(&settings(), far());
        let first: Delivered<()> = delivery
            .send(|| async {
                Err(MarketplaceError::Redirected {
                    status: 303,
                    target: "host 127.0.0.2".into(),
                })
            })
            .await;
        assert!(matches!(
            first,
            Delivered::Failed(MarketplaceError::Redirected { .. })
        ));
        let reason = delivery.breaker_reason().expect("open");
        assert!(
            reason.starts_with("Marketplace answered 303") && reason.contains("ATOM_SAAS_API_URL"),
            "{reason}"
        );
    }

    /// Reads the credentials again: counts the reads, and makes the
    /// marketplace below accept them if `fixes` is set.
    #[derive(Clone, Default)]
    struct Renewal {
        reads: Arc<AtomicUsize>,
        renewed: Arc<AtomicBool>,
        fixes: bool,
    }

    impl Renew for Renewal {
        fn renew(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>> {
            Box::pin(async move {
                self.reads.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                if self.fixes {
                    self.renewed.store(true, Ordering::SeqCst);
                }
                self.fixes
            })
        }
    }

    /// A marketplace that refuses the credentials until they are renewed.
    async fn refusing_until_renewed(
        renewal: &Renewal,
        calls: &AtomicUsize,
    ) -> Result<(), MarketplaceError> {
        calls.fetch_add(1, Ordering::SeqCst);
        if renewal.renewed.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(MarketplaceError::Unauthorized { status: 401 })
        }
    }

    #[tokio::test]
    async fn refused_credentials_are_read_again_once_and_the_refused_requests_sent_again() {
        let renewal = Renewal {
            fixes: true,
            ..Renewal::default()
        };
        let memory = Arc::new(AnswerMemory::default());
        memory.set(Some(Instant::now()));
        // Full concurrency from the start: four requests refused together.
        let delivery = DeliveryGate::new(&settings(), far())
            .remembering(memory)
            .renewing(renewal.clone());
        let calls = AtomicUsize::new(0);
        let sent = futures_util::future::join_all(
            (0..4).map(|_| delivery.send(|| refusing_until_renewed(&renewal, &calls))),
        )
        .await;
        assert!(
            sent.iter().all(|d| matches!(d, Delivered::Accepted(()))),
            "{sent:?}"
        );
        assert_eq!(renewal.reads.load(Ordering::SeqCst), 1, "read again once");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            8,
            "each refused request sent again once"
        );
        assert_eq!(delivery.breaker_reason(), None);
    }

    #[tokio::test]
    async fn credentials_that_did_not_change_stop_the_run_as_before() {
        let renewal = Renewal::default();
        let delivery = DeliveryGate::new(&settings(), far()).renewing(renewal.clone());
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let sent = delivery
                .send(|| refusing_until_renewed(&renewal, &calls))
                .await;
            assert!(!matches!(sent, Delivered::Accepted(())));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "nothing sent after the breaker"
        );
        assert_eq!(renewal.reads.load(Ordering::SeqCst), 1);
        assert!(delivery
            .breaker_reason()
            .is_some_and(|reason| reason.contains("ATOM_SAAS_API_TOKEN")));
    }

    #[tokio::test]
    async fn new_credentials_refused_too_are_not_read_a_second_time() {
        let renewal = Renewal::default();
        let changed = Renewal {
            reads: renewal.reads.clone(),
            fixes: true,
            // Says it changed, yet the marketplace still refuses.
            renewed: Arc::new(AtomicBool::new(false)),
        };
        let delivery = DeliveryGate::new(&settings(), far()).renewing(changed);
        let calls = AtomicUsize::new(0);
        let sent = delivery
            .send(|| refusing_until_renewed(&renewal, &calls))
            .await;
        assert!(matches!(
            sent,
            Delivered::Failed(MarketplaceError::Unauthorized { .. })
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "sent again once");
        assert_eq!(renewal.reads.load(Ordering::SeqCst), 1);
        assert!(delivery.breaker_reason().is_some());
    }
}
