//! The publisher: events buffered, sent in batches of at most ten (and
//! [`MAX_BATCH_BYTES`]) in spawned tasks, failures counted and logged,
//! never waited for by the sync.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{SyncEvent, EVENT_SOURCE};

/// The most entries one PutEvents call takes.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// PutEvents' limit on the entries of one call together, in bytes as
/// EventBridge counts them (14 for `Time`, and the UTF-8 bytes of `Source`,
/// `DetailType` and `Detail`); their sum must stay below.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// What EventBridge counts of an entry: 14 bytes for `Time`, and the UTF-8
/// bytes of `Source`, `DetailType` and `Detail` (the bus name is not
/// counted).
fn entry_size(detail_type: &str, detail: &str) -> usize {
    14 + EVENT_SOURCE.len() + detail_type.len() + detail.len()
}

/// How many events were published and how many could not be, since the
/// sink was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishCounts {
    /// Events EventBridge accepted.
    pub published: u64,
    /// Events it refused, or that could not be sent (after the one retry of
    /// the entries a call refused).
    pub failed: u64,
}

/// Publishes events in batches; cheap to clone (Arc inside); never blocks
/// or fails a sync.
///
/// [`emit`](Self::emit) buffers an event and, once
/// [`MAX_BATCH_ENTRIES`] are buffered (or the next would take the batch
/// past [`MAX_BATCH_BYTES`]), sends them in a task of its own.
/// [`flush`](Self::flush) sends the rest and waits, up to a deadline, for
/// every send. A call that fails, or an entry EventBridge refuses, is
/// logged at `warn` (its error code and detail types, never a detail) and
/// counted in [`PublishCounts::failed`]; entries refused within a call that
/// succeeded are sent once more first.
///
/// The default sink is [`disabled`](Self::disabled).
#[derive(Clone, Default)]
pub struct EventSink {
    /// `None`: disabled.
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("bus", &self.inner.as_ref().map(|inner| &inner.bus))
            .field("counts", &self.counts())
            .finish()
    }
}

struct Inner {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    state: Mutex<State>,
    published: AtomicU64,
    failed: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Entries not yet sent: fewer than [`MAX_BATCH_ENTRIES`], together
    /// below [`MAX_BATCH_BYTES`].
    buffer: Vec<Entry>,
    /// The sum of their sizes.
    buffered_bytes: usize,
    /// Full batches that could not be spawned (no tokio runtime at the
    /// time of `emit`); the next `flush` sends them.
    unsent: Vec<Vec<Entry>>,
    /// Sends in flight, or done and not yet collected.
    in_flight: Vec<JoinHandle<()>>,
}

/// An entry ready to send, with its detail type for the log.
struct Entry {
    detail_type: &'static str,
    request: PutEventsRequestEntry,
}

