//! DynamoDB's side of the import: what is there already (BatchGetItem, 100
//! keys a request), what is absent (BatchWriteItem, 25 items a request,
//! several in flight, unprocessed items and keys retried with backoff), and
//! what is older than the import's copy (a conditional write on what was
//! read, [`Store::replace_rating_if_unchanged`]).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::KeysAndAttributes;
use aws_sdk_dynamodb::Client;
use shared::store::{put_all, Item, Store};
use tokio::task::JoinSet;

use super::ImportError;

/// Requests of one kind in flight at once.
const IN_FLIGHT: usize = 8;
/// Tries of one batch's unprocessed part before the import gives up.
const BATCH_ATTEMPTS: u32 = 12;

/// The DynamoDB client, the store over the same tables, and whether to
/// write at all.
#[derive(Debug, Clone)]
pub struct Writer {
    client: Client,
    /// The store (for its conditional writes).
    pub store: Store,
    /// `--dry-run`: read, never write.
    pub dry_run: bool,
}

/// An item's key as one string: its key attributes' values, in order.
pub fn key_string(item: &Item, key: &[&str]) -> String {
    key.iter()
        .map(|name| {
            item.get(*name)
                .and_then(|v| v.as_s().ok())
                .map_or("", String::as_str)
        })
        .collect::<Vec<_>>()
        .join("\u{0}")
}

/// The key attributes of `item`.
pub fn key_of(item: &Item, key: &[&str]) -> Item {
    key.iter()
        .filter_map(|name| Some(((*name).to_owned(), item.get(*name)?.clone())))
        .collect()
}

impl Writer {
    /// A writer over `store`'s tables.
    pub fn new(client: Client, store: Store, dry_run: bool) -> Self {
        Self {
            client,
            store,
            dry_run,
        }
    }

    /// The stored items of `keys` (each a key of `table`, no two alike),
    /// by [`key_string`]; only `projection`'s attributes when given.
    pub async fn batch_get(
        &self,
        table: &str,
        key: &'static [&'static str],
        keys: Vec<Item>,
        projection: Option<&[&str]>,
    ) -> Result<HashMap<String, Item>, ImportError> {
        let mut found = HashMap::new();
        let mut tasks = JoinSet::new();
        let mut chunks = keys.chunks(100).map(<[Item]>::to_vec);
        loop {
            while tasks.len() < IN_FLIGHT {
                let Some(chunk) = chunks.next() else { break };
                let mut request = KeysAndAttributes::builder()
                    .set_keys(Some(chunk))
                    .consistent_read(true);
                if let Some(names) = projection {
                    let placeholders: Vec<String> =
                        (0..names.len()).map(|i| format!("#a{i}")).collect();
                    request = request.projection_expression(placeholders.join(", "));
                    for (placeholder, name) in placeholders.iter().zip(names) {
                        request = request.expression_attribute_names(placeholder, *name);
                    }
                }
                let request = request
                    .build()
                    .map_err(|e| ImportError::Dynamo(format!("BatchGetItem on {table}: {e}")))?;
                tasks.spawn(get_all(self.client.clone(), table.to_owned(), request));
            }
            let Some(done) = tasks.join_next().await else {
                break;
            };
            let items = done.map_err(|e| ImportError::Dynamo(e.to_string()))??;
            for item in items {
                found.insert(key_string(&item, key), item);
            }
        }
        Ok(found)
    }

    /// Puts `items` into `table`, 25 a request, [`IN_FLIGHT`] requests at
    /// once (the store's [`put_all`]). Nothing in a dry run.
    pub async fn batch_put(&self, table: &str, items: Vec<Item>) -> Result<(), ImportError> {
        if self.dry_run || items.is_empty() {
            return Ok(());
        }
        put_all(&self.client, table, items, IN_FLIGHT)
            .await
            .map_err(|e| ImportError::Dynamo(e.to_string()))
    }
}

/// One BatchGetItem request, its unprocessed keys asked again until none
/// are left.
async fn get_all(
    client: Client,
    table: String,
    mut request: KeysAndAttributes,
) -> Result<Vec<Item>, ImportError> {
    let mut items = Vec::new();
    for attempt in 0..BATCH_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
        }
        let out = client
            .batch_get_item()
            .request_items(&table, request.clone())
            .send()
            .await
            .map_err(|e| dynamo_error(&table, "BatchGetItem", e))?;
        if let Some(mut responses) = out.responses {
            items.extend(responses.remove(&table).unwrap_or_default());
        }
        match out
            .unprocessed_keys
            .and_then(|mut left| left.remove(&table))
            .filter(|left| !left.keys().is_empty())
        {
            Some(left) => request = left,
            None => return Ok(items),
        }
    }
    Err(ImportError::Dynamo(format!(
        "BatchGetItem on {table}: keys still unprocessed after {BATCH_ATTEMPTS} tries"
    )))
}

/// 50 ms doubling, at most 5 s, each wait between half and all of that.
fn backoff(attempt: u32) -> Duration {
    let cap = 50u64.saturating_mul(1 << attempt.min(7)).min(5_000);
    Duration::from_millis(fastrand::u64(cap / 2..=cap))
}

fn dynamo_error<E, R>(
    table: &str,
    operation: &str,
    err: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> ImportError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    ImportError::Dynamo(format!(
        "{operation} on table {table} failed: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(&err)
    ))
}
