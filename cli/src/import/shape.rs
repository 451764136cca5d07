//! Which shape the Python service's tables have, read from the catalogue
//! (`pragma table_info`, `information_schema.columns`) before anything is
//! read or written: a missing table or column is an error naming it.
//!
//! `skill_ratings` had two shapes: the early one with `comment`, the later
//! one with `review`, `tenant_id` and `updated_at` (and columns the import
//! does not read: `is_flagged`, `is_visible`, `helpful_count`,
//! `not_helpful_count`). `failed_rating_uploads` gained `max_retries` and
//! `tenant_id`; `conflict_log` has one shape.

use super::source::{Columns, Source};
use super::ImportError;

/// The three tables read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `skill_ratings`.
    Ratings,
    /// `failed_rating_uploads`.
    Failures,
    /// `conflict_log`.
    Conflicts,
}

/// The columns of `skill_ratings` every shape has.
const RATING_COLUMNS: [&str; 8] = [
    "id",
    "skill_id",
    "user_id",
    "rating",
    "created_at",
    "synced_at",
    "synced_to_saas",
    "remote_rating_id",
];
/// The columns the later shape adds that the import reads.
const LATER_RATING_COLUMNS: [&str; 3] = ["review", "tenant_id", "updated_at"];
const FAILURE_COLUMNS: [&str; 6] = [
    "id",
    "rating_id",
    "error_message",
    "failed_at",
    "last_retry_at",
    "retry_count",
];
const CONFLICT_COLUMNS: [&str; 9] = [
    "id",
    "conflict_type",
    "severity",
    "local_data",
    "remote_data",
    "resolution_strategy",
    "resolved_at",
    "skill_id",
    "created_at",
];

/// The shape found.
#[derive(Debug, Clone)]
pub struct Shape {
    /// `true` for the later shape of `skill_ratings` (`review`,
    /// `tenant_id`, `updated_at`), `false` for the early one (`comment`).
    pub later: bool,
    /// `failed_rating_uploads` has `max_retries`.
    pub max_retries: bool,
    ratings: Columns,
    failures: Columns,
    conflicts: Columns,
}

impl Shape {
    /// Reads the catalogue of `source`.
    pub async fn detect(source: &Source) -> Result<Self, ImportError> {
        let ratings = table(source, "skill_ratings").await?;
        let later = ratings.contains_key("review");
        let mut wanted: Vec<&str> = RATING_COLUMNS.to_vec();
        if later {
            wanted.extend(LATER_RATING_COLUMNS);
        } else if !ratings.contains_key("comment") {
            return Err(ImportError::Shape(
                "table skill_ratings has neither comment (early shape) nor review (later shape)"
                    .into(),
            ));
        }
        require("skill_ratings", &ratings, &wanted)?;
        let failures = table(source, "failed_rating_uploads").await?;
        require("failed_rating_uploads", &failures, &FAILURE_COLUMNS)?;
        let conflicts = table(source, "conflict_log").await?;
        require("conflict_log", &conflicts, &CONFLICT_COLUMNS)?;
        Ok(Self {
            later,
            max_retries: failures.contains_key("max_retries"),
            ratings,
            failures,
            conflicts,
        })
    }

    /// The shape's name, for the summary.
    pub fn name(&self) -> &'static str {
        if self.later {
            "later (review, tenant_id, updated_at)"
        } else {
            "early (comment)"
        }
    }

    /// The columns read from `table`, in the order the row types take
    /// them, with the database's type of each; `None` where this shape
    /// lacks the column (read as `NULL`).
    pub fn read_columns(&self, table: Table) -> Vec<(Option<&'static str>, String)> {
        let (columns, names): (&Columns, Vec<Option<&'static str>>) = match table {
            Table::Ratings => (
                &self.ratings,
                vec![
                    Some("id"),
                    Some("skill_id"),
                    Some("user_id"),
                    Some("rating"),
                    Some(if self.later { "review" } else { "comment" }),
                    Some("created_at"),
                    self.later.then_some("updated_at"),
                    Some("synced_at"),
                    Some("synced_to_saas"),
                    Some("remote_rating_id"),
                    self.later.then_some("tenant_id"),
                    // Moderation, read where the table has it.
                    self.ratings
                        .contains_key("is_visible")
                        .then_some("is_visible"),
                    self.ratings
                        .contains_key("is_flagged")
                        .then_some("is_flagged"),
                ],
            ),
            Table::Failures => (
                &self.failures,
                vec![
                    Some("rating_id"),
                    Some("error_message"),
                    Some("failed_at"),
                    Some("last_retry_at"),
                    Some("retry_count"),
                    self.max_retries.then_some("max_retries"),
                ],
            ),
            Table::Conflicts => (
                &self.conflicts,
                CONFLICT_COLUMNS.iter().copied().map(Some).collect(),
            ),
        };
        names
            .into_iter()
            .map(|name| {
                let kind = name
                    .and_then(|name| columns.get(name))
                    .map(|kind| kind.to_ascii_lowercase())
                    .unwrap_or_default();
                (name, kind)
            })
            .collect()
    }
}

async fn table(source: &Source, name: &str) -> Result<Columns, ImportError> {
    source
        .columns(name)
        .await?
        .ok_or_else(|| ImportError::Shape(format!("the database has no table {name}")))
}

fn require(table: &str, columns: &Columns, wanted: &[&str]) -> Result<(), ImportError> {
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|name| !columns.contains_key(*name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ImportError::Shape(format!(
        "table {table} lacks column{} {}",
        if missing.len() > 1 { "s" } else { "" },
        missing.join(", ")
    )))
}