impl EventSink {
    /// A sink that publishes to `bus` (a name or an ARN) with `client`.
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                client,
                bus,
                state: Mutex::new(State::default()),
                published: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            })),
        }
    }

    /// Publishes nothing (no bus configured).
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Whether events go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The bus events go to, if any.
    pub fn bus(&self) -> Option<&str> {
        self.inner.as_ref().map(|inner| inner.bus.as_str())
    }

    /// Buffers the event; as soon as 10 are buffered (PutEvents takes at
    /// most 10 entries), sends them in a spawned task. Never awaits the
    /// network.
    ///
    /// An event too large for PutEvents on its own is not sent: it is
    /// logged and counted as failed.
    pub fn emit(&self, event: SyncEvent) {
        let Some(inner) = &self.inner else {
            return;
        };
        let detail_type = event.detail_type();
        let detail = event.detail().to_string();
        let size = entry_size(detail_type, &detail);
        if size >= MAX_BATCH_BYTES {
            tracing::warn!(
                error_code = "EntryTooLarge",
                detail_type,
                entry_bytes = size,
                "an event is larger than PutEvents takes; not published"
            );
            inner.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let entry = Entry {
            detail_type,
            request: PutEventsRequestEntry::builder()
                .source(EVENT_SOURCE)
                .detail_type(detail_type)
                .detail(detail)
                .event_bus_name(&inner.bus)
                .time(DateTime::from(SystemTime::now()))
                .build(),
        };
        let mut ready = Vec::new();
        {
            let mut state = inner.lock();
            if state.buffered_bytes + size >= MAX_BATCH_BYTES {
                ready.push(state.take_buffer());
            }
            state.buffered_bytes += size;
            state.buffer.push(entry);
            if state.buffer.len() >= MAX_BATCH_ENTRIES {
                ready.push(state.take_buffer());
            }
        }
        for batch in ready {
            inner.spawn(batch);
        }
    }

    /// Sends what is buffered and waits for every send in flight, but not
    /// past `by`; returns the totals so far. Sends still in flight at `by`
    /// go on in the background, and a later `flush` waits for them again.
    pub async fn flush(&self, by: Instant) -> PublishCounts {
        let Some(inner) = &self.inner else {
            return self.counts();
        };
        let batches = {
            let mut state = inner.lock();
            let mut batches = std::mem::take(&mut state.unsent);
            if !state.buffer.is_empty() {
                batches.push(state.take_buffer());
            }
            batches
        };
        for batch in batches {
            inner.spawn(batch);
        }
        let mut in_flight = std::mem::take(&mut inner.lock().in_flight);
        for handle in &mut in_flight {
            // A send that panicked has counted nothing; its entries were
            // not published, and a panic is a bug to find in the log.
            if tokio::time::timeout_at(by, handle).await.is_err() {
                break;
            }
        }
        in_flight.retain(|handle| !handle.is_finished());
        inner.lock().in_flight.extend(in_flight);
        self.counts()
    }

    /// The totals so far.
    pub fn counts(&self) -> PublishCounts {
        match &self.inner {
            None => PublishCounts::default(),
            Some(inner) => PublishCounts {
                published: inner.published.load(Ordering::Relaxed),
                failed: inner.failed.load(Ordering::Relaxed),
            },
        }
    }
}

/// The sink a function builds once per cold start: publishing to `bus`
/// with a client of the shared AWS configuration (so that
/// `AWS_ENDPOINT_URL_EVENTBRIDGE` applies), or disabled when `bus` is
/// `None` or blank. A call, retries included, gives up after
/// `PUT_EVENTS_TIMEOUT` (5 s): a hanging EventBridge costs a send, not a sync.
pub fn event_sink_from(aws: &aws_config::SdkConfig, bus: Option<String>) -> EventSink {
    match bus.map(|bus| bus.trim().to_owned()) {
        Some(bus) if !bus.is_empty() => {
            let timeouts = aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(PUT_EVENTS_TIMEOUT)
                .build();
            let config = aws_sdk_eventbridge::config::Builder::from(aws)
                .timeout_config(timeouts)
                .interceptor(crate::traces::AwsCallSpans)
                .build();
            EventSink::new(aws_sdk_eventbridge::Client::from_conf(config), bus)
        }
        _ => EventSink::disabled(),
    }
}

