//! What the poller has done so far, shared between its tasks and readable
//! at any time (tests poll it; the CLI prints it after every invocation).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counters, updated as the poller works.
#[derive(Debug, Default)]
pub struct PollerStats {
    pub(crate) invocations: AtomicU64,
    pub(crate) records_seen: AtomicU64,
    pub(crate) records_filtered_out: AtomicU64,
    pub(crate) records_delivered: AtomicU64,
    pub(crate) batch_item_failures: AtomicU64,
    pub(crate) function_errors: AtomicU64,
    pub(crate) invoke_unavailable: AtomicU64,
    pub(crate) records_given_up: AtomicU64,
    pub(crate) batches_sent_to_on_failure: AtomicU64,
    pub(crate) on_failure_send_errors: AtomicU64,
    pub(crate) stream_errors: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Invocations made, whatever their outcome.
    pub invocations: u64,
    /// Records read from the stream.
    pub records_seen: u64,
    /// Records the mapping's filter dropped (never invoked).
    pub records_filtered_out: u64,
    /// Records the function took (its answer did not name them as failed).
    pub records_delivered: u64,
    /// Item identifiers the function named as failed.
    pub batch_item_failures: u64,
    /// Invocations that ended in a function error.
    pub function_errors: u64,
    /// Invocations that could not reach the function.
    pub invoke_unavailable: u64,
    /// Records given up (too many retries, too old).
    pub records_given_up: u64,
    /// On-failure messages sent to the destination queue.
    pub batches_sent_to_on_failure: u64,
    /// On-failure messages the destination refused.
    pub on_failure_send_errors: u64,
    /// Stream reads that failed (retried).
    pub stream_errors: u64,
}

impl PollerStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        StatsSnapshot {
            invocations: get(&self.invocations),
            records_seen: get(&self.records_seen),
            records_filtered_out: get(&self.records_filtered_out),
            records_delivered: get(&self.records_delivered),
            batch_item_failures: get(&self.batch_item_failures),
            function_errors: get(&self.function_errors),
            invoke_unavailable: get(&self.invoke_unavailable),
            records_given_up: get(&self.records_given_up),
            batches_sent_to_on_failure: get(&self.batches_sent_to_on_failure),
            on_failure_send_errors: get(&self.on_failure_send_errors),
            stream_errors: get(&self.stream_errors),
        }
    }
}

pub(crate) fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::SeqCst);
}
