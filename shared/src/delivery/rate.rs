//! Pacing: the whole run's pause after a 429, and the rate ceiling, kept
//! by the gate alone or shared with every other sender through the store.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::DeliveryGate;
use crate::config::RateLimit;
use crate::store::rate_window::{grant_hold, Grant};
use crate::store::Store;

/// The ceiling as the store shares it, and the grant in hand: how many
/// requests it has left and until when they may go out.
pub(super) struct SharedCeiling {
    store: Store,
    /// The ceiling, its window widened by the guard.
    limit: RateLimit,
    /// Requests asked for at once.
    block: u32,
    grant: tokio::sync::Mutex<(u32, Instant)>,
}

impl DeliveryGate {
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

    /// Holds every request of the run back until `until`.
    pub(super) fn pause_all(&self, until: Instant) {
        if let Ok(mut current) = self.pause_until.lock() {
            if current.is_none_or(|at| at < until) {
                *current = Some(until);
            }
        }
    }

    /// `false` if the pause lasts past the deadline.
    pub(super) async fn wait_for_pause(&self) -> bool {
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
    pub(super) async fn wait_for_rate_limit(&self) -> bool {
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
