//! The ratings table: reading the work and recording what became of it.
//!
//! A rating's sync state lives in a few attributes, each of which puts it in
//! exactly one sparse index, so that finding work never scans the table and
//! a run reads only what it can do now:
//!
//! | state | attributes | index |
//! |---|---|---|
//! | pending | `synced_to_saas = "false"` (set by the Atom app) | [`PENDING_INDEX`], by `updated_at` |
//! | waiting | `sync_retry = "waiting"`, `next_attempt_at` | [`RETRY_INDEX`], by `next_attempt_at` |
//! | parked | `sync_parked_at` | none: only an admin retry brings it back |
//! | synced | `synced_at`, `remote_rating_id` | none |
//!
//! Every rating is also in [`SKILL_INDEX`] (by `skill_id` and `user_id`), so
//! that the pull finds the local rating a remote one belongs to.
//!
//! Every write here is conditional on the `version` and `updated_at` that
//! were read, so an edit made meanwhile is never marked synced, deferred or
//! parked in place of the version that was attempted.

use chrono::{DateTime, Utc};

use super::{
    condition_held, n, number, query_all, request_error, s, text, timestamp, Item, Store,
    StoreError,
};
use crate::conflict::RemoteRating;
use crate::rating::{cut_message, MalformedRating, PendingRating, Rating, SyncFailure, SyncState};

/// The index that holds the backlog: new and edited ratings, oldest first.
pub const PENDING_INDEX: &str = "pending-sync-index";
/// The value of `synced_to_saas` that puts a rating in the backlog.
pub const SYNCED_TO_SAAS_PENDING: &str = "false";
/// The index of every rating by skill and user: how the pull finds the local
/// rating that a remote one belongs to.
pub const SKILL_INDEX: &str = "skill-user-index";
/// The index that holds failed ratings waiting for their next attempt.
pub const RETRY_INDEX: &str = "retry-due-index";
/// The value of `sync_retry` that puts a rating in that index.
pub(super) const WAITING: &str = "waiting";

/// What became of a rating that the marketplace accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkOutcome {
    /// Marked synced; it has left every index.
    Synced,
    /// It was edited while in flight: it stays pending with its new content,
    /// and keeps the remote id so that the edit travels as an update.
    ChangedMeanwhile,
    /// It was deleted while in flight.
    Deleted,
}

/// What a failure does to the rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Out of the backlog until then; a run after that tries it again.
    RetryAt(DateTime<Utc>),
    /// Out of every index until an admin retries it.
    Park,
}

impl Store {
    /// Records that the marketplace holds `rating` under `remote_id`.
    ///
    /// The rating leaves the backlog only if it is still the version that
    /// was uploaded; otherwise it keeps its new content, stays pending, and
    /// only learns its remote id.
    pub async fn mark_synced(
        &self,
        rating: &Rating,
        remote_id: &str,
        at: DateTime<Utc>,
    ) -> Result<MarkOutcome, StoreError> {
        let table = &self.tables.ratings;
        let synced = self
            .client
            .update_item()
            .table_name(table)
            .key("id", s(&rating.id))
            .update_expression(
                "SET synced_at = :now, remote_rating_id = :remote \
                 REMOVE synced_to_saas, sync_retry, next_attempt_at, sync_parked_at, \
                 sync_failures, last_sync_error",
            )
            .condition_expression("#version = :version AND updated_at = :updated_at")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":now", s(timestamp(at)))
            .expression_attribute_values(":remote", s(remote_id))
            .expression_attribute_values(":version", n(rating.version))
            .expression_attribute_values(":updated_at", s(&rating.updated_at))
            .send()
            .await;
        if condition_held(synced, table, "UpdateItem")? {
            return Ok(MarkOutcome::Synced);
        }

