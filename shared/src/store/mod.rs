//! Everything this service keeps in DynamoDB, behind one [`Store`].
//!
//! Four tables, each defined once in `template.yaml` and named by
//! [`TableNames`], one file per kind of item:
//! - the ratings table, written by the Atom app; the sync reads its work
//!   through sparse indexes (`work.rs`), writes back only its own
//!   attributes (`ratings.rs`), and reads the items as they are now for the
//!   fast path (`current.rs`); a full re-push scans it (`requeue.rs`);
//! - the dead-letter table, one item per failing rating (`dead_letters.rs`),
//!   written by `failure_writes.rs` and listed by `failure_listing.rs`;
//! - the state table: the run lease (`lease.rs`), the reports of recent
//!   runs (`reports.rs`), when a run last succeeded (`health.rs`), the
//!   conflict log (`conflicts.rs`), the skills to pull and the pull's place
//!   (`skills.rs`), the progress of a full re-push (`requeue.rs`) and the
//!   rate ceiling every sender shares ([`rate_window`]);
//! - the admin API's audit trail (`audit.rs`).
//!
//! What a client's requests cost is counted in [`requests`].
//!
//! Every write that could race with the Atom app or another run carries a
//! condition, so a lost race is an answer ([`MarkOutcome`], [`LeaseOutcome`]),
//! never a silent overwrite.

mod audit;
mod batch_write;
mod conflicts;
mod current;
mod dead_letters;
mod failure_listing;
mod failure_writes;
mod health;
mod lease;
#[cfg(test)]
mod mock_tests;
pub mod rate_window;
mod rating_items;
mod ratings;
mod reports;
pub mod requests;
mod requeue;
mod skills;
mod work;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;
use thiserror::Error;

use crate::config::TableNames;

pub use audit::{AuditRecord, AUDIT_PARTITION};
pub use batch_write::put_all;
pub use conflicts::{conflict_item, CONFLICT_PARTITION, CONFLICT_RETENTION_DAYS};
pub use current::pending_at;
pub use dead_letters::{
    FailedUpload, FailurePage, FailurePosition, FailureRecorded, FailureStatus, DEAD, FAILED_INDEX,
    RETRYING,
};
pub use failure_listing::{FailureListing, PartitionPosition, PartitionPositions};
pub use failure_writes::dead_letter_item;
pub use health::{RunOutcome, SyncHealth};
pub use lease::{LeaseOutcome, LeaseState};
pub use rating_items::{
    failures_of, new_rating_item, rating_item, set_version, version_of, Standing,
    STANDING_ATTRIBUTES,
};
pub use ratings::{
    rating_from_item, sync_state, Disposition, MarkOutcome, PENDING_INDEX, RETRY_INDEX,
    SKILL_INDEX, SYNCED_TO_SAAS_PENDING,
};

/// The key attributes of the ratings table.
pub const RATINGS_KEY: &[&str] = &["id"];
/// The key attributes of the dead-letter table.
pub const DEAD_LETTERS_KEY: &[&str] = &["id"];
/// The key attributes of the state table (the conflict log among them).
pub const STATE_KEY: &[&str] = &["pk", "sk"];
pub use requeue::{RequeuePage, RequeuePass};
pub use work::{BacklogCount, PageKey, PendingPage, WorkSource};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Why a DynamoDB request failed, or why what it returned cannot be read.
#[derive(Debug, Error)]
pub enum StoreError {
    /// DynamoDB refused the request for lack of capacity; a later try may
    /// succeed.
    #[error("DynamoDB throttled {operation} on table {table}: {message}")]
    Throttled {
        /// The table the request was for.
        table: String,
        /// The API operation, e.g. `Query`.
        operation: &'static str,
        /// DynamoDB's own words: they can name tables, roles and ARNs, so they
        /// are logged, never answered (see [`StoreError::logged`]).
        message: String,
    },
    /// Any other failed request.
    #[error("DynamoDB {operation} on table {table} failed: {message}")]
    Request {
        /// The table the request was for.
        table: String,
        /// The API operation, e.g. `Query`.
        operation: &'static str,
        /// DynamoDB's own words: they can name tables, roles and ARNs, so they
        /// are logged, never answered (see [`StoreError::logged`]).
        message: String,
    },
    /// An item does not have the shape this crate writes.
    #[error("item in table {table} is malformed: {message}")]
    Malformed {
        /// The table the item is in.
        table: String,
        /// What is wrong with it.
        message: String,
    },
}

impl StoreError {
    /// Logs this error with a new id and gives the sentence a report or an
    /// answer may carry instead: what failed and the id, never DynamoDB's
    /// own words (they can name tables, roles and ARNs).
    pub fn logged(&self, what: &str) -> String {
        let error_id = uuid::Uuid::new_v4();
        tracing::error!(%error_id, error = %self, "{what}");
        format!("{what}: a DynamoDB request failed (error id {error_id} in the function's log)")
    }
}

/// The one handle on all four tables. Cheap to clone: the SDK client is
/// reference-counted, so a function builds it once per cold start.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    tables: TableNames,
}

impl Store {
    /// A store over `client`, using the tables named in `tables`.
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self { client, tables }
    }

    /// The names of the tables this store uses.
    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    /// The newest `limit` items of a partition whose sort keys begin with
    /// their time (reports, audit records).
    pub(super) async fn newest_in_partition(
        &self,
        table: &str,
        partition: &str,
        limit: u32,
        consistent_read: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(partition))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(consistent_read)
            .send()
            .await
            .map_err(|e| request_error(table, "Query", e))?;
        Ok(out.items().to_vec())
    }
}

/// Turns an SDK error into a [`StoreError`] that names the table and call.
/// Throttling is its own variant: the SDK has already retried it with
/// backoff, and a caller may want to slow down rather than give up.
fn request_error<E, R>(table: &str, operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let throttled = matches!(
        err.code(),
        Some(
            "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
        )
    );
    let table = table.to_owned();
    let message = DisplayErrorContext(&err).to_string();
    if throttled {
        StoreError::Throttled {
            table,
            operation,
            message,
        }
    } else {
        StoreError::Request {
            table,
            operation,
            message,
        }
    }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// The answer to a conditional write: `true` if it was made, `false` if its
/// condition did not hold; any other failure is an error.
fn condition_held<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    table: &str,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if is_condition_failure(&err) => Ok(false),
        Err(err) => Err(request_error(table, operation, err)),
    }
}

/// Counts every item a query matches, page after page (`Select::Count`
/// reads no attributes but still pages at 1 MB).
async fn count_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    table: &str,
) -> Result<u64, StoreError> {
    let mut total = 0u64;
    let mut start = None;
    loop {
        let out = query
            .clone()
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| request_error(table, "Query", e))?;
        total += u64::try_from(out.count()).unwrap_or(0);
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(total),
        }
    }
}

/// Every item `query` finds, page after page (the SDK's paginator).
async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    table: &str,
) -> Result<Vec<Item>, StoreError> {
    query
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| request_error(table, "Query", e))
}

pub(super) fn optional(value: &Option<String>) -> AttributeValue {
    match value {
        Some(value) => s(value),
        None => AttributeValue::Null(true),
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .map(String::as_str)
}

/// The one timestamp format this service writes: RFC 3339, UTC, milliseconds.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
