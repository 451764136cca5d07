//! What the sync tells the rest of the account: one Amazon EventBridge
//! event per sync outcome, on the bus `RATING_SYNC_EVENT_BUS` names.
//!
//! Four detail types, each with a JSON Schema (draft 4) of its event under
//! `schemas/events/`, the one the stack registers in EventBridge's schema
//! registry (a unit test holds the detail and its schema together):
//!
//! - [`RatingSynced`]: the marketplace accepted a rating;
//! - [`RatingParked`]: a rating was parked, no automatic run tries it again;
//! - [`RemoteRatingApplied`]: a newer remote edit replaced a local rating;
//! - [`SyncRunCompleted`]: a run ended, with its numbers.
//!
//! The [`EventSink`] publishes them in batches, best effort: it never blocks
//! a sync on the network and never fails one; what it could not publish is
//! counted and logged. No event carries a secret or a review's text: only
//! ids, numbers, times and error messages.

mod sink;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::rating::cut_to;

pub use sink::{event_sink_from, EventSink, PublishCounts, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES};

/// The `source` of every event.
pub const EVENT_SOURCE: &str = "atom.rating-sync";

/// The longest `error` (and `stopped_early`) of an event, in characters; a
/// longer one is cut to this length, its last character `…`. Keeps every
/// entry far below PutEvents' 256 KiB. The same limit as every failure
/// message ([`crate::rating::MAX_MESSAGE_CHARS`]).
pub const MAX_ERROR_CHARS: usize = crate::rating::MAX_MESSAGE_CHARS;

/// Which path synced a rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPath {
    /// Uploaded as soon as it was written, outside a run.
    FastPath,
    /// By a scheduled run.
    Scheduled,
    /// By an admin: a sync run or the retry of one rating.
    Admin,
}

/// Where a remote rating that replaced a local one was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppliedFrom {
    /// The pull: a run read the skill's remote ratings.
    Pull,
    /// An upload answered 409: the marketplace held a newer rating.
    Conflict,
}

/// The marketplace accepted a rating (created or updated it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatingSynced {
    /// The local rating's id.
    pub rating_id: String,
    /// The rated skill.
    pub skill_id: String,
    /// Who rated it.
    pub user_id: String,
    /// The rating's id at the marketplace.
    pub remote_rating_id: String,
    /// The local version the marketplace now holds.
    pub version: u64,
    /// Seconds from the local write (`rating.updated_at`) to the
    /// marketplace's acceptance; absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freshness_seconds: Option<f64>,
    /// Which path synced it.
    pub path: SyncPath,
    /// When the marketplace accepted it (RFC 3339, UTC; see [`timestamp`]).
    pub synced_at: String,
}

/// A rating was parked: no automatic run tries it again until an admin
/// retries it or it is edited.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatingParked {
    /// The local rating's id.
    pub rating_id: String,
    /// The rated skill, when the stored item names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill_id: Option<String>,
    /// Who rated it, when the stored item names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Why, as recorded in the dead-letter table (cut to
    /// [`MAX_ERROR_CHARS`] in the event).
    pub error: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Which path parked it.
    pub path: SyncPath,
    /// When (RFC 3339, UTC).
    pub parked_at: String,
}

/// A remote rating, newer than the local one, replaced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteRatingApplied {
    /// The local rating's id.
    pub rating_id: String,
    /// The rated skill.
    pub skill_id: String,
    /// Who rated it.
    pub user_id: String,
    /// The rating's id at the marketplace, when its answer gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_rating_id: Option<String>,
    /// The stars now stored locally, 1 to 5.
    pub rating: u8,
    /// The remote rating's time, the one that won (RFC 3339).
    pub remote_updated_at: String,
    /// Where it was found.
    pub source: AppliedFrom,
    /// When it was stored locally (RFC 3339, UTC).
    pub applied_at: String,
}

/// A sync run ended; the numbers of its report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncRunCompleted {
    /// The run's id, as in its report and its log lines.
    pub run_id: String,
    /// What started it: `scheduled` or `admin`.
    pub trigger: String,
    /// The report's `success`.
    pub success: bool,
    /// Ratings the marketplace accepted.
    pub uploaded: u64,
    /// Of those, created.
    pub created: u64,
    /// Of those, updated.
    pub updated: u64,
    /// Ratings whose attempt failed.
    pub failed: u64,
    /// Of those, parked.
    pub parked: u64,
    /// Local ratings that took newer remote values.
    pub pulled: u64,
    /// Conflicts logged (newest wins).
    pub conflicts: u64,
    /// Ratings read but left as they were.
    pub skipped: u64,
    /// The backlog left, when it could be counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<u64>,
    /// The run's duration.
    pub duration_ms: u64,
    /// Why the run ended before its work was done, if it did (cut to
    /// [`MAX_ERROR_CHARS`] in the event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// Why the run failed, if it did (cut to [`MAX_ERROR_CHARS`] in the
    /// event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it ended (RFC 3339, UTC).
    pub finished_at: String,
}

/// One event of the sync, as published: its detail type and its detail.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncEvent {
    /// See [`RatingSynced`].
    RatingSynced(RatingSynced),
    /// See [`RatingParked`].
    RatingParked(RatingParked),
    /// See [`RemoteRatingApplied`].
    RemoteRatingApplied(RemoteRatingApplied),
    /// See [`SyncRunCompleted`].
    SyncRunCompleted(SyncRunCompleted),
}

/// The detail types, in the order of [`SyncEvent`]'s variants; each has
/// its schema at `schemas/events/<detail type>.json`.
pub const DETAIL_TYPES: [&str; 4] = [
    "RatingSynced",
    "RatingParked",
    "RemoteRatingApplied",
    "SyncRunCompleted",
];

impl SyncEvent {
    /// The event's `detail-type`: the name of its struct.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::RatingSynced(_) => DETAIL_TYPES[0],
            Self::RatingParked(_) => DETAIL_TYPES[1],
            Self::RemoteRatingApplied(_) => DETAIL_TYPES[2],
            Self::SyncRunCompleted(_) => DETAIL_TYPES[3],
        }
    }

    /// The event's `detail`: a JSON object of the struct's fields. A field
    /// without a value is left out, never `null` (a freshness that is not a
    /// finite number too); `error` and `stopped_early` are cut to
    /// [`MAX_ERROR_CHARS`].
    pub fn detail(&self) -> Value {
        let serialized = match self {
            Self::RatingSynced(e) => serde_json::to_value(e),
            Self::RatingParked(e) => serde_json::to_value(e),
            Self::RemoteRatingApplied(e) => serde_json::to_value(e),
            Self::SyncRunCompleted(e) => serde_json::to_value(e),
        };
        // These structs hold strings, numbers and unit enums only: their
        // serialization cannot fail. Were it ever to, the event would be
        // an empty object rather than a panic in the sync.
        let Ok(Value::Object(mut fields)) = serialized else {
            return Value::Object(serde_json::Map::new());
        };
        fields.retain(|_, value| !value.is_null());
        for key in ["error", "stopped_early"] {
            if let Some(Value::String(text)) = fields.get_mut(key) {
                *text = cut_to(std::mem::take(text), MAX_ERROR_CHARS);
            }
        }
        Value::Object(fields)
    }
}

/// A time as the events write it: RFC 3339 in UTC, to the millisecond
/// (`2026-11-29T09:00:07.284Z`), as the run reports do.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod sink_tests;
