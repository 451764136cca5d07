//! The dead-letter table: one item per failing rating, keyed by the rating's
//! id, so a rating that fails again updates its item instead of adding one.
//!
//! A first failure stores `retry_count` 1 and no `last_retry_at`; each later
//! failure adds 1, sets `last_retry_at`, keeps `failed_at` and replaces the
//! message. `status` is `retrying` (with `next_retry_at`) while a later run
//! will try again, `dead` once the rating is parked. The rating itself counts
//! its failures (`sync_failures`), which tells this module which of the two
//! writes to try first and tells a later success that there is an item to
//! remove, without a read.
//!
//! Every failure also sets `last_failed_at`, the time of the latest one. With
//! `status` it keys [`FAILED_INDEX`], which lists the table newest failure
//! first, one partition per status, for the admin API; the base table's key
//! (the rating's id) cannot order anything.

use super::{condition_held, count_all, number, request_error, s, text, Item, Store, StoreError};

/// Where a dead-letter item stands: its `status`, the partition of
/// [`FAILED_INDEX`] it is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureStatus {
    /// A later run tries the rating again.
    Retrying,
    /// Parked: only an admin retry sends the rating again.
    Dead,
}

impl FailureStatus {
    /// Both, in the order a listing shows them.
    pub const ALL: [Self; 2] = [Self::Retrying, Self::Dead];

    /// The stored value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Retrying => "retrying",
            Self::Dead => "dead",
        }
    }

    /// The status a stored value names, if it names one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// `status` of a rating that a later run tries again.
pub const RETRYING: &str = FailureStatus::Retrying.as_str();
/// `status` of a parked rating: only an admin retry sends it again.
pub const DEAD: &str = FailureStatus::Dead.as_str();

/// The index that lists dead-letter items by `status`, newest
/// `last_failed_at` first.
pub const FAILED_INDEX: &str = "status-last-failed-index";

/// A dead-letter item as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FailedUpload {
    /// The item's key: the rating's id, so that a rating has one item at
    /// most.
    pub id: String,
    /// The rating that failed (the same as `id`).
    pub rating_id: String,
    /// The rating's tenant.
    pub tenant_id: String,
    /// The latest failure's message.
    pub error_message: String,
    /// When the first failure was recorded; later failures keep it.
    pub failed_at: String,
    /// When the latest failure after the first was recorded; `None` after
    /// one failure.
    pub last_retry_at: Option<String>,
    /// The latest failure (`failed_at` or the last `last_retry_at`); absent
    /// only on items written before the index existed.
    pub last_failed_at: Option<String>,
    /// Failed attempts recorded, the first included.
    pub retry_count: u32,
    /// Retrying while a run will try again, dead once only an admin retry
    /// sends the rating again.
    pub status: FailureStatus,
    /// When a run may try again; `None` when no run will.
    pub next_retry_at: Option<String>,
    /// `false` when the error says trying again cannot help.
    pub retryable: bool,
}

/// Where a listing of one status partition of [`FAILED_INDEX`] goes on:
/// after the item with this id and `last_failed_at`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailurePosition {
    /// The last item's id; it orders items that failed at the same time.
    pub id: String,
    /// That item's `last_failed_at`, the index's sort key.
    pub last_failed_at: String,
}

/// One page of a status partition, newest failure first.
#[derive(Debug, Clone, PartialEq)]
pub struct FailurePage {
    /// The items, newest failure first.
    pub uploads: Vec<FailedUpload>,
    /// More items follow the last one.
    pub more: bool,
}

/// What recording a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureRecorded {
    /// The failure is on the rating and in the dead-letter table.
    Recorded,
    /// The rating was edited or deleted meanwhile; nothing was written.
    RatingChanged,
}

impl Store {
    /// Removes the dead-letter item of a rating that has now synced.
    pub async fn clear_failure(&self, rating_id: &str) -> Result<(), StoreError> {
        let table = &self.tables.failed_uploads;
        self.client
            .delete_item()
            .table_name(table)
            .key("id", s(rating_id))
            .send()
            .await
            .map_err(|e| request_error(table, "DeleteItem", e))?;
        Ok(())
    }

