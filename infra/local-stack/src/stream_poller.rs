//! The ratings table's stream, locally: there is no event source mapping
//! outside AWS, so this poller plays it. It finds the table's stream,
//! reads every shard (new shards too, a child after its parent), applies
//! the mapping's filter, gathers batches and invokes the function
//! through an [`Invoker`] (the Runtime API of `cargo lambda watch`, or a
//! closure in tests) with the DynamoDB stream event, honouring batch item
//! failures, bisecting, retries, the maximum record age and the on-failure
//! destination as the mapping in `template.yaml` says ([`MappingSettings`]).
//!
//! The files: `settings.rs` (the template's `RatingChanges` event),
//! `filter.rs`, `event.rs` (Lambda's record shape), `invoker.rs`,
//! `batch.rs` (the retry rules), `on_failure.rs`, `coordinator.rs` (the
//! shards), `shard.rs` (reading one shard), `stats.rs`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use local_stack::stream_poller::*;
//! let settings = MappingSettings::from_template_file(&local_stack::tables::template_path())?;
//! let invoker = RuntimeApiInvoker::new("http://127.0.0.1:9000", &settings.function_name)?;
//! let poller = start(
//!     &local_stack::dynamodb_client().await?,
//!     local_stack::streams_client().await?,
//!     PollerOptions::new("ratings", settings),
//!     invoker,
//!     OnFailure::Discard,
//! )
//! .await?;
//! println!("{:?}", poller.stats());
//! poller.stop().await?;
//! # Ok(()) }
//! ```

pub mod batch;
mod coordinator;
pub mod event;
pub mod filter;
pub mod invoker;
pub mod on_failure;
pub mod settings;
mod shard;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use batch::{Backoff, BatchHandler};
pub use event::{lambda_event, ChangeRecord};
pub use filter::{FilterError, FilterPattern};
pub use invoker::{invoker_fn, FnInvoker, InvokeError, Invoker, RuntimeApiInvoker};
pub use on_failure::{FailureDestination, OnFailure, ShardInfo};
pub use settings::{MappingSettings, SettingsError, StartingPosition};
pub use stats::{PollerStats, StatsSnapshot};

use coordinator::Poller;

#[derive(Debug, Error)]
pub enum PollerError {
    #[error("DynamoDB: {0}")]
    DynamoDb(String),
    #[error(
        "table {0} has no stream: the template's RatingsTable needs a StreamSpecification \
         (NEW_AND_OLD_IMAGES), or enable one with stream_poller::enable_stream"
    )]
    NoStream(String),
    #[error("DynamoDB Streams: {0}")]
    Streams(String),
    #[error("the poller stopped: {0}")]
    Task(String),
}

/// What the poller needs besides its clients, its function and its
/// on-failure destination.
#[derive(Debug, Clone)]
pub struct PollerOptions {
    pub table_name: String,
    pub settings: MappingSettings,
    /// The wait between two attempts of one batch.
    pub backoff: Backoff,
    /// The wait before reading a shard again after it had nothing new.
    pub poll_interval: Duration,
    /// How often the stream is described to find new shards.
    pub shard_discovery_interval: Duration,
    /// Print a JSON line of counters to stderr after every invocation.
    pub log_stats: bool,
}

impl PollerOptions {
    pub fn new(table_name: impl Into<String>, settings: MappingSettings) -> Self {
        Self {
            table_name: table_name.into(),
            settings,
            backoff: Backoff::default(),
            poll_interval: Duration::from_millis(100),
            shard_discovery_interval: Duration::from_secs(1),
            log_stats: false,
        }
    }
}

/// A running poller.
pub struct PollerHandle {
    stream_arn: String,
    stats: Arc<PollerStats>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<Result<(), PollerError>>>,
}

impl PollerHandle {
    /// The stream being read.
    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The live counters, to read after the handle is gone.
    pub fn shared_stats(&self) -> Arc<PollerStats> {
        self.stats.clone()
    }

    /// Waits until the poller ends by itself (it only does on an error).
    pub async fn wait(&mut self) -> Result<(), PollerError> {
        match self.task.take() {
            Some(task) => task.await.map_err(|e| PollerError::Task(e.to_string()))?,
            None => Ok(()),
        }
    }

    /// Stops reading and invoking (a batch in flight is abandoned: its
    /// records were not checkpointed) and waits for the task to end.
    pub async fn stop(mut self) -> Result<(), PollerError> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }
}

impl Drop for PollerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Finds `options.table_name`'s stream, takes the starting iterators (so
/// that with LATEST every record written after this returns is seen), and
/// spawns the poller.
pub async fn start<I: Invoker, D: FailureDestination>(
    dynamodb: &aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    options: PollerOptions,
    invoker: I,
    destination: D,
) -> Result<PollerHandle, PollerError> {
    let stream_arn = stream_arn(dynamodb, &options.table_name).await?;
    let (region, function_arn) = region_and_function_arn(&stream_arn, &options.settings);
    let stats = Arc::new(PollerStats::default());
    let handler = BatchHandler::new(
        options.settings.clone(),
        invoker,
        destination,
        stats.clone(),
        function_arn,
    )
    .with_backoff(options.backoff)
    .with_stats_log(options.log_stats);
    let mut poller = Poller::new(
        streams,
        stream_arn.clone(),
        region,
        Arc::new(handler),
        options.poll_interval,
    );
    let shards = poller.describe().await?;
    if options.settings.starting_position == StartingPosition::Latest {
        poller.start_at_latest(shards).await?;
    } else {
        shards.into_iter().for_each(|shard| poller.admit(shard));
    }

    let (shutdown, stop) = watch::channel(false);
    let discovery = options.shard_discovery_interval;
    let task = tokio::spawn(async move { poller.run(stop, discovery).await });
    Ok(PollerHandle {
        stream_arn,
        stats,
        shutdown,
        task: Some(task),
    })
}

/// The stream's region, and the ARN of the mapping's function in the
/// stream's region and account.
fn region_and_function_arn(stream_arn: &str, settings: &MappingSettings) -> (String, String) {
    // arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL
    let parts: Vec<&str> = stream_arn.split(':').collect();
    let region = parts.get(3).copied().unwrap_or("us-east-1").to_owned();
    let account = parts.get(4).copied().unwrap_or("123456789012");
    let function_arn = format!(
        "arn:aws:lambda:{region}:{account}:function:{}",
        settings.function_name
    );
    (region, function_arn)
}

/// The table's current stream, if it has one enabled.
pub async fn stream_arn(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<String, PollerError> {
    let out = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| PollerError::DynamoDb(crate::sdk_message(e)))?;
    let description = out.table();
    let enabled = description
        .and_then(|t| t.stream_specification())
        .is_some_and(|s| s.stream_enabled());
    match description.and_then(|t| t.latest_stream_arn()) {
        Some(arn) if enabled => Ok(arn.to_owned()),
        _ => Err(PollerError::NoStream(table.to_owned())),
    }
}

/// Turns on the table's stream (new and old images) unless it is on, and
/// returns its ARN. For tables made before the template defined the stream.
pub async fn enable_stream(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<String, PollerError> {
    if let Ok(arn) = stream_arn(dynamodb, table).await {
        return Ok(arn);
    }
    let specification = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(|e| PollerError::DynamoDb(e.to_string()))?;
    dynamodb
        .update_table()
        .table_name(table)
        .stream_specification(specification)
        .send()
        .await
        .map_err(|e| PollerError::DynamoDb(crate::sdk_message(e)))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match stream_arn(dynamodb, table).await {
            Ok(arn) => return Ok(arn),
            Err(err) if tokio::time::Instant::now() > deadline => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
