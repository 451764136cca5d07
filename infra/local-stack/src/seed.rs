//! Ratings written the way the Atom app writes them (the README's write
//! contract), for the demo, the tests and the benchmark.

use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use shared::rating::Rating;
use shared::store::{new_rating_item, timestamp, Item};

use crate::StackError;

/// A new rating as the Atom app would write it. `index` orders them:
/// rating `i` was last updated `i` seconds after `start`.
pub fn sample_rating(prefix: &str, index: usize, start: DateTime<Utc>) -> Rating {
    let at = timestamp(start + chrono::Duration::seconds(index as i64));
    Rating {
        id: format!("{prefix}rating-{index:06}"),
        tenant_id: format!("tenant-{}", index % 3),
        skill_id: format!("{prefix}skill-{}", index % 25),
        user_id: format!("{prefix}user-{index}"),
        rating: ((index % 5) + 1).to_string(),
        review: index
            .is_multiple_of(2)
            .then(|| format!("Review number {index}")),
        created_at: at.clone(),
        updated_at: at,
        version: 1,
        remote_rating_id: None,
        sync_failures: 0,
        sync_round: 0,
    }
}

/// `count` pending ratings, of which the last `invalid` carry a star value
/// outside 1..5.
pub fn sample_ratings(
    prefix: &str,
    count: usize,
    invalid: usize,
    start: DateTime<Utc>,
) -> Vec<Rating> {
    (0..count)
        .map(|i| {
            let mut rating = sample_rating(prefix, i, start);
            if i >= count.saturating_sub(invalid) {
                rating.rating = if i.is_multiple_of(2) {
                    "0".into()
                } else {
                    "7".into()
                };
            }
            rating
        })
        .collect()
}

/// Writes items with BatchWriteItem, 25 at a time, resending what DynamoDB
/// leaves unprocessed.
pub async fn put_items(client: &Client, table: &str, items: Vec<Item>) -> Result<(), StackError> {
    shared::store::put_all(client, table, items, 4)
        .await
        .map_err(|e| StackError::DynamoDb(e.to_string()))
}

/// Writes ratings as new, pending items.
pub async fn put_ratings(
    client: &Client,
    table: &str,
    ratings: &[Rating],
) -> Result<(), StackError> {
    put_items(client, table, ratings.iter().map(new_rating_item).collect()).await
}
