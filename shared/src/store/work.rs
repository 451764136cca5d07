//! Reading a run's work: failed ratings whose next attempt is due, then the
//! backlog of new and edited ratings, oldest first, a page at a time from
//! their sparse indexes; and counting what is left.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use chrono::{DateTime, Utc};

use super::ratings::{
    rating_from_item, PENDING_INDEX, RETRY_INDEX, SYNCED_TO_SAAS_PENDING, WAITING,
};
use super::{count_all, request_error, s, timestamp, Item, Store, StoreError};
use crate::rating::PendingRating;

/// Where a run finds work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkSource {
    /// Failed ratings whose next attempt is due.
    DueRetries,
    /// New and edited ratings.
    Backlog,
}

/// Where the next page starts: DynamoDB's `LastEvaluatedKey`.
#[derive(Debug, Clone, PartialEq)]
pub struct PageKey(Item);

/// One page of the backlog.
#[derive(Debug)]
pub struct PendingPage {
    /// The entries read, each a rating that can be uploaded or one that
    /// cannot.
    pub ratings: Vec<PendingRating>,
    /// `None` on the last page.
    pub next: Option<PageKey>,
}

/// Ratings not synced and not parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BacklogCount {
    /// New or edited, for the next run.
    pub pending: u64,
    /// Failed, waiting for a later attempt.
    pub waiting: u64,
}

impl Store {
    /// One page of work from `source`, oldest (or longest due) first,
    /// starting after `after`. Retries count as due if due at `now`; the
    /// backlog is read up to entries last written at `backlog_before`, if
    /// given (younger ones are the fast path's).
    ///
    /// `updated_at` is compared as text, as the index sorts it: the write
    /// contract says RFC 3339 in UTC.
    pub async fn work_page(
        &self,
        source: WorkSource,
        after: Option<PageKey>,
        limit: u32,
        now: DateTime<Utc>,
        backlog_before: Option<DateTime<Utc>>,
    ) -> Result<PendingPage, StoreError> {
        let mut query = self.work_query(source);
        match (source, backlog_before) {
            (WorkSource::DueRetries, _) => {
                query = query
                    .key_condition_expression("sync_retry = :state AND next_attempt_at <= :now")
                    .expression_attribute_values(":now", s(timestamp(now)));
            }
            (WorkSource::Backlog, Some(before)) => {
                query = query
                    .key_condition_expression("synced_to_saas = :state AND updated_at <= :before")
                    .expression_attribute_values(":before", s(timestamp(before)));
            }
            (WorkSource::Backlog, None) => {}
        }
        let out = query
            .scan_index_forward(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(after.map(|key| key.0))
            .send()
            .await
            .map_err(|e| request_error(&self.tables.ratings, "Query", e))?;
        Ok(PendingPage {
            ratings: out.items().iter().map(rating_from_item).collect(),
            // DynamoDB may send a key and then an empty page; some servers send
            // no key when the last page exactly fills the limit. Both end well.
            next: out
                .last_evaluated_key
                .filter(|key| !key.is_empty())
                .map(PageKey),
        })
    }

    /// One page of the backlog (new and edited ratings), oldest first.
    pub async fn pending_page(
        &self,
        after: Option<PageKey>,
        limit: u32,
    ) -> Result<PendingPage, StoreError> {
        self.work_page(WorkSource::Backlog, after, limit, Utc::now(), None)
            .await
    }

    /// The true size of the backlog, counted through the indexes.
    pub async fn count_backlog(&self) -> Result<BacklogCount, StoreError> {
        Ok(BacklogCount {
            pending: self.count(WorkSource::Backlog).await?,
            waiting: self.count(WorkSource::DueRetries).await?,
        })
    }

    /// Every item of the partition of `source`, due or not.
    async fn count(&self, source: WorkSource) -> Result<u64, StoreError> {
        count_all(self.work_query(source), &self.tables.ratings).await
    }

    /// A query of the partition of an index that holds `source`.
    fn work_query(&self, source: WorkSource) -> QueryFluentBuilder {
        let query = self.client.query().table_name(&self.tables.ratings);
        match source {
            WorkSource::Backlog => query
                .index_name(PENDING_INDEX)
                .key_condition_expression("synced_to_saas = :state")
                .expression_attribute_values(":state", s(SYNCED_TO_SAAS_PENDING)),
            WorkSource::DueRetries => query
                .index_name(RETRY_INDEX)
                .key_condition_expression("sync_retry = :state")
                .expression_attribute_values(":state", s(WAITING)),
        }
    }
}
