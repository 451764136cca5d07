//! Many items written with `BatchWriteItem`: 25 to a request (DynamoDB's
//! limit), a few requests in flight, and what DynamoDB leaves unprocessed
//! (throttling) sent again after a short, growing wait, a bounded number of
//! rounds. One way for every writer of many items: the pull's skill
//! registry, the importer and the local stack's seeding.

use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::{request_error, Item, StoreError};

/// Items per `BatchWriteItem` request: DynamoDB's limit.
const ITEMS_PER_REQUEST: usize = 25;
/// Rounds of sending one request's items until none is left unprocessed.
const ROUNDS: u32 = 8;

/// Writes `items` into `table`, `in_flight` requests at a time (at least
/// one). Items DynamoDB still leaves unprocessed after the rounds make it an
/// error ([`StoreError::Throttled`]); a failed request is an error too. On
/// an error, some items may have been written: putting them again is
/// harmless.
pub async fn put_all(
    client: &Client,
    table: &str,
    items: Vec<Item>,
    in_flight: usize,
) -> Result<(), StoreError> {
    let requests = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::Request {
                    table: table.to_owned(),
                    operation: "BatchWriteItem",
                    message: e.to_string(),
                })?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut chunks = requests
        .chunks(ITEMS_PER_REQUEST)
        .map(<[WriteRequest]>::to_vec)
        .collect::<Vec<_>>()
        .into_iter();
    let mut writing = FuturesUnordered::new();
    loop {
        while writing.len() < in_flight.max(1) {
            let Some(chunk) = chunks.next() else {
                break;
            };
            writing.push(put_chunk(client, table, chunk));
        }
        match writing.next().await {
            Some(written) => written?,
            None => return Ok(()),
        }
    }
}

/// One request's items, sent until DynamoDB has processed them all.
async fn put_chunk(
    client: &Client,
    table: &str,
    mut requests: Vec<WriteRequest>,
) -> Result<(), StoreError> {
    for round in 0..ROUNDS {
        if round > 0 {
            tokio::time::sleep(backoff(round)).await;
        }
        let out = client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(|e| request_error(table, "BatchWriteItem", e))?;
        match out
            .unprocessed_items
            .and_then(|mut left| left.remove(table))
            .filter(|left| !left.is_empty())
        {
            Some(left) => requests = left,
            None => return Ok(()),
        }
    }
    Err(StoreError::Throttled {
        table: table.to_owned(),
        operation: "BatchWriteItem",
        message: format!("items left unprocessed after {ROUNDS} rounds"),
    })
}

/// The wait before round `round`: 50 ms doubling, at most 5 s, each between
/// half and all of that.
fn backoff(round: u32) -> Duration {
    let cap = 50u64.saturating_mul(1 << round.min(7)).min(5_000);
    Duration::from_millis(fastrand::u64(cap / 2..=cap))
}
