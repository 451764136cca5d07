//! One batch from the moment it is gathered until every record in it is
//! either taken by the function or given up: Lambda's retry rules for a
//! stream event source mapping, apart from the stream so they can be tested
//! with a fake function and fake records.
//!
//! - The function's answer, when `ReportBatchItemFailures` is on:
//!   `{"batchItemFailures": [{"itemIdentifier": "<SequenceNumber>"}]}`
//!   means the records before the earliest named one are done and the batch
//!   is retried from it; an empty or null list, `{}` or `null` mean all done;
//!   an empty, null or unknown identifier, or an answer of another shape,
//!   fails the whole batch. Without the setting any answer means all done.
//! - A function error, with `BisectBatchOnFunctionError`, splits the batch in
//!   two halves that are retried one after the other, each counting its
//!   retries from the parent's count (a split is not a retry, as in Lambda);
//!   a batch of one, or without bisecting, is retried whole.
//! - A batch is given up once it failed more than `MaximumRetryAttempts`
//!   times; a record older than `MaximumRecordAgeInSeconds` is given up
//!   before it is invoked. Given-up records go to the on-failure
//!   destination as one message per batch, and the shard moves on.
//! - An unreachable function is retried without counting a retry (Lambda
//!   does the same for throttling), until the records are too old.
//! - Between two attempts of the same batch the handler waits a short
//!   backoff: [`Backoff`], 100 ms doubling to 2 s by default (Lambda's own
//!   delays are not documented; these keep a local run quick).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::event::{lambda_event, ChangeRecord};
use super::invoker::{InvokeError, Invoker};
use super::on_failure::{
    on_failure_message, Condition, FailureDestination, LastResponse, ShardInfo,
};
use super::settings::MappingSettings;
use super::stats::{add, PollerStats};

/// The wait between two attempts of one batch: `first`, doubling after
/// each failure, never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The wait after `failures` failed attempts in a row (none after none).
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// Invokes the function with batches and applies the mapping's rules to
/// its answers.
pub struct BatchHandler<I, D> {
    settings: MappingSettings,
    invoker: I,
    destination: D,
    stats: Arc<PollerStats>,
    backoff: Backoff,
    function_arn: String,
    log_stats: bool,
}

/// A run of records still to be delivered, with what was tried so far.
struct Work {
    records: Vec<ChangeRecord>,
    /// Failed attempts that count against `MaximumRetryAttempts`.
    retries: u32,
    /// Invocations that included these records.
    invocations: u32,
    /// Failed attempts in a row, for the backoff.
    failures_in_a_row: u32,
    last: Option<LastResponse>,
}

/// What an answer means for the batch.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    AllDone,
    /// The records from this index on failed; `reported` identifiers.
    FailedFrom {
        index: usize,
        reported: usize,
    },
    /// The whole batch failed: the answer named no valid record.
    Invalid(String),
}