    /// The dead-letter item of one rating, if it has one.
    pub async fn failed_upload(&self, rating_id: &str) -> Result<Option<FailedUpload>, StoreError> {
        let table = &self.tables.failed_uploads;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("id", s(rating_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error(table, "GetItem", e))?;
        out.item
            .map(|item| failed_upload_from_item(&item))
            .transpose()
            .map_err(|message| StoreError::Malformed {
                table: table.clone(),
                message,
            })
    }

    /// Up to `limit` items of the `status` partition, newest failure first,
    /// starting after `after`.
    pub async fn failed_uploads_page(
        &self,
        status: FailureStatus,
        after: Option<&FailurePosition>,
        limit: usize,
    ) -> Result<FailurePage, StoreError> {
        let table = &self.tables.failed_uploads;
        let mut start = after.map(|position| {
            Item::from([
                ("status".to_owned(), s(status.as_str())),
                ("last_failed_at".to_owned(), s(&position.last_failed_at)),
                ("id".to_owned(), s(&position.id)),
            ])
        });
        // One more than asked for says whether more follow: servers differ
        // on whether a page that exactly fills its limit carries a key.
        let wanted = limit + 1;
        let mut uploads = Vec::with_capacity(wanted);
        loop {
            let out = self
                .status_partition(status)
                .scan_index_forward(false)
                .limit(i32::try_from(wanted - uploads.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| request_error(table, "Query", e))?;
            for item in out.items() {
                uploads.push(failed_upload_from_item(item).map_err(|message| {
                    StoreError::Malformed {
                        table: table.clone(),
                        message,
                    }
                })?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && uploads.len() < wanted => start = Some(key),
                _ => break,
            }
        }
        let more = uploads.len() > limit;
        uploads.truncate(limit);
        Ok(FailurePage { uploads, more })
    }

    /// The dead-letter items of one status, counted through [`FAILED_INDEX`].
    pub async fn count_failed_uploads(&self, status: FailureStatus) -> Result<u64, StoreError> {
        count_all(self.status_partition(status), &self.tables.failed_uploads).await
    }

    /// A query of one status partition of [`FAILED_INDEX`].
    fn status_partition(
        &self,
        status: FailureStatus,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.tables.failed_uploads)
            .index_name(FAILED_INDEX)
            .key_condition_expression("#status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
    }

    /// Removes the dead-letter item of `rating_id` unless a failure was
    /// recorded after `last_failed_at` (the value read before): a newer
    /// failure is news, not something to clean up. `false` if it stayed.
    pub async fn remove_failed_upload_unless_failed_again(
        &self,
        rating_id: &str,
        last_failed_at: Option<&str>,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.failed_uploads;
        let delete = self
            .client
            .delete_item()
            .table_name(table)
            .key("id", s(rating_id));
        let delete = match last_failed_at {
            Some(seen) => delete
                .condition_expression("attribute_not_exists(id) OR last_failed_at = :seen")
                .expression_attribute_values(":seen", s(seen)),
            None => delete.condition_expression(
                "attribute_not_exists(id) OR attribute_not_exists(last_failed_at)",
            ),
        };
        condition_held(delete.send().await, table, "DeleteItem")
    }
}

fn failed_upload_from_item(item: &Item) -> Result<FailedUpload, String> {
    let required = |name: &str| {
        text(item, name)
            .map(str::to_owned)
            .ok_or_else(|| format!("dead-letter item lacks {name}"))
    };
    Ok(FailedUpload {
        id: required("id")?,
        rating_id: required("rating_id")?,
        tenant_id: required("tenant_id")?,
        error_message: required("error_message")?,
        failed_at: required("failed_at")?,
        last_retry_at: text(item, "last_retry_at").map(str::to_owned),
        last_failed_at: text(item, "last_failed_at").map(str::to_owned),
        retry_count: number(item, "retry_count")
            .and_then(|v| v.parse().ok())
            .ok_or("dead-letter item lacks retry_count")?,
        status: match text(item, "status") {
            None => FailureStatus::Retrying,
            Some(text) => FailureStatus::parse(text)
                .ok_or_else(|| format!("dead-letter item has status {text:?}"))?,
        },
        next_retry_at: text(item, "next_retry_at").map(str::to_owned),
        retryable: item
            .get("retryable")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(true),
    })
}
