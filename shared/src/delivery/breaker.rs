//! The circuit breaker and the early stop: why a run sends nothing more,
//! once known.

use std::sync::Mutex;

use super::DeliveryGate;

/// Why a run stops sending, once known: the first reason given stands.
#[derive(Debug, Default)]
pub(super) struct Reason(Mutex<Option<String>>);

impl Reason {
    pub(super) fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|reason| reason.clone())
    }

    /// Keeps `reason` and logs it with `what`, unless a reason was kept
    /// already.
    pub(super) fn set_once(&self, reason: String, what: &str) {
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
pub(super) fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

impl DeliveryGate {
    /// Why the breaker opened, if it did.
    pub fn breaker_reason(&self) -> Option<String> {
        self.breaker.get()
    }

    pub(super) fn open_breaker(&self, reason: String) {
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

    pub(super) fn stop_early(&self, reason: String) {
        self.stopped.set_once(reason, "this run sends nothing more");
    }
}