impl<I: Invoker, D: FailureDestination> BatchHandler<I, D> {
    pub fn new(
        settings: MappingSettings,
        invoker: I,
        destination: D,
        stats: Arc<PollerStats>,
        function_arn: String,
    ) -> Self {
        Self {
            settings,
            invoker,
            destination,
            stats,
            backoff: Backoff::default(),
            function_arn,
            log_stats: false,
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Print a JSON line of counters to stderr after every invocation.
    pub fn with_stats_log(mut self, on: bool) -> Self {
        self.log_stats = on;
        self
    }

    pub fn settings(&self) -> &MappingSettings {
        &self.settings
    }

    pub fn stats(&self) -> &Arc<PollerStats> {
        &self.stats
    }

    /// Delivers `records` (in stream order), retrying and giving up as the
    /// mapping says; returns when each record is done or given up.
    pub async fn handle(&self, shard: &ShardInfo, records: Vec<ChangeRecord>) {
        let mut queue = VecDeque::from([Work {
            records,
            retries: 0,
            invocations: 0,
            failures_in_a_row: 0,
            last: None,
        }]);
        while let Some(work) = queue.pop_front() {
            self.deliver(shard, work, &mut queue).await;
        }
    }

    /// Invokes the function with `work` until its records are done or given
    /// up, or it is split in two (the halves go to the front of `queue`).
    async fn deliver(&self, shard: &ShardInfo, mut work: Work, queue: &mut VecDeque<Work>) {
        loop {
            tokio::time::sleep(self.backoff.delay(work.failures_in_a_row)).await;
            self.drop_expired(shard, &mut work).await;
            if work.records.is_empty() {
                return;
            }
            let outcome = self.invoker.invoke(lambda_event(&work.records)).await;
            let count = work.records.len();
            if !matches!(outcome, Err(InvokeError::Unavailable(_))) {
                work.invocations += 1;
                add(&self.stats.invocations, 1);
            }
            let finished = match outcome {
                Ok(answer) => self.answered(shard, &mut work, &answer).await,
                Err(InvokeError::Function { .. }) => {
                    self.function_failed(shard, &mut work, queue).await
                }
                Err(InvokeError::Unavailable(reason)) => {
                    add(&self.stats.invoke_unavailable, 1);
                    work.failures_in_a_row += 1;
                    self.log(shard, count, &format!("unavailable: {reason}"));
                    false
                }
            };
            if finished {
                return;
            }
        }
    }

    /// The function answered: the records it took are done, the rest are
    /// tried again (or given up once the retries are spent). True when
    /// `work` needs no other attempt.
    async fn answered(&self, shard: &ShardInfo, work: &mut Work, answer: &Value) -> bool {
        let count = work.records.len();
        work.last = Some(LastResponse {
            status_code: 200,
            function_error: None,
        });
        match self.read_answer(&work.records, answer) {
            Answer::AllDone => {
                add(&self.stats.records_delivered, count);
                self.log(shard, count, "ok");
                return true;
            }
            Answer::FailedFrom { index, reported } => {
                add(&self.stats.records_delivered, index);
                add(&self.stats.batch_item_failures, reported);
                self.log(shard, count, "batch_item_failures");
                work.records.drain(..index);
            }
            Answer::Invalid(reason) => {
                self.log(shard, count, &format!("invalid answer: {reason}"));
            }
        }
        self.count_retry(shard, work).await
    }

    /// The function failed: the batch is split in two halves at the front
    /// of `queue` when the mapping bisects, else tried again whole (or
    /// given up once the retries are spent). True when `work` needs no
    /// other attempt.
    async fn function_failed(
        &self,
        shard: &ShardInfo,
        work: &mut Work,
        queue: &mut VecDeque<Work>,
    ) -> bool {
        let count = work.records.len();
        add(&self.stats.function_errors, 1);
        work.last = Some(LastResponse {
            status_code: 200,
            function_error: Some("Unhandled".into()),
        });
        self.log(shard, count, "function_error");
        if self.settings.bisect_batch_on_function_error && count > 1 {
            let mut first = std::mem::take(&mut work.records);
            let second = first.split_off(count / 2);
            let half = |records| Work {
                records,
                retries: work.retries,
                invocations: work.invocations,
                failures_in_a_row: work.failures_in_a_row + 1,
                last: work.last.clone(),
            };
            queue.push_front(half(second));
            queue.push_front(half(first));
            return true;
        }
        self.count_retry(shard, work).await
    }

    /// Counts a failed attempt; gives the records up (and returns true) once
    /// the retries are spent.
    async fn count_retry(&self, shard: &ShardInfo, work: &mut Work) -> bool {
        work.retries += 1;
        work.failures_in_a_row += 1;
        let spent = self
            .settings
            .maximum_retry_attempts
            .is_some_and(|max| work.retries > max);
        if spent {
            let records = std::mem::take(&mut work.records);
            self.give_up(shard, &records, Condition::RetryAttemptsExhausted, work)
                .await;
        }
        spent
    }

    /// Gives up the leading records older than the mapping allows (records
    /// are in stream order, so the old ones come first).
    async fn drop_expired(&self, shard: &ShardInfo, work: &mut Work) {
        let Some(max_age) = self.settings.maximum_record_age else {
            return;
        };
        let now = chrono::Utc::now();
        let expired = work
            .records
            .iter()
            .take_while(|r| (now - r.created).to_std().is_ok_and(|age| age > max_age))
            .count();
        if expired > 0 {
            let records: Vec<ChangeRecord> = work.records.drain(..expired).collect();
            self.give_up(shard, &records, Condition::RecordAgeExceeded, work)
                .await;
        }
    }

    async fn give_up(
        &self,
        shard: &ShardInfo,
        records: &[ChangeRecord],
        condition: Condition,
        work: &Work,
    ) {
        add(&self.stats.records_given_up, records.len());
        let message = on_failure_message(
            shard,
            &self.function_arn,
            records,
            condition,
            work.invocations,
            work.last.as_ref(),
        );
        match self.destination.send(message).await {
            Ok(true) => add(&self.stats.batches_sent_to_on_failure, 1),
            Ok(false) => {}
            Err(reason) => {
                add(&self.stats.on_failure_send_errors, 1);
                eprintln!(
                    "stream-poller: the on-failure message for {} record(s) of {} was not sent: {reason}",
                    records.len(),
                    shard.shard_id
                );
            }
        }
        self.log(shard, records.len(), condition.as_str());
    }

    fn read_answer(&self, records: &[ChangeRecord], answer: &Value) -> Answer {
        if !self.settings.report_batch_item_failures {
            return Answer::AllDone;
        }
        let failures = match answer {
            Value::Null => return Answer::AllDone,
            Value::Object(map) => match map.get("batchItemFailures") {
                None | Some(Value::Null) => return Answer::AllDone,
                Some(Value::Array(failures)) if failures.is_empty() => return Answer::AllDone,
                Some(Value::Array(failures)) => failures,
                Some(other) => {
                    return Answer::Invalid(format!("batchItemFailures is {other}"));
                }
            },
            other => return Answer::Invalid(format!("an answer of {other}")),
        };
        let mut earliest = usize::MAX;
        for failure in failures {
            let id = failure.get("itemIdentifier").and_then(Value::as_str);
            match id.and_then(|id| records.iter().position(|r| r.sequence_number == id)) {
                Some(index) => earliest = earliest.min(index),
                None => return Answer::Invalid(format!("itemIdentifier in {failure}")),
            }
        }
        Answer::FailedFrom {
            index: earliest,
            reported: failures.len(),
        }
    }

    fn log(&self, shard: &ShardInfo, records: usize, outcome: &str) {
        if self.log_stats {
            eprintln!(
                "{}",
                json!({
                    "stream_poller": {
                        "shard": shard.shard_id,
                        "records": records,
                        "outcome": outcome,
                        "stats": self.stats.snapshot(),
                    }
                })
            );
        }
    }
}

#[cfg(test)]
mod tests;
