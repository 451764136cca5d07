//! The progress of a full re-push (`upload_all`): how far the scan of the
//! ratings table got, kept in the state table (pk `requeue`, sk
//! `upload-all`) so that a table too large for one request is requeued over
//! several, and each rating put back in the backlog.

use chrono::{Duration, Utc};

use super::ratings::SYNCED_TO_SAAS_PENDING;
use super::{condition_held, n, number, optional, request_error, s, text, Item, Store, StoreError};

/// The item that holds the progress of a full re-push.
const REQUEUE_PARTITION: &str = "requeue";
const REQUEUE_PASS: &str = "upload-all";
/// A re-push left unfinished is forgotten after this; the next one starts
/// from the beginning.
const REQUEUE_PASS_RETENTION_DAYS: i64 = 7;

/// How far a full re-push (`upload_all`) got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequeuePass {
    /// The id of the last rating scanned; `None` before the first page.
    pub after: Option<String>,
    /// Ratings put back in the backlog by this pass so far.
    pub requeued: u64,
    /// When the pass started.
    pub started_at: String,
}

/// One page of the ratings a re-push puts back in the backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequeuePage {
    /// Ids of ratings not already pending.
    pub ids: Vec<String>,
    /// Where the next page starts; `None` once the whole table was scanned.
    pub next: Option<String>,
}

impl Store {
    /// The full re-push under way, if one is.
    pub async fn requeue_pass(&self) -> Result<Option<RequeuePass>, StoreError> {
        let table = &self.tables.sync_state;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("pk", s(REQUEUE_PARTITION))
            .key("sk", s(REQUEUE_PASS))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error(table, "GetItem", e))?;
        Ok(out.item.map(|item| RequeuePass {
            after: text(&item, "after").map(str::to_owned),
            requeued: number(&item, "requeued")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            started_at: text(&item, "started_at").unwrap_or_default().to_owned(),
        }))
    }

    /// Records how far the re-push got, so that the next call goes on.
    pub async fn save_requeue_pass(&self, pass: &RequeuePass) -> Result<(), StoreError> {
        let table = &self.tables.sync_state;
        let expires = Utc::now() + Duration::days(REQUEUE_PASS_RETENTION_DAYS);
        self.client
            .put_item()
            .table_name(table)
            .item("pk", s(REQUEUE_PARTITION))
            .item("sk", s(REQUEUE_PASS))
            .item("after", optional(&pass.after))
            .item("requeued", n(pass.requeued))
            .item("started_at", s(&pass.started_at))
            .item("expires_at", n(expires.timestamp()))
            .send()
            .await
            .map_err(|e| request_error(table, "PutItem", e))?;
        Ok(())
    }

    /// The re-push reached the end of the table: the next one starts over.
    pub async fn finish_requeue_pass(&self) -> Result<(), StoreError> {
        let table = &self.tables.sync_state;
        self.client
            .delete_item()
            .table_name(table)
            .key("pk", s(REQUEUE_PARTITION))
            .key("sk", s(REQUEUE_PASS))
            .send()
            .await
            .map_err(|e| request_error(table, "DeleteItem", e))?;
        Ok(())
    }

    /// One page of a Scan of the ratings table: the ids of the ratings not
    /// already pending, after the rating `after`. The only scan in this
    /// service: a full re-push has to see every rating, and reads ids only.
    pub async fn ratings_to_requeue(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<RequeuePage, StoreError> {
        let table = &self.tables.ratings;
        let out = self
            .client
            .scan()
            .table_name(table)
            .projection_expression("id")
            .filter_expression("attribute_not_exists(synced_to_saas) OR synced_to_saas <> :pending")
            .expression_attribute_values(":pending", s(super::SYNCED_TO_SAAS_PENDING))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(after.map(|id| Item::from([("id".to_owned(), s(id))])))
            .send()
            .await
            .map_err(|e| request_error(table, "Scan", e))?;
        Ok(RequeuePage {
            ids: out
                .items()
                .iter()
                .filter_map(|item| text(item, "id").map(str::to_owned))
                .collect(),
            next: out
                .last_evaluated_key
                .as_ref()
                .and_then(|key| text(key, "id"))
                .map(str::to_owned),
        })
    }

    /// Puts a rating back in the backlog, whatever its state (an admin retry,
    /// or a full re-push). It starts a new sync round, so its upload carries
    /// a new idempotency key and is applied again rather than answered from
    /// the marketplace's memory of the last one.
    pub async fn requeue(&self, rating_id: &str) -> Result<bool, StoreError> {
        let table = &self.tables.ratings;
        let requeued = self
            .client
            .update_item()
            .table_name(table)
            .key("id", s(rating_id))
            .update_expression(
                "SET synced_to_saas = :pending, sync_round = if_not_exists(sync_round, :zero) + :one \
                 REMOVE sync_retry, next_attempt_at, sync_parked_at",
            )
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":pending", s(SYNCED_TO_SAAS_PENDING))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        condition_held(requeued, table, "UpdateItem")
    }
}
