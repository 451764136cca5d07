//! Whole rating items, as the Atom app writes a new rating
//! ([`new_rating_item`]) and as a rating stands after the sync's writes
//! ([`rating_item`]): the importer writes the Python service's ratings
//! with them, so its items are the ones the sync itself would leave.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::ratings::WAITING;
use super::{condition_held, n, number, s, text, timestamp, Item, Store, StoreError};
use crate::rating::{cut_message, Rating};
use crate::store::SYNCED_TO_SAAS_PENDING;

/// The item the Atom app writes for a new rating (used by seeding and tests;
/// the write contract in `docs/data.md` describes the same attributes).
pub fn new_rating_item(rating: &Rating) -> Item {
    let mut item: Item = HashMap::from([
        ("id".to_owned(), s(&rating.id)),
        ("tenant_id".to_owned(), s(&rating.tenant_id)),
        ("skill_id".to_owned(), s(&rating.skill_id)),
        ("user_id".to_owned(), s(&rating.user_id)),
        (
            "rating".to_owned(),
            aws_sdk_dynamodb::types::AttributeValue::N(rating.rating.clone()),
        ),
        ("created_at".to_owned(), s(&rating.created_at)),
        ("updated_at".to_owned(), s(&rating.updated_at)),
        ("version".to_owned(), n(rating.version)),
        ("synced_to_saas".to_owned(), s(SYNCED_TO_SAAS_PENDING)),
    ]);
    if let Some(review) = &rating.review {
        item.insert("review".to_owned(), s(review));
    }
    item
}

/// Where a rating written whole stands (see the table at the top of this
/// module): what [`rating_item`] adds to the item the Atom app writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// In the backlog: the next run, or the fast path, uploads it.
    Pending,
    /// At the marketplace under `remote_rating_id` since `at`.
    Synced {
        /// When it was synced.
        at: DateTime<Utc>,
    },
    /// Failed `failures` times; a run tries it again from `due`.
    Waiting {
        /// Failed attempts so far.
        failures: u32,
        /// The latest failure's message (cut to 1,000 characters).
        message: String,
        /// When a run may try it again.
        due: DateTime<Utc>,
    },
    /// Failed for good, or too often; only an admin retry sends it again.
    Parked {
        /// Failed attempts so far.
        failures: u32,
        /// The latest failure's message (cut to 1,000 characters).
        message: String,
        /// When it was parked.
        at: DateTime<Utc>,
    },
}

/// The whole item of `rating` standing as `standing`: the attributes of
/// [`new_rating_item`], its `remote_rating_id` if it has one, and the sync
/// state's own attributes, exactly those the sync's writes leave (the
/// importer writes ratings with it).
pub fn rating_item(rating: &Rating, standing: &Standing) -> Item {
    let mut item = new_rating_item(rating);
    if let Some(remote) = &rating.remote_rating_id {
        item.insert("remote_rating_id".to_owned(), s(remote));
    }
    let mut failed = |failures: u32, message: &str| {
        item.remove("synced_to_saas");
        item.insert("sync_failures".to_owned(), n(failures));
        item.insert("last_sync_error".to_owned(), s(cut_message(message)));
    };
    match standing {
        Standing::Pending => {}
        Standing::Synced { at } => {
            item.remove("synced_to_saas");
            item.insert("synced_at".to_owned(), s(timestamp(*at)));
        }
        Standing::Waiting {
            failures,
            message,
            due,
        } => {
            failed(*failures, message);
            item.insert("sync_retry".to_owned(), s(WAITING));
            item.insert("next_attempt_at".to_owned(), s(timestamp(*due)));
        }
        Standing::Parked {
            failures,
            message,
            at,
        } => {
            failed(*failures, message);
            item.insert("sync_parked_at".to_owned(), s(timestamp(*at)));
        }
    }
    item
}

/// The attributes of a stored rating that say which version it is and
/// where it stands: what [`rating_item`] writes beyond the rating's own
/// values, with its `id`, `version` and `updated_at` (a projection for
/// reads that only compare).
pub const STANDING_ATTRIBUTES: [&str; 10] = [
    "id",
    "version",
    "updated_at",
    "synced_to_saas",
    "synced_at",
    "sync_retry",
    "next_attempt_at",
    "sync_parked_at",
    "sync_failures",
    "remote_rating_id",
];

/// A stored rating's `version` and `updated_at`, the two every
/// conditional write on it holds on to; `None` if either is missing.
pub fn version_of(item: &Item) -> Option<(i64, String)> {
    let version = number(item, "version")?.parse().ok()?;
    Some((version, text(item, "updated_at")?.to_owned()))
}

/// Gives a whole rating `item` (from [`rating_item`]) the `version`, as a
/// write in place of a stored version must (one past the stored one).
pub fn set_version(item: &mut Item, version: i64) {
    item.insert("version".to_owned(), n(version));
}

/// How many failed attempts a stored rating counts (`sync_failures`).
pub fn failures_of(item: &Item) -> u32 {
    number(item, "sync_failures")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Store {
    /// Writes `item` (a whole rating, from [`rating_item`]) in place of
    /// the stored one only if that is still at `version` and `updated_at`
    /// (what was read). `false` if it changed or went away meanwhile.
    pub async fn replace_rating_if_unchanged(
        &self,
        item: Item,
        version: i64,
        updated_at: &str,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.ratings;
        let put = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("#version = :version AND updated_at = :updated_at")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", n(version))
            .expression_attribute_values(":updated_at", s(updated_at))
            .send()
            .await;
        condition_held(put, table, "PutItem")
    }
}
