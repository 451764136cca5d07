//! The dead-letter table listed newest failure first across its status
//! partitions: each partition of the index is read in order, and the pages
//! are merged by the time of the latest failure, so an item is handed out
//! once however the two interleave. Where a listing goes on is kept per
//! partition ([`PartitionPositions`]), which the admin API seals into its
//! cursor.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{FailedUpload, FailurePosition, FailureStatus, Store, StoreError};

/// Where a listing stands in one status partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionPosition {
    /// Go on after this item.
    After(FailurePosition),
    /// Every item of the partition was handed out.
    Done,
}

/// For each status partition, where a listing stands; a partition not named
/// starts from its newest item.
pub type PartitionPositions = BTreeMap<String, PartitionPosition>;

/// One page of the merged listing.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureListing {
    /// Newest failure first.
    pub uploads: Vec<FailedUpload>,
    /// Where the next page starts; `None` when nothing more follows.
    pub next: Option<PartitionPositions>,
}

/// One status partition while a page is put together.
struct Partition {
    status: FailureStatus,
    fetched: VecDeque<FailedUpload>,
    /// More items follow the fetched ones.
    more: bool,
    /// Where this page started in it, and the last item taken from it.
    start: Option<PartitionPosition>,
    last_taken: Option<FailurePosition>,
}

impl Store {
    /// Up to `limit` dead-letter items, newest failure first, of one
    /// status or both, from `positions` on; and where the next page starts
    /// if more follow.
    pub async fn list_failed_uploads(
        &self,
        status: Option<FailureStatus>,
        positions: &PartitionPositions,
        limit: usize,
    ) -> Result<FailureListing, StoreError> {
        let statuses: Vec<FailureStatus> = match status {
            Some(status) => vec![status],
            None => FailureStatus::ALL.to_vec(),
        };
        let mut partitions = Vec::new();
        for status in statuses {
            let start = positions.get(status.as_str()).cloned();
            let after = match &start {
                Some(PartitionPosition::Done) => continue,
                Some(PartitionPosition::After(position)) => Some(position),
                None => None,
            };
            let page = self.failed_uploads_page(status, after, limit).await?;
            partitions.push(Partition {
                status,
                fetched: page.uploads.into(),
                more: page.more,
                start,
                last_taken: None,
            });
        }

        let mut taken = Vec::with_capacity(limit);
        while taken.len() < limit {
            // The newest head of all partitions; the index keeps each sorted.
            let newest = partitions
                .iter_mut()
                .filter(|p| !p.fetched.is_empty())
                .max_by(|a, b| {
                    a.fetched[0]
                        .last_failed_at
                        .cmp(&b.fetched[0].last_failed_at)
                });
            let Some(partition) = newest else { break };
            let Some(upload) = partition.fetched.pop_front() else {
                break;
            };
            partition.last_taken = Some(FailurePosition {
                id: upload.id.clone(),
                last_failed_at: upload.last_failed_at.clone().unwrap_or_default(),
            });
            taken.push(upload);
        }

        let mut next = positions.clone();
        let mut more = false;
        for partition in partitions {
            let position = if partition.fetched.is_empty() && !partition.more {
                Some(PartitionPosition::Done)
            } else {
                more = true;
                partition
                    .last_taken
                    .map(PartitionPosition::After)
                    .or(partition.start)
            };
            match position {
                Some(position) => next.insert(partition.status.as_str().to_owned(), position),
                None => next.remove(partition.status.as_str()),
            };
        }
        Ok(FailureListing {
            uploads: taken,
            next: more.then_some(next),
        })
    }
}
