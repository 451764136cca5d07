//! How the sync is doing across runs: one item in the state table that
//! every run updates as it ends, whichever function ran it.
//!
//! "No successful run in two intervals" cannot be an alarm on a window of
//! CloudWatch data alone: the window would be twice the schedule's interval,
//! CloudFormation cannot multiply a parameter, and CloudWatch looks back at
//! most one day with periods under an hour. Counting does not need the
//! interval: the item keeps how many scheduled runs in a row have failed
//! since a run last succeeded, each scheduled run reports that count (the
//! `ConsecutiveFailedRuns` metric), and two is two intervals without a
//! success. The count is exact whatever the runs' durations and the
//! schedule's jitter; a success of any run, scheduled or admin, resets it.
//! The status endpoint shows when the last success was.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::{n, number, request_error, s, timestamp, Item, Store, StoreError};

const HEALTH_PARTITION: &str = "health";
const HEALTH_KEY: &str = "sync";

/// How a run ended, as far as the health item is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The run did its work: the count of failed scheduled runs goes back
    /// to 0.
    Succeeded,
    /// A scheduled run failed: it counts towards the alarm.
    ScheduledRunFailed,
    /// A run on request (the admin API) failed: recorded, not counted, so
    /// that an operator's attempts during an outage do not stand for
    /// intervals.
    RequestedRunFailed,
}

/// What the health item says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncHealth {
    /// Scheduled runs that failed since a run last succeeded (or since the
    /// first run, if none has).
    pub consecutive_failed_runs: u64,
    /// When the last successful run ended, if one has.
    pub last_success_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Records that a run ended at `at` with `outcome`, and answers the
    /// health item as it now stands.
    pub async fn record_run_outcome(
        &self,
        outcome: RunOutcome,
        at: DateTime<Utc>,
    ) -> Result<SyncHealth, StoreError> {
        let table = &self.tables.sync_state;
        let update = match outcome {
            RunOutcome::Succeeded => {
                "SET last_run_at = :at, last_run_succeeded = :succeeded, \
                 consecutive_failed_runs = :zero, last_success_at = :at, last_success_ms = :at_ms"
            }
            RunOutcome::ScheduledRunFailed => {
                "SET last_run_at = :at, last_run_succeeded = :succeeded \
                 ADD consecutive_failed_runs :one"
            }
            RunOutcome::RequestedRunFailed => {
                "SET last_run_at = :at, last_run_succeeded = :succeeded, \
                 consecutive_failed_runs = if_not_exists(consecutive_failed_runs, :zero)"
            }
        };
        let mut request = self
            .client
            .update_item()
            .table_name(table)
            .key("pk", s(HEALTH_PARTITION))
            .key("sk", s(HEALTH_KEY))
            .update_expression(update)
            .expression_attribute_values(":at", s(timestamp(at)))
            .expression_attribute_values(
                ":succeeded",
                AttributeValue::Bool(outcome == RunOutcome::Succeeded),
            )
            .return_values(ReturnValue::AllNew);
        // DynamoDB refuses values the expression does not use.
        request = match outcome {
            RunOutcome::Succeeded => request
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":at_ms", n(at.timestamp_millis())),
            RunOutcome::ScheduledRunFailed => request.expression_attribute_values(":one", n(1)),
            RunOutcome::RequestedRunFailed => request.expression_attribute_values(":zero", n(0)),
        };
        let out = request
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
    let malformed = |message: String| StoreError::Malformed {
        table: table.to_owned(),
        message: format!("health item: {message}"),
    };
    let consecutive_failed_runs = match number(item, "consecutive_failed_runs") {
        Some(count) => count
            .parse()
            .map_err(|_| malformed(format!("consecutive_failed_runs is {count}")))?,
        None => 0,
    };
    let last_success_at = match number(item, "last_success_ms") {
        Some(ms) => Some(
            ms.parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_millis)
                .ok_or_else(|| malformed(format!("last_success_ms is {ms}")))?,
        ),
        None => None,
    };
    Ok(SyncHealth {
        consecutive_failed_runs,
        last_success_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), n(value)))
            .collect()
    }

    #[test]
    fn the_item_reads_back() {
        let health = health_from(
            "state",
            &item(&[
                ("consecutive_failed_runs", "3"),
                ("last_success_ms", "1800000000000"),
            ]),
        )
        .unwrap();
        assert_eq!(health.consecutive_failed_runs, 3);
        assert_eq!(
            health.last_success_at,
            DateTime::from_timestamp(1_800_000_000, 0)
        );
        let fresh = health_from("state", &Item::new()).unwrap();
        assert_eq!(
            (fresh.consecutive_failed_runs, fresh.last_success_at),
            (0, None)
        );
    }

    #[test]
    fn a_damaged_item_is_an_error_that_names_the_attribute() {
        for (name, value) in [
            ("consecutive_failed_runs", "-1"),
            ("last_success_ms", "soon"),
        ] {
            let err = health_from("state", &item(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
