//! What an import did: rows read, items written, left unchanged, parked and
//! skipped, each with its reason and a few ids; a table for people, one
//! JSON document with `--json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// How many ids of each reason the summary shows.
const EXAMPLES: usize = 5;

/// A count, with the first few ids it counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// The first few ids.
    pub examples: Vec<String>,
}

/// Counts by reason.
pub type Reasons = BTreeMap<String, Tally>;

/// Rows read from the database.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Read {
    /// `skill_ratings` rows.
    pub ratings: u64,
    /// `failed_rating_uploads` rows.
    pub failure_rows: u64,
    /// `conflict_log` rows.
    pub conflicts: u64,
}

/// The summary of one import.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// The database, without its password.
    pub source: String,
    /// The shape of `skill_ratings` found.
    pub shape: String,
    /// Nothing was written: `written` says what would have been.
    pub dry_run: bool,
    /// Set when `--stop-after-pages` stopped the import early: the next
    /// import goes on from the start and writes what this one did not.
    pub stopped_after_pages: Option<u64>,
    /// Rows read.
    pub read: Read,
    /// Items written (or that would be, in a dry run), by what they are.
    pub written: Reasons,
    /// Items left as they are in DynamoDB, by why.
    pub unchanged: Reasons,
    /// Ratings imported parked, by why (also counted in `written` or
    /// `unchanged`).
    pub parked: Reasons,
    /// Rows not imported, by why.
    pub skipped: Reasons,
}

impl Summary {
    /// Counts `id` under `reason` in `which`.
    pub fn count(which: &mut Reasons, reason: &str, id: &str) {
        Self::count_n(which, reason, id, 1);
    }

    /// Counts `n` under `reason`, `id` among the examples.
    pub fn count_n(which: &mut Reasons, reason: &str, id: &str, n: u64) {
        let tally = which.entry(reason.to_owned()).or_default();
        tally.count = tally.count.saturating_add(n);
        if tally.examples.len() < EXAMPLES && !tally.examples.iter().any(|e| e == id) {
            tally.examples.push(id.to_owned());
        }
    }

    /// The total of one section.
    pub fn total(which: &Reasons) -> u64 {
        which.values().map(|t| t.count).sum()
    }

    /// The table people read.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let verb = if self.dry_run {
            "Dry run (nothing written)"
        } else {
            "Imported"
        };
        let _ = writeln!(out, "{verb} from {} ({} shape)", self.source, self.shape);
        if let Some(pages) = self.stopped_after_pages {
            let _ = writeln!(
                out,
                "Stopped after {pages} page(s): run the import again to finish"
            );
        }
        let _ = writeln!(
            out,
            "Read: {} ratings, {} failure rows, {} conflicts",
            self.read.ratings, self.read.failure_rows, self.read.conflicts
        );
        let written = if self.dry_run {
            "Would write"
        } else {
            "Written"
        };
        for (title, which) in [
            (written, &self.written),
            ("Unchanged", &self.unchanged),
            ("Parked", &self.parked),
            ("Skipped", &self.skipped),
        ] {
            let _ = writeln!(out, "\n{title}: {}", Self::total(which));
            let width = which.keys().map(|k| k.chars().count()).max().unwrap_or(0);
            for (reason, tally) in which {
                let _ = write!(out, "  {reason:<width$}  {:>8}", tally.count);
                if !tally.examples.is_empty() {
                    let _ = write!(out, "  e.g. {}", tally.examples.join(", "));
                }
                out.push('\n');
            }
        }
        out
    }
}
