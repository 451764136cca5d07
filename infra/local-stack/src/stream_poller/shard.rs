//! One shard, read in order: GetRecords in a loop (every `poll_interval`
//! while the shard has nothing new), the filter, batches of up to
//! `BatchSize` records or whatever came within `MaximumBatchingWindow` of
//! the first, and one batch in flight at a time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_dynamodbstreams::Client;
use tokio::time::Instant;

use super::batch::BatchHandler;
use super::event::ChangeRecord;
use super::filter::matches_any;
use super::invoker::Invoker;
use super::on_failure::{FailureDestination, ShardInfo};
use super::stats::add;

/// Where a shard's reading starts.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    /// An iterator taken before the poller started (LATEST must be taken
    /// then, or records written meanwhile would be missed).
    Iterator(String),
    /// The oldest record the shard holds (shards found later, and
    /// `TRIM_HORIZON` mappings).
    TrimHorizon,
}

pub(crate) struct ShardReader<I, D> {
    pub streams: Client,
    pub handler: Arc<BatchHandler<I, D>>,
    pub shard: ShardInfo,
    pub region: String,
    pub poll_interval: Duration,
}

/// How long to wait after a failed stream read.
const READ_ERROR_PAUSE: Duration = Duration::from_secs(1);

impl<I: Invoker, D: FailureDestination> ShardReader<I, D> {
    /// Reads the shard until it is closed and drained (or the task is
    /// dropped); returns the shard's id.
    pub async fn run(self, start: Start) -> String {
        let settings = self.handler.settings();
        let batch_size = settings.batch_size.max(1);
        let window = settings.batching_window;
        let mut iterator = match start {
            Start::Iterator(iterator) => Some(iterator),
            Start::TrimHorizon => self.fresh_iterator(None).await,
        };
        let mut last_read: Option<String> = None;
        let mut pending: VecDeque<(Instant, ChangeRecord)> = VecDeque::new();
        loop {
            if let Some((first_at, _)) = pending.front() {
                let closed = iterator.is_none();
                if pending.len() >= batch_size || first_at.elapsed() >= window || closed {
                    let take = pending.len().min(batch_size);
                    let batch = pending.drain(..take).map(|(_, r)| r).collect();
                    self.handler.handle(&self.shard, batch).await;
                    continue;
                }
            }
            let Some(current) = iterator.clone() else {
                return self.shard.shard_id.clone();
            };
            let read = self
                .streams
                .get_records()
                .shard_iterator(current.clone())
                .limit(1000)
                .send()
                .await;
            let out = match read {
                Ok(out) => out,
                Err(err) => {
                    iterator = self
                        .after_read_error(err, current, last_read.as_deref())
                        .await;
                    continue;
                }
            };
            iterator = out.next_shard_iterator().map(str::to_owned);
            let records = out.records();
            self.gather(records, &mut last_read, &mut pending);
            if records.is_empty() && iterator.is_some() {
                // Nothing new: wait before asking again, but not past the
                // moment the gathered batch is due.
                let wait = match pending.front() {
                    Some((first_at, _)) => self
                        .poll_interval
                        .min(window.saturating_sub(first_at.elapsed())),
                    None => self.poll_interval,
                };
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Where to read next after a failed read at `current`: a fresh
    /// iterator after `last_read` if `current` expired, none if the shard is
    /// gone, else `current` again after a pause.
    async fn after_read_error(
        &self,
        err: aws_sdk_dynamodbstreams::error::SdkError<
            aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError,
        >,
        current: String,
        last_read: Option<&str>,
    ) -> Option<String> {
        let service = err.as_service_error();
        if service.is_some_and(|e| {
            e.is_expired_iterator_exception() || e.is_trimmed_data_access_exception()
        }) {
            return self.fresh_iterator(last_read).await;
        }
        add(&self.handler.stats().stream_errors, 1);
        let shard = &self.shard.shard_id;
        if service.is_some_and(|e| e.is_resource_not_found_exception()) {
            eprintln!(
                "stream-poller: shard {shard} is gone: {}",
                crate::sdk_message(err)
            );
            return None;
        }
        eprintln!(
            "stream-poller: GetRecords on {shard}: {}",
            crate::sdk_message(err)
        );
        tokio::time::sleep(READ_ERROR_PAUSE).await;
        Some(current)
    }

    /// Adds the records the mapping's filters let through to `pending`,
    /// noting the last one read.
    fn gather(
        &self,
        records: &[aws_sdk_dynamodbstreams::types::Record],
        last_read: &mut Option<String>,
        pending: &mut VecDeque<(Instant, ChangeRecord)>,
    ) {
        let stats = self.handler.stats();
        add(&stats.records_seen, records.len());
        for record in records {
            let change =
                match ChangeRecord::from_stream(record, &self.shard.stream_arn, &self.region) {
                    Ok(change) => change,
                    Err(err) => {
                        add(&stats.stream_errors, 1);
                        eprintln!("stream-poller: skipped on {}: {err}", self.shard.shard_id);
                        continue;
                    }
                };
            *last_read = Some(change.sequence_number.clone());
            if matches_any(&self.handler.settings().filters, &change.event) {
                pending.push_back((Instant::now(), change));
            } else {
                add(&stats.records_filtered_out, 1);
            }
        }
    }

    /// An iterator just after `after`, or at the oldest record; retried
    /// until the stream answers (none if the shard is gone).
    async fn fresh_iterator(&self, after: Option<&str>) -> Option<String> {
        loop {
            let request = self
                .streams
                .get_shard_iterator()
                .stream_arn(&self.shard.stream_arn)
                .shard_id(&self.shard.shard_id);
            let request = match after {
                Some(sequence) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(sequence),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            match request.send().await {
                Ok(out) => return out.shard_iterator().map(str::to_owned),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    return None
                }
                Err(err) => {
                    add(&self.handler.stats().stream_errors, 1);
                    eprintln!(
                        "stream-poller: GetShardIterator on {}: {}",
                        self.shard.shard_id,
                        crate::sdk_message(err)
                    );
                    tokio::time::sleep(READ_ERROR_PAUSE).await;
                }
            }
        }
    }
}
