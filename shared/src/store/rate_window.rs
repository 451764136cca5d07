//! The marketplace's request ceiling (`ATOM_SAAS_MAX_REQUESTS_PER_MINUTE`),
//! shared by every path that sends: the scheduled run, an admin's run or
//! retry, and each fast-path invocation. One item in the state table keeps
//! the grants of the last window; a sender takes a grant of a few requests
//! with a conditional write and sends them within [`grant_hold`].
//!
//! Why that holds the ceiling in every sliding window at the marketplace: a
//! grant made at `t` is counted until `t + per + hold`, and its requests go
//! out in `[t, t + hold)`. The requests in any window `[x, x + per)` come from
//! grants made after `x - hold`; the last of them was made only if all of
//! those, still counted then, left room for it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{is_condition_failure, n, number, request_error, s, text, Store, StoreError};
use crate::config::RateLimit;

const RATE_PARTITION: &str = "rate";
const RATE_KEY: &str = "marketplace";
/// How long the requests of a grant may take to go out (unused ones
/// lapse): a thirtieth of the window, from 50 ms to 2 s, so that a grant
/// counted for its window and its hold costs the ceiling little.
pub fn grant_hold(per: Duration) -> Duration {
    (per / 30).clamp(Duration::from_millis(50), Duration::from_secs(2))
}
/// Conditional writes lost to other senders before this one waits a little.
const CONTENDED_ROUNDS: usize = 5;

/// The answer to a request for a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Granted: the requests may go out until `now + hold`.
    Granted,
    /// The window is full (or other senders won the write): ask again then.
    RetryAt(DateTime<Utc>),
}

/// The grants still counted: (when, how many), oldest first.
type Grants = Vec<(i64, u32)>;

impl Store {
    /// Asks for a grant of `count` requests at `now` under `limit`, to go
    /// out within `hold`.
    pub async fn reserve_requests(
        &self,
        count: u32,
        limit: &RateLimit,
        hold: Duration,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError> {
        let table = &self.tables.sync_state;
        let counted_for = millis(limit.per.saturating_add(hold));
        let now_ms = now.timestamp_millis();
        for _ in 0..CONTENDED_ROUNDS {
            let out = self
                .client
                .get_item()
                .table_name(table)
                .key("pk", s(RATE_PARTITION))
                .key("sk", s(RATE_KEY))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| request_error(table, "GetItem", e))?;
            let item = out.item.unwrap_or_default();
            let version = number(&item, "version").and_then(|v| v.parse::<u64>().ok());
            let mut grants: Grants = parse(text(&item, "grants").unwrap_or_default())
                .into_iter()
                .filter(|(at, _)| at.saturating_add(counted_for) > now_ms)
                .collect();
            if let Some(free_at) = room_at(&grants, count, limit.max, counted_for) {
                if free_at > now_ms {
                    return Ok(Grant::RetryAt(at_millis(free_at)));
                }
            }
            grants.push((now_ms, count));
            let put = self
                .client
                .put_item()
                .table_name(table)
                .item("pk", s(RATE_PARTITION))
                .item("sk", s(RATE_KEY))
                .item("grants", s(format_grants(&grants)))
                .item("version", n(version.map_or(1, |v| v.saturating_add(1))));
            let put = match version {
                Some(v) => put
                    .condition_expression("version = :version")
                    .expression_attribute_values(":version", n(v)),
                None => put.condition_expression("attribute_not_exists(pk)"),
            };
            match put.send().await {
                Ok(_) => return Ok(Grant::Granted),
                Err(err) if is_condition_failure(&err) => continue,
                Err(err) => return Err(request_error(table, "PutItem", err)),
            }
        }
        Ok(Grant::RetryAt(now + chrono::Duration::milliseconds(20)))
    }
}

/// When `count` more requests fit beside `grants` (each counted for
/// `counted_for` ms from its time) under `max`: `None` if they fit now.
fn room_at(grants: &Grants, count: u32, max: u32, counted_for: i64) -> Option<i64> {
    let used: u64 = grants.iter().map(|(_, c)| u64::from(*c)).sum();
    let mut excess = (used + u64::from(count)).checked_sub(u64::from(max))?;
    if excess == 0 {
        return None;
    }
    for (at, c) in grants {
        excess = excess.saturating_sub(u64::from(*c));
        if excess == 0 {
            return Some(at.saturating_add(counted_for));
        }
    }
    // More than the ceiling at once: never; the caller asks for less.
    Some(i64::MAX)
}

fn parse(text: &str) -> Grants {
    text.split(';')
        .filter_map(|grant| {
            let (at, count) = grant.split_once(':')?;
            Some((at.parse().ok()?, count.parse().ok()?))
        })
        .collect()
}

fn format_grants(grants: &Grants) -> String {
    grants
        .iter()
        .map(|(at, count)| format!("{at}:{count}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn at_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_round_trip_and_garbage_is_dropped() {
        let grants = vec![(1_000, 5), (2_500, 1)];
        assert_eq!(parse(&format_grants(&grants)), grants);
        assert_eq!(parse("x:1;5:y;7:2;"), vec![(7, 2)]);
        assert!(parse("").is_empty());
    }

    #[test]
    fn room_comes_when_enough_of_the_oldest_grants_stop_counting() {
        let grants = vec![(0, 4), (100, 4), (200, 2)];
        assert_eq!(room_at(&grants, 2, 12, 1_000), None, "10 + 2 fit in 12");
        assert_eq!(
            room_at(&grants, 3, 12, 1_000),
            Some(1_000),
            "the first 4 must go"
        );
        assert_eq!(room_at(&grants, 7, 12, 1_000), Some(1_100));
        assert_eq!(room_at(&grants, 13, 12, 1_000), Some(i64::MAX));
        assert_eq!(room_at(&Vec::new(), 12, 12, 1_000), None);
    }
}