        let kept = self
            .client
            .update_item()
            .table_name(table)
            .key("id", s(&rating.id))
            .update_expression("SET remote_rating_id = :remote")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":remote", s(remote_id))
            .send()
            .await;
        Ok(if condition_held(kept, table, "UpdateItem")? {
            MarkOutcome::ChangedMeanwhile
        } else {
            MarkOutcome::Deleted
        })
    }

    /// Records a failed attempt on the rating itself: its failure count,
    /// the error, and where it goes now. `false` if the rating changed or
    /// went away meanwhile: then the newer version is what counts, and this
    /// failure is not recorded at all.
    pub(super) async fn record_failure_on_rating(
        &self,
        failure: &SyncFailure,
        disposition: Disposition,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.ratings;
        let mut update = self
            .client
            .update_item()
            .table_name(table)
            .key("id", s(&failure.rating_id))
            .expression_attribute_values(":count", n(failure.attempts()))
            .expression_attribute_values(":message", s(cut_message(failure.message.as_str())));
        update = match disposition {
            Disposition::RetryAt(due) => update
                .update_expression(
                    "SET sync_failures = :count, last_sync_error = :message, \
                     sync_retry = :waiting, next_attempt_at = :due \
                     REMOVE synced_to_saas, sync_parked_at",
                )
                .expression_attribute_values(":waiting", s(WAITING))
                .expression_attribute_values(":due", s(timestamp(due))),
            Disposition::Park => update
                .update_expression(
                    "SET sync_failures = :count, last_sync_error = :message, \
                     sync_parked_at = :now \
                     REMOVE synced_to_saas, sync_retry, next_attempt_at",
                )
                .expression_attribute_values(":now", s(timestamp(at))),
        };
        update = match &failure.attempted {
            Some((version, updated_at)) => update
                .condition_expression("#version = :version AND updated_at = :updated_at")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":version", n(version))
                .expression_attribute_values(":updated_at", s(updated_at)),
            // An unreadable item has no version to hold on to.
            None => update.condition_expression("attribute_exists(id)"),
        };
        condition_held(update.send().await, table, "UpdateItem")
    }

    /// Gives the local rating the values of a newer remote one and marks it
    /// synced, unless it changed since it was read: a local edit made while
    /// the pull was resolving is never overwritten by an older remote value.
    pub async fn apply_remote(
        &self,
        local: &Rating,
        remote: &RemoteRating,
        remote_time: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.ratings;
        let set = "SET #rating = :stars, remote_rating_id = :remote, synced_at = :now, \
                   updated_at = :remote_time, #version = #version + :one";
        let remove = "REMOVE synced_to_saas, sync_retry, next_attempt_at, sync_parked_at, \
                      sync_failures, last_sync_error";
        let mut update = self
            .client
            .update_item()
            .table_name(table)
            .key("id", s(&local.id))
            .condition_expression("#version = :version AND updated_at = :updated_at")
            .expression_attribute_names("#rating", "rating")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":stars", n(remote.rating))
            .expression_attribute_values(":remote", s(&remote.id))
            .expression_attribute_values(":now", s(timestamp(at)))
            .expression_attribute_values(":remote_time", s(timestamp(remote_time)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":version", n(local.version))
            .expression_attribute_values(":updated_at", s(&local.updated_at));
        update = match &remote.comment {
            Some(comment) => update
                .update_expression(format!("{set}, #review = :comment {remove}"))
                .expression_attribute_names("#review", "review")
                .expression_attribute_values(":comment", s(comment)),
            None => update
                .update_expression(format!("{set} {remove}, #review"))
                .expression_attribute_names("#review", "review"),
        };
        condition_held(update.send().await, table, "UpdateItem")
    }

    /// Every local rating of a skill, with where it stands.
    pub async fn ratings_of_skill(
        &self,
        skill_id: &str,
    ) -> Result<Vec<(SyncState, PendingRating)>, StoreError> {
        let table = &self.tables.ratings;
        let query = self
            .client
            .query()
            .table_name(table)
            .index_name(SKILL_INDEX)
            .key_condition_expression("skill_id = :skill")
            .expression_attribute_values(":skill", s(skill_id));
        let items = query_all(query, table).await?;
        Ok(items
            .iter()
            .map(|item| (sync_state(item), rating_from_item(item)))
            .collect())
    }

    /// One rating by id, as stored (for the admin API and tests).
    pub async fn rating_item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let table = &self.tables.ratings;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error(table, "GetItem", e))?;
        Ok(out.item)
    }
}

