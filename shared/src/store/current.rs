//! The ratings as they are now, read by key: what the fast path checks a
//! stream record against before it uploads anything, since a stream record
//! may be older than the item (a later edit, or a sync by another path).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::ratings::SYNCED_TO_SAAS_PENDING;
use super::{number, request_error, s, text, Item, Store, StoreError};

/// Keys per `BatchGetItem` request: DynamoDB's limit.
const KEYS_PER_REQUEST: usize = 100;
/// Rounds of resending the keys DynamoDB left unprocessed (throttling).
const UNPROCESSED_ROUNDS: usize = 5;

impl Store {
    /// The current items of the ratings `ids`, by id, read strongly
    /// consistent. An id with no item is absent from the answer. Keys that
    /// DynamoDB still leaves unprocessed after a few rounds make it an
    /// error ([`StoreError::Throttled`]): absent would read as deleted.
    pub async fn current_ratings(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Item>, StoreError> {
        let table = &self.tables.ratings;
        let mut found = HashMap::new();
        'chunks: for chunk in ids.chunks(KEYS_PER_REQUEST) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| Item::from([("id".to_owned(), s(id))]))
                .collect();
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Request {
                    table: table.clone(),
                    operation: "BatchGetItem",
                    message: e.to_string(),
                })?;
            for _ in 0..UNPROCESSED_ROUNDS {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(|e| request_error(table, "BatchGetItem", e))?;
                for item in out
                    .responses
                    .and_then(|mut by_table| by_table.remove(table))
                    .unwrap_or_default()
                {
                    if let Some(id) = text(&item, "id") {
                        found.insert(id.to_owned(), item);
                    }
                }
                match out
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(table))
                    .filter(|left| !left.keys().is_empty())
                {
                    Some(left) => pending = left,
                    None => continue 'chunks,
                }
            }
            return Err(StoreError::Throttled {
                table: table.clone(),
                operation: "BatchGetItem",
                message: format!("keys left unprocessed after {UNPROCESSED_ROUNDS} rounds"),
            });
        }
        Ok(found)
    }
}

/// Whether `item`, as it is now, is pending at `version`: what a stream
/// record of that version must find for an upload to be due.
pub fn pending_at(item: &Item, version: i64) -> bool {
    let pending = text(item, "synced_to_saas") == Some(SYNCED_TO_SAAS_PENDING);
    let current = number(item, "version").and_then(|v| v.parse::<i64>().ok());
    pending && current == Some(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(pending: bool, version: &str) -> Item {
        let mut item = Item::from([("version".to_owned(), AttributeValue::N(version.into()))]);
        if pending {
            item.insert("synced_to_saas".into(), AttributeValue::S("false".into()));
        }
        item
    }

    #[test]
    fn an_upload_is_due_only_if_the_item_is_pending_at_the_version() {
        assert!(pending_at(&item(true, "3"), 3));
        assert!(
            !pending_at(&item(true, "4"), 3),
            "the record is older than the item"
        );
        assert!(!pending_at(&item(false, "3"), 3), "synced meanwhile");
        assert!(!pending_at(&item(true, "x"), 3));
    }
}
