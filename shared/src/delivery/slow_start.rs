//! The slow start: one request in flight until the marketplace answers,
//! then the run's concurrency; and the process's memory of that answer,
//! which lets the next gate skip it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::DeliveryGate;

/// How long a process trusts that the marketplace is up after its last
/// answer, and skips the slow start.
pub const ANSWER_REMEMBERED: Duration = Duration::from_secs(60);

/// When the marketplace last answered this process, shared by the gates of
/// its runs; forgotten when a breaker opens.
#[derive(Debug, Default)]
pub struct AnswerMemory(Mutex<Option<Instant>>);

impl AnswerMemory {
    pub(super) fn recent(&self) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| at.elapsed() < ANSWER_REMEMBERED)
    }

    pub(super) fn set(&self, at: Option<Instant>) {
        if let Ok(mut kept) = self.0.lock() {
            *kept = at;
        }
    }
}

impl DeliveryGate {
    /// The same gate, remembering answers in `memory` and skipping the
    /// slow start if the marketplace answered this process recently.
    pub fn remembering(mut self, memory: Arc<AnswerMemory>) -> Self {
        if memory.recent() && !self.answered.swap(true, Ordering::SeqCst) {
            self.slow_start
                .add_permits(self.concurrency.saturating_sub(1));
        }
        self.memory = Some(memory);
        self
    }

    /// The first answer ends the slow start; any answer ends a failure streak.
    pub(super) fn on_answer(&self) {
        self.consecutive_failures.store(0, Ordering::SeqCst);
        if let Some(memory) = &self.memory {
            memory.set(Some(Instant::now()));
        }
        if !self.answered.swap(true, Ordering::SeqCst) {
            self.slow_start
                .add_permits(self.concurrency.saturating_sub(1));
        }
    }
}