/// Reads an item of the backlog against the write contract (`docs/data.md`).
pub fn rating_from_item(item: &Item) -> PendingRating {
    let id = text(item, "id").unwrap_or_default().to_owned();
    let tenant_id = text(item, "tenant_id").unwrap_or_default().to_owned();
    let sync_failures = number(item, "sync_failures")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let malformed = |problem: String| MalformedRating {
        id: id.clone(),
        tenant_id: tenant_id.clone(),
        sync_failures,
        problem,
    };
    let required = |name: &str| {
        text(item, name)
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| malformed(format!("Missing or empty string field: {name}")))
    };

    let skill_id = required("skill_id")?;
    let user_id = required("user_id")?;
    required("tenant_id")?;
    let created_at = required("created_at")?;
    let updated_at = required("updated_at")?;
    // The write contract says number; a string is read too, and judged by the
    // same 1..5 rule, so its message shows what was written.
    let rating = number(item, "rating")
        .or_else(|| text(item, "rating"))
        .map(str::to_owned)
        .ok_or_else(|| malformed("Missing or non-numeric field: rating".into()))?;
    let version = number(item, "version")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| malformed("Missing or non-integer field: version".into()))?;

    Ok(Rating {
        id: id.clone(),
        tenant_id: tenant_id.clone(),
        skill_id,
        user_id,
        rating,
        review: text(item, "review").map(str::to_owned),
        created_at,
        updated_at,
        version,
        remote_rating_id: text(item, "remote_rating_id")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        sync_failures,
        sync_round: number(item, "sync_round")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    })
}

/// Where a stored rating stands (see the table at the top of this module).
pub fn sync_state(item: &Item) -> SyncState {
    if text(item, "synced_to_saas") == Some(SYNCED_TO_SAAS_PENDING) {
        SyncState::Pending
    } else if text(item, "sync_retry") == Some(WAITING) {
        SyncState::Waiting
    } else if item.contains_key("sync_parked_at") {
        SyncState::Parked
    } else if item.contains_key("synced_at") {
        SyncState::Synced
    } else {
        // Written without the backlog marker: nothing will sync it.
        SyncState::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::super::rating_items::new_rating_item;
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::collections::HashMap;

    fn contract_item() -> Item {
        HashMap::from([
            ("id".to_owned(), s("r1")),
            ("tenant_id".to_owned(), s("t1")),
            ("skill_id".to_owned(), s("s1")),
            ("user_id".to_owned(), s("u1")),
            ("rating".to_owned(), n(4)),
            ("review".to_owned(), s("great")),
            ("created_at".to_owned(), s("2026-01-01T00:00:00Z")),
            ("updated_at".to_owned(), s("2026-01-02T00:00:00Z")),
            ("version".to_owned(), n(3)),
            ("synced_to_saas".to_owned(), s(SYNCED_TO_SAAS_PENDING)),
        ])
    }

    #[test]
    fn an_item_that_follows_the_contract_reads_as_a_rating() {
        let rating = rating_from_item(&contract_item()).unwrap();
        assert_eq!(rating.skill_id, "s1");
        assert_eq!(rating.rating, "4");
        assert_eq!(rating.review.as_deref(), Some("great"));
        assert_eq!(rating.version, 3);
        assert_eq!(rating.remote_rating_id, None);
        assert_eq!(rating.sync_failures, 0);
        assert_eq!(new_rating_item(&rating), contract_item());
    }

    #[test]
    fn each_missing_field_is_named_in_the_problem() {
        for field in [
            "skill_id",
            "user_id",
            "tenant_id",
            "created_at",
            "updated_at",
            "rating",
            "version",
        ] {
            let mut item = contract_item();
            item.remove(field);
            let problem = rating_from_item(&item).unwrap_err().problem;
            assert!(problem.ends_with(field), "{field}: {problem}");
        }
    }

    #[test]
    fn a_malformed_item_keeps_what_the_dead_letter_table_needs() {
        let mut item = contract_item();
        item.insert("version".to_owned(), s("three"));
        item.insert("sync_failures".to_owned(), n(2));
        let malformed = rating_from_item(&item).unwrap_err();
        assert_eq!(malformed.id, "r1");
        assert_eq!(malformed.tenant_id, "t1");
        assert_eq!(malformed.failure().failures_before, 2);
        assert!(!malformed.failure().retryable);
    }

    #[test]
    fn sync_attributes_are_read_back() {
        let mut item = contract_item();
        item.insert("remote_rating_id".to_owned(), s("rr-9"));
        item.insert("sync_failures".to_owned(), AttributeValue::N("1".into()));
        let rating = rating_from_item(&item).unwrap();
        assert_eq!(rating.remote_rating_id.as_deref(), Some("rr-9"));
        assert_eq!(rating.sync_failures, 1);
    }
}
