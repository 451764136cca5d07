//! What the admin API reads and writes beyond the sync's own items: the
//! audit trail, the lease as an operator sees it, the counts of the status
//! page, the progress of a full re-push, and the removal of dead-letter
//! items that nothing will retry.
//!
//! The audit trail has a table of its own (pk `audit`, sk
//! `<timestamp>#<uuid>`, one admin request each: who, what, the answer;
//! kept `AUDIT_RETENTION_DAYS`, 400 days by default), where
//! the functions may only put items. The rest lives in the state table, each
//! kind under its own partition, so that one Query reads one kind and IAM
//! can tell them apart:
//!
//! | `pk` | `sk` | what |
//! |---|---|---|
//! | `requeue` | `upload-all` | how far the current full re-push got |
//! | `conflict` | (written by the conflict log) | counted for the status page |

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use super::conflicts::CONFLICT_PARTITION;
use super::lease::LEASE_PARTITION;
use super::{
    condition_held, count_all, n, number, request_error, s, text, timestamp, Item, Store,
    StoreError,
};

/// The partition of the audit trail.
pub const AUDIT_PARTITION: &str = "audit";
/// The item that holds the progress of a full re-push.
const REQUEUE_PARTITION: &str = "requeue";
const REQUEUE_PASS: &str = "upload-all";
/// A re-push left unfinished is forgotten after this; the next one starts
/// from the beginning.
const REQUEUE_PASS_RETENTION_DAYS: i64 = 7;

/// One admin request as the audit trail records it. Nothing secret is in
/// it: no token, no cursor, no body; `input` is a summary the handler made.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// When the request arrived; with `id` it makes the sort key.
    pub at: DateTime<Utc>,
    pub id: String,
    /// What was asked, e.g. `sync_ratings`.
    pub action: String,
    /// The verified caller; all `None` when the request proved no identity.
    pub subject: Option<String>,
    pub role: Option<String>,
    pub agent_id: Option<String>,
    pub maturity: Option<String>,
    /// The Lambda request id and the client's address, when the runtime
    /// gave them.
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    /// A summary of the input (JSON text).
    pub input: String,
    /// `started` while an action runs; then `ok`, `refused`, `invalid` or
    /// `error`.
    pub outcome: String,
    /// The HTTP status answered (0 while `started`).
    pub status: u16,
    /// The error code answered, if any.
    pub code: Option<String>,
    /// What came of it, in a sentence.
    pub result: String,
}

impl AuditRecord {
    pub fn sort_key(&self) -> String {
        format!("{}#{}", timestamp(self.at), self.id)
    }
}

/// The run lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    pub holder: String,
    pub until: String,
    /// `until` has not passed: a run holds the lease.
    pub held: bool,
}

/// How far a full re-push (`upload_all`) got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequeuePass {
    /// The id of the last rating scanned; `None` before the first page.
    pub after: Option<String>,
    /// Ratings put back in the backlog by this pass so far.
    pub requeued: u64,
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

fn optional(value: &Option<String>) -> AttributeValue {
    match value {
        Some(value) => s(value),
        None => AttributeValue::Null(true),
    }
}

impl Store {
    /// Writes `record` to the audit table, kept `retention_days` (again: a
    /// record written as `started` is replaced by its outcome, under the
    /// same key; a PutItem, the one action the functions have there).
    pub async fn record_audit(
        &self,
        record: &AuditRecord,
        retention_days: u32,
    ) -> Result<(), StoreError> {
        let table = &self.tables.audit;
        let expires = record.at + Duration::days(i64::from(retention_days));
        self.client
            .put_item()
            .table_name(table)
            .item("pk", s(AUDIT_PARTITION))
            .item("sk", s(record.sort_key()))
            .item("at", s(timestamp(record.at)))
            .item("action", s(&record.action))
            .item("sub", optional(&record.subject))
            .item("role", optional(&record.role))
            .item("agent_id", optional(&record.agent_id))
            .item("maturity", optional(&record.maturity))
            .item("request_id", optional(&record.request_id))
            .item("source_ip", optional(&record.source_ip))
            .item("input", s(&record.input))
            .item("outcome", s(&record.outcome))
            .item("status", n(record.status))
            .item("code", optional(&record.code))
            .item("result", s(&record.result))
            .item("expires_at", n(expires.timestamp()))
            .send()
            .await
            .map_err(|e| request_error(table, "PutItem", e))?;
        Ok(())
    }

    /// The most recent audit records, newest first, as stored (for tests
    /// and operators: the functions never read the trail).
    pub async fn recent_audit_records(&self, limit: u32) -> Result<Vec<Item>, StoreError> {
        self.newest_in_partition(&self.tables.audit, AUDIT_PARTITION, limit, true)
            .await
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

    /// The lease `name` as it stands at `now`; `None` if nobody took it or
    /// its holder released it.
    pub async fn lease_state(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LeaseState>, StoreError> {
        let table = &self.tables.sync_state;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("pk", s(LEASE_PARTITION))
            .key("sk", s(name))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error(table, "GetItem", e))?;
        Ok(out.item.map(|item| {
            let until_ms = number(&item, "until_ms")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            LeaseState {
                holder: text(&item, "holder").unwrap_or("unknown").to_owned(),
                until: text(&item, "until").unwrap_or("unknown").to_owned(),
                held: until_ms >= now.timestamp_millis(),
            }
        }))
    }

    /// The conflicts in the conflict log (resolved newest-wins by the sync).
    pub async fn count_conflicts(&self) -> Result<u64, StoreError> {
        self.count_state_partition(CONFLICT_PARTITION).await
    }

    async fn count_state_partition(&self, partition: &str) -> Result<u64, StoreError> {
        let table = &self.tables.sync_state;
        let query = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(partition));
        count_all(query, table).await
    }

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
            .expression_attribute_values(":pending", s(super::PENDING))
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
