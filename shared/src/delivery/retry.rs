//! Retries within a run: the exponential backoff with jitter, and what a
//! transient failure leads to (another attempt, when; or none).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::DeliveryGate;
use crate::config::Backoff;
use crate::marketplace::MarketplaceError;

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

/// `random` within [0, 1], NaN as 0: `Duration::mul_f64` panics on NaN.
fn unit(random: f64) -> f64 {
    if random.is_nan() {
        0.0
    } else {
        random.clamp(0.0, 1.0)
    }
}

/// What follows a transient failure.
pub(super) enum Retry {
    /// Another attempt, at this instant.
    At(Instant),
    /// None: the failure is the request's answer.
    GiveUp,
    /// None, and the run stops early: a pause past its deadline.
    StopEarly,
}

impl DeliveryGate {
    /// After transient `error` on attempt `attempt`: counts the failure
    /// towards the breaker, pauses the whole run for a 429, and tells when
    /// to try again, if at all.
    pub(super) fn after_transient(&self, error: &MarketplaceError, attempt: u32) -> Retry {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::SeqCst) + 1;
        if failures >= self.breaker_threshold {
            self.open_breaker(format!(
                "Marketplace unavailable: {failures} transient failures in a row (last: {error})"
            ));
            return Retry::GiveUp;
        }
        let mut wait = self.backoff.full_jitter(attempt, fastrand::f64());
        if let MarketplaceError::RateLimited { retry_after } = error {
            let pause = retry_after.unwrap_or(self.backoff.ceiling(attempt));
            let Some(until) = self.later(pause) else {
                self.stop_early(format!(
                    "Marketplace asked for a pause of {}s (429 Retry-After), past this run's deadline; the rest waits for the next run",
                    pause.as_secs()
                ));
                return Retry::StopEarly;
            };
            self.pause_all(until);
            wait = wait.max(pause);
        }
        let Some(resume) = self.later(wait) else {
            return Retry::GiveUp;
        };
        if attempt >= self.attempts {
            return Retry::GiveUp;
        }
        Retry::At(resume)
    }

    /// `wait` from now, if that is before the deadline; `None` past it
    /// (however large `wait` is: the sum is checked).
    pub(super) fn later(&self, wait: Duration) -> Option<Instant> {
        Instant::now()
            .checked_add(wait)
            .filter(|at| *at < self.stop_at)
    }
}
