//! The run lease: one item in the state table that at most one sync run
//! holds at a time, across every function and every concurrent invocation.
//!
//! The lease is taken with a conditional write and carries an expiry, so a
//! run that dies without releasing it blocks the next one only until then.
//! A holder renews it as it goes; a renewal that fails means another run
//! took over, and the old holder must stop writing.
//!
//! Each of these writes may be retried by the SDK after an attempt that
//! landed but whose answer was lost: each treats meeting its own write as
//! success (the acquire by the holder it finds, which is a run's unique id).

use chrono::{DateTime, Utc};

use super::{
    condition_held, is_condition_failure, n, number, request_error, s, text, timestamp, Store,
    StoreError,
};

pub(super) const LEASE_PARTITION: &str = "lease";

/// What trying to take the run lease came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The lease is ours until the time asked for.
    Acquired,
    /// Someone else holds it, until the given time.
    HeldBy {
        /// The run that holds it (its run id).
        holder: String,
        /// When its hold expires (RFC 3339).
        until: String,
    },
}

/// The run lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// Who took the lease last (a run id).
    pub holder: String,
    /// When that hold expires (RFC 3339).
    pub until: String,
    /// `until` has not passed: a run holds the lease.
    pub held: bool,
}

impl Store {
    /// Takes the lease `name` for `holder` until `until`, unless another
    /// holder has it and it has not expired at `now`.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError> {
        let table = &self.tables.sync_state;
        let put = self
            .client
            .put_item()
            .table_name(table)
            .item("pk", s(LEASE_PARTITION))
            .item("sk", s(name))
            .item("holder", s(holder))
            .item("acquired_at", s(timestamp(now)))
            .item("until", s(timestamp(until)))
            .item("until_ms", n(until.timestamp_millis()))
            .condition_expression("attribute_not_exists(pk) OR until_ms < :now")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match put {
            Ok(_) => Ok(LeaseOutcome::Acquired),
            Err(err) if is_condition_failure(&err) => {
                let current = err
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                            c.item().cloned()
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                // Our own write, landed on an earlier attempt whose answer
                // was lost: the SDK's retry meets it. Run ids are unique, so
                // only this run can have written this holder.
                if text(&current, "holder") == Some(holder) {
                    return Ok(LeaseOutcome::Acquired);
                }
                Ok(LeaseOutcome::HeldBy {
                    holder: text(&current, "holder").unwrap_or("unknown").to_owned(),
                    until: text(&current, "until").unwrap_or("unknown").to_owned(),
                })
            }
            Err(err) => Err(request_error(table, "PutItem", err)),
        }
    }

    /// Extends a lease this holder still has; `false` if it was lost. A
    /// retry that meets its own landed write finds the same holder, so it
    /// is renewed too.
    pub async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.sync_state;
        let renewed = self
            .client
            .update_item()
            .table_name(table)
            .key("pk", s(LEASE_PARTITION))
            .key("sk", s(name))
            .update_expression("SET #until = :until, until_ms = :until_ms")
            .condition_expression("holder = :holder")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":until", s(timestamp(until)))
            .expression_attribute_values(":until_ms", n(until.timestamp_millis()))
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        condition_held(renewed, table, "UpdateItem")
    }

    /// Gives the lease up, if this holder still has it. A retry that finds
    /// it gone (its earlier attempt landed) or taken over has nothing left
    /// to do.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let table = &self.tables.sync_state;
        let deleted = self
            .client
            .delete_item()
            .table_name(table)
            .key("pk", s(LEASE_PARTITION))
            .key("sk", s(name))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        // A lease taken over meanwhile is not ours to delete.
        condition_held(deleted, table, "DeleteItem").map(|_| ())
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
}
