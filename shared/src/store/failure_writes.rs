//! Recording a failure in the dead-letter table: the rating first, then
//! its item, created or added to (see [`Store::record_failure`]).

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::dead_letters::{FailureRecorded, FailureStatus};
use super::ratings::Disposition;
use super::{is_condition_failure, n, request_error, s, text, timestamp, Item, Store, StoreError};
use crate::rating::{cut_message, SyncFailure};

/// The two ways to record a failure; each is conditional on whether the
/// item exists.
enum DeadLetterWrite {
    PutFirst,
    AddRetry,
}

impl Store {
    /// Records a failed attempt: on the rating (its failure count, and where
    /// it goes now) and in the dead-letter table.
    pub async fn record_failure(
        &self,
        failure: &SyncFailure,
        disposition: Disposition,
        at: DateTime<Utc>,
    ) -> Result<FailureRecorded, StoreError> {
        // The rating first: if the function dies between the two writes, the
        // next failure finds no item and creates it, and a success merely
        // deletes nothing. The other order could leave an item behind for a
        // rating that later syncs.
        if !self
            .record_failure_on_rating(failure, disposition, at)
            .await?
        {
            return Ok(FailureRecorded::RatingChanged);
        }
        // Each write is conditional on what the rating's count says; if the
        // table disagrees (an admin removed the item, or a crash left none)
        // the other write is the right one.
        let order = if failure.failures_before > 0 {
            [DeadLetterWrite::AddRetry, DeadLetterWrite::PutFirst]
        } else {
            [DeadLetterWrite::PutFirst, DeadLetterWrite::AddRetry]
        };
        for write in order {
            if self
                .write_dead_letter(write, failure, disposition, at)
                .await?
            {
                return Ok(FailureRecorded::Recorded);
            }
        }
        Err(StoreError::Request {
            table: self.tables.failed_uploads.clone(),
            operation: "PutItem/UpdateItem",
            message: format!(
                "dead-letter item for rating {} changed concurrently",
                failure.rating_id
            ),
        })
    }

    /// One of the two writes of a failure: a first item (`false` if one
    /// exists already), or one more failure added to the item (`false` if
    /// there is none).
    ///
    /// Either may be retried by the SDK after an attempt that landed with its
    /// answer lost: a retry that meets an item whose `last_failed_at` is this
    /// failure's own time (milliseconds; one rating fails at most once in
    /// one) has met its own write, and is done, instead of counting the
    /// failure twice.
    async fn write_dead_letter(
        &self,
        write: DeadLetterWrite,
        failure: &SyncFailure,
        disposition: Disposition,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.failed_uploads;
        let (status, next_retry_at) = status_of(disposition);
        if let DeadLetterWrite::PutFirst = write {
            let put = self
                .client
                .put_item()
                .table_name(table)
                .set_item(Some(dead_letter_item(failure, disposition, at, at, 1)))
                .condition_expression("attribute_not_exists(id)")
                .return_values_on_condition_check_failure(ALL_OLD);
            return match put.send().await {
                Ok(_) => Ok(true),
                Err(err) if is_condition_failure(&err) => {
                    let found = match err.as_service_error() {
                        Some(PutItemError::ConditionalCheckFailedException(c)) => c.item(),
                        _ => None,
                    };
                    Ok(written_at(found, at))
                }
                Err(err) => Err(request_error(table, "PutItem", err)),
            };
        }
        let set = "SET error_message = :message, last_retry_at = :now, last_failed_at = :now, \
                   tenant_id = :tenant, retry_count = retry_count + :one, #status = :status, \
                   retryable = :retryable";
        let mut update = self
            .client
            .update_item()
            .table_name(table)
            .key("id", s(&failure.rating_id))
            .condition_expression(
                "attribute_exists(id) AND \
                 (attribute_not_exists(last_failed_at) OR last_failed_at <> :now)",
            )
            .return_values_on_condition_check_failure(ALL_OLD)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":message", s(cut_message(failure.message.as_str())))
            .expression_attribute_values(":now", s(timestamp(at)))
            .expression_attribute_values(":tenant", s(&failure.tenant_id))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":retryable", AttributeValue::Bool(failure.retryable));
        update = match next_retry_at {
            Some(due) => update
                .update_expression(format!("{set}, next_retry_at = :due"))
                .expression_attribute_values(":due", s(due)),
            None => update.update_expression(format!("{set} REMOVE next_retry_at")),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => {
                let found = match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item(),
                    _ => None,
                };
                Ok(written_at(found, at))
            }
            Err(err) => Err(request_error(table, "UpdateItem", err)),
        }
    }
}

/// The dead-letter item of `failure`, as its first write makes it: the
/// item's `status` and `next_retry_at` from `disposition`, `failed_at` the
/// first failure, `last_failed_at` the latest (also `last_retry_at` when
/// there were several) and `retry_count` the failures recorded. The sync
/// writes it with one failure ([`Store::record_failure`]); the importer
/// writes several failure rows of the Python service as one item.
pub fn dead_letter_item(
    failure: &SyncFailure,
    disposition: Disposition,
    failed_at: DateTime<Utc>,
    last_failed_at: DateTime<Utc>,
    retry_count: u32,
) -> Item {
    let (status, next_retry_at) = status_of(disposition);
    let mut item = Item::from([
        ("id".to_owned(), s(&failure.rating_id)),
        ("rating_id".to_owned(), s(&failure.rating_id)),
        ("tenant_id".to_owned(), s(&failure.tenant_id)),
        (
            "error_message".to_owned(),
            s(cut_message(failure.message.as_str())),
        ),
        ("failed_at".to_owned(), s(timestamp(failed_at))),
        ("last_failed_at".to_owned(), s(timestamp(last_failed_at))),
        ("retry_count".to_owned(), n(retry_count)),
        ("status".to_owned(), s(status.as_str())),
        (
            "retryable".to_owned(),
            AttributeValue::Bool(failure.retryable),
        ),
    ]);
    if retry_count > 1 {
        item.insert("last_retry_at".to_owned(), s(timestamp(last_failed_at)));
    }
    if let Some(due) = next_retry_at {
        item.insert("next_retry_at".to_owned(), s(due));
    }
    item
}

const ALL_OLD: ReturnValuesOnConditionCheckFailure = ReturnValuesOnConditionCheckFailure::AllOld;

/// Whether `found`, the item a failed condition met, holds the failure
/// recorded at `at`: then the write that failed its condition was a retry of
/// one that landed.
fn written_at(
    found: Option<&std::collections::HashMap<String, AttributeValue>>,
    at: DateTime<Utc>,
) -> bool {
    found.and_then(|item| text(item, "last_failed_at")) == Some(timestamp(at).as_str())
}

/// The `status` and `next_retry_at` a disposition gives the item.
fn status_of(disposition: Disposition) -> (FailureStatus, Option<String>) {
    match disposition {
        Disposition::RetryAt(due) => (FailureStatus::Retrying, Some(timestamp(due))),
        Disposition::Park => (FailureStatus::Dead, None),
    }
}
