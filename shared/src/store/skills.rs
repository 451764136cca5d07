//! What the pull needs to walk: the skills that have synced local ratings,
//! and how far the last run got.
//!
//! A run registers the skills of the ratings it synced (one write per skill
//! per run, not per rating) under partition `skill` of the state table; the
//! pull walks them in order, as many as a run's time allows, and keeps its
//! place in the item `pk = "cursor"`, `sk = "pull"`, so that a run that runs
//! out of time leaves the rest to the next one.

use std::collections::BTreeSet;

use super::{put_all, request_error, s, text, Store, StoreError};

const SKILL_PARTITION: &str = "skill";
const CURSOR_PARTITION: &str = "cursor";
const PULL_CURSOR: &str = "pull";

impl Store {
    /// Remembers skills that have synced ratings. Writing one again is
    /// harmless.
    pub async fn register_skills(&self, skills: &BTreeSet<String>) -> Result<(), StoreError> {
        let items = skills
            .iter()
            .map(|skill| {
                [("pk", s(SKILL_PARTITION)), ("sk", s(skill))]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect()
            })
            .collect();
        put_all(&self.client, &self.tables.sync_state, items, 1).await
    }

    /// Up to `limit` registered skills after `after`, in order, and whether
    /// more follow.
    pub async fn skills_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let table = &self.tables.sync_state;
        let mut query = self
            .client
            .query()
            .table_name(table)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .expression_attribute_values(":pk", s(SKILL_PARTITION));
        query = match after {
            Some(skill) => query
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":after", s(skill)),
            None => query.key_condition_expression("pk = :pk"),
        };
        let out = query
            .send()
            .await
            .map_err(|e| request_error(table, "Query", e))?;
        let skills: Vec<String> = out
            .items()
            .iter()
            .filter_map(|item| text(item, "sk").map(str::to_owned))
            .collect();
        let more = out.last_evaluated_key.is_some_and(|key| !key.is_empty());
        Ok((skills, more))
    }

    /// The last skill the pull finished, if it is part-way through.
    pub async fn pull_cursor(&self) -> Result<Option<String>, StoreError> {
        let table = &self.tables.sync_state;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("pk", s(CURSOR_PARTITION))
            .key("sk", s(PULL_CURSOR))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error(table, "GetItem", e))?;
        Ok(out
            .item
            .and_then(|item| text(&item, "after_skill").map(str::to_owned)))
    }

    /// Where the next pull starts; `None` starts from the first skill.
    pub async fn save_pull_cursor(&self, after: Option<&str>) -> Result<(), StoreError> {
        let table = &self.tables.sync_state;
        let mut put = self
            .client
            .put_item()
            .table_name(table)
            .item("pk", s(CURSOR_PARTITION))
            .item("sk", s(PULL_CURSOR));
        if let Some(skill) = after {
            put = put.item("after_skill", s(skill));
        }
        put.send()
            .await
            .map_err(|e| request_error(table, "PutItem", e))?;
        Ok(())
    }
}
