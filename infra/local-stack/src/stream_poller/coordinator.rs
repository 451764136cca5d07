//! The task behind a [`PollerHandle`](super::PollerHandle): the stream's
//! shards, found by DescribeStream when the poller starts and every
//! `shard_discovery_interval` after, each read by its own
//! [`ShardReader`]; a child shard only once its parent is read to its end.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{Shard, ShardIteratorType};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::batch::BatchHandler;
use super::invoker::Invoker;
use super::on_failure::{FailureDestination, ShardInfo};
use super::shard::{ShardReader, Start};
use super::PollerError;

/// The poller's state: one reader per shard, and what became of each.
pub(crate) struct Poller<I, D> {
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub stream_arn: String,
    pub region: String,
    pub handler: Arc<BatchHandler<I, D>>,
    pub poll_interval: Duration,
    pub workers: JoinSet<String>,
    pub running: HashSet<String>,
    pub done: HashSet<String>,
    /// Shards whose parent is still being read.
    pub waiting: Vec<Shard>,
}

impl<I: Invoker, D: FailureDestination> Poller<I, D> {
    /// A poller of `stream_arn` reading no shard yet.
    pub fn new(
        streams: aws_sdk_dynamodbstreams::Client,
        stream_arn: String,
        region: String,
        handler: Arc<BatchHandler<I, D>>,
        poll_interval: Duration,
    ) -> Self {
        Self {
            streams,
            stream_arn,
            region,
            handler,
            poll_interval,
            workers: JoinSet::new(),
            running: HashSet::new(),
            done: HashSet::new(),
            waiting: Vec::new(),
        }
    }

    pub async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        discovery: Duration,
    ) -> Result<(), PollerError> {
        let mut next_discovery = tokio::time::Instant::now() + discovery;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some(finished) = self.workers.join_next() => {
                    let id = finished.map_err(|e| PollerError::Task(e.to_string()))?;
                    self.running.remove(&id);
                    self.done.insert(id);
                    self.release_waiting();
                }
                _ = tokio::time::sleep_until(next_discovery) => {
                    next_discovery = tokio::time::Instant::now() + discovery;
                    match self.describe().await {
                        Ok(shards) => shards.into_iter().for_each(|s| self.admit(s)),
                        Err(err) => eprintln!("stream-poller: {err}"),
                    }
                }
            }
        }
        self.workers.shutdown().await;
        Ok(())
    }

    /// Every shard of the stream (DescribeStream, page by page).
    pub async fn describe(&self) -> Result<Vec<Shard>, PollerError> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start)
                .send()
                .await
                .map_err(|e| PollerError::Streams(crate::sdk_message(e)))?;
            let Some(description) = out.stream_description() else {
                return Ok(shards);
            };
            shards.extend(description.shards().iter().cloned());
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => return Ok(shards),
            }
        }
    }

    /// The starting position LATEST: a closed shard has nothing new and
    /// counts as read; each open one is read from its iterator taken now.
    pub async fn start_at_latest(&mut self, shards: Vec<Shard>) -> Result<(), PollerError> {
        for shard in &shards {
            let Some(id) = shard.shard_id() else { continue };
            let closed = shard
                .sequence_number_range()
                .is_some_and(|r| r.ending_sequence_number().is_some());
            if closed {
                self.done.insert(id.to_owned());
            }
        }
        for shard in shards {
            let Some(id) = shard.shard_id().map(str::to_owned) else {
                continue;
            };
            if self.done.contains(&id) {
                continue;
            }
            match self.latest_iterator(&id).await? {
                Some(iterator) => self.launch(id, Start::Iterator(iterator)),
                None => {
                    self.done.insert(id);
                }
            }
        }
        Ok(())
    }

    /// The shard's LATEST iterator, if it gives one.
    async fn latest_iterator(&self, id: &str) -> Result<Option<String>, PollerError> {
        let iterator = self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(id)
            .shard_iterator_type(ShardIteratorType::Latest)
            .send()
            .await
            .map_err(|e| PollerError::Streams(crate::sdk_message(e)))?;
        Ok(iterator.shard_iterator().map(str::to_owned))
    }

    /// A shard not seen before: read from its start, after its parent.
    pub fn admit(&mut self, shard: Shard) {
        let Some(id) = shard.shard_id() else { return };
        let known = self.running.contains(id)
            || self.done.contains(id)
            || self.waiting.iter().any(|w| w.shard_id() == Some(id));
        if known {
            return;
        }
        if self.parent_pending(&shard) {
            self.waiting.push(shard);
        } else {
            self.launch(id.to_owned(), Start::TrimHorizon);
        }
    }

    fn parent_pending(&self, shard: &Shard) -> bool {
        shard.parent_shard_id().is_some_and(|parent| {
            self.running.contains(parent)
                || self.waiting.iter().any(|w| w.shard_id() == Some(parent))
        })
    }

    fn release_waiting(&mut self) {
        let waiting = std::mem::take(&mut self.waiting);
        for shard in waiting {
            self.admit(shard);
        }
    }

    pub fn launch(&mut self, id: String, start: Start) {
        let reader = ShardReader {
            streams: self.streams.clone(),
            handler: self.handler.clone(),
            shard: ShardInfo {
                stream_arn: self.stream_arn.clone(),
                shard_id: id.clone(),
            },
            region: self.region.clone(),
            poll_interval: self.poll_interval,
        };
        self.running.insert(id);
        self.workers.spawn(reader.run(start));
    }
}
