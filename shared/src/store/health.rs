//! When a sync run last succeeded: one item in the state table that every
//! run updates as it ends, whichever function ran it.
//!
//! "No successful run in two intervals" cannot be an alarm on a window of
//! CloudWatch data alone: the window would be twice the schedule's interval,
//! CloudFormation cannot multiply a parameter, and CloudWatch looks back at
//! most one day with periods under an hour. So the sync keeps the time of
//! its last success here, across cold starts, and the scheduled function,
//! which knows its interval, reports how many intervals have passed since
//! (the `IntervalsSinceSuccess` metric the alarm watches). The status
//! endpoint shows it too.

use std::time::Duration;

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::{n, number, request_error, s, timestamp, Item, Store, StoreError};

const HEALTH_PARTITION: &str = "health";
const HEALTH_KEY: &str = "sync";

/// What the health item says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncHealth {
    /// When the first run on record ended: the reference point while no run
    /// has succeeded yet.
    pub first_run_at: DateTime<Utc>,
    /// When the last successful run ended, if one has.
    pub last_success_at: Option<DateTime<Utc>>,
}

impl SyncHealth {
    /// Whole schedule intervals from the last success (or, before any, from
    /// the first run) to `now`, rounded to the nearest: a tick a little early
    /// or late still counts as that tick. A run that just succeeded is 0; the
    /// second failed tick after a success is 2.
    pub fn intervals_since_success(&self, now: DateTime<Utc>, interval: Duration) -> u64 {
        let since = self.last_success_at.unwrap_or(self.first_run_at);
        let elapsed = u128::try_from((now - since).num_milliseconds()).unwrap_or(0);
        let interval = interval.as_millis().max(1);
        u64::try_from((elapsed + interval / 2) / interval).unwrap_or(u64::MAX)
    }
}

impl Store {
    /// Records that a run ended at `at`, successfully or not, and answers
    /// the health item as it now stands.
    pub async fn record_run_outcome(
        &self,
        succeeded: bool,
        at: DateTime<Utc>,
    ) -> Result<SyncHealth, StoreError> {
        let table = &self.tables.sync_state;
        let mut update = String::from(
            "SET first_run_ms = if_not_exists(first_run_ms, :at_ms), \
             first_run_at = if_not_exists(first_run_at, :at), \
             last_run_at = :at, last_run_succeeded = :succeeded",
        );
        if succeeded {
            update.push_str(", last_success_ms = :at_ms, last_success_at = :at");
        }
        let out = self
            .client
            .update_item()
            .table_name(table)
            .key("pk", s(HEALTH_PARTITION))
            .key("sk", s(HEALTH_KEY))
            .update_expression(update)
            .expression_attribute_values(":at_ms", n(at.timestamp_millis()))
            .expression_attribute_values(":at", s(timestamp(at)))
            .expression_attribute_values(
                ":succeeded",
                aws_sdk_dynamodb::types::AttributeValue::Bool(succeeded),
            )
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| request_error(table, "UpdateItem", e))?;
        health_from(table, &out.attributes.unwrap_or_default())
    }

    /// The health item; `None` before the first run ended.
    pub async fn sync_health(&self) -> Result<Option<SyncHealth>, StoreError> {
        let table = &self.tables.sync_state;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("pk", s(HEALTH_PARTITION))
            .key("sk", s(HEALTH_KEY))
            .send()
            .await
            .map_err(|e| request_error(table, "GetItem", e))?;
        out.item.map(|item| health_from(table, &item)).transpose()
    }
}

fn health_from(table: &str, item: &Item) -> Result<SyncHealth, StoreError> {
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        let Some(ms) = number(item, name) else {
            return Ok(None);
        };
        ms.parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .map(Some)
            .ok_or_else(|| StoreError::Malformed {
                table: table.to_owned(),
                message: format!("health item: {name} is not a time in milliseconds: {ms}"),
            })
    };
    let first_run_at = time("first_run_ms")?.ok_or_else(|| StoreError::Malformed {
        table: table.to_owned(),
        message: "health item has no first_run_ms".into(),
    })?;
    Ok(SyncHealth {
        first_run_at,
        last_success_at: time("last_success_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap()
    }

    #[test]
    fn intervals_are_counted_from_the_last_success() {
        let health = SyncHealth {
            first_run_at: at(0),
            last_success_at: Some(at(100)),
        };
        let every_30 = 30 * MINUTE;
        assert_eq!(health.intervals_since_success(at(100), every_30), 0);
        assert_eq!(health.intervals_since_success(at(130), every_30), 1);
        // The second tick after the success, a minute early or late.
        assert_eq!(health.intervals_since_success(at(159), every_30), 2);
        assert_eq!(health.intervals_since_success(at(161), every_30), 2);
        assert_eq!(health.intervals_since_success(at(190), every_30), 3);
        // The longest schedule the template allows: a day.
        assert_eq!(
            health.intervals_since_success(at(100 + 2 * 1440), 1440 * MINUTE),
            2
        );
    }

    #[test]
    fn before_any_success_the_first_run_is_the_reference() {
        let health = SyncHealth {
            first_run_at: at(0),
            last_success_at: None,
        };
        assert_eq!(health.intervals_since_success(at(0), 5 * MINUTE), 0);
        assert_eq!(health.intervals_since_success(at(10), 5 * MINUTE), 2);
    }

    #[test]
    fn a_clock_behind_the_item_counts_as_no_time_passed() {
        let health = SyncHealth {
            first_run_at: at(0),
            last_success_at: Some(at(10)),
        };
        assert_eq!(health.intervals_since_success(at(9), 5 * MINUTE), 0);
        assert_eq!(health.intervals_since_success(at(9), Duration::ZERO), 0);
    }
}