/// The longest one `PutEvents` call may take, retries included.
pub const PUT_EVENTS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl State {
    fn take_buffer(&mut self) -> Vec<Entry> {
        self.buffered_bytes = 0;
        std::mem::take(&mut self.buffer)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the state torn: each
        // change is a push or a take.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `batch` in a task of its own, or keeps it for the next flush
    /// when there is no runtime to spawn on.
    fn spawn(self: &Arc<Self>, batch: Vec<Entry>) {
        if batch.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.lock().unsent.push(batch);
            return;
        };
        let inner = Arc::clone(self);
        let handle = runtime.spawn(async move { inner.send(batch).await });
        let mut state = self.lock();
        state.in_flight.retain(|handle| !handle.is_finished());
        state.in_flight.push(handle);
    }

    /// One PutEvents call, and one more with the entries it refused.
    async fn send(&self, batch: Vec<Entry>) {
        let refused = self.put(batch, 1).await;
        if !refused.is_empty() {
            let refused = self.put(refused, 2).await;
            self.failed
                .fetch_add(refused.len() as u64, Ordering::Relaxed);
        }
    }

    /// Sends `batch`; counts what was published, and what failed for good
    /// (the whole batch when the call fails); returns the entries refused
    /// one by one, for the caller to retry or count.
    async fn put(&self, batch: Vec<Entry>, attempt: u32) -> Vec<Entry> {
        let answer = self
            .client
            .put_events()
            .set_entries(Some(batch.iter().map(|e| e.request.clone()).collect()))
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) => {
                let (error_code, reason) = describe(&error);
                tracing::warn!(
                    error_code,
                    reason = reason.as_deref(),
                    detail_types = %detail_types(&batch),
                    entries = batch.len(),
                    attempt,
                    "EventBridge PutEvents failed; events not published"
                );
                self.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                return Vec::new();
            }
        };
        let (refused, published) = refused_entries(batch, &output);
        self.published.fetch_add(published, Ordering::Relaxed);
        for (error_code, entries) in &refused {
            let then = if attempt == 1 {
                "sending them once more"
            } else {
                "not published"
            };
            tracing::warn!(
                error_code = error_code.as_str(),
                detail_types = %detail_types(entries),
                entries = entries.len(),
                attempt,
                "EventBridge refused some events; {then}"
            );
        }
        refused
            .into_iter()
            .flat_map(|(_, entries)| entries)
            .collect()
    }
}

/// Refused entries by error code.
type Refused = Vec<(String, Vec<Entry>)>;

/// The entries `output` refused, grouped by error code, and how many it
/// accepted. EventBridge answers one result per entry, in order; an answer
/// that does not (it should not happen) refuses the whole batch when it
/// counts any failure, so that none is lost.
fn refused_entries(batch: Vec<Entry>, output: &PutEventsOutput) -> (Refused, u64) {
    let results = output.entries();
    let mut refused = Refused::new();
    let mut add = |code: &str, entry: Entry| match refused.iter_mut().find(|(c, _)| c == code) {
        Some((_, entries)) => entries.push(entry),
        None => refused.push((code.to_owned(), vec![entry])),
    };
    if results.len() != batch.len() {
        if output.failed_entry_count() <= 0 {
            return (Vec::new(), batch.len() as u64);
        }
        for entry in batch {
            add("UnattributedFailure", entry);
        }
        return (refused, 0);
    }
    let mut published = 0;
    for (entry, result) in batch.into_iter().zip(results) {
        match result.error_code() {
            Some(code) => add(code, entry),
            None => published += 1,
        }
    }
    (refused, published)
}

/// The error code of a failed call (EventBridge's own for a service error,
/// else the kind of failure), and for a failure that is not EventBridge's
/// answer, its description. A service error's message is not logged: a
/// validation message may quote the request.
fn describe(error: &SdkError<PutEventsError>) -> (&str, Option<String>) {
    match error {
        SdkError::ServiceError(_) => (error.code().unwrap_or("Unknown"), None),
        SdkError::TimeoutError(_) => ("Timeout", None),
        SdkError::DispatchFailure(_) => (
            "DispatchFailure",
            Some(DisplayErrorContext(error).to_string()),
        ),
        SdkError::ResponseError(_) => ("ResponseError", None),
        SdkError::ConstructionFailure(_) => ("ConstructionFailure", None),
        _ => ("Unknown", None),
    }
}

/// The distinct detail types of `entries`, comma-separated.
fn detail_types(entries: &[Entry]) -> String {
    let types: BTreeSet<&str> = entries.iter().map(|e| e.detail_type).collect();
    types.into_iter().collect::<Vec<_>>().join(",")
}
