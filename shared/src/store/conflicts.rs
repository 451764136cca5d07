//! The conflict log: every real conflict (the two sides were modified at
//! different times and say different things) with both values and how it
//! was resolved, in the state table under partition `conflict`.

use chrono::{DateTime, Duration, Utc};

use aws_sdk_dynamodb::types::AttributeValue;

use super::{count_all, n, optional, request_error, s, timestamp, Item, Store, StoreError};
use crate::conflict::Conflict;

/// The state table's partition that holds the conflict log.
pub const CONFLICT_PARTITION: &str = "conflict";
/// How long a conflict stays in the log, in days.
pub const CONFLICT_RETENTION_DAYS: i64 = 90;

/// The conflict log's item of `conflict`, resolved at `resolved_at`, which
/// DynamoDB removes after `expires_at` (its TTL). The sync writes it with
/// [`Store::record_conflict`]; the importer of the Python service's
/// `conflict_log` writes the same item with its own `expires_at`.
pub fn conflict_item(
    conflict: &Conflict,
    resolved_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Item {
    Item::from([
        ("pk".to_owned(), s(CONFLICT_PARTITION)),
        (
            "sk".to_owned(),
            s(format!("{}#{}", timestamp(resolved_at), conflict.rating_id)),
        ),
        ("expires_at".to_owned(), n(expires_at.timestamp())),
        ("rating_id".to_owned(), s(&conflict.rating_id)),
        ("skill_id".to_owned(), s(&conflict.skill_id)),
        ("user_id".to_owned(), s(&conflict.user_id)),
        ("remote_rating_id".to_owned(), s(&conflict.remote_rating_id)),
        ("type".to_owned(), s(conflict.kind.as_ref())),
        ("severity".to_owned(), s(conflict.severity.as_ref())),
        ("strategy".to_owned(), s(conflict.strategy.as_ref())),
        ("local_rating".to_owned(), n(&conflict.local_rating)),
        (
            "local_comment".to_owned(),
            optional(&conflict.local_comment),
        ),
        ("local_updated_at".to_owned(), s(&conflict.local_updated_at)),
        (
            "remote_rating".to_owned(),
            conflict.remote_rating.map_or(AttributeValue::Null(true), n),
        ),
        ("reason".to_owned(), optional(&conflict.reason)),
        (
            "remote_comment".to_owned(),
            optional(&conflict.remote_comment),
        ),
        (
            "remote_modified_at".to_owned(),
            optional(&conflict.remote_modified_at),
        ),
        ("resolved_at".to_owned(), s(timestamp(resolved_at))),
        ("resolved_by".to_owned(), s(Conflict::RESOLVED_BY)),
    ])
}

impl Store {
    /// Adds `conflict`, resolved at `resolved_at`, to the conflict log,
    /// where it is kept [`CONFLICT_RETENTION_DAYS`] days.
    pub async fn record_conflict(
        &self,
        conflict: &Conflict,
        resolved_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let table = &self.tables.sync_state;
        let expires = resolved_at + Duration::days(CONFLICT_RETENTION_DAYS);
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(conflict_item(conflict, resolved_at, expires)))
            .send()
            .await
            .map_err(|e| request_error(table, "PutItem", e))?;
        Ok(())
    }

    #[cfg(any(test, feature = "test-util"))]
    /// The logged conflicts of one rating, oldest first (for tests and
    /// operators; the log is keyed by time).
    pub async fn conflicts_of(&self, rating_id: &str) -> Result<Vec<super::Item>, StoreError> {
        let query = self
            .state_partition(CONFLICT_PARTITION)
            .filter_expression("rating_id = :rating")
            .expression_attribute_values(":rating", s(rating_id));
        super::query_all(query, &self.tables.sync_state).await
    }

    /// The conflicts in the conflict log (resolved newest-wins by the sync).
    pub async fn count_conflicts(&self) -> Result<u64, StoreError> {
        self.count_state_partition(CONFLICT_PARTITION).await
    }

    async fn count_state_partition(&self, partition: &str) -> Result<u64, StoreError> {
        count_all(self.state_partition(partition), &self.tables.sync_state).await
    }

    /// A query of one partition of the state table.
    fn state_partition(
        &self,
        partition: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.tables.sync_state)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(partition))
    }
}
