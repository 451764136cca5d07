//! The conflict log: every real conflict (the two sides were modified at
//! different times and say different things) with both values and how it
//! was resolved, in the state table under partition `conflict`.

use chrono::{DateTime, Duration, Utc};

use super::{count_all, n, optional, request_error, s, timestamp, Store, StoreError};
use crate::conflict::Conflict;

/// The state table's partition that holds the conflict log.
pub const CONFLICT_PARTITION: &str = "conflict";
/// How long a conflict stays in the log.
const CONFLICT_RETENTION_DAYS: i64 = 90;

impl Store {
    /// Adds `conflict`, resolved at `resolved_at`, to the conflict log,
    /// where it is kept 90 days.
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
            .item("pk", s(CONFLICT_PARTITION))
            .item(
                "sk",
                s(format!("{}#{}", timestamp(resolved_at), conflict.rating_id)),
            )
            .item("expires_at", n(expires.timestamp()))
            .item("rating_id", s(&conflict.rating_id))
            .item("skill_id", s(&conflict.skill_id))
            .item("user_id", s(&conflict.user_id))
            .item("remote_rating_id", s(&conflict.remote_rating_id))
            .item("type", s(conflict.kind))
            .item("severity", s(Conflict::SEVERITY))
            .item("strategy", s(conflict.strategy))
            .item("local_rating", n(&conflict.local_rating))
            .item("local_comment", optional(&conflict.local_comment))
            .item("local_updated_at", s(&conflict.local_updated_at))
            .item(
                "remote_rating",
                conflict
                    .remote_rating
                    .map_or(aws_sdk_dynamodb::types::AttributeValue::Null(true), n),
            )
            .item("reason", optional(&conflict.reason))
            .item("remote_comment", optional(&conflict.remote_comment))
            .item("remote_modified_at", optional(&conflict.remote_modified_at))
            .item("resolved_at", s(timestamp(resolved_at)))
            .item("resolved_by", s(Conflict::RESOLVED_BY))
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
